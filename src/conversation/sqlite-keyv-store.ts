import { EventEmitter } from 'node:events';
import { rmdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyvStoreAdapter, StoredData } from 'keyv';

// node-sqlite3-wasm is CommonJS without detectable named exports; its binary is WebAssembly
// inside the npm package, so installing it compiles and downloads nothing.
type SqliteWasm = typeof import('node-sqlite3-wasm');
type Database = InstanceType<SqliteWasm['Database']>;
const { Database: WasmDatabase } = createRequire(import.meta.url)('node-sqlite3-wasm') as SqliteWasm;

export interface SqliteKeyvStoreOptions {
  /** the SQLite file (created when missing; its directory must exist) */
  path: string;
  /** default `keyv`, like @keyv/sqlite */
  table?: string;
  /** the key column's width, default 255, like @keyv/sqlite */
  keySize?: number;
  /** how long a statement waits for another connection's lock before failing (default 5000 ms) */
  busyTimeoutMs?: number;
  /**
   * A lock left unchanged this long is taken for the lock of a process that died mid-statement and
   * removed (default 2000 ms). See `SqliteKeyvStore`.
   */
  staleLockMs?: number;
  /** told when a stale lock was removed */
  onStaleLock?: (lockPath: string) => void;
}

const busyMessage = /database is locked|database table is locked|database is busy/i;

/**
 * A keyv 5 store on a SQLite file through node-sqlite3-wasm (SQLite compiled to WebAssembly, with
 * a VFS onto node:fs), so it needs neither a compiler nor a downloaded binary.
 *
 * The on-disk layout is @keyv/sqlite's: table `keyv(key VARCHAR(255) PRIMARY KEY, value TEXT)`,
 * keys prefixed by the keyv namespace (`glimpse:conv:…`), values keyv's serialized JSON
 * (`{"value":…,"expires":…}`), so files written by @keyv/sqlite open unchanged. SQLite's default
 * rollback journal with `synchronous=FULL` keeps every statement atomic across a crash.
 *
 * Locks: the WebAssembly VFS locks a database by creating the directory `<file>.lock` and removes
 * it when the statement's transaction ends. Statements here are synchronous, so a live process
 * holds it only for the duration of one statement; a process killed inside a statement (kill -9)
 * leaves it behind, and every later statement would report "database is locked" for ever. So a
 * statement that finds the database locked retries (asynchronously, without blocking the event
 * loop) for up to `busyTimeoutMs`, and a lock directory that stayed the same for `staleLockMs` is
 * removed; SQLite then rolls back the dead writer's hot journal on the next statement.
 */
export class SqliteKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  readonly opts: {
    path: string;
    table: string;
    keySize: number;
    busyTimeoutMs: number;
    staleLockMs: number;
    dialect: 'sqlite';
  };
  namespace?: string | undefined;
  private db: Database | undefined;
  private readonly lockPath: string;
  private readonly ready: Promise<void>;
  private readonly onStaleLock: ((lockPath: string) => void) | undefined;

  constructor(options: SqliteKeyvStoreOptions) {
    super();
    const keySize = options.keySize ?? 255;
    if (!Number.isInteger(keySize) || keySize <= 0 || keySize > 65535) {
      throw new Error('keySize must be an integer between 1 and 65535');
    }
    this.opts = {
      path: resolve(options.path),
      table: tableName(options.table ?? 'keyv'),
      keySize,
      busyTimeoutMs: options.busyTimeoutMs ?? 5000,
      staleLockMs: options.staleLockMs ?? 2000,
      dialect: 'sqlite',
    };
    this.lockPath = `${this.opts.path}.lock`;
    this.onStaleLock = options.onStaleLock;
    this.ready = this.open();
    // a failed open is reported by every call (and once as an 'error' event), never as unhandled
    this.ready.catch(() => undefined);
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const row = await this.query('get', `SELECT value FROM ${this.opts.table} WHERE key = ?`, [key]);
    return (row[0]?.value ?? undefined) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const rows = await this.query(
      'getMany',
      `SELECT key, value FROM ${this.opts.table} WHERE key IN (SELECT value FROM json_each(?))`,
      [JSON.stringify(keys)],
    );
    const byKey = new Map(rows.map((row) => [row.key, row.value]));
    return keys.map((key) => (byKey.get(key) ?? undefined) as StoredData<Value | undefined>);
  }

  async set(key: string, value: unknown): Promise<boolean> {
    await this.run(
      'set',
      `INSERT INTO ${this.opts.table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      [key, typeof value === 'string' ? value : JSON.stringify(value)],
    );
    return true;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.run('delete', `DELETE FROM ${this.opts.table} WHERE key = ?`, [key])) > 0;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    const sql = `DELETE FROM ${this.opts.table} WHERE key IN (SELECT value FROM json_each(?))`;
    return (await this.run('deleteMany', sql, [JSON.stringify(keys)])) > 0;
  }

  async has(key: string): Promise<boolean> {
    const rows = await this.query('has', `SELECT 1 AS found FROM ${this.opts.table} WHERE key = ?`, [key]);
    return rows.length > 0;
  }

  /** deletes this namespace's records (every record without a namespace) */
  async clear(): Promise<void> {
    const [where, params] = this.namespaceFilter();
    await this.run('clear', `DELETE FROM ${this.opts.table}${where}`, params);
  }

  /**
   * Deletes this namespace's records whose keyv `expires` (ms since the epoch) is before `now`
   * (keyv itself only drops an expired record when it is read). Values that are not JSON are left
   * alone. Returns how many went.
   */
  async deleteExpired(now: number): Promise<number> {
    const [where, params] = this.namespaceFilter();
    const expired = `(CASE WHEN json_valid(value) THEN json_extract(value, '$.expires') END) < ?`;
    const sql = `DELETE FROM ${this.opts.table}${where ? `${where} AND` : ' WHERE'} ${expired}`;
    return this.run('deleteExpired', sql, [...params, now]);
  }

  async disconnect(): Promise<void> {
    await this.ready.catch(() => undefined);
    const db = this.db;
    this.db = undefined;
    if (db?.isOpen) db.close();
  }

  private async open(): Promise<void> {
    try {
      this.db = new WasmDatabase(this.opts.path);
      // waiting happens here, asynchronously; SQLite's own busy handler would block the event loop
      this.db.exec('PRAGMA busy_timeout = 0');
      await this.withRetry(() =>
        this.requireDb().exec(
          `CREATE TABLE IF NOT EXISTS ${this.opts.table}(key VARCHAR(${this.opts.keySize}) PRIMARY KEY, value TEXT )`,
        ),
      );
    } catch (error) {
      if (this.db?.isOpen) this.db.close();
      this.db = undefined;
      this.report(error);
      throw error;
    }
  }

  private namespaceFilter(): [string, string[]] {
    if (!this.namespace) return ['', []];
    // a key range on the primary key: `ns:` ≤ key < `ns;` (';' follows ':'), no LIKE wildcards
    return [' WHERE key >= ? AND key < ?', [`${this.namespace}:`, `${this.namespace};`]];
  }

  private async query(what: string, sql: string, params: string[]): Promise<Record<string, string | null>[]> {
    await this.ready;
    return this.guard(what, () => this.requireDb().all(sql, params) as Record<string, string | null>[]);
  }

  private async run(what: string, sql: string, params: (string | number)[]): Promise<number> {
    await this.ready;
    return this.guard(what, () => this.requireDb().run(sql, params).changes);
  }

  private async guard<T>(what: string, statement: () => T): Promise<T> {
    try {
      return await this.withRetry(statement);
    } catch (error) {
      this.report(error);
      throw new Error(`sqlite ${what} failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }

  /** an 'error' event, as keyv stores emit; without a listener it would throw instead */
  private report(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private requireDb(): Database {
    if (!this.db?.isOpen) throw new Error('the SQLite database is closed');
    return this.db;
  }

  /** runs one statement; while the database is locked, waits and retries (see the class comment) */
  private async withRetry<T>(statement: () => T): Promise<T> {
    const deadline = Date.now() + this.opts.busyTimeoutMs;
    let seen: { id: string; since: number } | undefined;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        return statement();
      } catch (error) {
        if (!(error instanceof Error) || !busyMessage.test(error.message)) throw error;
        const id = this.lockIdentity();
        const now = Date.now();
        if (id === undefined) {
          seen = undefined;
        } else if (seen?.id !== id) {
          seen = { id, since: now };
        } else if (now - seen.since >= this.opts.staleLockMs) {
          this.removeStaleLock(id);
          seen = undefined;
          continue;
        }
        if (now >= deadline) throw error;
        await sleep(delay);
      }
    }
  }

  /** the lock directory's inode and change time, or undefined when there is none */
  private lockIdentity(): string | undefined {
    try {
      const stat = statSync(this.lockPath, { bigint: true });
      return `${stat.ino}:${stat.ctimeNs}:${stat.birthtimeNs}`;
    } catch {
      return undefined;
    }
  }

  private removeStaleLock(id: string): void {
    if (this.lockIdentity() !== id) return;
    try {
      rmdirSync(this.lockPath);
    } catch {
      return; // gone already, or taken again meanwhile
    }
    this.onStaleLock?.(this.lockPath);
  }
}

function tableName(input: string): string {
  const sanitized = input.replace(/[^a-zA-Z0-9_]/g, '');
  if (sanitized.length === 0) throw new Error('the table name needs letters or digits');
  return /^[a-zA-Z]/.test(sanitized) ? sanitized : `_${sanitized}`;
}
