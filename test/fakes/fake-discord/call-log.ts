import { EventEmitter } from 'node:events';

/** One HTTP request the fake answered (REST under /api, or a download under /attachments). */
export interface RecordedCall {
  kind: 'rest' | 'attachment';
  method: string;
  /** the path (percent-decoded) without `/api` and the `/v10` prefix, e.g. `/channels/1/messages` */
  path: string;
  /** the route template matched, e.g. `POST /channels/:channelId/messages`; `unknown` when none */
  route: string;
  query: Record<string, string>;
  /** request headers, lower-cased, without `authorization` */
  headers: Record<string, string>;
  /** whether `authorization: Bot <the expected token>` was sent */
  authorized: boolean;
  /** the raw authorization scheme seen (`Bot`, `Bearer`, …) or null when absent */
  authorizationScheme: string | null;
  /** the JSON body (for multipart: the parsed `payload_json`), or null */
  body: unknown;
  /** files of a multipart body */
  files: RecordedFile[];
  status: number;
  /** the JSON answered, when there was one */
  response: unknown;
  at: number;
}

export interface RecordedFile {
  field: string;
  filename: string;
  contentType: string;
  size: number;
}

/** The fake's record of calls, with a `waitFor` tests await on. */
export class CallLog {
  readonly calls: RecordedCall[] = [];
  private readonly events = new EventEmitter();

  record(call: RecordedCall): void {
    this.calls.push(call);
    this.events.emit('call', call);
  }

  /** resolves with the first recorded call (past or future) matching `predicate` */
  waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs = 5_000): Promise<RecordedCall> {
    const found = this.calls.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onCall = (call: RecordedCall) => {
        if (!predicate(call)) return;
        cleanup();
        resolve(call);
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = this.calls.map((call) => `${call.method} ${call.path} → ${call.status}`).join('\n  ');
        reject(new Error(`fake-discord: no matching call within ${timeoutMs} ms; calls so far:\n  ${seen}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('call', onCall);
      };
      this.events.on('call', onCall);
    });
  }
}
