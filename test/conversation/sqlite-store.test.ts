import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Keyv from 'keyv';
import sqlite3Wasm from 'node-sqlite3-wasm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { SqliteKeyvStore } from '../../src/conversation/sqlite-keyv-store.js';
import { recordingLogger } from './helpers.js';
import { conversationId, describeStoreContract } from './store-contract.js';

const tmpDirs: string[] = [];
function tmpPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-store-'));
  tmpDirs.push(dir);
  return join(dir, 'nested', 'dir', 'glimpse.sqlite');
}

afterEach(() => {
  vi.useRealTimers();
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describeStoreContract('SQLite file', async ({ historyTtlSeconds, maxTurns }) => {
  vi.useFakeTimers({ toFake: ['Date'] });
  const { logger } = recordingLogger();
  const store = await createConversationStore({ sqlitePath: tmpPath(), historyTtlSeconds }, logger, {
    maxTurns,
  });
  return {
    store,
    advance: (ms) => {
      vi.setSystemTime(Date.now() + ms);
    },
    cleanup: async () => {
      await store.close();
      vi.useRealTimers();
    },
  };
});

describe('SQLite conversation store', () => {
  it('creates the directory and keeps history across a close and reopen', async () => {
    const path = tmpPath();
    const { logger } = recordingLogger();
    const id = conversationId('reopen');
    const first = await createConversationStore({ sqlitePath: path, historyTtlSeconds: 3600 }, logger);
    await first.append(id, [
      { role: 'user', parts: [{ type: 'text', text: 'remember me' }], createdAt: new Date(0).toISOString() },
    ]);
    await first.close();
    const second = await createConversationStore({ sqlitePath: path, historyTtlSeconds: 3600 }, logger);
    expect((await second.load(id))[0]?.parts).toEqual([{ type: 'text', text: 'remember me' }]);
    await second.close();
  });

  it('reads an unreadable record as empty, logs it, and recovers on the next append', async () => {
    const path = tmpPath();
    const { logger, lines } = recordingLogger();
    const id = conversationId('corrupt');
    const store = await createConversationStore({ sqlitePath: path, historyTtlSeconds: 3600 }, logger);
    const raw = new Keyv({ store: new SqliteKeyvStore({ path }), namespace: 'glimpse' });
    await raw.set(`conv:${id}`, { v: 99, turns: 'nonsense' });
    expect(await store.load(id)).toEqual([]);
    expect(lines.some((line) => line.code === 'glimpse_store_failed' && line.conversationId === id)).toBe(
      true,
    );
    await store.append(id, [
      { role: 'user', parts: [{ type: 'text', text: 'fresh' }], createdAt: new Date(0).toISOString() },
    ]);
    expect(await store.load(id)).toHaveLength(1);
    await raw.disconnect();
    await store.close();
  });

  it('sweeps expired records that nobody reads again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const path = tmpPath();
    const { logger } = recordingLogger();
    const store = await createConversationStore({ sqlitePath: path, historyTtlSeconds: 60 }, logger);
    await store.append(conversationId('sweep'), [
      { role: 'user', parts: [{ type: 'text', text: 'x' }], createdAt: new Date(0).toISOString() },
    ]);
    expect(await store.sweepExpired()).toBe(0);
    vi.setSystemTime(Date.now() + 61_000);
    expect(await store.sweepExpired()).toBe(1);
    await store.close();
  });

  it('loads a history file in the layout @keyv/sqlite wrote (table keyv, keyv envelopes)', async () => {
    const path = tmpPath();
    mkdirSync(dirname(path), { recursive: true });
    const db = new sqlite3Wasm.Database(path);
    db.exec('CREATE TABLE IF NOT EXISTS keyv(key VARCHAR(255) PRIMARY KEY, value TEXT )');
    const turns = [
      { role: 'user', parts: [{ type: 'text', text: 'from before' }], createdAt: new Date(0).toISOString() },
      {
        role: 'assistant',
        parts: [{ type: 'text', text: 'still here' }],
        createdAt: new Date(0).toISOString(),
      },
    ];
    db.run('INSERT INTO keyv (key, value) VALUES (?, ?)', [
      'glimpse:conv:web:local:old',
      JSON.stringify({ value: { v: 1, turns }, expires: Date.now() + 3_600_000 }),
    ]);
    db.close();
    const { logger } = recordingLogger();
    const store = await createConversationStore({ sqlitePath: path, historyTtlSeconds: 3600 }, logger);
    expect((await store.load('web:local:old')).map((turn) => turn.parts[0])).toEqual([
      { type: 'text', text: 'from before' },
      { type: 'text', text: 'still here' },
    ]);
    await store.close();
  });

  it('fails to open with a coded error when the path cannot be a file', async () => {
    const { logger } = recordingLogger();
    await expect(
      createConversationStore({ sqlitePath: '/dev/null/glimpse/nope.sqlite', historyTtlSeconds: 60 }, logger),
    ).rejects.toMatchObject({ code: 'glimpse_store_failed' });
  });
});
