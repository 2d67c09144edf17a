import { describe, expect, it } from 'vitest';
import { ChannelWriteBudget } from '../../../src/adapters/shared/channel-write-budget.js';
import { PlatformWriteError } from '../../../src/adapters/shared/platform-write-error.js';
import { type ReplySurface, renderReply } from '../../../src/adapters/shared/reply-renderer.js';
import { type ReplyPart, ReplyRenderError } from '../../../src/conversation/chat-event.js';
import { recordingLogger } from '../../conversation/helpers.js';

interface Write {
  kind: 'post' | 'edit';
  id: string;
  text: string;
  at: number;
}

/** a surface recording writes; `fail` decides per write whether to throw */
function fakeSurface(
  writes: Write[],
  fail?: (write: Omit<Write, 'at'>, n: number) => Error | undefined,
): ReplySurface {
  let next = 1;
  let count = 0;
  return {
    async post(text) {
      const id = `msg${next}`;
      const error = fail?.({ kind: 'post', id, text }, count++);
      if (error) throw error;
      next++;
      writes.push({ kind: 'post', id, text, at: Date.now() });
      return id;
    },
    async edit(id, text) {
      const error = fail?.({ kind: 'edit', id, text }, count++);
      if (error) throw error;
      writes.push({ kind: 'edit', id, text, at: Date.now() });
    },
  };
}

async function* stream(
  deltas: string[],
  options: { delayMs?: number; interrupted?: boolean; error?: string } = {},
) {
  for (const text of deltas) {
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    yield { type: 'text-delta', text } as ReplyPart;
  }
  if (options.error) yield { type: 'error', message: options.error } as ReplyPart;
  else
    yield {
      type: 'finish',
      usage: { promptTokens: 1, imageTokens: 0, completionTokens: deltas.length },
      timings: {
        preprocessMs: 0,
        visionMs: 0,
        prefillMs: 0,
        timeToFirstTokenMs: 0,
        decodeTokensPerSecond: 0,
        totalMs: 0,
      },
      interrupted: options.interrupted ?? false,
    } as ReplyPart;
}

const latest = (writes: Write[]) => {
  const byId = new Map<string, string>();
  for (const write of writes) byId.set(write.id, write.text);
  return [...byId.values()];
};

describe('renderReply', () => {
  it('posts a placeholder, coalesces deltas into throttled edits, and ends without the marker', async () => {
    const writes: Write[] = [];
    const budget = new ChannelWriteBudget({ intervalMs: 30 });
    const deltas = Array.from({ length: 40 }, (_, i) => `w${i} `);
    const rendered = await renderReply(stream(deltas, { delayMs: 2 }), {
      surface: fakeSurface(writes),
      budget,
      channelKey: 'c1',
      capabilities: { maxMessageLength: 2000 },
      logger: recordingLogger().logger,
    });
    expect(writes[0]).toMatchObject({ kind: 'post', text: '…' });
    // 40 deltas, ~80 ms of stream at one write per 30 ms: far fewer writes than deltas
    expect(writes.length).toBeLessThan(20);
    expect(writes.slice(1, -1).every((write) => write.text.endsWith(' ▌'))).toBe(true);
    expect(writes.at(-1)!.text).toBe(deltas.join('').trimEnd());
    expect(rendered).toEqual({ shownText: deltas.join(''), messageIds: ['msg1'] });
  });

  it('continues past the platform limit in new messages, told as posted', async () => {
    const writes: Write[] = [];
    const posted: string[] = [];
    const sentence = 'This sentence is part of a long answer. ';
    const rendered = await renderReply(stream(Array.from({ length: 20 }, () => sentence)), {
      surface: fakeSurface(writes),
      budget: new ChannelWriteBudget({ intervalMs: 1 }),
      channelKey: 'c1',
      capabilities: { maxMessageLength: 200 },
      logger: recordingLogger().logger,
      onPosted: (id) => posted.push(id),
    });
    const final = latest(writes);
    expect(final.length).toBeGreaterThanOrEqual(4);
    for (const text of final) expect(text.length).toBeLessThanOrEqual(200);
    expect(final.join('').replace(/\s+/g, '')).toBe(sentence.repeat(20).replace(/\s+/g, ''));
    expect(rendered.messageIds).toEqual(posted);
  });

  it('shares one budget between answers in a channel: writes stay spaced', async () => {
    const writes: Write[] = [];
    const budget = new ChannelWriteBudget({ intervalMs: 25 });
    const surface = fakeSurface(writes);
    const options = {
      surface,
      budget,
      channelKey: 'c1',
      capabilities: { maxMessageLength: 2000 },
      logger: recordingLogger().logger,
    };
    await Promise.all([
      renderReply(stream(['a ', 'b ', 'c'], { delayMs: 5 }), options),
      renderReply(stream(['x ', 'y ', 'z'], { delayMs: 5 }), options),
      renderReply(stream(['1 ', '2 ', '3'], { delayMs: 5 }), options),
    ]);
    const gaps = writes.slice(1).map((write, i) => write.at - writes[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(23);
    expect(latest(writes).sort()).toEqual(['1 2 3', 'a b c', 'x y z']);
  });

  it('waits out a 429 retry_after and still delivers the final edit', async () => {
    const writes: Write[] = [];
    const { logger, lines } = recordingLogger();
    const rendered = await renderReply(stream(['slow ', 'but ', 'sure']), {
      surface: fakeSurface(writes, (_write, n) =>
        n === 1 || n === 2
          ? new PlatformWriteError('rate limited', { status: 429, retryAfterMs: 40 })
          : undefined,
      ),
      budget: new ChannelWriteBudget({ intervalMs: 1 }),
      channelKey: 'c1',
      capabilities: { maxMessageLength: 2000 },
      logger,
    });
    expect(writes.at(-1)!.text).toBe('slow but sure');
    expect(rendered.shownText).toBe('slow but sure');
    expect(lines.filter((line) => line.code === 'glimpse_platform_retry')).toHaveLength(2);
    expect(writes[1]!.at - writes[0]!.at).toBeGreaterThanOrEqual(75);
  });

  it('stops on a permanent refusal and says what was shown', async () => {
    const writes: Write[] = [];
    const failure = renderReply(stream(['one ', 'two ', 'three'], { delayMs: 5 }), {
      surface: fakeSurface(writes, (write) =>
        write.kind === 'edit' && write.text.includes('two')
          ? new PlatformWriteError('Unknown Message', { status: 404, platformCode: '10008' })
          : undefined,
      ),
      budget: new ChannelWriteBudget({ intervalMs: 1 }),
      channelKey: 'c1',
      capabilities: { maxMessageLength: 2000 },
      logger: recordingLogger().logger,
    });
    const error = await failure.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplyRenderError);
    expect((error as ReplyRenderError).rendered.messageIds).toEqual(['msg1']);
    expect((error as ReplyRenderError).rendered.shownText).not.toContain('two');
  });

  it('shows a model error as one short line after what was written', async () => {
    const writes: Write[] = [];
    const rendered = await renderReply(
      stream(['partial'], { error: 'The model failed; please try again.' }),
      {
        surface: fakeSurface(writes),
        budget: new ChannelWriteBudget({ intervalMs: 1 }),
        channelKey: 'c1',
        capabilities: { maxMessageLength: 2000 },
        logger: recordingLogger().logger,
      },
    );
    expect(writes.at(-1)!.text).toBe('partial\n\n⚠️ The model failed; please try again.');
    expect(rendered.shownText).toBe('partial');
  });
});
