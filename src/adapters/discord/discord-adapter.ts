import {
  type ChatInputCommandInteraction,
  Client,
  Events,
  GatewayIntentBits,
  type Interaction,
  type Message,
  type MessageContextMenuCommandInteraction,
  MessageFlags,
  type PartialMessage,
  Partials,
  type RepliableInteraction,
} from 'discord.js';
import type { DiscordConfig } from '../../config.js';
import { parseChatCommand } from '../../conversation/chat-command.js';
import type {
  ChatEvent,
  ChatEventHandler,
  HandleResult,
  PendingImage,
  ReplyChannel,
} from '../../conversation/chat-event.js';
import type { ImageLimits } from '../../ingest/image-ingest.js';
import type { Logger } from '../../logger.js';
import type { ChatAuthor } from '../../messages.js';
import type { ChatAdapter } from '../chat-adapter.js';
import type { DownloadPolicy } from '../shared/attachment-downloader.js';
import { ChannelWriteBudget } from '../shared/channel-write-budget.js';
import { IndicatorThrottle } from '../shared/indicator-throttle.js';
import { TurnsInHand } from '../shared/turns-in-hand.js';
import { type DiscordPlace, discordAllows } from './discord-access.js';
import { discordCommandNames } from './discord-commands.js';
import {
  chatMessageOf,
  conversationOf,
  downloadPolicy,
  imageSources,
  pendingImages,
  placeOf,
  questionText,
} from './discord-message.js';
import { DiscordInteractionReply, DiscordMessageReply } from './discord-reply-channel.js';

export interface DiscordAdapterOptions {
  config: DiscordConfig;
  images: ImageLimits;
  /** the least time between two writes to one channel (ms) */
  editIntervalMs: number;
  logger: Logger;
  /** how long to wait for the gateway's READY before carrying on (ms; default 30000) */
  readyTimeoutMs?: number;
}

/** The question Discord's "Describe image" context menu asks. */
const describePrompt = 'Describe the image.';

/**
 * Glimpse on Discord (discord.js v14, gateway). It answers @mentions in channels, DMs, replies to
 * its own messages, and messages in threads it created or was mentioned in; `/ask`, `/caption`,
 * `/reset`, `/help`, `/status` and the "Describe image" / "Alt text" message commands; and it
 * suggests alt text for images posted in the caption channels. Conversations: the thread, else
 * the reply chain (branching where a reply picks an earlier message), else the DM.
 */
export class DiscordAdapter implements ChatAdapter {
  readonly platform = 'discord' as const;
  private readonly client: Client;
  private readonly logger: Logger;
  private readonly budget: ChannelWriteBudget;
  /** Discord shows typing for ~10 s: one indicator per channel per 9 s */
  private readonly typing = new IndicatorThrottle({ intervalMs: 9000 });
  private readonly policy: DownloadPolicy;
  private handler: ChatEventHandler | undefined;
  /** questions whose turn is in hand, and the messages of their answers */
  private readonly turns = new TurnsInHand();
  /** threads where Glimpse answers without a mention (it created them or was mentioned there) */
  private readonly engagedThreads = new Set<string>();
  private state: 'idle' | 'running' | 'refused' | 'stopped' = 'idle';
  private refusal = '';

  constructor(private readonly options: DiscordAdapterOptions) {
    this.logger = options.logger;
    this.budget = new ChannelWriteBudget({ intervalMs: options.editIntervalMs });
    this.policy = downloadPolicy(options.config.apiUrl, options.images);
    this.client = new Client({
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.MessageContent,
        GatewayIntentBits.DirectMessages,
      ],
      partials: [Partials.Channel, Partials.Message],
      rest: {
        api: options.config.apiUrl,
        // message writes are paced by the shared renderer, which wants to hear about a channel's
        // 429; the bot's global limit (50 requests a second over every route) is discord.js's to
        // queue: handed to the renderer, a busy bot's writes lost the race until they gave up
        rejectOnRateLimit: (data) => !data.global && /\/(messages|webhooks)/.test(data.route),
      },
      allowedMentions: { parse: [], repliedUser: false },
    });
  }

  describe(): string {
    if (this.state === 'refused') return `off: ${this.refusal}`;
    const user = this.client.user;
    return user
      ? `bot ${user.tag} (${user.id}) on ${this.client.guilds.cache.size} server(s)`
      : 'connecting…';
  }

  async start(handler: ChatEventHandler): Promise<void> {
    this.handler = handler;
    const { client, logger } = this;
    client.on(Events.MessageCreate, (message) => void this.guard('message', () => this.onMessage(message)));
    client.on(Events.MessageUpdate, (_old, message) => void this.guard('edit', () => this.onEdit(message)));
    client.on(Events.MessageDelete, (message) => void this.guard('delete', () => this.onDelete(message.id)));
    client.on(
      Events.InteractionCreate,
      (interaction) => void this.guard('interaction', () => this.onInteraction(interaction)),
    );
    client.on(Events.ThreadCreate, (thread) => {
      if (thread.ownerId === client.user?.id) this.engagedThreads.add(thread.id);
    });
    client.on(Events.Error, (error) =>
      logger.warn({ err: error, code: 'glimpse_discord_error' }, 'discord client error'),
    );
    client.on(Events.ShardError, (error) =>
      logger.warn({ err: error, code: 'glimpse_discord_error' }, 'discord gateway error'),
    );
    client.on(Events.ShardReconnecting, () => logger.info('discord gateway reconnecting'));
    client.on(Events.ShardResume, () => logger.info('discord gateway resumed'));
    client.rest.on('rateLimited', (info) =>
      logger.debug({ route: info.route, retryAfterMs: info.retryAfter }, 'discord REST rate limit'),
    );

    const ready = new Promise<'ready' | 'refused'>((resolve) => {
      client.once(Events.ClientReady, () => resolve('ready'));
      client.on(Events.ShardDisconnect, (event) => {
        if (event.code === 4014) {
          this.refusal = this.disallowedIntentsLine();
          resolve('refused');
        } else if (event.code === 4004) {
          this.refusal = 'Discord refused the bot token (close code 4004): check DISCORD_TOKEN';
          resolve('refused');
        }
      });
    });
    const never = new Promise<never>(() => undefined);
    const loginFailed = client.login(this.options.config.token).then(
      () => never,
      (error: unknown) => {
        this.refusal ||= `could not connect to Discord (${error instanceof Error ? error.message : String(error)})`;
        return 'refused' as const;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.readyTimeoutMs ?? 30_000);
    });
    const outcome = await Promise.race([ready, loginFailed, timeout]);
    clearTimeout(timer);
    if (outcome === 'refused') {
      this.state = 'refused';
      logger.error({ code: 'glimpse_discord_refused' }, this.refusal);
      await client.destroy().catch(() => undefined);
      return;
    }
    if (outcome === 'timeout') logger.warn('Discord has not said READY yet; still trying in the background');
    this.state = 'running';
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.client.destroy().catch(() => undefined);
  }

  private disallowedIntentsLine(): string {
    const app = this.options.config.applicationId ?? '<application id>';
    return `Discord refused the privileged Message Content intent (close code 4014): enable "Message Content Intent" under Bot → Privileged Gateway Intents at https://discord.com/developers/applications/${app}/bot, then restart`;
  }

  /** runs a handler; a failure is a log line, never a crash */
  private async guard(what: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.logger.warn(
        { err: error, code: 'glimpse_discord_event_failed', event: what },
        'discord event failed',
      );
    }
  }

  private replyContext(questionId: string) {
    return {
      budget: this.budget,
      typing: this.typing,
      logger: this.logger,
      onPosted: (messageId: string) => {
        this.turns.posted(questionId, messageId);
      },
    };
  }

  /** hands an event over and keeps track of the turn until it is done */
  private dispatch(event: ChatEvent, questionId?: string, conversationId?: string): Promise<HandleResult> {
    if (!this.handler) throw new Error('discord adapter not started');
    const question =
      questionId !== undefined && conversationId !== undefined
        ? { messageId: questionId, conversationId }
        : undefined;
    return this.turns.dispatch(this.handler, event, question);
  }

  private isTrigger(message: Message, botId: string): boolean {
    const channel = message.channel;
    if (channel.isDMBased()) return true;
    if (message.mentions.users.has(botId)) return true;
    if (message.mentions.repliedUser?.id === botId && message.reference?.messageId) return true;
    if (channel.isThread() && (channel.ownerId === botId || this.engagedThreads.has(channel.id))) return true;
    return false;
  }

  private async onMessage(message: Message): Promise<void> {
    const botId = this.client.user?.id;
    if (!botId || message.author.bot || message.system) return;
    const place = placeOf(message);
    const trigger = this.isTrigger(message, botId);
    // a thread Glimpse answered in before a restart: the store knows it (no mention needed there)
    const knownThreadOnly = !trigger && message.channel.isThread();
    if (!trigger && !knownThreadOnly) {
      if (this.isCaptionChannel(place)) await this.autoCaption(message, place);
      return;
    }
    if (!discordAllows(this.options.config, place)) {
      this.logger.debug(
        { channel: message.channelId, user: message.author.id },
        'discord message not allowed here',
      );
      return;
    }
    if (message.channel.isThread() && message.mentions.users.has(botId))
      this.engagedThreads.add(message.channelId);
    const sources = imageSources(message);
    const text = questionText(message, botId, sources);
    const { conversationId, continuesFrom } = conversationOf(message);
    const reply = new DiscordMessageReply(message, this.replyContext(message.id));
    const command = knownThreadOnly ? undefined : parseChatCommand(text);
    if (command?.kind === 'command') {
      if (command.command === 'reset' && inChannelChain(message.channel)) {
        await reply.notice(resetInChannelReply);
        return;
      }
      await this.dispatch({
        type: 'command',
        command: command.command,
        platform: 'discord',
        conversationId,
        author: authorOf(message),
        reply,
      });
      return;
    }
    if (command?.kind === 'caption') {
      await this.dispatch({
        type: 'caption',
        platform: 'discord',
        channelKey: `discord:${message.channelId}`,
        messageId: message.id,
        author: authorOf(message),
        images: pendingImages(sources, this.policy),
        reply,
      });
      return;
    }
    const asked = command?.kind === 'ask' ? command.question : text;
    await this.dispatch(
      {
        type: 'message',
        message: chatMessageOf(message, conversationId, asked),
        reply,
        images: pendingImages(sources, this.policy),
        ...(continuesFrom ? { continuesFrom } : {}),
        ...(knownThreadOnly ? { onlyIfKnown: true } : {}),
      },
      message.id,
      conversationId,
    );
  }

  private isCaptionChannel(place: DiscordPlace): boolean {
    const channels = this.options.config.captionChannels;
    return !place.isDm && place.channelIds.some((id) => channels.includes(id));
  }

  /** an upload in a caption channel: suggested alt text for its images that have none */
  private async autoCaption(message: Message, place: DiscordPlace): Promise<void> {
    if (!discordAllows(this.options.config, place)) return;
    const sources = imageSources(message).filter(
      (source) => !source.description && message.attachments.size > 0,
    );
    if (sources.length === 0) return;
    await this.dispatch({
      type: 'caption',
      platform: 'discord',
      channelKey: `discord:${message.channelId}`,
      messageId: message.id,
      author: authorOf(message),
      images: pendingImages(sources, this.policy),
      reply: new DiscordMessageReply(message, this.replyContext(message.id)),
    });
  }

  private async onEdit(message: Message | PartialMessage): Promise<void> {
    const conversationId = this.turns.conversationOf(message.id);
    if (conversationId === undefined) return;
    const full = message.partial ? await message.fetch() : message;
    const botId = this.client.user?.id ?? '';
    const sources = imageSources(full);
    const text = questionText(full, botId, sources);
    await this.dispatch(
      {
        type: 'message-edited',
        platform: 'discord',
        conversationId: conversationId,
        messageId: full.id,
        message: chatMessageOf(full, conversationId, text),
        reply: new DiscordMessageReply(full, this.replyContext(full.id)),
        images: pendingImages(sources, this.policy),
      },
      full.id,
      conversationId,
    );
  }

  private async onDelete(messageId: string): Promise<void> {
    const turn = this.turns.turnOf(messageId);
    if (!turn || !this.handler) return;
    await this.handler.handle({ type: 'message-deleted', platform: 'discord', ...turn });
  }

  private async onInteraction(interaction: Interaction): Promise<void> {
    if (!interaction.isChatInputCommand() && !interaction.isMessageContextMenuCommand()) return;
    const place = interactionPlace(interaction);
    if (!discordAllows(this.options.config, place)) {
      await interaction.reply({ content: "I'm not enabled here.", flags: MessageFlags.Ephemeral });
      return;
    }
    const quiet = ['help', 'status', 'reset'].includes(interaction.commandName);
    // Discord wants an answer within 3 s: defer first, then think
    await interaction.deferReply(quiet ? { flags: MessageFlags.Ephemeral } : {});
    const reply = new DiscordInteractionReply(interaction, this.replyContext(interaction.id));
    const conversationId = interactionConversation(interaction);
    const author: ChatAuthor = {
      id: interaction.user.id,
      name: interaction.user.displayName ?? interaction.user.username,
      isBot: interaction.user.bot,
    };
    if (interaction.isMessageContextMenuCommand()) {
      const target = interaction.targetMessage;
      const sources = imageSources(target);
      if (sources.length === 0) {
        await reply.notice('That message has no image I can read.');
        return;
      }
      if (interaction.commandName === discordCommandNames.altText) {
        await this.caption(interaction, sources, reply, author);
        return;
      }
      await this.ask(
        interaction,
        conversationId,
        describePrompt,
        pendingImages(sources, this.policy),
        reply,
        author,
      );
      return;
    }
    switch (interaction.commandName) {
      case discordCommandNames.ask: {
        const question = interaction.options.getString('question', true);
        const attachment = interaction.options.getAttachment('image');
        const images = attachment
          ? pendingImages(
              [{ url: attachment.url, name: attachment.name, size: attachment.size }],
              this.policy,
            )
          : [];
        await this.ask(interaction, conversationId, question, images, reply, author);
        return;
      }
      case discordCommandNames.caption: {
        const attachment = interaction.options.getAttachment('image', true);
        await this.caption(interaction, [{ url: attachment.url, name: attachment.name }], reply, author);
        return;
      }
      case discordCommandNames.reset:
      case discordCommandNames.help:
      case discordCommandNames.status: {
        if (interaction.commandName === 'reset' && inChannelChain(interaction.channel)) {
          await reply.notice(resetInChannelReply);
          return;
        }
        await this.dispatch({
          type: 'command',
          command: interaction.commandName,
          platform: 'discord',
          conversationId,
          author,
          reply,
        });
        return;
      }
      default:
        await reply.notice(`I don't know the command /${interaction.commandName}.`);
    }
  }

  private async ask(
    interaction: RepliableInteraction,
    conversationId: string,
    question: string,
    images: PendingImage[],
    reply: ReplyChannel,
    author: ChatAuthor,
  ): Promise<void> {
    await this.dispatch(
      {
        type: 'message',
        message: {
          platform: 'discord',
          conversationId,
          messageId: interaction.id,
          author,
          parts: [{ type: 'text', text: question }],
          createdAt: interaction.createdAt,
        },
        reply,
        images,
      },
      interaction.id,
      conversationId,
    );
  }

  private async caption(
    interaction: RepliableInteraction,
    sources: { url: string; name: string }[],
    reply: ReplyChannel,
    author: ChatAuthor,
  ): Promise<void> {
    const result = await this.dispatch({
      type: 'caption',
      platform: 'discord',
      channelKey: `discord:command:${interaction.channelId ?? interaction.id}`,
      messageId: interaction.id,
      author,
      images: pendingImages(sources, this.policy),
      reply,
    });
    if (result.status === 'refused') {
      await reply.notice(
        result.reason === 'glimpse_busy'
          ? "I'm busy right now — please try again shortly."
          : 'Too many captions here just now — please try again in a minute.',
      );
    }
  }
}

/** a server channel outside threads: each reply chain there is its own conversation (nothing to reset) */
function inChannelChain(channel: { isThread(): boolean; isDMBased(): boolean } | null): boolean {
  return channel !== null && !channel.isThread() && !channel.isDMBased();
}

const resetInChannelReply =
  'In a channel every reply chain is its own conversation, so there is nothing to reset: mention me in a new message (not a reply) to start fresh. `reset` works in threads and DMs.';

function authorOf(message: Message): ChatAuthor {
  return {
    id: message.author.id,
    name: message.member?.displayName ?? message.author.displayName ?? message.author.username,
    isBot: message.author.bot,
  };
}

function interactionPlace(
  interaction: ChatInputCommandInteraction | MessageContextMenuCommandInteraction,
): DiscordPlace {
  const channel = interaction.channel;
  const channelIds = [interaction.channelId];
  if (channel && 'parentId' in channel && channel.parentId) channelIds.push(channel.parentId);
  if (channel?.isThread() && channel.parent?.parentId) channelIds.push(channel.parent.parentId);
  const member = interaction.member;
  const roleIds = !member ? [] : Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
  return {
    ...(interaction.guildId ? { guildId: interaction.guildId } : {}),
    channelIds,
    roleIds,
    userId: interaction.user.id,
    isDm: !interaction.guildId,
  };
}

function interactionConversation(interaction: RepliableInteraction): string {
  const channel = interaction.channel;
  if (!interaction.guildId) return `discord:dm:${interaction.channelId}`;
  if (channel?.isThread())
    return `discord:${interaction.guildId}:${channel.parentId ?? 'none'}:${channel.id}`;
  return `discord:${interaction.guildId}:${interaction.channelId}:${interaction.id}`;
}

/** The factory the composition root calls. */
export function createDiscordAdapter(options: DiscordAdapterOptions): DiscordAdapter {
  return new DiscordAdapter(options);
}
