import { randomUUID } from 'node:crypto';
import { WebSession } from './web-session.js';

export interface WebSessionRegistryOptions {
  /** sessions kept at once; the least recently used idle one makes room for a new one */
  maxSessions: number;
  /** a session with no open stream and no turn in flight is forgotten after this long */
  idleMs: number;
  maxBacklog?: number;
  maxPendingTurns?: number;
  now?: () => number;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The playground's sessions, in memory: bounded in number and forgotten when idle. */
export class WebSessionRegistry {
  private readonly sessions = new Map<string, WebSession>();
  private readonly now: () => number;

  constructor(private readonly options: WebSessionRegistryOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** A new session, or undefined when every slot holds a session that is in use. */
  create(): WebSession | undefined {
    if (this.sessions.size >= this.options.maxSessions && !this.evictOne()) return undefined;
    const session = new WebSession(randomUUID(), {
      maxBacklog: this.options.maxBacklog ?? 1000,
      maxPending: this.options.maxPendingTurns ?? 64,
      now: this.now,
    });
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string): WebSession | undefined {
    if (!uuidPattern.test(id)) return undefined;
    const session = this.sessions.get(id);
    session?.touch();
    return session;
  }

  /** Forgets sessions idle for longer than `idleMs`. */
  sweep(): void {
    const cutoff = this.now() - this.options.idleMs;
    for (const [id, session] of this.sessions) {
      if (this.isIdle(session) && session.lastActiveAt < cutoff) this.sessions.delete(id);
    }
  }

  closeAll(): void {
    for (const session of this.sessions.values()) session.closeStreams();
    this.sessions.clear();
  }

  private isIdle(session: WebSession): boolean {
    return session.subscriberCount === 0 && session.pendingTurns.length === 0;
  }

  private evictOne(): boolean {
    let oldest: WebSession | undefined;
    for (const session of this.sessions.values()) {
      if (this.isIdle(session) && (!oldest || session.lastActiveAt < oldest.lastActiveAt)) oldest = session;
    }
    if (!oldest) return false;
    this.sessions.delete(oldest.id);
    return true;
  }
}
