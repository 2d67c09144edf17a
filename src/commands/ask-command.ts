import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Config, secretValues } from '../config.js';
import { GlimpseError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { ImagePart, TextPart } from '../messages.js';
import { createModel } from '../pipeline/create-model.js';
import type { FinishPart, ModelMessage } from '../pipeline/vision-chat-model.js';
import { type CliCommand, parseCommandArgs, UsageError } from './command.js';
import { readImageFile, withModelDir } from './command-model.js';

const usage = `Usage: glimpse ask [options] "<question>"

Streams the model's answer to stdout.

Options:
  --model <dir>         a LLaVA model directory (default: GLIMPSE_MODEL_DIR, models/tiny-shapes)
  --image <file>        an image for the question (repeatable)
  --messages <file>     a JSON array of earlier chat messages, HF chat-template form:
                        [{"role":"user","content":[{"type":"image","path":"x.png"},{"type":"text","text":"..."}]}]
  --system <text>       a system prompt
  --max-tokens <n>      the most tokens to generate
  --temperature <t>     sampling temperature; 0 is greedy (default)
  --top-k <k>           sample among the k most likely tokens
  --top-p <p>           nucleus sampling
  --seed <s>            sampling seed
  --json                print one JSON object at the end: {text, tokenIds, usage, timings}`;

const messagesSchemaHint =
  'expected a JSON array of {"role": "user"|"assistant"|"system", "content": [{"type":"image","path":...}|{"type":"text","text":...}]}';

function parseNumber(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed))) {
    throw new UsageError(`--${flag} expects ${integer ? 'a whole number' : 'a number'}, got '${value}'`);
  }
  return parsed;
}

/** Reads a `--messages` file; image paths are relative to the file. */
export async function readMessagesFile(path: string, config: Config): Promise<ModelMessage[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read --messages '${path}': ${(error as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new UsageError(`--messages: ${messagesSchemaHint}`);
  const messages: ModelMessage[] = [];
  for (const [index, item] of raw.entries()) {
    const role = (item as { role?: unknown }).role;
    const content = (item as { content?: unknown }).content;
    if (role !== 'user' && role !== 'assistant' && role !== 'system') {
      throw new UsageError(`--messages[${index}].role: ${messagesSchemaHint}`);
    }
    const parts: (TextPart | ImagePart)[] = [];
    const items = typeof content === 'string' ? [{ type: 'text', text: content }] : content;
    if (!Array.isArray(items)) throw new UsageError(`--messages[${index}].content: ${messagesSchemaHint}`);
    for (const part of items as { type?: unknown; text?: unknown; path?: unknown }[]) {
      if (part.type === 'text' && typeof part.text === 'string')
        parts.push({ type: 'text', text: part.text });
      else if (part.type === 'image' && typeof part.path === 'string') {
        parts.push(await readImageFile(resolve(dirname(path), part.path), config));
      } else throw new UsageError(`--messages[${index}].content: ${messagesSchemaHint}`);
    }
    messages.push({ role, content: parts });
  }
  return messages;
}

export const askCommand: CliCommand = {
  name: 'ask',
  summary: 'ask the model about images from the command line',
  usage,
  async run({ args, io }) {
    const { values, positionals } = parseCommandArgs(args, {
      model: { type: 'string' },
      image: { type: 'string', multiple: true },
      messages: { type: 'string' },
      system: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length > 1)
      throw new UsageError('put the question in quotes: glimpse ask "what is this?"');
    const config = withModelDir(io.loadConfig(), values.model);
    const maxNewTokens =
      parseNumber('max-tokens', values['max-tokens'], true) ?? config.generation.maxNewTokens;
    const temperature =
      parseNumber('temperature', values.temperature, false) ?? config.generation.temperature;
    const topK = parseNumber('top-k', values['top-k'], true) ?? config.generation.topK;
    const topP = parseNumber('top-p', values['top-p'], false) ?? config.generation.topP;
    const seed = parseNumber('seed', values.seed, true);

    const messages: ModelMessage[] = [];
    const system = values.system ?? config.generation.systemPrompt;
    if (system) messages.push({ role: 'system', content: [{ type: 'text', text: system }] });
    if (values.messages) messages.push(...(await readMessagesFile(values.messages, config)));
    const images = await Promise.all((values.image ?? []).map((path) => readImageFile(path, config)));
    const question = positionals[0]?.trim() ?? '';
    if (!question && images.length === 0) throw new UsageError('give a question, an --image, or both');
    messages.push({
      role: 'user',
      content: [...images, ...(question ? [{ type: 'text' as const, text: question }] : [])],
    });

    const logger = createLogger({
      ...config.log,
      secrets: secretValues(config),
      level: values.json ? 'warn' : config.log.level === 'info' ? 'warn' : config.log.level,
    });
    const model = await createModel(config, logger);
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once('SIGINT', onSigint);
    let text = '';
    let finish: FinishPart | undefined;
    try {
      for await (const part of model.stream(
        {
          messages,
          maxNewTokens,
          temperature,
          topK,
          topP,
          repetitionPenalty: config.generation.repetitionPenalty,
          ...(seed === undefined ? {} : { seed }),
        },
        controller.signal,
      )) {
        if (part.type === 'text-delta') {
          text += part.text;
          if (!values.json) io.stdout.write(part.text);
        } else if (part.type === 'warning') {
          io.stderr.write(`warning: ${part.message}\n`);
        } else if (part.type === 'finish') {
          finish = part;
        } else if (part.type === 'error') {
          throw part.error;
        }
      }
    } finally {
      process.off('SIGINT', onSigint);
      await model.close();
    }
    if (!finish)
      throw new GlimpseError('glimpse_model_failed', 'the model stream ended without a finish part');
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({ text, tokenIds: finish.tokenIds ?? [], finishReason: finish.finishReason, usage: finish.usage, timings: finish.timings })}\n`,
      );
    } else {
      io.stdout.write('\n');
    }
    return 0;
  },
};
