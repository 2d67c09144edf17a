import type { Server } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { nextSnowflake } from './snowflake.js';
import type { Payload } from './world.js';

export interface RecordedIdentify {
  token: string;
  intents: number;
  properties: unknown;
  shard: unknown;
  compress: unknown;
  at: number;
}

export interface RecordedResume {
  token: string;
  sessionId: string;
  seq: number;
  /** false when the fake answered INVALID_SESSION */
  accepted: boolean;
}

export interface GatewayRefusal {
  /** a gateway close code, e.g. 4004 (authentication failed) or 4014 (disallowed intents) */
  code: number;
  reason?: string;
}

export interface FakeGatewayOptions {
  server: Server;
  path: string;
  heartbeatIntervalMs: number;
  /** the token IDENTIFY must carry; others are closed with 4004 */
  token: string;
  refuseIdentify?: GatewayRefusal | ((identify: RecordedIdentify) => GatewayRefusal | undefined);
  /** READY's `d` and the GUILD_CREATEs that follow, built at IDENTIFY time */
  onIdentify: (
    identify: RecordedIdentify,
    session: { sessionId: string; resumeUrl: string },
  ) => {
    ready: Payload;
    guilds: Payload[];
  };
}

interface Session {
  id: string;
  intents: number;
  seq: number;
  socket: WebSocket | null;
  /** every dispatch sent in the session, for RESUME's replay */
  sent: { s: number; t: string; d: unknown }[];
}

/** Builds the payload a session gets for an event, or null when its intents filter it out. */
export type IntentFilter = (intents: number) => Payload | null;

/** The Discord gateway (v10, JSON, no compression) on a `ws` server, one session per IDENTIFY. */
export class FakeGateway {
  readonly identifies: RecordedIdentify[] = [];
  readonly resumes: RecordedResume[] = [];
  /** the opcodes discord.js sent, in order */
  readonly received: { op: number; at: number }[] = [];
  heartbeats = 0;
  connections = 0;
  refuseIdentify: FakeGatewayOptions['refuseIdentify'];
  url = '';
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly options: FakeGatewayOptions) {
    this.refuseIdentify = options.refuseIdentify;
    this.wss = new WebSocketServer({ server: options.server, path: options.path });
    this.wss.on('connection', (socket) => this.onConnection(socket));
  }

  /** sessions that are identified and connected now */
  get liveSessions(): number {
    return [...this.sessions.values()].filter((session) => session.socket).length;
  }

  /** a dispatch (op 0) to every identified session; sessions disconnected keep it for RESUME */
  dispatch(t: string, d: Payload | IntentFilter): void {
    for (const session of this.sessions.values()) {
      const data = typeof d === 'function' ? d(session.intents) : d;
      if (data) this.send(session, t, data);
    }
  }

  /** closes every connection with `code` (4000: discord.js resumes; 1000: it re-identifies) */
  disconnect(code = 4000, reason = 'fake-discord: disconnect'): void {
    for (const socket of this.wss.clients) socket.close(code, reason);
  }

  /** op 7 RECONNECT to every connection: discord.js closes and resumes */
  requestReconnect(): void {
    for (const socket of this.wss.clients) socket.send(JSON.stringify({ op: 7, d: null, s: null, t: null }));
  }

  async close(): Promise<void> {
    for (const socket of this.wss.clients) socket.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(socket: WebSocket): void {
    this.connections++;
    let session: Session | null = null;
    socket.send(
      JSON.stringify({
        op: 10,
        d: { heartbeat_interval: this.options.heartbeatIntervalMs },
        s: null,
        t: null,
      }),
    );
    socket.on('message', (raw) => {
      let packet: { op?: number; d?: Payload };
      try {
        packet = JSON.parse(String(raw));
      } catch {
        socket.close(4002, 'Error while decoding payload.');
        return;
      }
      const op = packet.op ?? -1;
      this.received.push({ op, at: Date.now() });
      if (op === 1) {
        this.heartbeats++;
        socket.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      } else if (op === 2) {
        if (session) {
          socket.close(4005, 'Already authenticated.');
          return;
        }
        session = this.identify(socket, packet.d ?? {});
      } else if (op === 6) {
        session = this.resume(socket, packet.d ?? {});
      } else if (op === 3 || op === 4 || op === 8) {
        // presence, voice state, request guild members: accepted, nothing answered
      } else {
        socket.close(4001, 'Unknown opcode.');
      }
    });
    socket.on('close', () => {
      if (session && session.socket === socket) session.socket = null;
    });
  }

  private identify(socket: WebSocket, d: Payload): Session | null {
    const identify: RecordedIdentify = {
      token: String(d.token ?? ''),
      intents: Number(d.intents ?? 0),
      properties: d.properties,
      shard: d.shard,
      compress: d.compress,
      at: Date.now(),
    };
    this.identifies.push(identify);
    const refusal =
      typeof this.refuseIdentify === 'function' ? this.refuseIdentify(identify) : this.refuseIdentify;
    if (refusal) {
      socket.close(refusal.code, refusal.reason ?? '');
      return null;
    }
    if (identify.token !== this.options.token) {
      socket.close(4004, 'Authentication failed.');
      return null;
    }
    const session: Session = { id: nextSnowflake(), intents: identify.intents, seq: 0, socket, sent: [] };
    this.sessions.set(session.id, session);
    const { ready, guilds } = this.options.onIdentify(identify, {
      sessionId: session.id,
      resumeUrl: this.url,
    });
    this.send(session, 'READY', ready);
    // without the Guilds intent Discord sends no GUILD_CREATE (discord.js then stops waiting at once)
    if (identify.intents & 1) for (const guild of guilds) this.send(session, 'GUILD_CREATE', guild);
    return session;
  }

  private resume(socket: WebSocket, d: Payload): Session | null {
    const sessionId = String(d.session_id ?? '');
    const seq = Number(d.seq ?? 0);
    const session = this.sessions.get(sessionId);
    const accepted = Boolean(session && String(d.token ?? '') === this.options.token);
    this.resumes.push({ token: String(d.token ?? ''), sessionId, seq, accepted });
    if (!session || !accepted) {
      socket.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
      return null;
    }
    session.socket = socket;
    for (const event of session.sent) {
      if (event.s > seq) socket.send(JSON.stringify({ op: 0, ...event }));
    }
    this.send(session, 'RESUMED', {});
    return session;
  }

  private send(session: Session, t: string, d: unknown): void {
    session.seq++;
    const event = { s: session.seq, t, d };
    session.sent.push(event);
    session.socket?.send(JSON.stringify({ op: 0, ...event }));
  }
}
