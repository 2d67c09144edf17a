import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

export type EnvelopeType = 'events_api' | 'slash_commands' | 'interactive';

export interface EnvelopeInput {
  type: EnvelopeType;
  payload: Record<string, unknown>;
  /** default: a fresh uuid */
  envelope_id?: string;
  /** events_api only (default 0 / '') */
  retry_attempt?: number;
  retry_reason?: string;
  /** default: false for events_api, true for the others (as Slack sends them) */
  accepts_response_payload?: boolean;
}

/** What a client sent back on the socket for an envelope. */
export interface RecordedAck {
  envelope_id: string;
  payload?: unknown;
  /** which connection (1-based, in connect order) acked */
  connection: number;
  at: number;
}

export interface SocketConnection {
  id: number;
  /** the query of the URL connected to (the `ticket` apps.connections.open handed out) */
  query: Record<string, string>;
  openedAt: number;
  closedAt?: number;
  closeCode?: number;
}

export interface SocketModeServerOptions {
  server: Server;
  path: string;
  appId: string;
  /** a ws ping every … ms to each connection (0: none); Socket Mode clients drop a socket the server never pings */
  pingIntervalMs: number;
  /** the tickets apps.connections.open issued; others are refused with 401 */
  isTicketValid: (ticket: string | undefined) => boolean;
}

/** Slack's Socket Mode side: `hello` on connect, envelopes out, acks (`{envelope_id, payload?}`) in. */
export class FakeSocketMode {
  readonly connections: SocketConnection[] = [];
  readonly acks: RecordedAck[] = [];
  /** every envelope sent, in order */
  readonly envelopes: Record<string, unknown>[] = [];
  /** messages from clients that are not acks */
  readonly otherMessages: unknown[] = [];
  private readonly sockets = new Map<number, WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly events = new EventEmitter();

  constructor(private readonly options: SocketModeServerOptions) {
    options.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (
        url.pathname !== options.path ||
        !options.isTicketValid(url.searchParams.get('ticket') ?? undefined)
      ) {
        socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws, url));
    });
  }

  /** connections still open */
  get openCount(): number {
    return this.sockets.size;
  }

  private onConnection(ws: WebSocket, url: URL): void {
    const connection: SocketConnection = {
      id: this.connections.length + 1,
      query: Object.fromEntries(url.searchParams),
      openedAt: Date.now(),
    };
    this.connections.push(connection);
    this.sockets.set(connection.id, ws);
    const pinger =
      this.options.pingIntervalMs > 0
        ? setInterval(() => ws.ping(`ping-${Date.now()}`), this.options.pingIntervalMs)
        : undefined;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        this.otherMessages.push(data.toString());
        return;
      }
      const envelopeId = (message as { envelope_id?: unknown }).envelope_id;
      if (typeof envelopeId !== 'string') {
        this.otherMessages.push(message);
        return;
      }
      const ack: RecordedAck = { envelope_id: envelopeId, connection: connection.id, at: Date.now() };
      const payload = (message as { payload?: unknown }).payload;
      if (payload !== undefined) ack.payload = payload;
      this.acks.push(ack);
      this.events.emit('ack', ack);
    });
    ws.on('close', (code) => {
      clearInterval(pinger);
      connection.closedAt = Date.now();
      connection.closeCode = code;
      this.sockets.delete(connection.id);
      this.events.emit('close', connection);
    });
    ws.on('error', () => {});
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.sockets.size,
        debug_info: { host: 'applink-fake-slack', build_number: 1, approximate_connection_time: 18_060 },
        connection_info: { app_id: this.options.appId },
      }),
    );
    this.events.emit('connection', connection);
  }

  /** resolves when `count` connections have opened (counting past ones) */
  waitForConnection(count = 1, timeoutMs = 5_000): Promise<SocketConnection> {
    return this.waitUntil(
      'connection',
      () => this.connections[count - 1],
      timeoutMs,
      `fewer than ${count} Socket Mode connection(s) within ${timeoutMs} ms`,
    );
  }

  /** sends an envelope on every open connection (Slack picks one; tests normally have one); returns its id */
  sendEnvelope(input: EnvelopeInput): string {
    const envelopeId = input.envelope_id ?? randomUUID();
    const envelope: Record<string, unknown> = {
      envelope_id: envelopeId,
      payload: input.payload,
      type: input.type,
      accepts_response_payload: input.accepts_response_payload ?? input.type !== 'events_api',
    };
    if (input.type === 'events_api') {
      envelope.retry_attempt = input.retry_attempt ?? 0;
      envelope.retry_reason = input.retry_reason ?? '';
    }
    if (this.sockets.size === 0) throw new Error('fake-slack: no open Socket Mode connection');
    this.envelopes.push(envelope);
    const text = JSON.stringify(envelope);
    for (const ws of this.sockets.values()) ws.send(text);
    return envelopeId;
  }

  /** the client's ack of an envelope (past or future) */
  waitForAck(envelopeId: string, timeoutMs = 5_000): Promise<RecordedAck> {
    return this.waitUntil(
      'ack',
      () => this.acks.find((ack) => ack.envelope_id === envelopeId),
      timeoutMs,
      `no ack of envelope ${envelopeId} within ${timeoutMs} ms`,
    );
  }

  /** `{type: 'disconnect', reason}` on every open connection; the client then closes and reconnects */
  sendDisconnect(
    reason: 'warning' | 'refresh_requested' | 'link_disabled' | 'too_many_websockets' = 'refresh_requested',
  ) {
    const text = JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-fake-slack' } });
    for (const ws of this.sockets.values()) ws.send(text);
  }

  /** closes every open connection from the server's side without a disconnect message */
  dropConnections(code = 1006): void {
    for (const ws of this.sockets.values()) {
      if (code === 1006) ws.terminate();
      else ws.close(code);
    }
  }

  async close(): Promise<void> {
    for (const ws of this.sockets.values()) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private waitUntil<T>(
    event: string,
    find: () => T | undefined,
    timeoutMs: number,
    message: string,
  ): Promise<T> {
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = find();
        if (value === undefined) return;
        cleanup();
        resolve(value);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake-slack: ${message}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off(event, check);
      };
      this.events.on(event, check);
    });
  }
}
