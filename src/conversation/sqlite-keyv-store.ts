import { EventEmitter } from 'node:events';
import sqlite3Wasm from 'node-sqlite3-wasm';

const { Database } = sqlite3Wasm;

/**
 * A keyv store on a SQLite file, through SQLite compiled to WebAssembly (node-sqlite3-wasm): the
 * engine ships inside its npm package, so installing Glimpse needs no compiler, no Python and no
 * download. The file layout is the one @keyv/sqlite used — table `keyv(key VARCHAR(255) PRIMARY
 * KEY, value TEXT)`, keys `<namespace>:<key>` — so history files written before still load.
 *
 * Each write is one upsert statement in SQLite's rollback journal: a crash (even `kill -9`)
 * leaves the previous value or the new one. Statements run synchronously (microseconds for these
 * small rows); one process owns the file (several replicas share Redis instead).
 */
export class SqliteKeyvStore extends EventEmitter {
  readonly opts: { table: string; uri: string };
  namespace?: string;
  private readonly db: InstanceType<typeof Database>;
  private closed = false;

  constructor(path: string, options: { table?: string; busyTimeoutMs?: number } = {}) {
    super();
    const table = (options.table ?? 'keyv').replace(/[^a-zA-Z0-9_]/g, '');
    this.opts = { table, uri: `sqlite://${path}` };
    this.db = new Database(path);
    try {
      this.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${table}(key VARCHAR(255) PRIMARY KEY, value TEXT)`);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  async get(key: string): Promise<string | undefined> {
    const row = this.db.get(`SELECT value FROM ${this.opts.table} WHERE key = ?`, [key]) as {
      value: string;
    } | null;
    return row?.value ?? undefined;
  }

  async getMany(keys: string[]): Promise<(string | undefined)[]> {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  async set(key: string, value: string): Promise<boolean> {
    this.db.run(
      `INSERT INTO ${this.opts.table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      [key, value],
    );
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const info = this.db.run(`DELETE FROM ${this.opts.table} WHERE key = ?`, [key]);
    return info.changes > 0;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    let any = false;
    for (const key of keys) any = (await this.delete(key)) || any;
    return any;
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async clear(): Promise<void> {
    this.db.run(`DELETE FROM ${this.opts.table} WHERE key LIKE ?`, [
      this.namespace ? `${this.namespace}:%` : '%',
    ]);
  }

  /** rows whose keyv envelope says they expired before `now` (ms), under `prefix` */
  expiredKeys(prefix: string, now: number): string[] {
    const rows = this.db.all(
      `SELECT key FROM ${this.opts.table} WHERE key LIKE ? AND json_extract(value, '$.expires') < ?`,
      [`${prefix}%`, now],
    ) as { key: string }[];
    return rows.map((row) => row.key);
  }

  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
