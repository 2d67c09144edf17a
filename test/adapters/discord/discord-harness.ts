import Keyv from 'keyv';
import sharp from 'sharp';
import { createDiscordAdapter, type DiscordAdapter } from '../../../src/adapters/discord/discord-adapter.js';
import type { DiscordConfig } from '../../../src/config.js';
import {
  type ConversationManager,
  createConversationManager,
} from '../../../src/conversation/conversation-manager.js';
import { KeyvConversationStore } from '../../../src/conversation/keyv-conversation-store.js';
import type { ModelRequest } from '../../../src/pipeline/vision-chat-model.js';
import type { ImageLabeler } from '../../../src/pipeline/zero-shot-labeler.js';
import { managerConfig, recordingLogger, until } from '../../conversation/helpers.js';
import {
  type FakeDiscord,
  type FakeDiscordOptions,
  startFakeDiscord,
} from '../../fakes/fake-discord/fake-discord.js';
import type { Payload } from '../../fakes/fake-discord/world.js';
import { type Script, ScriptedModel } from '../../fakes/scripted-model.js';

/** the last user message of a request, as text, with `<image>` for each image */
export const askedOf = (request: ModelRequest) =>
  request.messages
    .at(-1)!
    .content.map((part) => (part.type === 'text' ? part.text : '<image>'))
    .join(' ');

export interface BotHarness {
  fake: FakeDiscord;
  model: ScriptedModel;
  manager: ConversationManager;
  store: KeyvConversationStore;
  adapter: DiscordAdapter;
  /** stops the adapter and starts a fresh one (a process restart: no memory but the store) */
  restartAdapter(): Promise<void>;
  lines: Record<string, unknown>[];
  /** the bot's messages replying to `messageId`, once they stopped changing (no marker) */
  answerTo(messageId: string): Promise<Payload[]>;
  /** every message the bot wrote into a channel, in order */
  botMessages(channelId?: string): Payload[];
  close(): Promise<void>;
}

export async function startBot(
  options: {
    fake?: FakeDiscordOptions;
    discord?: Partial<DiscordConfig>;
    scripts?: Script[];
    fallback?: (request: ModelRequest) => Script;
    editIntervalMs?: number;
    concurrency?: number;
    queueMax?: number;
    model?: ScriptedModel;
    labeler?: ImageLabeler;
  } = {},
): Promise<BotHarness> {
  const fake = await startFakeDiscord(options.fake);
  const model =
    options.model ??
    new ScriptedModel(options.scripts ?? [], {
      fallback: options.fallback ?? ((request) => ({ deltas: [`answer to ${askedOf(request)}`] })),
    });
  const { logger, lines } = recordingLogger();
  const store = new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
  const manager = createConversationManager({
    model,
    store,
    logger,
    config: {
      ...managerConfig({ concurrency: options.concurrency ?? 1, queueMax: options.queueMax ?? 64 }),
      captions: { labels: ['a red square', 'a blue circle'], perChannelPerMinute: 10 },
    },
    ...(options.labeler ? { labeler: options.labeler } : {}),
  });
  const none = { allow: [], deny: [] };
  const adapterOptions = {
    config: {
      token: fake.token,
      applicationId: fake.applicationId,
      apiUrl: fake.apiUrl,
      captionChannels: [],
      dms: true,
      access: { guilds: none, channels: none, roles: none, users: none },
      ...options.discord,
    },
    images: { maxBytes: 1 << 20, maxPixels: 1 << 24 },
    editIntervalMs: options.editIntervalMs ?? 20,
    logger,
    readyTimeoutMs: 5000,
  };
  let adapter = createDiscordAdapter(adapterOptions);
  await adapter.start(manager);
  const botId = fake.bot.id;
  const botMessages = (channelId?: string) =>
    fake.messages
      .all()
      .filter(
        (m) => (m.author as Payload).id === botId && (channelId === undefined || m.channel_id === channelId),
      );
  return {
    fake,
    model,
    manager,
    store,
    get adapter() {
      return adapter;
    },
    async restartAdapter() {
      await adapter.stop();
      adapter = createDiscordAdapter(adapterOptions);
      await adapter.start(manager);
    },
    lines,
    botMessages,
    async answerTo(messageId) {
      const replies = () =>
        botMessages().filter((m) => (m.message_reference as Payload | undefined)?.message_id === messageId);
      await until(() => replies().length > 0, `a reply to ${messageId}`);
      await manager.idle();
      await until(
        () => replies().every((m) => !String(m.content).endsWith(' ▌') && m.content !== '…'),
        'the final edit',
      );
      const first = replies()[0]!;
      // continuation messages follow the first reply in the channel
      return botMessages(String(first.channel_id)).filter(
        (m) => BigInt(String(m.id)) >= BigInt(String(first.id)),
      );
    },
    async close() {
      await adapter.stop();
      await manager.stop();
      await fake.close();
    },
  };
}

export async function pngBytes(colour = '#ff0000', width = 8, height = 8): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp({ create: { width, height, channels: 3, background: colour } })
      .png()
      .toBuffer(),
  );
}
