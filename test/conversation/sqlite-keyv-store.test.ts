import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Keyv from 'keyv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { SqliteKeyvStore } from '../../src/conversation/sqlite-keyv-store.js';
import { recordingLogger } from './helpers.js';

// glimpse.sqlite: written by a native SQLite with @keyv/sqlite 4.0.8's own statements (a conversation and an image)
const legacyFixture = new URL('../fixtures/keyv-sqlite-legacy/glimpse.sqlite', import.meta.url).pathname;
const wasmModule = createRequire(import.meta.url).resolve('node-sqlite3-wasm');

const dirs: string[] = [];
const stores: SqliteKeyvStore[] = [];
function tmpFile(name = 'store.sqlite'): string {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-sqlite-'));
  dirs.push(dir);
  return join(dir, name);
}
function openStore(path: string, options: Partial<ConstructorParameters<typeof SqliteKeyvStore>[0]> = {}) {
  const store = new SqliteKeyvStore({ path, ...options });
  stores.push(store);
  return store;
}

afterEach(async () => {
  vi.useRealTimers();
  for (const store of stores.splice(0)) await store.disconnect();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** runs SQL in another process through node-sqlite3-wasm; `then: 'kill'` SIGKILLs it mid-transaction */
function otherProcess(path: string, sql: string[], then: 'close' | 'kill'): void {
  const script = `
    const { Database } = require(${JSON.stringify(wasmModule)});
    const db = new Database(${JSON.stringify(path)});
    for (const statement of ${JSON.stringify(sql)}) db.exec(statement);
    if (${JSON.stringify(then)} === 'kill') process.kill(process.pid, 'SIGKILL');
    db.close();`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(then === 'kill' ? result.signal : result.status, result.stderr).toBe(
    then === 'kill' ? 'SIGKILL' : 0,
  );
}

describe('SqliteKeyvStore (node-sqlite3-wasm)', () => {
  it('implements the keyv store operations, namespaced', async () => {
    const path = tmpFile();
    const keyv = new Keyv({ store: openStore(path), namespace: 'glimpse' });
    const other = new Keyv({ store: openStore(path), namespace: 'other' });
    await keyv.set('a', { n: 1 });
    await keyv.set('b', 'two');
    await other.set('a', 'theirs');
    expect(await keyv.get('a')).toEqual({ n: 1 });
    expect(await keyv.get(['a', 'b', 'missing'])).toEqual([{ n: 1 }, 'two', undefined]);
    expect(await keyv.has('b')).toBe(true);
    expect(await keyv.delete('b')).toBe(true);
    expect(await keyv.delete('b')).toBe(false);
    expect(await keyv.deleteMany(['a', 'nope'])).toBe(true);
    await keyv.set('c', 3);
    await keyv.clear();
    expect(await keyv.get('c')).toBeUndefined();
    expect(await other.get('a')).toBe('theirs');
  });

  it('opens a history file written by @keyv/sqlite (same table, keys and values)', async () => {
    const path = tmpFile('glimpse.sqlite');
    copyFileSync(legacyFixture, path);
    const { logger } = recordingLogger();
    const store = await createConversationStore({ sqlitePath: path, historyTtlSeconds: 3600 }, logger);
    const turns = await store.load('web:local:legacy');
    expect(turns.map((turn) => turn.role)).toEqual(['user', 'assistant']);
    expect(turns[1]?.parts).toEqual([{ type: 'text', text: 'a legacy triangle' }]);
    const ref = turns[0]?.parts[1];
    expect(ref).toMatchObject({ type: 'image-ref', name: 'old.png' });
    const image = await store.getImage((ref as { sha256: string }).sha256);
    expect(Buffer.from(image!.bytes).toString('latin1')).toBe('\x89PNG legacy bytes');
    // the expired legacy record went at open (createConversationStore sweeps); other namespaces stay
    const raw = openStore(path);
    expect(await raw.has('glimpse:conv:web:local:expired')).toBe(false);
    expect(await raw.has('other:conv:web:local:not-ours')).toBe(true);
    await store.append('web:local:legacy', [
      { role: 'user', parts: [{ type: 'text', text: 'and now?' }], createdAt: new Date(0).toISOString() },
    ]);
    expect(await store.load('web:local:legacy')).toHaveLength(3);
    await store.close();
  });

  it('sweeps expired records, skipping values that are not JSON', async () => {
    const path = tmpFile();
    const store = openStore(path);
    store.namespace = 'glimpse';
    await store.set('glimpse:old', JSON.stringify({ value: 1, expires: 1000 }));
    await store.set('glimpse:new', JSON.stringify({ value: 1, expires: 5000 }));
    await store.set('glimpse:forever', JSON.stringify({ value: 1 }));
    await store.set('glimpse:garbage', 'not json');
    await store.set('elsewhere:old', JSON.stringify({ value: 1, expires: 1000 }));
    expect(await store.deleteExpired(2000)).toBe(1);
    expect(await store.has('glimpse:old')).toBe(false);
    expect(await store.has('glimpse:garbage')).toBe(true);
    expect(await store.has('elsewhere:old')).toBe(true);
    expect(await store.deleteExpired(10_000)).toBe(1);
  });

  it('waits for a lock another connection holds, without blocking the event loop', async () => {
    const path = tmpFile();
    const store = openStore(path, { staleLockMs: 10_000 });
    await store.set('k', 'before');
    mkdirSync(`${path}.lock`); // the VFS's lock, as another process holds it during a statement
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    setTimeout(() => rmdirSync(`${path}.lock`), 200);
    const started = Date.now();
    await store.set('k', 'after');
    clearInterval(ticker);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(ticks).toBeGreaterThan(10);
    expect(await store.get('k')).toBe('after');
  });

  it('fails after the busy timeout when the lock stays held and is not yet stale', async () => {
    const path = tmpFile();
    const store = openStore(path, { busyTimeoutMs: 150, staleLockMs: 10_000 });
    await store.set('k', 'v');
    mkdirSync(`${path}.lock`);
    await expect(store.get('k')).rejects.toThrow(/database is locked/);
    rmdirSync(`${path}.lock`);
    expect(await store.get('k')).toBe('v');
  });

  it('after a writer is killed mid-transaction: removes its stale lock and rolls its journal back', async () => {
    const path = tmpFile();
    const store = openStore(path, { staleLockMs: 200 });
    await store.set('glimpse:conv:x', 'the previous record');
    await store.disconnect();
    // a one-page cache makes SQLite write changed pages into the file before the commit
    const big = 'hex(randomblob(100000))';
    otherProcess(
      path,
      [
        'PRAGMA cache_size = 1',
        'BEGIN',
        `UPDATE keyv SET value = ${big}`,
        `INSERT INTO keyv VALUES ('z', ${big})`,
      ],
      'kill',
    );
    expect(existsSync(`${path}.lock`)).toBe(true);
    expect(existsSync(`${path}-journal`)).toBe(true);
    const removed: string[] = [];
    const reopened = openStore(path, { staleLockMs: 200, onStaleLock: (lock) => removed.push(lock) });
    expect(await reopened.get('glimpse:conv:x')).toBe('the previous record');
    expect(await reopened.has('z')).toBe(false);
    expect(removed).toEqual([`${path}.lock`]);
    await reopened.set('glimpse:conv:x', 'the next record');
    expect(existsSync(`${path}-journal`)).toBe(false);
    expect(await openStore(path).get('glimpse:conv:x')).toBe('the next record');
  });

  it('shares the file with another process that commits', async () => {
    const path = tmpFile();
    const store = openStore(path);
    await store.set('mine', 'a');
    otherProcess(path, ["INSERT INTO keyv VALUES ('theirs', 'b')"], 'close');
    expect(await store.getMany(['mine', 'theirs'])).toEqual(['a', 'b']);
  });

  it('reports a file it cannot open on every call, with no unhandled rejection', async () => {
    const store = openStore('/dev/null/nope/store.sqlite');
    await expect(store.get('k')).rejects.toThrow();
    await expect(store.set('k', 'v')).rejects.toThrow();
  });
});
