import type { ChatAdapter } from './adapters/chat-adapter.js';
import { createDiscordAdapter } from './adapters/discord/discord-adapter.js';
import { createSlackAdapter } from './adapters/slack/slack-adapter.js';
import { createWebAdapter } from './adapters/web/web-adapter.js';
import type { Config } from './config.js';
import type { ConversationManager } from './conversation/conversation-manager.js';
import { createConversationManager } from './conversation/conversation-manager.js';
import type { ConversationStore } from './conversation/conversation-store.js';
import { createConversationStore } from './conversation/keyv-conversation-store.js';
import { GlimpseError } from './errors.js';
import type { Logger } from './logger.js';
import { createModel } from './pipeline/create-model.js';
import type { VisionChatModel } from './pipeline/vision-chat-model.js';
import { type ImageLabeler, ZeroShotLabeler } from './pipeline/zero-shot-labeler.js';

/**
 * The composition root: the one place that knows every concrete implementation. It builds the
 * model, the store, the conversation manager and the configured adapters, and starts them.
 */
export interface App {
  model: VisionChatModel;
  store: ConversationStore;
  manager: ConversationManager;
  adapters: ChatAdapter[];
  /** stops the adapters, then the manager (aborting turns), then closes the store and the model */
  stop(): Promise<void>;
}

export interface StartAppOptions {
  /** a ready model instead of the configured one (tests) */
  model?: VisionChatModel;
}

/** One line of the start-up report per adapter: running, or why not. */
interface AdapterPlan {
  name: string;
  adapter?: ChatAdapter;
  off?: string;
}

function planAdapters(
  config: Config,
  logger: Logger,
  model: VisionChatModel,
  store: ConversationStore,
): AdapterPlan[] {
  const web: AdapterPlan = config.web.enabled
    ? {
        name: 'web',
        adapter: createWebAdapter({
          host: config.web.host,
          port: config.web.port,
          images: config.images,
          logger: logger.child({ component: 'web' }),
          title: model.info.id,
        }),
      }
    : { name: 'web', off: 'off (GLIMPSE_WEB_ENABLED=false)' };
  const discord: AdapterPlan = config.discord
    ? {
        name: 'discord',
        adapter: createDiscordAdapter({
          config: config.discord,
          images: config.images,
          editIntervalMs: config.rendering.editIntervalMs,
          logger: logger.child({ component: 'discord' }),
        }),
      }
    : { name: 'discord', off: 'off: no credentials (set DISCORD_TOKEN)' };
  let slack: AdapterPlan = {
    name: 'slack',
    off: 'off: no credentials (set SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET, or SLACK_APP_TOKEN for Socket Mode)',
  };
  if (config.slack) {
    const adapter = createSlackAdapter({
      config: config.slack,
      images: config.images,
      editIntervalMs: config.rendering.editIntervalMs,
      logger: logger.child({ component: 'slack' }),
    });
    // a redelivered event is answered once, across replicas sharing the store
    adapter.useEventClaims((key, ttlSeconds) => store.claimEvent(key, ttlSeconds));
    slack = { name: 'slack', adapter };
  }
  return [web, discord, slack];
}

/** zero-shot labels for captions, when labels are configured and the model has a text encoder */
async function createCaptionLabeler(config: Config, logger: Logger): Promise<ImageLabeler | undefined> {
  if (config.captions.labels.length === 0 || config.model.provider !== 'onnx') return undefined;
  try {
    return await ZeroShotLabeler.fromConfig(config);
  } catch (error) {
    logger.warn(
      { err: error, code: 'glimpse_zero_shot_unsupported' },
      'GLIMPSE_CAPTION_LABELS is set, but this model has no zero-shot support: captions come without labels',
    );
    return undefined;
  }
}

function describeModelSource(config: Config, model: VisionChatModel): string {
  const { info } = model;
  if (config.model.provider === 'remote') return `${info.id} from ${info.source} (remote)`;
  const { precision, device } = config.model;
  return `${info.id} from ${info.source} (onnx ${precision} on ${device})`;
}

export async function startApp(config: Config, logger: Logger, options: StartAppOptions = {}): Promise<App> {
  const model = options.model ?? (await createModel(config, logger));
  const closers: (() => Promise<void>)[] = [() => model.close()];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        logger.error({ err: error }, 'error while shutting down');
      }
    }
  };

  try {
    logger.info(
      { model: model.info.id, source: model.info.source },
      `model: ${describeModelSource(config, model)}`,
    );
    const store = await createConversationStore(config.store, logger);
    closers.push(() => store.close());
    const labeler = await createCaptionLabeler(config, logger);
    if (labeler) closers.push(() => labeler.close());
    const manager = createConversationManager({
      model,
      store,
      logger,
      config,
      ...(labeler ? { labeler } : {}),
    });
    closers.push(() => manager.stop());

    const plans = planAdapters(config, logger, model, store);
    const adapters: ChatAdapter[] = [];
    for (const plan of plans) {
      if (!plan.adapter) continue;
      await plan.adapter.start(manager);
      const adapter = plan.adapter;
      adapters.push(adapter);
      closers.push(() => adapter.stop());
    }
    for (const plan of plans) {
      const line = plan.adapter ? plan.adapter.describe() : plan.off;
      logger.info(
        { adapter: plan.name, running: plan.adapter !== undefined },
        `adapter ${plan.name}: ${line}`,
      );
    }
    if (adapters.length === 0) {
      const message =
        'nothing to run: the web playground is off (GLIMPSE_WEB_ENABLED=false) and no chat platform is configured';
      throw new GlimpseError('glimpse_config_invalid', message, { userMessage: message });
    }
    if (config.model.provider === 'onnx') {
      logger.info(
        'another model: GLIMPSE_MODEL_DIR=/path/to/llava-onnx npm start (any LLaVA export in the standard ONNX layout; GLIMPSE_PRECISION picks fp16/q4 files)',
      );
    }

    let stopped: Promise<void> | undefined;
    return {
      model,
      store,
      manager,
      adapters,
      stop: () => {
        stopped ??= closeAll().then(() => logger.info('stopped'));
        return stopped;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
