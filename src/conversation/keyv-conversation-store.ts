import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import KeyvRedis, { createKeyv as createRedisKeyv } from '@keyv/redis';
import Keyv from 'keyv';
import { z } from 'zod';
import { GlimpseError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ImagePart } from '../messages.js';
import type {
  ConversationStore,
  ConversationTurn,
  ImageRef,
  InFlightTurn,
  MessageLink,
} from './conversation-store.js';
import { type RedisScripting, RedisTurnQueue } from './redis-turn-queue.js';
import { SqliteKeyvStore } from './sqlite-keyv-store.js';
import { LocalTurnQueue, type TurnTicket } from './turn-ticket.js';

export interface KeyvConversationStoreOptions {
  /** how long a conversation and an image live after their last write (seconds) */
  historyTtlSeconds: number;
  /** the most turns kept per conversation; older ones are dropped on append (default 200) */
  maxTurns?: number;
  logger: Logger;
  /** the clock, for TTL decisions (tests) */
  now?: () => number;
  /**
   * how long another process's in-flight turn counts as alive without a save (ms, default 15 000,
   * as long as a turn ticket lives without its heartbeat);
   * only where processes share the backend (Redis): a SQLite file has one process
   */
  inFlightLeaseMs?: number;
  /** whether other processes share the backend (default: Redis yes, anything else no) */
  shared?: boolean;
  /** Redis: how long a turn ticket lives without its heartbeat (ms, default 15000) */
  turnTicketTtlMs?: number;
}

export interface ConversationStoreConfig {
  sqlitePath: string;
  redisUrl?: string;
  historyTtlSeconds: number;
}

const sha256Pattern = /^[0-9a-f]{64}$/;

const storedPartSchema = z.union([
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({
    type: z.literal('image-ref'),
    sha256: z.string().regex(sha256Pattern),
    mediaType: z.string(),
    width: z.number(),
    height: z.number(),
    name: z.string(),
  }),
]);

const turnSchema = z.object({
  role: z.enum(['user', 'assistant']),
  parts: z.array(storedPartSchema),
  messageId: z.string().optional(),
  author: z.object({ id: z.string(), name: z.string(), isBot: z.boolean() }).optional(),
  interrupted: z.boolean().optional(),
  createdAt: z.string(),
});

/** A conversation is one record: every write replaces it whole, in one atomic statement. */
const conversationSchema = z.object({ v: z.literal(1), turns: z.array(turnSchema) });
type ConversationRecord = z.infer<typeof conversationSchema>;

interface ImageRecord {
  mediaType: string;
  width: number;
  height: number;
  name: string;
  /** base64 of the bytes */
  data: string;
}

/** The turns being answered in a conversation, each held by one process (`owner`) until `leaseUntil`. */
const inFlightSchema = z.object({
  v: z.literal(1),
  entries: z.array(
    z.object({ turnId: z.string(), owner: z.string(), leaseUntil: z.number(), turns: z.array(turnSchema) }),
  ),
});
type InFlightRecord = z.infer<typeof inFlightSchema>;

const conversationKey = (conversationId: string) => `conv:${conversationId}`;
const inFlightKey = (conversationId: string) => `live:${conversationId}`;
const imageKey = (sha256: string) => `img:${sha256}`;
const messageKey = (key: string) => `msg:${key}`;
const messageLinkSchema = z.object({ conversationId: z.string(), anchor: z.string() });

/**
 * The conversation store on keyv: a SQLite file by default, Redis for several replicas.
 *
 * Layout (under the `glimpse` namespace):
 * - `conv:<conversationId>` → `{v: 1, turns}`. The conversation id already carries platform,
 *   workspace, channel and thread (`slack:T1:C1:1700.1`). An append rewrites the record in one
 *   `set` — one SQLite upsert statement (rollback journal) or one Redis `SET` — so a crash at any
 *   point leaves either the previous record or the new one, never half a turn.
 * - `live:<conversationId>` → the turns being answered (`saveInFlight`): the question and the
 *   answer so far, with the process holding each. A dead process's entry is moved into `conv:` by
 *   the next load (idempotent: a turn already there is not added twice).
 * - `img:<sha256>` → the bytes (base64) and their metadata, stored once however many turns refer
 *   to them. Turns hold `ImageRef`s only. Reuse (`putImage` again, or `getImage` for a request)
 *   refreshes the TTL once less than half of it is left.
 *
 * Appends to one conversation are serialized in this process, and the manager runs a conversation's
 * turns one at a time through `queueTurn` (across replicas on Redis), so a turn's read-modify-write
 * never races with another turn's.
 */
export class KeyvConversationStore implements ConversationStore {
  private readonly ttlMs: number;
  private readonly maxTurns: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** this process, as the owner of in-flight records */
  private readonly instanceId = randomUUID();
  /** the in-flight turns this process holds (`conversationId\0turnId`) */
  private readonly holding = new Set<string>();
  private readonly leaseMs: number;
  private readonly shared: boolean;
  private readonly turnQueue: LocalTurnQueue | RedisTurnQueue;
  private closed = false;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly keyv: Keyv,
    options: KeyvConversationStoreOptions,
  ) {
    this.ttlMs = options.historyTtlSeconds * 1000;
    this.maxTurns = options.maxTurns ?? 200;
    this.logger = options.logger;
    this.now = options.now ?? (() => Date.now());
    this.leaseMs = options.inFlightLeaseMs ?? 15_000;
    this.shared = options.shared ?? keyv.store instanceof KeyvRedis;
    const store = this.keyv.store as unknown;
    this.turnQueue =
      store instanceof KeyvRedis
        ? new RedisTurnQueue({
            prefix: `${this.keyv.namespace ?? 'glimpse'}::`,
            client: async () => (await store.getClient()) as unknown as RedisScripting,
            ...(options.turnTicketTtlMs !== undefined ? { ticketTtlMs: options.turnTicketTtlMs } : {}),
          })
        : new LocalTurnQueue();
    this.keyv.throwOnErrors = true;
    // keyv also emits what it throws; without a listener an 'error' event would crash the process
    this.keyv.on('error', (error: unknown) => {
      this.logger.debug({ err: error }, 'store backend error');
    });
  }

  async load(conversationId: string): Promise<ConversationTurn[]> {
    const record = await this.readConversation(conversationId);
    const inFlight = await this.readInFlight(conversationId);
    if (!inFlight.entries.some((entry) => this.isDead(conversationId, entry))) return record.turns;
    return this.withLock(conversationId, () => this.recover(conversationId));
  }

  async saveInFlight(conversationId: string, turn: InFlightTurn): Promise<void> {
    if (!turn.turns.every((stored) => turnSchema.safeParse(stored).success)) {
      throw new GlimpseError('glimpse_store_failed', 'refusing to store a malformed in-flight turn', {
        details: { conversationId },
      });
    }
    const held = `${conversationId}\u0000${turn.turnId}`;
    this.holding.add(held);
    await this.withLock(inFlightKey(conversationId), async () => {
      if (!this.holding.has(held)) return; // cleared while waiting for the lock
      const record = await this.readInFlight(conversationId);
      const entry = {
        turnId: turn.turnId,
        owner: this.instanceId,
        leaseUntil: this.now() + this.leaseMs,
        turns: turn.turns,
      };
      const entries = [...record.entries.filter((other) => other.turnId !== turn.turnId), entry];
      await this.write(inFlightKey(conversationId), { v: 1, entries } satisfies InFlightRecord);
    });
  }

  async clearInFlight(conversationId: string, turnId: string): Promise<void> {
    // let go first: if the delete fails, the record is left for the next load to recover
    this.holding.delete(`${conversationId}\u0000${turnId}`);
    await this.withLock(inFlightKey(conversationId), () =>
      this.writeInFlight(conversationId, (entries) => entries.filter((entry) => entry.turnId !== turnId)),
    );
  }

  async append(conversationId: string, turns: ConversationTurn[]): Promise<void> {
    if (turns.length === 0) return;
    for (const turn of turns) {
      if (!turnSchema.safeParse(turn).success) {
        throw new GlimpseError('glimpse_store_failed', 'refusing to store a malformed turn', {
          details: { conversationId },
        });
      }
    }
    await this.withLock(conversationId, async () => {
      const record = await this.readConversation(conversationId);
      const all = [...record.turns, ...turns];
      const kept = all.length > this.maxTurns ? all.slice(all.length - this.maxTurns) : all;
      await this.write(conversationKey(conversationId), { v: 1, turns: kept } satisfies ConversationRecord);
    });
  }

  async reset(conversationId: string): Promise<void> {
    await this.withLock(conversationId, async () => {
      await this.attempt('reset', () => this.keyv.delete(conversationKey(conversationId)));
      await this.attempt('reset', () => this.keyv.delete(inFlightKey(conversationId)));
    });
  }

  async putImage(image: ImagePart): Promise<ImageRef> {
    const sha256 = createHash('sha256').update(image.bytes).digest('hex');
    if (image.sha256 !== sha256) {
      throw new GlimpseError('glimpse_image_invalid', 'image sha256 does not match its bytes', {
        userMessage: 'That image could not be read.',
        details: { claimed: image.sha256, actual: sha256 },
      });
    }
    const ref: ImageRef = {
      type: 'image-ref',
      sha256,
      mediaType: image.mediaType,
      width: image.width,
      height: image.height,
      name: image.name,
    };
    const existing = await this.attempt('read image', () => this.keyv.getRaw(imageKey(sha256)));
    if (existing?.value !== undefined && !this.needsRefresh(existing.expires)) return ref;
    const record: ImageRecord = {
      mediaType: image.mediaType,
      width: image.width,
      height: image.height,
      name: image.name,
      data: Buffer.from(image.bytes).toString('base64'),
    };
    await this.write(imageKey(sha256), record);
    return ref;
  }

  async getImage(sha256: string): Promise<ImagePart | undefined> {
    if (!sha256Pattern.test(sha256)) return undefined;
    const raw = await this.attempt('read image', () => this.keyv.getRaw(imageKey(sha256)));
    const record = raw?.value as ImageRecord | undefined;
    if (!record || typeof record.data !== 'string') return undefined;
    if (this.needsRefresh(raw?.expires)) {
      // reused for a request: keep it as long as the history that refers to it
      await this.write(imageKey(sha256), record).catch((error: unknown) => {
        this.logger.warn({ err: error, code: 'glimpse_store_failed', sha256 }, 'could not refresh image TTL');
      });
    }
    return {
      type: 'image',
      mediaType: record.mediaType,
      bytes: new Uint8Array(Buffer.from(record.data, 'base64')),
      width: record.width,
      height: record.height,
      sha256,
      name: record.name,
    };
  }

  async linkMessages(conversationId: string, anchor: string, messageKeys: string[]): Promise<void> {
    const link: MessageLink = { conversationId, anchor };
    for (const key of new Set(messageKeys)) await this.write(messageKey(key), link);
  }

  async claimEvent(eventKey: string, ttlSeconds: number): Promise<boolean> {
    const key = `event:${eventKey}`;
    const store = this.keyv.store as unknown;
    if (store instanceof KeyvRedis) {
      const client = (await this.attempt('claim event', () => store.getClient())) as unknown as {
        set(key: string, value: string, options: { NX: true; EX: number }): Promise<string | null>;
      };
      const answer = await this.attempt('claim event', () =>
        client.set(`${this.keyv.namespace ?? 'glimpse'}::${key}`, '1', {
          NX: true,
          EX: Math.max(1, ttlSeconds),
        }),
      );
      return answer === 'OK';
    }
    // one process owns a SQLite file (or a memory store): the lock makes check-and-set atomic here
    return this.withLock(key, async () => {
      const seen = await this.attempt('claim event', () => this.keyv.get(key));
      if (seen !== undefined) return false;
      const ok = await this.attempt('claim event', () => this.keyv.set(key, 1, ttlSeconds * 1000));
      if (ok === false) throw new GlimpseError('glimpse_store_failed', `store refused to write ${key}`);
      return true;
    });
  }

  async queueTurn(conversationId: string): Promise<TurnTicket> {
    if (this.closed) throw new GlimpseError('glimpse_store_failed', 'store is closed (queue turn)');
    return this.turnQueue.take(conversationId);
  }

  async findMessage(key: string): Promise<MessageLink | undefined> {
    const value = await this.attempt('read message link', () => this.keyv.get(messageKey(key)));
    const parsed = messageLinkSchema.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Deletes expired records (SQLite only: Redis expires keys itself, and keyv's SQLite adapter
   * only drops an expired record when it is read). Returns how many rows went.
   */
  async sweepExpired(): Promise<number> {
    const store = this.keyv.store as unknown;
    if (!(store instanceof SqliteKeyvStore)) return 0;
    return store.deleteExpired(this.now());
  }

  /** sweeps expired records every `intervalMs` (SQLite), until `close` */
  sweepEvery(intervalMs: number): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => {
      this.sweepExpired().catch((error: unknown) => {
        this.logger.warn({ err: error, code: 'glimpse_store_failed' }, 'expired-history sweep failed');
      });
    }, intervalMs);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    if (this.turnQueue instanceof RedisTurnQueue) await this.turnQueue.close();
    await Promise.allSettled([...this.locks.values()]);
    await this.keyv.disconnect();
  }

  private needsRefresh(expires: number | null | undefined): boolean {
    if (typeof expires !== 'number') return false;
    return expires - this.now() < this.ttlMs / 2;
  }

  private async readConversation(conversationId: string): Promise<ConversationRecord> {
    const value = await this.attempt('load', () => this.keyv.get(conversationKey(conversationId)));
    if (value === undefined || value === null) return { v: 1, turns: [] };
    const parsed = conversationSchema.safeParse(value);
    if (!parsed.success) {
      this.logger.warn(
        { code: 'glimpse_store_failed', conversationId },
        'stored conversation is unreadable; starting it fresh',
      );
      return { v: 1, turns: [] };
    }
    return parsed.data;
  }

  private async readInFlight(conversationId: string): Promise<InFlightRecord> {
    const value = await this.attempt('load', () => this.keyv.get(inFlightKey(conversationId)));
    if (value === undefined || value === null) return { v: 1, entries: [] };
    const parsed = inFlightSchema.safeParse(value);
    return parsed.success ? parsed.data : { v: 1, entries: [] };
  }

  /** rewrites the in-flight record through `change` (deleted when nothing is left); under its lock */
  private async writeInFlight(
    conversationId: string,
    change: (entries: InFlightRecord['entries']) => InFlightRecord['entries'],
  ): Promise<void> {
    const record = await this.readInFlight(conversationId);
    const entries = change(record.entries);
    if (entries.length === record.entries.length) return;
    if (entries.length > 0) await this.write(inFlightKey(conversationId), { v: 1, entries });
    else await this.attempt('write', () => this.keyv.delete(inFlightKey(conversationId)));
  }

  /**
   * An in-flight entry no process holds: this process let go of it (or never held it), and its
   * owner is gone — another process on a file only one process opens, or a lease not renewed.
   */
  private isDead(conversationId: string, entry: InFlightRecord['entries'][number]): boolean {
    if (entry.owner === this.instanceId) return !this.holding.has(`${conversationId}\u0000${entry.turnId}`);
    return !this.shared || entry.leaseUntil < this.now();
  }

  /** moves dead in-flight turns into the history (in time order, never twice); under the lock */
  private async recover(conversationId: string): Promise<ConversationTurn[]> {
    const record = await this.readConversation(conversationId);
    const inFlight = await this.readInFlight(conversationId);
    const dead = inFlight.entries.filter((entry) => this.isDead(conversationId, entry));
    if (dead.length === 0) return record.turns;
    const turns = [...record.turns];
    const same = (a: ConversationTurn, b: ConversationTurn) =>
      a.role === b.role && a.messageId === b.messageId && a.createdAt === b.createdAt;
    for (const entry of dead) {
      const question = entry.turns[0];
      // stored already (the turn ended, and the process died before it forgot the record)
      if (!question || turns.some((stored) => same(stored, question))) continue;
      const missing = entry.turns;
      const at = question.createdAt;
      let index = turns.length;
      while (index > 0 && turns[index - 1]!.createdAt > at) index--;
      turns.splice(index, 0, ...missing);
      this.logger.info(
        { code: 'glimpse_turn_recovered', conversationId, turnId: entry.turnId },
        'an answer cut off by a crash is in the history, marked interrupted',
      );
    }
    const kept = turns.length > this.maxTurns ? turns.slice(turns.length - this.maxTurns) : turns;
    await this.write(conversationKey(conversationId), { v: 1, turns: kept } satisfies ConversationRecord);
    const gone = new Set(dead.map((entry) => entry.turnId));
    await this.withLock(inFlightKey(conversationId), () =>
      this.writeInFlight(conversationId, (entries) =>
        entries.filter((entry) => !gone.has(entry.turnId) || !this.isDead(conversationId, entry)),
      ),
    );
    return kept;
  }

  private async write(key: string, value: unknown): Promise<void> {
    const ok = await this.attempt('write', () => this.keyv.set(key, value, this.ttlMs));
    if (ok === false) throw new GlimpseError('glimpse_store_failed', `store refused to write ${key}`);
  }

  private async attempt<T>(what: string, action: () => Promise<T>): Promise<T> {
    if (this.closed) throw new GlimpseError('glimpse_store_failed', `store is closed (${what})`);
    try {
      return await action();
    } catch (error) {
      throw new GlimpseError('glimpse_store_failed', `store ${what} failed`, {
        cause: error,
        userMessage: 'Sorry, I could not reach my memory store.',
      });
    }
  }

  private async withLock<T>(conversationId: string, action: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(conversationId) ?? Promise.resolve();
    const next = previous.then(action, action);
    const settled = next.catch(() => undefined);
    this.locks.set(conversationId, settled);
    try {
      return await next;
    } finally {
      if (this.locks.get(conversationId) === settled) this.locks.delete(conversationId);
    }
  }
}

/**
 * Builds the configured store: Redis when `redisUrl` is set (several replicas share history),
 * else a SQLite file (its directory is created). Both verify they can be reached before returning.
 */
export async function createConversationStore(
  config: ConversationStoreConfig,
  logger: Logger,
  options: { maxTurns?: number; now?: () => number; inFlightLeaseMs?: number; turnTicketTtlMs?: number } = {},
): Promise<KeyvConversationStore> {
  const storeOptions = { historyTtlSeconds: config.historyTtlSeconds, logger, ...options };
  if (config.redisUrl) {
    const keyv = createRedisKeyv(config.redisUrl, {
      namespace: 'glimpse',
      throwOnErrors: true,
      connectionTimeout: 5000,
    });
    const store = new KeyvConversationStore(keyv, storeOptions);
    await probe(store, 'redis', logger);
    return store;
  }
  const path = resolve(config.sqlitePath);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new GlimpseError('glimpse_store_failed', `cannot create the directory of ${path}`, {
      cause: error,
    });
  }
  let sqlite: SqliteKeyvStore;
  try {
    sqlite = new SqliteKeyvStore({
      path,
      busyTimeoutMs: 5000,
      onStaleLock: (lockPath) =>
        logger.warn(
          { code: 'glimpse_store_failed', lockPath },
          'removed the lock of a process that died mid-write',
        ),
    });
  } catch (error) {
    throw new GlimpseError('glimpse_store_failed', `cannot open the sqlite conversation store at ${path}`, {
      cause: error,
    });
  }
  const keyv = new Keyv({ store: sqlite, namespace: 'glimpse' });
  const store = new KeyvConversationStore(keyv, storeOptions);
  await probe(store, 'sqlite', logger);
  const swept = await store.sweepExpired().catch(() => 0);
  store.sweepEvery(6 * 3600 * 1000);
  logger.debug({ backend: 'sqlite', swept }, 'conversation store opened');
  return store;
}

async function probe(store: KeyvConversationStore, backend: string, logger: Logger): Promise<void> {
  try {
    await store.load('glimpse:probe');
  } catch (error) {
    await store.close().catch(() => undefined);
    throw new GlimpseError('glimpse_store_failed', `cannot open the ${backend} conversation store`, {
      cause: error,
    });
  }
  logger.debug({ backend }, 'conversation store reachable');
}
