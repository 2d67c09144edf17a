import type { ChatAdapter } from './adapters/chat-adapter.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createModel } from './pipeline/create-model.js';
import type { VisionChatModel } from './pipeline/vision-chat-model.js';

/**
 * The composition root: the one place that knows every concrete implementation. It builds the
 * model, the store, the conversation manager and the configured adapters, and starts them.
 */
export interface App {
  model: VisionChatModel;
  adapters: ChatAdapter[];
  stop(): Promise<void>;
}

export async function startApp(config: Config, logger: Logger): Promise<App> {
  const model = await createModel(config, logger);
  logger.info(
    { model: model.info.id, source: model.info.source },
    `model loaded: ${model.info.id} from ${model.info.source}`,
  );
  const adapters: ChatAdapter[] = [];
  const stop = async () => {
    for (const adapter of adapters) await adapter.stop();
    await model.close();
  };
  return { model, adapters, stop };
}
