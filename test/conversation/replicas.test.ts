import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatEventHandler } from '../../src/conversation/chat-event.js';
import { createConversationManager } from '../../src/conversation/conversation-manager.js';
import type { ConversationStore } from '../../src/conversation/conversation-store.js';
import { createConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { historyEchoModel } from '../fakes/history-echo-model.js';
import { RecordingReplyChannel } from '../fakes/recording-reply-channel.js';
import type { ScriptedModel } from '../fakes/scripted-model.js';
import { chatMessage, managerConfig, messageEvent, recordingLogger } from './helpers.js';
import { conversationId } from './store-contract.js';

/**
 * Several managers on one store — replicas of the bot behind one Slack endpoint or several Discord
 * shards: every turn is answered once, in order within its conversation, and each answer sees every
 * earlier turn of its conversation (no turn lost to two read-modify-writes racing).
 */

const historyEcho = () => historyEchoModel({ delayMs: 3 });

interface Replica {
  manager: ChatEventHandler & { idle(): Promise<void>; stop(): Promise<void> };
  store: ConversationStore;
  model: ScriptedModel;
}

type OpenStore = () => Promise<ConversationStore>;

function replicaSuite(
  name: string,
  open: () => Promise<{ openStore: OpenStore; close: () => Promise<void> }>,
) {
  describe(`replicas on one store: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function replicas(count: number, concurrency: number): Promise<Replica[]> {
      const { openStore, close } = await open();
      cleanups.push(close);
      const out: Replica[] = [];
      for (let i = 0; i < count; i++) {
        const store = await openStore();
        const model = historyEcho();
        const manager = createConversationManager({
          model,
          store,
          logger: recordingLogger().logger,
          config: managerConfig({ concurrency, queueMax: 1000 }),
        });
        cleanups.push(async () => {
          await manager.stop();
          await store.close();
        });
        out.push({ manager, store, model });
      }
      return out;
    }

    it('answers every turn of one conversation once, in order, across two replicas', async () => {
      const [a, b] = await replicas(2, 2);
      const id = conversationId('shared');
      const reply = new RecordingReplyChannel();
      const results = [];
      // the events alternate between the replicas, each taken before the previous one is answered
      for (let i = 0; i < 10; i++) {
        const replica = i % 2 === 0 ? a! : b!;
        const result = await replica.manager.handle(messageEvent(chatMessage(id, `m${i}`, `q${i}`), reply));
        expect(result.status).toBe('accepted');
        results.push(result.done);
      }
      await Promise.all(results);
      expect(a!.model.calls.length + b!.model.calls.length).toBe(10);
      const history = await a!.store.load(id);
      expect(
        history.map((turn) => turn.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')),
      ).toEqual(Array.from({ length: 10 }, (_, i) => [`q${i}`, `saw ${i}: q${i}`]).flat());
      expect(history.some((turn) => turn.interrupted)).toBe(false);
    });

    it('keeps 30 conversations × 4 turns whole when their events are spread over three replicas', async () => {
      const group = await replicas(3, 4);
      const ids = Array.from({ length: 30 }, (_, i) => conversationId(`many-${i}`));
      const reply = new RecordingReplyChannel();
      const done: Promise<void>[] = [];
      for (let turn = 0; turn < 4; turn++) {
        for (const [index, id] of ids.entries()) {
          const replica = group[(index + turn) % group.length]!;
          const result = await replica.manager.handle(
            messageEvent(chatMessage(id, `m${turn}`, `q${turn}`, { authorId: `u${index}` }), reply),
          );
          expect(result.status).toBe('accepted');
          done.push(result.done);
        }
      }
      await Promise.all(done);
      expect(group.reduce((sum, replica) => sum + replica.model.calls.length, 0)).toBe(120);
      for (const id of ids) {
        const history = await group[0]!.store.load(id);
        expect(
          history.map((turn) => turn.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')),
        ).toEqual([0, 1, 2, 3].flatMap((i) => [`q${i}`, `saw ${i}: q${i}`]));
      }
    });
  });
}

replicaSuite('SQLite file (one process)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-replicas-'));
  let shared: ConversationStore | undefined;
  return {
    // one process owns a SQLite file: its managers share one store object
    openStore: async () => {
      shared ??= await createConversationStore(
        { sqlitePath: join(dir, 'glimpse.sqlite'), historyTtlSeconds: 3600 },
        recordingLogger().logger,
      );
      const store = shared;
      return { ...bind(store), close: async () => undefined };
    },
    close: async () => {
      await shared?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const redisUrl = process.env.GLIMPSE_TEST_REDIS_URL;
if (!redisUrl) {
  describe('replicas on one store: Redis', () => {
    it.skip('skipped: GLIMPSE_TEST_REDIS_URL is not set (CI sets it; see .ci/run)', () => {});
  });
} else {
  replicaSuite('Redis (a store per replica)', async () => ({
    openStore: () =>
      createConversationStore(
        { sqlitePath: 'unused', redisUrl, historyTtlSeconds: 3600 },
        recordingLogger().logger,
      ),
    close: async () => undefined,
  }));

  describe('replicas on one store: Redis, a replica that dies', () => {
    it("a turn queued behind a dead replica's turn goes ahead once that ticket expires", async () => {
      const store = await createConversationStore(
        { sqlitePath: 'unused', redisUrl, historyTtlSeconds: 3600 },
        recordingLogger().logger,
        { turnTicketTtlMs: 300 },
      );
      const id = conversationId('dead');
      // the dead replica: a process (the compiled store, from dist/) that holds the conversation's
      // turn when it is SIGKILLed, so its ticket is never released
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { createConversationStore } from ${JSON.stringify(distStore)};
           import { createLogger } from ${JSON.stringify(distLogger)};
           const store = await createConversationStore(
             { sqlitePath: 'unused', redisUrl: process.argv[1], historyTtlSeconds: 3600 },
             createLogger({ level: 'silent', format: 'json' }), { turnTicketTtlMs: 300 });
           const ticket = await store.queueTurn(process.argv[2]);
           await ticket.acquire();
           process.stdout.write('held\\n');
           setInterval(() => {}, 1000);`,
          redisUrl,
          id,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (data: Buffer) => {
          if (data.toString().includes('held')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before holding the turn`)));
      });
      child.kill('SIGKILL');
      const model = historyEcho();
      const manager = createConversationManager({
        model,
        store,
        logger: recordingLogger().logger,
        config: managerConfig(),
      });
      const reply = new RecordingReplyChannel();
      const result = await manager.handle(messageEvent(chatMessage(id, 'm1', 'still there?'), reply));
      expect(result.status).toBe('accepted');
      await result.done;
      expect(model.calls).toHaveLength(1);
      expect((await store.load(id)).map((turn) => turn.role)).toEqual(['user', 'assistant']);
      await manager.stop();
      await store.close();
    });
  });
}

const distStore = fileURLToPath(
  new URL('../../dist/conversation/keyv-conversation-store.js', import.meta.url),
);
const distLogger = fileURLToPath(new URL('../../dist/logger.js', import.meta.url));

/** the store's methods bound to it, so a spread copy keeps working */
function bind(store: ConversationStore): ConversationStore {
  return {
    load: (id) => store.load(id),
    append: (id, turns) => store.append(id, turns),
    reset: (id) => store.reset(id),
    putImage: (image) => store.putImage(image),
    getImage: (sha) => store.getImage(sha),
    linkMessages: (id, anchor, keys) => store.linkMessages(id, anchor, keys),
    claimEvent: (key, ttl) => store.claimEvent(key, ttl),
    queueTurn: (id) => store.queueTurn(id),
    saveInFlight: (id, turn) => store.saveInFlight(id, turn),
    clearInFlight: (id, turnId) => store.clearInFlight(id, turnId),
    findMessage: (key) => store.findMessage(key),
    close: () => store.close(),
  };
}
