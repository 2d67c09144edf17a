import { nextSnowflake } from './snowflake.js';

/** JSON as the fake sends it: Discord's snake_case payloads. */
export type Payload = Record<string, unknown>;

export interface FakeUser {
  id: string;
  username: string;
  globalName?: string;
  bot?: boolean;
}

export interface FakeChannelInput {
  id: string;
  name?: string;
  /** 0 text (default), 2 voice, 4 category, 5 announcement, 15 forum */
  type?: number;
  /** the category it sits in */
  parentId?: string;
  topic?: string;
}

export interface FakeThreadInput {
  id: string;
  name?: string;
  /** the text channel the thread hangs off */
  parentId: string;
  ownerId: string;
  /** 11 public (default), 12 private, 10 announcement */
  type?: number;
}

export interface FakeRoleInput {
  id: string;
  name: string;
  /** a permission bitfield as a decimal string */
  permissions?: string;
}

export interface FakeGuildInput {
  id: string;
  name?: string;
  ownerId?: string;
  channels?: FakeChannelInput[];
  threads?: FakeThreadInput[];
  /** besides @everyone (id = the guild's id), which is always there */
  roles?: FakeRoleInput[];
  /** besides the bot, which is always a member */
  members?: FakeUser[];
}

/** Discord's permission bits the fake grants @everyone by default (view, send, read history, attach…) */
export const DEFAULT_EVERYONE_PERMISSIONS = '559623605571137';

export function userPayload(user: FakeUser): Payload {
  return {
    id: user.id,
    username: user.username,
    discriminator: '0',
    global_name: user.globalName ?? null,
    avatar: null,
    bot: user.bot ?? false,
    system: false,
    public_flags: 0,
    flags: 0,
  };
}

export function memberPayload(user: FakeUser, roles: string[] = [], joinedAt = new Date(0)): Payload {
  return {
    user: userPayload(user),
    nick: null,
    avatar: null,
    roles,
    joined_at: joinedAt.toISOString(),
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
  };
}

export function channelPayload(guildId: string, channel: FakeChannelInput, position: number): Payload {
  const type = channel.type ?? 0;
  return {
    id: channel.id,
    guild_id: guildId,
    type,
    name: channel.name ?? `channel-${channel.id}`,
    position,
    parent_id: channel.parentId ?? null,
    permission_overwrites: [],
    nsfw: false,
    ...(type === 0 || type === 5
      ? { topic: channel.topic ?? null, last_message_id: null, rate_limit_per_user: 0 }
      : {}),
    ...(type === 2 ? { bitrate: 64_000, user_limit: 0, rtc_region: null } : {}),
    flags: 0,
  };
}

export function threadPayload(guildId: string, thread: FakeThreadInput): Payload {
  return {
    id: thread.id,
    guild_id: guildId,
    type: thread.type ?? 11,
    name: thread.name ?? `thread-${thread.id}`,
    parent_id: thread.parentId,
    owner_id: thread.ownerId,
    last_message_id: null,
    rate_limit_per_user: 0,
    message_count: 0,
    member_count: 1,
    total_message_sent: 0,
    flags: 0,
    thread_metadata: {
      archived: false,
      auto_archive_duration: 1440,
      archive_timestamp: new Date().toISOString(),
      locked: false,
      invitable: true,
      create_timestamp: new Date().toISOString(),
    },
  };
}

export function rolePayload(role: FakeRoleInput, position: number): Payload {
  return {
    id: role.id,
    name: role.name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position,
    permissions: role.permissions ?? '0',
    managed: false,
    mentionable: false,
    flags: 0,
  };
}

/** The GUILD_CREATE payload discord.js needs to cache the guild, its channels, threads, roles and members. */
export function guildCreatePayload(guild: FakeGuildInput, bot: FakeUser): Payload {
  const everyone: FakeRoleInput = {
    id: guild.id,
    name: '@everyone',
    permissions: DEFAULT_EVERYONE_PERMISSIONS,
  };
  const roles = [everyone, ...(guild.roles ?? [])];
  const members = [bot, ...(guild.members ?? []).filter((member) => member.id !== bot.id)];
  return {
    id: guild.id,
    name: guild.name ?? `guild-${guild.id}`,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: guild.ownerId ?? members[members.length - 1]?.id ?? bot.id,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: 'en-US',
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    safety_alerts_channel_id: null,
    emojis: [],
    stickers: [],
    roles: roles.map((role, index) => rolePayload(role, index)),
    // GUILD_CREATE extras
    joined_at: new Date(0).toISOString(),
    large: false,
    unavailable: false,
    member_count: members.length,
    voice_states: [],
    members: members.map((member) => memberPayload(member)),
    channels: (guild.channels ?? []).map((channel, index) => channelPayload(guild.id, channel, index)),
    threads: (guild.threads ?? []).map((thread) => threadPayload(guild.id, thread)),
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}

/** A DM channel (type 1) with the bot and one person, as `GET /channels/:id` answers it. */
export function dmChannelPayload(id: string, recipient: FakeUser): Payload {
  return { id, type: 1, last_message_id: null, flags: 0, recipients: [userPayload(recipient)] };
}

/** One server with a category, a text channel in it, and a thread in that channel — a starting world. */
export function defaultGuild(owner: FakeUser): FakeGuildInput {
  const categoryId = nextSnowflake();
  const channelId = nextSnowflake();
  return {
    id: nextSnowflake(),
    name: 'Glimpse Test Server',
    ownerId: owner.id,
    channels: [
      { id: categoryId, name: 'Text Channels', type: 4 },
      { id: channelId, name: 'general', type: 0, parentId: categoryId },
    ],
    threads: [{ id: nextSnowflake(), name: 'a thread', parentId: channelId, ownerId: owner.id }],
    members: [owner],
  };
}
