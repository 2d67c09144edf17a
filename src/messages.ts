/** The platform-neutral message types every adapter produces and the rest of Glimpse consumes. */

export type Platform = 'discord' | 'slack' | 'web' | 'cli';

export interface TextPart {
  type: 'text';
  text: string;
}

/** An image, downloaded once at ingest and validated (type, size, dimensions). */
export interface ImagePart {
  type: 'image';
  /** e.g. `image/png`, `image/jpeg`, `image/webp`, `image/gif` */
  mediaType: string;
  bytes: Uint8Array;
  width: number;
  height: number;
  /** lowercase hex sha256 of `bytes`: images are content-addressed by it */
  sha256: string;
  /** the file name the user gave it, for display */
  name: string;
}

export type MessagePart = TextPart | ImagePart;

export interface ChatAuthor {
  id: string;
  name: string;
  isBot: boolean;
}

export interface ChatMessage {
  platform: Platform;
  /**
   * Identifies the conversation this message belongs to, namespaced by platform, e.g.
   * `slack:T123:C456:1700000000.000100` or `discord:guild:channel:thread`.
   */
  conversationId: string;
  messageId: string;
  author: ChatAuthor;
  parts: MessagePart[];
  replyToId?: string;
  /** when the platform says it was sent */
  createdAt?: Date;
}

export function textOf(parts: readonly MessagePart[]): string {
  return parts
    .filter((part): part is TextPart => part.type === 'text')
    .map((part) => part.text)
    .join('\n')
    .trim();
}

export function imagesOf(parts: readonly MessagePart[]): ImagePart[] {
  return parts.filter((part): part is ImagePart => part.type === 'image');
}
