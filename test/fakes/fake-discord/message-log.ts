import { nextSnowflake } from './snowflake.js';
import { type FakeUser, memberPayload, type Payload, userPayload } from './world.js';

export interface MessageReferenceInput {
  messageId: string;
  channelId?: string;
  guildId?: string;
}

/** What a test (or the REST API) says a message holds; the log fills in the rest Discord would send. */
export interface MessageInput {
  channelId: string;
  /** absent for a DM */
  guildId?: string;
  author: FakeUser;
  content?: string;
  /** users mentioned, as Discord lists them (user objects, with `member` in a guild) */
  mentions?: FakeUser[];
  mentionEveryone?: boolean;
  mentionRoles?: string[];
  /** attachment objects, e.g. from `fake.hostAttachment(...)` */
  attachments?: Payload[];
  embeds?: Payload[];
  /** a reply to this message (id, or a full reference) */
  messageReference?: string | MessageReferenceInput;
  id?: string;
  /** the channel's type, sent as `channel_type` (0 guild text, 1 DM, 11 public thread, …) */
  channelType?: number;
  /** interaction metadata etc.; merged last */
  extra?: Payload;
}

/** Every message the fake knows of — sent by tests as users, or by the bot through REST. */
export class MessageLog {
  private readonly messages = new Map<string, Payload>();

  build(input: MessageInput): Payload {
    const id = input.id ?? nextSnowflake();
    const reference =
      typeof input.messageReference === 'string'
        ? { messageId: input.messageReference }
        : input.messageReference;
    const referenced = reference ? (this.messages.get(reference.messageId) ?? null) : undefined;
    const message: Payload = {
      id,
      type: reference ? 19 : 0,
      channel_id: input.channelId,
      author: userPayload(input.author),
      content: input.content ?? '',
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: input.mentionEveryone ?? false,
      mentions: (input.mentions ?? []).map((user) =>
        input.guildId ? { ...userPayload(user), member: memberWithoutUser(user) } : userPayload(user),
      ),
      mention_roles: input.mentionRoles ?? [],
      mention_channels: [],
      attachments: input.attachments ?? [],
      embeds: input.embeds ?? [],
      reactions: [],
      pinned: false,
      flags: 0,
      components: [],
      sticker_items: [],
      nonce: null,
      ...(input.channelType === undefined ? {} : { channel_type: input.channelType }),
      ...(input.guildId ? { guild_id: input.guildId, member: memberWithoutUser(input.author) } : {}),
      ...(reference
        ? {
            message_reference: {
              type: 0,
              message_id: reference.messageId,
              channel_id: reference.channelId ?? input.channelId,
              ...((reference.guildId ?? input.guildId)
                ? { guild_id: reference.guildId ?? input.guildId }
                : {}),
            },
            referenced_message: referenced,
          }
        : {}),
      ...input.extra,
    };
    return message;
  }

  add(message: Payload): Payload {
    this.messages.set(String(message.id), message);
    return message;
  }

  get(id: string): Payload | undefined {
    return this.messages.get(id);
  }

  /** patches a message's fields and marks it edited; undefined when unknown */
  update(id: string, fields: Payload): Payload | undefined {
    const message = this.messages.get(id);
    if (!message) return undefined;
    const updated = { ...message, ...fields, edited_timestamp: new Date().toISOString() };
    this.messages.set(id, updated);
    return updated;
  }

  delete(id: string): Payload | undefined {
    const message = this.messages.get(id);
    this.messages.delete(id);
    return message;
  }

  all(): Payload[] {
    return [...this.messages.values()];
  }
}

function memberWithoutUser(user: FakeUser): Payload {
  const { user: _user, ...member } = memberPayload(user);
  return member;
}
