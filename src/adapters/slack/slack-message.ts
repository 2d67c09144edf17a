import type { PendingImage } from '../../conversation/chat-event.js';
import type { ImageLimits } from '../../ingest/image-ingest.js';
import type { ChatMessage, MessagePart } from '../../messages.js';
import { type DownloadPolicy, downloadImage } from '../shared/attachment-downloader.js';
import { isImageAttachment } from '../shared/image-attachment.js';

/** The fields of a Slack message event Glimpse reads. */
export interface SlackMessageEvent {
  type: string;
  subtype?: string;
  channel: string;
  channel_type?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  team?: string;
  files?: SlackFile[];
  /** message_changed: the message as it is now */
  message?: SlackMessageEvent;
  /** message_deleted */
  deleted_ts?: string;
  previous_message?: SlackMessageEvent;
}

export interface SlackFile {
  id: string;
  name?: string;
  title?: string;
  mimetype?: string;
  size?: number;
  url_private?: string;
  url_private_download?: string;
}

/** Slack's file host; plus the API base's origin (proxies, tests) */
export function slackDownloadPolicy(botToken: string, apiUrl: string, limits: ImageLimits): DownloadPolicy {
  return {
    hosts: ['files.slack.com'],
    origins: [new URL(apiUrl).origin],
    limits,
    timeoutMs: 15_000,
    headers: { authorization: `Bearer ${botToken}` },
    htmlMessage:
      "I can't open files here: this Slack app lacks the files:read permission. A workspace admin can add it (OAuth & Permissions → files:read) and reinstall the app.",
  };
}

/** the image files of a message, to download once the turn is accepted */
export function slackImages(files: readonly SlackFile[] | undefined, policy: DownloadPolicy): PendingImage[] {
  return (files ?? [])
    .filter(
      (file) =>
        isImageAttachment(file.name ?? file.title, file.mimetype) &&
        (file.url_private_download ?? file.url_private),
    )
    .map((file) => {
      const name = file.name ?? file.title ?? `${file.id}.png`;
      const url = (file.url_private_download ?? file.url_private)!;
      return { name, fetch: (signal: AbortSignal) => downloadImage(url, name, policy, signal) };
    });
}

/** the question without the bot's mention */
export function slackQuestionText(text: string | undefined, botUserId: string): string {
  // a label never holds '<' (Slack escapes it), so a mention never swallows the next one
  const mention = new RegExp(`<@${botUserId}(\\|[^<>]*)?>`, 'g');
  let previous: string;
  let current = text ?? '';
  do {
    previous = current;
    current = current.replace(mention, '');
  } while (current !== previous);
  return current.trim();
}

/** one conversation per thread: a top-level message starts one, rooted at itself */
export function slackConversationId(team: string, channel: string, threadTs: string): string {
  return `slack:${team}:${channel}:${threadTs}`;
}

/** Slack's `ts` is unique within a channel: message ids carry the channel */
export const slackMessageId = (channel: string, ts: string) => `${channel}:${ts}`;

export function slackChatMessage(options: {
  team: string;
  channel: string;
  threadTs: string;
  ts: string;
  user: string;
  text: string;
}): ChatMessage {
  const parts: MessagePart[] = options.text === '' ? [] : [{ type: 'text', text: options.text }];
  return {
    platform: 'slack',
    conversationId: slackConversationId(options.team, options.channel, options.threadTs),
    messageId: slackMessageId(options.channel, options.ts),
    author: { id: options.user, name: options.user, isBot: false },
    parts,
    createdAt: new Date(Number.parseFloat(options.ts) * 1000),
  };
}
