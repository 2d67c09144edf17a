import type { WebClient } from '@slack/web-api';
import {
  type RenderedReply,
  type ReplyChannel,
  type ReplyPart,
  ReplyRenderError,
} from '../../conversation/chat-event.js';
import type { Logger } from '../../logger.js';
import type { ChannelWriteBudget } from '../shared/channel-write-budget.js';
import { splitMessage } from '../shared/message-splitter.js';
import { type RenderCapabilities, type ReplySurface, renderReply } from '../shared/reply-renderer.js';
import { writeWithRetry } from '../shared/write-with-retry.js';
import { slackErrorCode, streamRefusals, toPlatformWriteError } from './slack-errors.js';
import { toSlackMrkdwn } from './slack-markdown.js';

/** Slack's limits for posted text (it truncates past 40 000; 4000 keeps messages readable) */
export const slackCapabilities: RenderCapabilities = {
  maxMessageLength: 3900,
  writingMarker: ' ▌',
  placeholder: '…',
};

/** a native stream older than this is closed; the rest of the answer is posted and updated */
const maxStreamAgeMs = 4 * 60_000;

export interface SlackReplyContext {
  client: WebClient;
  channel: string;
  /** the thread the answer goes into */
  threadTs: string;
  /** for a native stream outside a DM */
  teamId: string;
  userId: string;
  budget: ChannelWriteBudget;
  logger: Logger;
  /** try chat.startStream first (off once a workspace refused it) */
  streaming: () => boolean;
  onStreamRefused: (code: string) => void;
  onPosted: (ts: string) => void;
  /** the Assistant surface's status line (`setStatus`), when the thread is an assistant thread */
  setStatus?: (status: string) => Promise<unknown>;
}

class StreamRefused extends Error {
  constructor(
    readonly code: string,
    readonly shown: string,
    readonly ts: string | undefined,
    /** parts read but not yet in the stream: the fallback starts from them */
    readonly unsentFrom: number,
  ) {
    super(`slack refused the stream: ${code}`);
  }
}

/** replays what was already read from a stream, then goes on reading it */
async function* replay(seen: ReplyPart[], rest: AsyncIterator<ReplyPart>): AsyncGenerator<ReplyPart> {
  yield* seen;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/**
 * The way back to a Slack thread. Answers stream natively (`chat.startStream` / `appendStream` /
 * `stopStream`) where the workspace allows it; where it refuses (`unknown_method`,
 * `feature_not_enabled`, `message_not_in_streaming_state`), and once a stream grows old, the rest
 * goes through the shared renderer: `chat.postMessage`, then `chat.update` at the channel's budget,
 * split at Slack's length limit. Notices are posted in the thread.
 */
export class SlackThreadReply implements ReplyChannel {
  constructor(private readonly context: SlackReplyContext) {}

  private get channelKey(): string {
    return `slack:${this.context.channel}`;
  }

  private async post(text: string): Promise<string> {
    const { client, channel, threadTs } = this.context;
    try {
      const answer = await client.chat.postMessage({
        channel,
        thread_ts: threadTs,
        text,
        unfurl_links: false,
      });
      return String(answer.ts);
    } catch (error) {
      throw toPlatformWriteError(error);
    }
  }

  async notice(text: string): Promise<void> {
    for (const piece of splitMessage(toSlackMrkdwn(text), slackCapabilities.maxMessageLength)) {
      const ts = await writeWithRetry(() => this.post(piece), {
        budget: this.context.budget,
        channelKey: this.channelKey,
        logger: this.context.logger,
        toError: toPlatformWriteError,
      });
      this.context.onPosted(ts);
    }
  }

  async waiting(position: number): Promise<void> {
    if (!this.context.setStatus) return;
    await this.context.setStatus(position > 0 ? `is waiting its turn (${position} ahead)…` : 'is thinking…');
  }

  async render(parts: AsyncIterable<ReplyPart>): Promise<RenderedReply> {
    await this.context.setStatus?.('is looking at the image…').catch(() => undefined);
    const iterator = parts[Symbol.asyncIterator]();
    const seen: ReplyPart[] = [];
    if (this.context.streaming()) {
      try {
        return await this.stream(iterator, seen);
      } catch (error) {
        if (!(error instanceof StreamRefused)) throw error;
        this.context.logger.info(
          { code: 'glimpse_slack_stream_refused', reason: error.code },
          'native streaming unavailable; posting and updating instead',
        );
        if (error.code !== 'stream_too_old') this.context.onStreamRefused(error.code);
        const rest = await this.renderPosted(replay(seen.slice(error.unsentFrom), iterator));
        return {
          shownText: error.shown + rest.shownText,
          messageIds: [...(error.ts ? [error.ts] : []), ...rest.messageIds],
        };
      }
    }
    return this.renderPosted(replay(seen, iterator));
  }

  private renderPosted(parts: AsyncIterable<ReplyPart>): Promise<RenderedReply> {
    const { client, channel, budget, logger } = this.context;
    const surface: ReplySurface = {
      post: (text) => this.post(toSlackMrkdwn(text)),
      edit: async (ts, text) => {
        try {
          await client.chat.update({ channel, ts, text: toSlackMrkdwn(text) });
        } catch (error) {
          throw toPlatformWriteError(error);
        }
      },
    };
    return renderReply(parts, {
      surface,
      budget,
      channelKey: this.channelKey,
      capabilities: slackCapabilities,
      logger,
      onPosted: this.context.onPosted,
    });
  }

  /**
   * Streams natively. The parts are read as they come; what they add goes out in one
   * `appendStream` per budget slot. Throws `StreamRefused` (with what was shown) to fall back.
   */
  private async stream(iterator: AsyncIterator<ReplyPart>, seen: ReplyPart[]): Promise<RenderedReply> {
    const { client, channel, threadTs, teamId, userId, budget } = this.context;
    let ts: string | undefined;
    /** the model's text the user has been sent */
    let shown = '';
    /** what the next write sends, and the model text in it */
    let pendingText = '';
    let pendingAnswer = '';
    let interrupted = false;
    let flushedParts = 0;
    const started = Date.now();
    const call = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        await budget.acquire(this.channelKey);
        try {
          return await run();
        } catch (error) {
          const code = slackErrorCode(error);
          if (code && streamRefusals.has(code)) throw new StreamRefused(code, shown, ts, flushedParts);
          const failure = toPlatformWriteError(error);
          if (!failure.retryable || attempt >= 5) {
            throw new ReplyRenderError(
              `slack ${what} failed (${failure.message})`,
              { shownText: shown, messageIds: ts ? [ts] : [] },
              { cause: failure },
            );
          }
          budget.penalize(this.channelKey, failure.retryAfterMs ?? 500 * 2 ** (attempt - 1));
        }
      }
    };
    const flush = async () => {
      const text = pendingText;
      if (text === '') return;
      if (ts === undefined) {
        const answer = await call('chat.startStream', () =>
          client.chat.startStream({
            channel,
            thread_ts: threadTs,
            markdown_text: text,
            recipient_team_id: teamId,
            recipient_user_id: userId,
          }),
        );
        ts = String(answer.ts);
        this.context.onPosted(ts);
      } else {
        const streamTs = ts;
        await call('chat.appendStream', () =>
          client.chat.appendStream({ channel, ts: streamTs, markdown_text: text }),
        );
      }
      shown += pendingAnswer;
      pendingText = '';
      pendingAnswer = '';
      flushedParts = seen.length;
    };

    let lastFlush = 0;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const part = next.value;
      seen.push(part);
      if (part.type === 'warning') {
        pendingText +=
          ts === undefined && pendingAnswer === '' ? `⚠️ ${part.message}\n\n` : `\n\n⚠️ ${part.message}\n\n`;
      } else if (part.type === 'text-delta') {
        pendingText += part.text;
        pendingAnswer += part.text;
      } else if (part.type === 'error') {
        pendingText += `${shown || pendingAnswer ? '\n\n' : ''}⚠️ ${part.message}`;
      } else interrupted = part.interrupted;
      if (ts !== undefined && Date.now() - started > maxStreamAgeMs) {
        await flush();
        const streamTs = ts;
        await call('chat.stopStream', () => client.chat.stopStream({ channel, ts: streamTs }));
        throw new StreamRefused('stream_too_old', shown, ts, seen.length);
      }
      if (pendingText !== '' && Date.now() - lastFlush >= budget.intervalMs) {
        await flush();
        lastFlush = Date.now();
      }
    }
    if (interrupted && (shown || pendingAnswer)) pendingText += ' _(stopped)_';
    if (ts === undefined && pendingText === '') pendingText = interrupted ? '(stopped)' : '(no answer)';
    if (ts === undefined) {
      await flush();
      const streamTs = ts as string | undefined;
      if (streamTs) await call('chat.stopStream', () => client.chat.stopStream({ channel, ts: streamTs }));
    } else {
      const streamTs = ts;
      const last = pendingText;
      await call('chat.stopStream', () =>
        client.chat.stopStream({ channel, ts: streamTs, ...(last !== '' ? { markdown_text: last } : {}) }),
      );
      shown += pendingAnswer;
    }
    return { shownText: shown, messageIds: ts ? [ts] : [] };
  }
}
