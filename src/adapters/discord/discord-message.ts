import type { Message } from 'discord.js';
import type { PendingImage } from '../../conversation/chat-event.js';
import type { ImageLimits } from '../../ingest/image-ingest.js';
import type { ChatMessage, MessagePart } from '../../messages.js';
import { type DownloadPolicy, downloadImage } from '../shared/attachment-downloader.js';
import { isImageAttachment } from '../shared/image-attachment.js';
import type { DiscordPlace } from './discord-access.js';

/** Discord's file hosts: attachments and embedded images (its CDN links expire, so fetch at once) */
export const discordFileHosts = [
  'cdn.discordapp.com',
  'media.discordapp.net',
  '.discordapp.com',
  '.discordapp.net',
];

export interface ImageSource {
  url: string;
  name: string;
  /** the user's alt text */
  description?: string;
  size?: number;
}

/** the images of a message: attachments that are images, then embedded images (link previews) */
export function imageSources(message: Message): ImageSource[] {
  const sources: ImageSource[] = [];
  for (const attachment of message.attachments.values()) {
    if (!isImageAttachment(attachment.name, attachment.contentType ?? undefined)) continue;
    sources.push({
      url: attachment.url,
      name: attachment.name,
      size: attachment.size,
      ...(attachment.description ? { description: attachment.description } : {}),
    });
  }
  for (const embed of message.embeds) {
    const url =
      embed.image?.url ??
      (embed.data.type === 'image' || embed.data.type === 'gifv' ? embed.thumbnail?.url : undefined);
    if (!url) continue;
    const name = new URL(url).pathname.split('/').pop() || 'embedded image';
    sources.push({ url, name });
  }
  return sources;
}

/** images to fetch once the turn is accepted (the size Discord declares is checked first) */
export function pendingImages(sources: readonly ImageSource[], policy: DownloadPolicy): PendingImage[] {
  return sources.map((source) => ({
    name: source.name,
    fetch: (signal: AbortSignal) => downloadImage(source.url, source.name, policy, signal),
  }));
}

export function downloadPolicy(apiUrl: string, limits: ImageLimits): DownloadPolicy {
  return { hosts: discordFileHosts, origins: [new URL(apiUrl).origin], limits, timeoutMs: 15_000 };
}

/** the text the model reads: the bot's mention removed, the images' alt text added */
export function questionText(message: Message, botId: string, sources: readonly ImageSource[]): string {
  return questionTextOf(message.content, botId, sources);
}

/** `questionText` on a message's raw content */
export function questionTextOf(content: string, botId: string, sources: readonly ImageSource[]): string {
  const text = withoutAll(content, new RegExp(`<@!?${botId}>`, 'g')).trim();
  const alts = sources
    .filter((source) => source.description)
    .map((source) => `(The image "${source.name}" is described by its poster as: ${source.description})`);
  return [text, ...alts].filter((piece) => piece !== '').join('\n');
}

/** `text` with every match of `pattern` removed, also matches that removing others forms */
function withoutAll(text: string, pattern: RegExp): string {
  let previous: string;
  let current = text;
  do {
    previous = current;
    current = current.replace(pattern, '');
  } while (current !== previous);
  return current;
}

/** where a message sits, for the access rules */
export function placeOf(message: Message): DiscordPlace {
  const channel = message.channel;
  const channelIds = [message.channelId];
  if (channel.isThread() && channel.parentId) {
    channelIds.push(channel.parentId);
    const category = channel.parent?.parentId;
    if (category) channelIds.push(category);
  } else if ('parentId' in channel && channel.parentId) {
    channelIds.push(channel.parentId);
  }
  return {
    ...(message.guildId ? { guildId: message.guildId } : {}),
    channelIds,
    roleIds: message.member ? [...message.member.roles.cache.keys()] : [],
    userId: message.author.id,
    isDm: channel.isDMBased(),
  };
}

/**
 * Which conversation a message belongs to: its thread; else its reply chain (a new chain is
 * rooted at the message itself, and `continuesFrom` names the message it replies to, which the
 * conversation layer resolves to a known chain — or a branch of it); else the DM channel.
 */
export function conversationOf(message: Message): { conversationId: string; continuesFrom?: string } {
  const channel = message.channel;
  if (channel.isDMBased()) return { conversationId: `discord:dm:${message.channelId}` };
  const guild = message.guildId ?? 'unknown';
  if (channel.isThread())
    return { conversationId: `discord:${guild}:${channel.parentId ?? 'none'}:${channel.id}` };
  const replyTo = message.reference?.messageId;
  return {
    conversationId: `discord:${guild}:${message.channelId}:${message.id}`,
    ...(replyTo ? { continuesFrom: replyTo } : {}),
  };
}

/** the normalized message (its images follow as pending downloads) */
export function chatMessageOf(message: Message, conversationId: string, text: string): ChatMessage {
  const parts: MessagePart[] = text === '' ? [] : [{ type: 'text', text }];
  return {
    platform: 'discord',
    conversationId,
    messageId: message.id,
    author: {
      id: message.author.id,
      name: message.member?.displayName ?? message.author.displayName ?? message.author.username,
      isBot: message.author.bot,
    },
    parts,
    ...(message.reference?.messageId ? { replyToId: message.reference.messageId } : {}),
    createdAt: message.createdAt,
  };
}
