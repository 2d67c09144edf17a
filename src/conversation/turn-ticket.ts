import { GlimpseError } from '../errors.js';

/**
 * A place in one conversation's queue of turns, shared by every manager that shares the store
 * (Redis: every replica). Turns of a conversation run one at a time, in the order their tickets
 * were taken; a ticket is taken when a turn is accepted, so order follows arrival.
 */
export interface TurnTicket {
  /**
   * Resolves once every ticket taken before this one has been released (or its holder died: a
   * ticket is kept alive by a heartbeat). Rejects with `glimpse_aborted` when `signal` aborts or the
   * ticket is released meanwhile, with `glimpse_store_failed` when the store cannot be reached or
   * the ticket was lost.
   */
  acquire(signal?: AbortSignal): Promise<void>;
  /**
   * Aborts when the ticket is lost while it is held (its heartbeat could not be renewed in time,
   * so another holder may have gone ahead): whoever holds it should stop writing.
   */
  readonly lost: AbortSignal;
  /** gives the place up, held or still waiting; idempotent, never rejects */
  release(): Promise<void>;
}

export function abortedWaiting(signal: AbortSignal): GlimpseError {
  return new GlimpseError('glimpse_aborted', 'stopped waiting for the conversation', {
    cause: signal.reason,
  });
}

export const releasedWhileWaiting = () =>
  new GlimpseError('glimpse_aborted', 'the turn ticket was released while waiting');

interface LocalEntry {
  wake: () => void;
  drop: () => void;
}

/**
 * The turn queue of one process (a SQLite file, an in-memory store): per conversation, a FIFO of
 * tickets; the head holds the turn. Nothing can die without the process, so nothing expires.
 */
export class LocalTurnQueue {
  private readonly queues = new Map<string, LocalEntry[]>();

  take(conversationId: string): TurnTicket {
    const queue = this.queues.get(conversationId) ?? [];
    this.queues.set(conversationId, queue);
    let wake!: () => void;
    let drop!: () => void;
    const woken = new Promise<void>((resolve, reject) => {
      wake = resolve;
      drop = () => reject(releasedWhileWaiting());
    });
    woken.catch(() => undefined);
    const entry: LocalEntry = { wake, drop };
    queue.push(entry);
    if (queue[0] === entry) wake();
    const lost = new AbortController();
    let released = false;
    return {
      lost: lost.signal,
      acquire: async (signal) => {
        if (released) throw releasedWhileWaiting();
        if (!signal) return woken;
        if (signal.aborted) throw abortedWaiting(signal);
        let onAbort!: () => void;
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(abortedWaiting(signal));
          signal.addEventListener('abort', onAbort, { once: true });
        });
        try {
          await Promise.race([woken, aborted]);
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        entry.drop();
        const current = this.queues.get(conversationId);
        if (!current) return;
        const index = current.indexOf(entry);
        if (index >= 0) current.splice(index, 1);
        if (current.length === 0) this.queues.delete(conversationId);
        else if (index === 0) current[0]?.wake();
      },
    };
  }
}
