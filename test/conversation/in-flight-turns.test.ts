import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { createConversationManager } from '../../src/conversation/conversation-manager.js';
import type { ConversationTurn } from '../../src/conversation/conversation-store.js';
import {
  createConversationStore,
  KeyvConversationStore,
} from '../../src/conversation/keyv-conversation-store.js';
import { RecordingReplyChannel } from '../fakes/recording-reply-channel.js';
import { ScriptedModel } from '../fakes/scripted-model.js';
import { chatMessage, gate, managerConfig, messageEvent, recordingLogger, until } from './helpers.js';

const turn = (
  role: 'user' | 'assistant',
  text: string,
  at: number,
  extra: Partial<ConversationTurn> = {},
) => ({
  role,
  parts: [{ type: 'text' as const, text }],
  createdAt: new Date(at).toISOString(),
  ...extra,
});

/** two processes' stores over one backend (a Map standing for the file or the Redis) */
function twoProcesses(options: { shared?: boolean; now?: () => number } = {}) {
  const backend = new Map();
  const open = () =>
    new KeyvConversationStore(new Keyv({ store: backend, namespace: 'glimpse' }), {
      historyTtlSeconds: 3600,
      logger: recordingLogger().logger,
      inFlightLeaseMs: 60_000,
      ...options,
    });
  return { a: open(), b: open(), backend };
}

const question = turn('user', 'what shape?', 1000, { messageId: 'q2' });
const partial = turn('assistant', 'a tri', 1001, { interrupted: true });

describe('in-flight turns (what a process killed mid-answer leaves)', () => {
  it('is not history while its process holds it; once that process is gone, the next load adds it, once', async () => {
    const { a, b } = twoProcesses();
    await a.append('c', [turn('user', 'hi', 10, { messageId: 'q1' }), turn('assistant', 'hello', 11)]);
    await a.saveInFlight('c', { turnId: 'q2', turns: [question, partial] });
    expect(await a.load('c')).toHaveLength(2);
    // another process on the same SQLite file: the one that saved it is dead
    const recovered = await b.load('c');
    expect(recovered.map((t) => t.parts[0])).toEqual([
      { type: 'text', text: 'hi' },
      { type: 'text', text: 'hello' },
      { type: 'text', text: 'what shape?' },
      { type: 'text', text: 'a tri' },
    ]);
    expect(recovered[3]).toMatchObject({ role: 'assistant', interrupted: true });
    expect(await b.load('c')).toEqual(recovered);
    expect(await a.load('c')).toEqual(recovered);
  });

  it('where replicas share the store, waits for the lease to run out; then inserts the turn in time order', async () => {
    let now = 0;
    const { a, b } = twoProcesses({ shared: true, now: () => now });
    await a.saveInFlight('c', { turnId: 'q2', turns: [question, partial] });
    expect(await b.load('c')).toEqual([]); // a is alive, as far as b can tell
    await b.append('c', [turn('user', 'later', 5000, { messageId: 'q3' }), turn('assistant', 'ok', 5001)]);
    now = 61_000;
    const texts = (await b.load('c')).map((t) => (t.parts[0] as { text: string }).text);
    expect(texts).toEqual(['what shape?', 'a tri', 'later', 'ok']);
  });

  it('a turn stored before its record was forgotten is not added twice; clearing and reset remove records', async () => {
    const { a, b, backend } = twoProcesses();
    await a.saveInFlight('c', { turnId: 'q2', turns: [question, partial] });
    await a.append('c', [question, turn('assistant', 'a triangle', 1500)]);
    const turns = await b.load('c');
    expect(turns.map((t) => (t.parts[0] as { text: string }).text)).toEqual(['what shape?', 'a triangle']);
    await a.saveInFlight('d', { turnId: 'x', turns: [question, partial] });
    await a.clearInFlight('d', 'x');
    expect(await b.load('d')).toEqual([]);
    await a.saveInFlight('e', { turnId: 'x', turns: [question, partial] });
    await a.reset('e');
    expect(await b.load('e')).toEqual([]);
    expect([...backend.keys()].filter((key) => String(key).includes('live:'))).toEqual([]);
  });

  it('the manager keeps a record of the turn it answers, with the text so far, and forgets it once stored', async () => {
    const { a, backend } = twoProcesses();
    const manager = createConversationManager({
      model: new ScriptedModel([], { fallback: () => ({ deltas: ['a tri', 'angle'] }) }),
      store: a,
      logger: recordingLogger().logger,
      config: managerConfig(),
    });
    // the reply channel holds the answer after its first delta
    const released = gate();
    const reply = new RecordingReplyChannel({
      onPart: async (part) => {
        if (part.type === 'text-delta' && part.text === 'a tri') await released.promise;
      },
    });
    const result = await manager.handle(messageEvent(chatMessage('c', 'q1', 'what shape?'), reply));
    const record = () => backend.get('glimpse:live:c') as string | undefined;
    await until(() => (record() ?? '').includes('a tri'), 'the answer so far in the in-flight record');
    const saved = JSON.parse(record()!).value.entries as { turnId: string; turns: ConversationTurn[] }[];
    expect(saved).toMatchObject([
      {
        turnId: 'q1',
        turns: [
          { role: 'user', messageId: 'q1', parts: [{ type: 'text', text: 'what shape?' }] },
          { role: 'assistant', interrupted: true, parts: [{ type: 'text', text: 'a tri' }] },
        ],
      },
    ]);
    released.open();
    await result.done;
    expect(backend.has('glimpse:live:c')).toBe(false);
    expect(await a.load('c')).toMatchObject([
      { role: 'user', messageId: 'q1' },
      { role: 'assistant', parts: [{ type: 'text', text: 'a triangle' }] },
    ]);
    expect((await a.load('c'))[1]?.interrupted).toBeUndefined();
    await manager.stop();
  });

  const redisUrl = process.env.GLIMPSE_TEST_REDIS_URL;
  (redisUrl ? it : it.skip)(
    "on Redis: another replica's record waits for its lease, then is recovered once",
    async () => {
      let now = Date.now();
      const open = () =>
        createConversationStore(
          { sqlitePath: '', redisUrl, historyTtlSeconds: 60 },
          recordingLogger().logger,
          {
            now: () => now,
            inFlightLeaseMs: 60_000,
          },
        );
      const [a, b] = [await open(), await open()];
      const id = `slack:T${Date.now()}:C1:inflight`;
      try {
        await a.saveInFlight(id, { turnId: 'q2', turns: [question, partial] });
        expect(await b.load(id)).toEqual([]);
        now += 61_000;
        expect((await b.load(id)).map((t) => t.interrupted ?? false)).toEqual([false, true]);
        expect(await a.load(id)).toHaveLength(2);
      } finally {
        await a.reset(id);
        await a.close();
        await b.close();
      }
    },
  );
});
