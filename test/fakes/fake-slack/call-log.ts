import { EventEmitter } from 'node:events';

/** Which token an HTTP request carried as `authorization: Bearer …` (the token itself is never kept). */
export type TokenKind = 'bot' | 'app' | 'other' | 'none';

/** One HTTP request the fake answered. */
export interface RecordedCall {
  /** `api`: a Web API method; `file`: a download under /files-pri; `response_url`: a post to a response URL */
  kind: 'api' | 'file' | 'response_url' | 'other';
  /** the Web API method (`chat.postMessage`), or the HTTP method for the other kinds */
  method: string;
  httpMethod: string;
  /** the path, without the query */
  path: string;
  /** the parsed body: form fields or JSON, with JSON-string fields such as `blocks` decoded; `token` removed */
  body: Record<string, unknown>;
  contentType: string;
  /** which token came as bearer */
  token: TokenKind;
  /** whether that token was the one this endpoint wants (the app token for apps.connections.open) */
  authorized: boolean;
  /** a `token` field came in the body (its value is not kept) */
  tokenInBody: boolean;
  status: number;
  /** the JSON answered, when there was one */
  response: unknown;
  at: number;
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
        const seen = this.calls.map((call) => `${call.kind} ${call.method} → ${call.status}`).join('\n  ');
        reject(new Error(`fake-slack: no matching call within ${timeoutMs} ms; calls so far:\n  ${seen}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('call', onCall);
      };
      this.events.on('call', onCall);
    });
  }
}
