import { ZeroShotLabeler } from '../pipeline/zero-shot-labeler.js';
import { type CliCommand, parseCommandArgs, UsageError } from './command.js';
import { readImageFile, withModelDir } from './command-model.js';

const usage = `Usage: glimpse label --image <file> [options] "<label>" "<label>" …

Ranks the labels by how well they match the image (CLIP-style zero-shot: softmax over the
labels of the scaled image–text cosine similarity). Needs a model with zero-shot support
(models/tiny-shapes has it).

Options:
  --image <file>     the image (repeatable: each is ranked on its own)
  --model <dir>      a LLaVA model directory (default: GLIMPSE_MODEL_DIR, models/tiny-shapes)
  --top <k>          print only the k best labels
  --json             print one JSON line per image: {image, labels: [{label, probability, similarity}]}

Example:
  glimpse label --image upload.png "a red circle" "a blue square" "a green star"`;

export const labelCommand: CliCommand = {
  name: 'label',
  summary: 'rank your own labels for an image (zero-shot, for auto-tagging)',
  usage,
  async run({ args, io }) {
    const { values, positionals } = parseCommandArgs(args, {
      image: { type: 'string', multiple: true },
      model: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
    });
    const imagePaths = values.image ?? [];
    if (imagePaths.length === 0) throw new UsageError('give an --image to label');
    const labels = positionals.map((label) => label.trim()).filter((label) => label !== '');
    if (labels.length === 0) throw new UsageError('give at least one label, e.g. "a red circle"');
    const top = values.top === undefined ? labels.length : Number(values.top);
    if (!Number.isInteger(top) || top < 1)
      throw new UsageError(`--top expects a whole number, got '${values.top}'`);
    const config = withModelDir(io.loadConfig(), values.model);
    const images = await Promise.all(imagePaths.map((path) => readImageFile(path, config)));
    const labeler = await ZeroShotLabeler.fromConfig(config);
    try {
      for (const image of images) {
        const ranked = (await labeler.rank(image, labels)).slice(0, top);
        if (values.json) {
          io.stdout.write(`${JSON.stringify({ image: image.name, labels: ranked })}\n`);
          continue;
        }
        if (images.length > 1) io.stdout.write(`${image.name}\n`);
        for (const { label, probability } of ranked) {
          io.stdout.write(`${`${(probability * 100).toFixed(1)}%`.padStart(6)}  ${label}\n`);
        }
      }
    } finally {
      await labeler.close();
    }
    return 0;
  },
};
