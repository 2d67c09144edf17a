import { describe, expect, it } from 'vitest';
import { toSlackMrkdwn } from '../../../src/adapters/slack/slack-markdown.js';

describe('toSlackMrkdwn', () => {
  it('turns Markdown emphasis, links, headings and bullets into mrkdwn', () => {
    expect(
      toSlackMrkdwn('# Title\n**bold**, __also__ and *it* [docs](https://example.com) ~~old~~\n- one\n* two'),
    ).toBe('*Title*\n*bold*, *also* and _it_ <https://example.com|docs> ~old~\n• one\n• two');
  });

  it('leaves code spans and fences alone', () => {
    const code = 'see `**x**` and\n```\n**keep** [a](https://b.c)\n```';
    expect(toSlackMrkdwn(code)).toBe(code);
  });
});
