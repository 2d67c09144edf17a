import { relative } from 'node:path';
import { HubClient } from '../models/hub-client.js';
import { listInstalledModels } from '../models/model-list.js';
import { pullModel } from '../models/model-pull.js';
import { createPullProgress, formatBytes } from '../models/pull-progress.js';
import { supportedPrecisions } from '../pipeline/model-directory.js';
import { type CliCommand, parseCommandArgs, UsageError } from './command.js';

const usage = `Usage: glimpse models pull <hub id> [--precision q4] [--dir models] [--revision main]
       glimpse models list [--dir models] [--json]

pull   fetches a LLaVA ONNX export (the onnx-community / transformers.js layout) from the Hugging
       Face Hub into <dir>/<owner>/<name>: the config, tokenizer, processor and chat-template
       files and the three graphs at one precision (with their .onnx_data files). A pull that
       was interrupted resumes where it stopped; every file's size and sha256 are checked.
list   shows the models under <dir>: precisions present, size on disk, and whether Glimpse
       can load each (model type, image size, image tokens).

Options:
  --precision <p>   ${supportedPrecisions.filter((p) => p !== 'q8').join(', ')} (default: GLIMPSE_PRECISION, fp32)
  --dir <dir>       the models directory (default: models)
  --revision <rev>  a branch, tag or commit of the Hub repository (default: main)
  --json            list: one JSON document

HF_TOKEN (a read token, for gated or private models) and HF_ENDPOINT (a mirror) are read from
the environment or .env; the token is sent only to HF_ENDPOINT and never printed.

Example:
  glimpse models pull onnx-community/llava-interleave-qwen-0.5b-hf --precision q4
  GLIMPSE_MODEL_DIR=models/onnx-community/llava-interleave-qwen-0.5b-hf GLIMPSE_PRECISION=q4 glimpse start`;

export const modelsCommand: CliCommand = {
  name: 'models',
  summary: 'pull a LLaVA ONNX export from the Hugging Face Hub, list installed models',
  usage,
  async run({ args, io }) {
    const { values, positionals } = parseCommandArgs(args, {
      precision: { type: 'string' },
      dir: { type: 'string' },
      revision: { type: 'string' },
      json: { type: 'boolean' },
    });
    const [action, ...rest] = positionals;
    const dir = values.dir ?? 'models';
    if (action === 'list') {
      if (rest.length > 0) throw new UsageError(`unexpected '${rest.join(' ')}'`);
      const models = await listInstalledModels(dir);
      if (values.json) {
        io.stdout.write(
          `${JSON.stringify(
            models.map(({ folder: _folder, ...model }) => model),
            null,
            2,
          )}\n`,
        );
        return 0;
      }
      if (models.length === 0) {
        io.stdout.write(`no models under ${dir} (glimpse models pull <hub id> puts them there)\n`);
        return 0;
      }
      const rows = models.map((model) => [
        model.id,
        model.precisions.join(',') || '-',
        formatBytes(model.bytes),
        model.loads.ok
          ? `${model.loads.modelType}, ${model.loads.imageSize.width}×${model.loads.imageSize.height} px, ${model.loads.imageTokens} image tokens`
          : `no: ${model.loads.reason}`,
        model.partial > 0 ? `(${model.partial} unfinished download${model.partial > 1 ? 's' : ''})` : '',
      ]);
      const header = ['id', 'precisions', 'size', 'loads', ''];
      const widths = header.map((_, column) =>
        Math.max(...[header, ...rows].map((row) => row[column]!.length)),
      );
      for (const row of [header, ...rows]) {
        io.stdout.write(
          `${row
            .map((cell, column) => cell.padEnd(widths[column]!))
            .join('  ')
            .trimEnd()}\n`,
        );
      }
      return 0;
    }
    if (action === 'pull') {
      const [id, ...extra] = rest;
      if (!id)
        throw new UsageError(
          'give the Hub id of the model, e.g. onnx-community/llava-interleave-qwen-0.5b-hf',
        );
      if (extra.length > 0) throw new UsageError(`unexpected '${extra.join(' ')}'`);
      const config = io.loadConfig();
      const precision =
        values.precision ?? (config.model.provider === 'onnx' ? config.model.precision : 'fp32');
      if (!supportedPrecisions.includes(precision)) {
        throw new UsageError(
          `--precision expects one of ${supportedPrecisions.join(', ')}, got '${precision}'`,
        );
      }
      const client = new HubClient({
        endpoint: config.hub.endpoint,
        ...(config.hub.token ? { token: config.hub.token } : {}),
      });
      const progress = createPullProgress(io.stderr as NodeJS.WritableStream & { isTTY?: boolean });
      // Ctrl-C leaves the .part file: the same command resumes it
      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once('SIGINT', onSignal);
      try {
        const result = await pullModel({
          client,
          id,
          precision,
          dir,
          ...(values.revision ? { revision: values.revision } : {}),
          progress,
          signal: controller.signal,
        });
        const fetched = result.files.filter((file) => file.status === 'downloaded').length;
        const shown = relative(process.cwd(), result.folder) || '.';
        io.stdout.write(
          `${id} (${precision}) is in ${shown}: ${result.files.length} files, ${formatBytes(result.bytes)} (${fetched} downloaded, ${
            result.files.length - fetched
          } already there)\n` +
            `use it: GLIMPSE_MODEL_DIR=${shown} GLIMPSE_PRECISION=${precision} glimpse start\n`,
        );
        return 0;
      } catch (error) {
        if (controller.signal.aborted) {
          io.stderr.write('\ninterrupted: run the same command again to resume\n');
          return 130;
        }
        throw error;
      } finally {
        process.off('SIGINT', onSignal);
      }
    }
    throw new UsageError(action ? `unknown action '${action}' (pull or list)` : 'say pull or list');
  },
};
