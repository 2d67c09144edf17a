import { secretValues } from '../config.js';
import { defaultCaptionPrompt } from '../conversation/caption-prompt.js';
import { GlimpseError } from '../errors.js';
import { createLogger } from '../logger.js';
import { createModel } from '../pipeline/create-model.js';
import type { FinishPart } from '../pipeline/vision-chat-model.js';
import { type CliCommand, parseCommandArgs, UsageError } from './command.js';
import { readImageFile, withModelDir } from './command-model.js';

const usage = `Usage: glimpse caption [options] <image> [<image> …]

Prints one caption per image: the model's answer to "${defaultCaptionPrompt}" (greedy).

Options:
  --model <dir>      a LLaVA model directory (default: GLIMPSE_MODEL_DIR, models/tiny-shapes)
  --prompt <text>    ask this instead of "${defaultCaptionPrompt}"
  --max-tokens <n>   the longest caption, in tokens
  --json             print one JSON line per image: {image, caption, finishReason, usage, timings}`;

export const captionCommand: CliCommand = {
  name: 'caption',
  summary: 'caption images (for moderators: what does this upload show?)',
  usage,
  async run({ args, io }) {
    const { values, positionals } = parseCommandArgs(args, {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length === 0) throw new UsageError('give an image file to caption');
    const maxTokensText = values['max-tokens'];
    const maxTokens = maxTokensText === undefined ? undefined : Number(maxTokensText);
    if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
      throw new UsageError(`--max-tokens expects a whole number, got '${maxTokensText}'`);
    }
    const prompt = values.prompt?.trim() || defaultCaptionPrompt;
    const config = withModelDir(io.loadConfig(), values.model);
    const images = await Promise.all(positionals.map((path) => readImageFile(path, config)));
    const logger = createLogger({
      ...config.log,
      secrets: secretValues(config),
      level: config.log.level === 'info' ? 'warn' : config.log.level,
    });
    const model = await createModel(config, logger);
    try {
      for (const image of images) {
        let text = '';
        let finish: FinishPart | undefined;
        for await (const part of model.stream({
          messages: [{ role: 'user', content: [image, { type: 'text', text: prompt }] }],
          maxNewTokens: maxTokens ?? config.generation.maxNewTokens,
          temperature: 0,
        })) {
          if (part.type === 'text-delta') text += part.text;
          else if (part.type === 'warning') io.stderr.write(`warning: ${part.message}\n`);
          else if (part.type === 'finish') finish = part;
          else if (part.type === 'error') throw part.error;
        }
        if (!finish)
          throw new GlimpseError('glimpse_model_failed', 'the model stream ended without a finish part');
        const caption = text.trim();
        if (values.json) {
          io.stdout.write(
            `${JSON.stringify({ image: image.name, caption, finishReason: finish.finishReason, usage: finish.usage, timings: finish.timings })}\n`,
          );
        } else {
          io.stdout.write(images.length > 1 ? `${image.name}: ${caption}\n` : `${caption}\n`);
        }
      }
    } finally {
      await model.close();
    }
    return 0;
  },
};
