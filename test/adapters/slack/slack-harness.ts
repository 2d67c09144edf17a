import Keyv from 'keyv';
import { createSlackAdapter, type SlackAdapter } from '../../../src/adapters/slack/slack-adapter.js';
import type { SlackConfig } from '../../../src/config.js';
import {
  type ConversationManager,
  createConversationManager,
} from '../../../src/conversation/conversation-manager.js';
import { KeyvConversationStore } from '../../../src/conversation/keyv-conversation-store.js';
import type { ModelRequest } from '../../../src/pipeline/vision-chat-model.js';
import { managerConfig, recordingLogger } from '../../conversation/helpers.js';
import type { FakeSlack } from '../../fakes/fake-slack/fake-slack.js';
import { type Script, ScriptedModel } from '../../fakes/scripted-model.js';

export const askedOf = (request: ModelRequest) =>
  request.messages
    .at(-1)!
    .content.map((part) => (part.type === 'text' ? part.text : '<image>'))
    .join(' ');

export interface SlackBot {
  adapter: SlackAdapter;
  manager: ConversationManager;
  model: ScriptedModel;
  store: KeyvConversationStore;
  lines: Record<string, unknown>[];
  /** bolt's HTTP endpoint */
  eventsUrl: string;
  close(): Promise<void>;
}

/** a real bolt App (through SlackAdapter) on a free loopback port, against `fake` */
export async function startSlackBot(
  fake: FakeSlack,
  options: {
    socketMode?: boolean;
    slack?: Partial<SlackConfig>;
    store?: KeyvConversationStore;
    scripts?: Script[];
    fallback?: (request: ModelRequest) => Script;
    model?: ScriptedModel;
    concurrency?: number;
    queueMax?: number;
  } = {},
): Promise<SlackBot> {
  const { logger, lines } = recordingLogger();
  const model =
    options.model ??
    new ScriptedModel(options.scripts ?? [], {
      fallback: options.fallback ?? ((request) => ({ deltas: ['answer ', `to ${askedOf(request)}`] })),
    });
  const store = options.store ?? new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
  const manager = createConversationManager({
    model,
    store,
    logger,
    config: {
      ...managerConfig({ concurrency: options.concurrency ?? 2, queueMax: options.queueMax ?? 64 }),
      captions: { labels: [], perChannelPerMinute: 10 },
    },
  });
  const none = { allow: [], deny: [] };
  const adapter = createSlackAdapter({
    config: {
      botToken: fake.botToken,
      signingSecret: fake.signingSecret,
      ...(options.socketMode ? { appToken: fake.appToken } : {}),
      port: 0,
      host: '127.0.0.1',
      apiUrl: fake.apiUrl,
      captionChannels: [],
      access: { teams: none, channels: none, users: none },
      ...options.slack,
    },
    images: { maxBytes: 1 << 20, maxPixels: 1 << 24 },
    editIntervalMs: 20,
    logger,
  });
  adapter.useEventClaims((key, ttl) => store.claimEvent(key, ttl));
  await adapter.start(manager);
  return {
    adapter,
    manager,
    model,
    store,
    lines,
    eventsUrl: `${adapter.address ?? ''}/slack/events`,
    async close() {
      await adapter.stop();
      await manager.stop();
    },
  };
}
