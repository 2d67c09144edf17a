/** A streamed message's progress (`chat.startStream` → `appendStream`* → `stopStream`). */
export interface StreamState {
  state: 'in_progress' | 'completed';
  /** every chunk received, in order (`markdown_text` arguments become `{type: 'markdown_text', text}`) */
  chunks: unknown[];
  appends: number;
  recipientUserId?: string;
  recipientTeamId?: string;
}

/** A message in the fake's workspace: posted by the bot through the Web API, or by a user through an event. */
export interface StoredMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  /** the author: the bot's user id for the bot's messages */
  user: string;
  bot_id?: string;
  /** for a streamed message, the markdown accumulated so far */
  text: string;
  blocks?: unknown;
  attachments?: unknown;
  metadata?: unknown;
  files?: unknown[];
  stream?: StreamState;
  /** the bot's reactions (reactions.add / remove) */
  reactions?: string[];
  /** chat.update calls that changed it */
  edits: number;
  deleted: boolean;
}

/** The messages of the fake's workspace, by channel and ts. */
export class MessageStore {
  readonly all: StoredMessage[] = [];

  add(message: Omit<StoredMessage, 'edits' | 'deleted'>): StoredMessage {
    const stored: StoredMessage = { ...message, edits: 0, deleted: false };
    this.all.push(stored);
    return stored;
  }

  get(channel: string, ts: string): StoredMessage | undefined {
    return this.all.find((message) => message.channel === channel && message.ts === ts && !message.deleted);
  }

  /** the live messages of a channel (oldest first), optionally only the bot's */
  inChannel(channel: string, options: { byUser?: string } = {}): StoredMessage[] {
    return this.all.filter(
      (message) =>
        message.channel === channel &&
        !message.deleted &&
        (options.byUser === undefined || message.user === options.byUser),
    );
  }

  /** a thread: its parent then its replies, oldest first */
  thread(channel: string, ts: string): StoredMessage[] {
    return this.all
      .filter(
        (message) =>
          message.channel === channel && !message.deleted && (message.ts === ts || message.thread_ts === ts),
      )
      .sort((a, b) => Number(a.ts) - Number(b.ts));
  }

  /** the wire form (`conversations.replies`, `chat.postMessage`'s `message`) */
  static toPayload(message: StoredMessage, teamId: string, appId: string): Record<string, unknown> {
    return {
      type: 'message',
      user: message.user,
      ...(message.bot_id ? { bot_id: message.bot_id, app_id: appId } : {}),
      text: message.text,
      ts: message.ts,
      team: teamId,
      ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      ...(message.blocks === undefined ? {} : { blocks: message.blocks }),
      ...(message.attachments === undefined ? {} : { attachments: message.attachments }),
      ...(message.metadata === undefined ? {} : { metadata: message.metadata }),
      ...(message.files === undefined ? {} : { files: message.files }),
    };
  }
}
