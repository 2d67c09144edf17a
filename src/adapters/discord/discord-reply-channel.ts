import type { Message, MessageCreateOptions, RepliableInteraction, SendableChannels } from 'discord.js';
import type { RenderedReply, ReplyChannel, ReplyPart } from '../../conversation/chat-event.js';
import type { Logger } from '../../logger.js';
import type { ChannelWriteBudget } from '../shared/channel-write-budget.js';
import type { IndicatorThrottle } from '../shared/indicator-throttle.js';
import { splitMessage } from '../shared/message-splitter.js';
import { type RenderCapabilities, type ReplySurface, renderReply } from '../shared/reply-renderer.js';
import { writeWithRetry } from '../shared/write-with-retry.js';
import { toPlatformWriteError } from './discord-errors.js';

/** Discord's limits, for the shared renderer. */
export const discordCapabilities: RenderCapabilities = {
  maxMessageLength: 2000,
  writingMarker: ' ▌',
  placeholder: '…',
};

/** nobody is pinged by what the bot writes (the question's author is replied to, silently) */
const quiet = { allowedMentions: { parse: [], repliedUser: false } } satisfies Pick<
  MessageCreateOptions,
  'allowedMentions'
>;

export interface DiscordReplyContext {
  budget: ChannelWriteBudget;
  /** one typing indicator per channel at a time, however many turns wait there */
  typing: IndicatorThrottle;
  logger: Logger;
  /** told every message the answer is rendered into (deleting one cancels the turn) */
  onPosted: (messageId: string) => void;
}

const mapped = async <T>(write: () => Promise<T>): Promise<T> => {
  try {
    return await write();
  } catch (error) {
    throw toPlatformWriteError(error);
  }
};

/**
 * The way back to a Discord message: the answer replies to the question (a placeholder first,
 * then edits at the channel's budget; past 2000 characters new messages in the channel), notices
 * reply too, and a waiting turn shows the typing indicator, then its queue position once.
 */
export class DiscordMessageReply implements ReplyChannel {
  private waits = 0;
  private toldPosition = false;

  constructor(
    private readonly question: Message,
    private readonly context: DiscordReplyContext,
  ) {}

  private get channel(): SendableChannels {
    return this.question.channel as SendableChannels;
  }

  private get channelKey(): string {
    return `discord:${this.question.channelId}`;
  }

  async notice(text: string): Promise<void> {
    for (const [index, content] of splitMessage(text, discordCapabilities.maxMessageLength).entries()) {
      await writeWithRetry(
        () =>
          mapped(async () => {
            if (index === 0) await this.question.reply({ content, ...quiet });
            else await this.channel.send({ content, ...quiet });
          }),
        {
          budget: this.context.budget,
          channelKey: this.channelKey,
          logger: this.context.logger,
          toError: toPlatformWriteError,
        },
      );
    }
  }

  render(parts: AsyncIterable<ReplyPart>): Promise<RenderedReply> {
    let first = true;
    const surface: ReplySurface = {
      post: (content) =>
        mapped(async () => {
          const sent = first
            ? await this.question.reply({ content, ...quiet })
            : await this.channel.send({ content, ...quiet });
          first = false;
          return sent.id;
        }),
      edit: (messageId, content) =>
        mapped(async () => {
          await this.channel.messages.edit(messageId, { content });
        }),
    };
    return renderReply(parts, {
      surface,
      budget: this.context.budget,
      channelKey: this.channelKey,
      capabilities: discordCapabilities,
      logger: this.context.logger,
      onPosted: this.context.onPosted,
    });
  }

  async waiting(position: number): Promise<void> {
    this.waits++;
    if (this.context.typing.claim(this.channelKey)) await mapped(() => this.channel.sendTyping());
    if (position > 0 && this.waits >= 2 && !this.toldPosition) {
      this.toldPosition = true;
      await this.notice(
        `⏳ Waiting my turn — ${position} question${position === 1 ? '' : 's'} ahead of yours.`,
      );
    }
  }
}

/**
 * The way back to a slash command or a context-menu command: deferred at once (Discord wants an
 * answer within 3 s), then the deferred reply is edited, and follow-ups carry what does not fit.
 */
export class DiscordInteractionReply implements ReplyChannel {
  private originalId: string | undefined;
  private usedOriginal = false;

  constructor(
    private readonly interaction: RepliableInteraction,
    private readonly context: DiscordReplyContext,
  ) {}

  private get channelKey(): string {
    return `discord:${this.interaction.channelId ?? this.interaction.id}`;
  }

  private async post(content: string): Promise<string> {
    if (!this.usedOriginal) {
      this.usedOriginal = true;
      const message = await this.interaction.editReply({ content, ...quiet });
      this.originalId = message.id;
      return message.id;
    }
    const message = await this.interaction.followUp({ content, ...quiet });
    return message.id;
  }

  async notice(text: string): Promise<void> {
    for (const content of splitMessage(text, discordCapabilities.maxMessageLength)) {
      await writeWithRetry(() => mapped(() => this.post(content)), {
        budget: this.context.budget,
        channelKey: this.channelKey,
        logger: this.context.logger,
        toError: toPlatformWriteError,
      });
    }
  }

  render(parts: AsyncIterable<ReplyPart>): Promise<RenderedReply> {
    const surface: ReplySurface = {
      post: (content) => mapped(() => this.post(content)),
      edit: (messageId, content) =>
        mapped(async () => {
          await this.interaction.editReply({
            content,
            message: messageId === this.originalId ? '@original' : messageId,
          });
        }),
    };
    return renderReply(parts, {
      surface,
      budget: this.context.budget,
      channelKey: this.channelKey,
      // the deferred reply already says "thinking…": the first write is the answer itself
      capabilities: { ...discordCapabilities, placeholder: '…' },
      logger: this.context.logger,
      onPosted: this.context.onPosted,
    });
  }

  async waiting(position: number): Promise<void> {
    if (position > 0 && !this.usedOriginal) {
      await mapped(() =>
        this.interaction.editReply({
          content: `⏳ Waiting my turn — ${position} question${position === 1 ? '' : 's'} ahead.`,
        }),
      );
    }
  }
}
