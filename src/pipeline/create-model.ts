import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { OnnxLlavaModel } from './onnx-llava-model.js';
import { OpenAICompatibleModel } from './openai-compatible-model.js';
import type { VisionChatModel } from './vision-chat-model.js';

/** Builds the configured model: onnx (in-process) or remote (OpenAI-compatible). */
export async function createModel(config: Config, logger: Logger): Promise<VisionChatModel> {
  if (config.model.provider === 'remote') {
    // asks GET /v1/models once: a wrong URL, key or model name fails here, with one clear error
    const remote = await OpenAICompatibleModel.connect({
      url: config.model.url,
      model: config.model.model,
      ...(config.model.apiKey ? { apiKey: config.model.apiKey } : {}),
      ...(config.model.contextLength ? { contextLength: config.model.contextLength } : {}),
      imageTokens: config.model.imageTokens,
      retry: { retries: config.model.retries },
      maxImagesPerRequest: config.images.maxPerRequest,
      defaults: config.generation,
      logger,
    });
    logger.info(
      { model: remote.info.id, source: remote.info.source, contextLength: remote.info.contextLength },
      'remote model ready',
    );
    return remote;
  }
  const started = performance.now();
  const model = await OnnxLlavaModel.load({
    dir: config.model.dir,
    precision: config.model.precision,
    device: config.model.device,
    threads: config.model.threads,
    imageMode: config.model.imageMode,
    maxImages: config.images.maxPerRequest,
    kvCacheBytes: config.model.kvCacheMb * 1024 * 1024,
    imageCacheBytes: config.model.imageCacheMb * 1024 * 1024,
    generation: {
      maxNewTokens: config.generation.maxNewTokens,
      temperature: config.generation.temperature,
      topK: config.generation.topK,
      topP: config.generation.topP,
      repetitionPenalty: config.generation.repetitionPenalty,
    },
  });
  logger.info(
    {
      model: model.info.id,
      device: config.model.device,
      precision: config.model.precision,
      imageTokens: model.info.imageTokens,
      kvCacheMb: config.model.kvCacheMb,
      imageCacheMb: config.model.imageCacheMb,
      loadMs: Math.round(performance.now() - started),
    },
    'model loaded',
  );
  return model;
}
