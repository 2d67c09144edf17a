import { describe, expect, it } from 'vitest';
import { parseChatCommand } from '../../src/conversation/chat-command.js';

describe('parseChatCommand', () => {
  it('reads the bare commands, with or without a prefix', () => {
    expect(parseChatCommand('reset')).toEqual({ kind: 'command', command: 'reset' });
    expect(parseChatCommand(' /Help ')).toEqual({ kind: 'command', command: 'help' });
    expect(parseChatCommand('!status')).toEqual({ kind: 'command', command: 'status' });
  });

  it('takes the question of ask and leaves sentences alone', () => {
    expect(parseChatCommand('ask: what colour is it?')).toEqual({
      kind: 'ask',
      question: 'what colour is it?',
    });
    expect(parseChatCommand('help me read this graph')).toBeUndefined();
    expect(parseChatCommand('reset the counter?')).toBeUndefined();
    expect(parseChatCommand('caption')).toEqual({ kind: 'caption' });
    expect(parseChatCommand('what is this?')).toBeUndefined();
  });
});
