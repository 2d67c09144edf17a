import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GlimpseError } from '../errors.js';
import { abortedWaiting, releasedWhileWaiting, type TurnTicket } from './turn-ticket.js';

/** The part of a node-redis client the queue uses. */
export interface RedisScripting {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export interface RedisTurnQueueOptions {
  /** key prefix (`glimpse::`) */
  prefix: string;
  /** the client, resolved lazily (keyv connects on first use) */
  client: () => Promise<RedisScripting>;
  /**
   * How long a ticket lives without a heartbeat (ms, default 15000): a replica killed while it
   * holds or waits delays the conversation's next turn by at most this long.
   */
  ticketTtlMs?: number;
  /** how long a conversation's queue keys outlive their last use (ms, default one day) */
  queueTtlMs?: number;
  /** first and longest pause between two looks at the queue's head (ms; default 10 and 100) */
  pollMs?: { first: number; max: number };
}

// A conversation's queue is a sorted set of tickets scored by a counter, and each ticket has an
// "alive" key that its heartbeat renews. The head of the set holds the turn; a head whose alive key
// expired (its replica died) is removed by whoever looks next. Every key carries the conversation id
// as a hash tag, so a Redis Cluster keeps one conversation's keys in one slot.

/** KEYS: queue, counter, alive · ARGV: token, ticket ttl, queue ttl */
const enterScript = `
local seq = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
return seq`;

/** KEYS: queue, alive · ARGV: token, alive prefix → 1 holds, 0 waits, -1 lost */
const headScript = `
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not head then return -1 end
  if head == ARGV[1] then return 1 end
  if redis.call('EXISTS', ARGV[2] .. head) == 1 then return 0 end
  redis.call('ZREM', KEYS[1], head)
end`;

/** KEYS: queue, alive · ARGV: ticket ttl, queue ttl → 1 renewed, 0 lost */
const heartbeatScript = `
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[1], 'XX') then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/** KEYS: queue, alive · ARGV: token */
const releaseScript = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`;

/**
 * The turn queue shared by every replica on one Redis: FIFO per conversation in the order tickets
 * were taken, a heartbeat per ticket, and dead holders skipped once their ticket expires.
 */
export class RedisTurnQueue {
  private readonly ticketTtlMs: number;
  private readonly queueTtlMs: number;
  private readonly poll: { first: number; max: number };
  private readonly live = new Set<{ release(): Promise<void> }>();

  constructor(private readonly options: RedisTurnQueueOptions) {
    this.ticketTtlMs = options.ticketTtlMs ?? 15_000;
    this.queueTtlMs = options.queueTtlMs ?? 86_400_000;
    this.poll = options.pollMs ?? { first: 10, max: 100 };
  }

  async take(conversationId: string): Promise<TurnTicket> {
    const token = randomUUID();
    const tag = `{${conversationId}}`;
    const queueKey = `${this.options.prefix}turnq:${tag}`;
    const alivePrefix = `${this.options.prefix}turnalive:${tag}:`;
    const aliveKey = alivePrefix + token;
    const client = await this.run(() => this.options.client());
    await this.run(() =>
      client.eval(enterScript, {
        keys: [queueKey, `${this.options.prefix}turnseq:${tag}`, aliveKey],
        arguments: [token, String(this.ticketTtlMs), String(this.queueTtlMs)],
      }),
    );

    const lost = new AbortController();
    let released = false;
    const heartbeat = setInterval(
      () => {
        client
          .eval(heartbeatScript, {
            keys: [queueKey, aliveKey],
            arguments: [String(this.ticketTtlMs), String(this.queueTtlMs)],
          })
          .then(
            (renewed) => {
              if (Number(renewed) !== 1 && !released) lost.abort(lostError(conversationId));
            },
            () => undefined, // a missed beat; the ticket lives ticketTtlMs, and the next one may land
          );
      },
      Math.max(50, Math.floor(this.ticketTtlMs / 3)),
    );
    heartbeat.unref();

    const ticket = {
      lost: lost.signal,
      acquire: async (signal?: AbortSignal) => {
        let pause = this.poll.first;
        for (;;) {
          if (signal?.aborted) throw abortedWaiting(signal);
          if (released) throw releasedWhileWaiting();
          const state = Number(
            await this.run(() =>
              client.eval(headScript, { keys: [queueKey, aliveKey], arguments: [token, alivePrefix] }),
            ),
          );
          if (released) throw releasedWhileWaiting();
          if (state === 1) return;
          if (state === -1) {
            lost.abort(lostError(conversationId));
            throw lostError(conversationId);
          }
          await sleep(pause, undefined, signal ? { signal } : {}).catch(() => undefined);
          if (released) throw releasedWhileWaiting();
          pause = Math.min(this.poll.max, pause * 2);
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(heartbeat);
        this.live.delete(ticket);
        await client
          .eval(releaseScript, { keys: [queueKey, aliveKey], arguments: [token] })
          .catch(() => undefined); // unreachable: the ticket expires on its own
      },
    };
    this.live.add(ticket);
    return ticket;
  }

  /** releases every ticket still out (closing the store) */
  async close(): Promise<void> {
    await Promise.allSettled([...this.live].map((ticket) => ticket.release()));
  }

  private async run<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw new GlimpseError('glimpse_store_failed', 'turn queue unreachable', {
        cause: error,
        userMessage: 'Sorry, I could not reach my memory store.',
      });
    }
  }
}

const lostError = (conversationId: string) =>
  new GlimpseError('glimpse_store_failed', 'lost the turn ticket (its heartbeat expired)', {
    userMessage: 'Sorry, I could not reach my memory store.',
    details: { conversationId },
  });
