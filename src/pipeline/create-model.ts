import type { Config } from '../config.js';
import { GlimpseError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VisionChatModel } from './vision-chat-model.js';

/** Builds the configured model: onnx (in-process) or remote (OpenAI-compatible). */
export async function createModel(config: Config, _logger: Logger): Promise<VisionChatModel> {
  throw new GlimpseError(
    'glimpse_not_implemented',
    `model provider '${config.model.provider}' is not available yet`,
  );
}
