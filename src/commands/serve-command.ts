import { type Config, checkServeBinding, secretValues } from '../config.js';
import { type CliCommand, parseCommandArgs, UsageError } from './command.js';
import { untilShutdownSignal } from './shutdown-signal.js';

const usage = `Usage: glimpse serve [--host H] [--port P] [--model <dir>]

Serves the in-process model over an OpenAI-compatible HTTP API (a GPU host for the bots'
GLIMPSE_MODEL_PROVIDER=remote): POST /v1/chat/completions, GET /v1/models, /healthz, /readyz,
/metrics. See README.md, "GPU host: glimpse serve".

Options:
  --host <host>   where to listen (default: GLIMPSE_SERVE_HOST, 127.0.0.1); anything but
                  loopback needs GLIMPSE_SERVE_API_KEY
  --port <port>   (default: GLIMPSE_SERVE_PORT, 8000; 0 picks a free one)
  --model <dir>   a LLaVA model directory (default: GLIMPSE_MODEL_DIR, models/tiny-shapes)`;

/** `--host` / `--port` over the configured ones; the binding rule is checked before the model loads. */
export function serveConfigFrom(
  config: Config,
  values: { host?: string; port?: string; model?: string },
): Config {
  if (config.model.provider !== 'onnx') {
    throw new UsageError(
      'glimpse serve runs the in-process model: set GLIMPSE_MODEL_PROVIDER=onnx (the default)',
    );
  }
  let port = config.serve.port;
  if (values.port !== undefined) {
    if (!/^\d+$/.test(values.port) || Number(values.port) > 65535) {
      throw new UsageError(`--port expects a port number (0–65535), got '${values.port}'`);
    }
    port = Number(values.port);
  }
  if (values.host !== undefined && values.host.trim() === '')
    throw new UsageError('--host must not be empty');
  const serve = { ...config.serve, port, ...(values.host !== undefined ? { host: values.host.trim() } : {}) };
  checkServeBinding(serve);
  return {
    ...config,
    serve,
    model: values.model ? { ...config.model, dir: values.model } : config.model,
  };
}

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'serve the model over an OpenAI-compatible HTTP API (for a GPU host)',
  usage,
  async run({ args, io }) {
    const { values, positionals } = parseCommandArgs(args, {
      host: { type: 'string' },
      port: { type: 'string' },
      model: { type: 'string' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const config = serveConfigFrom(io.loadConfig(), values);
    // the runtime loads only now: `glimpse serve --help` and `glimpse --help` stay light
    const [{ createLogger }, { createModel }, { createServeServer }] = await Promise.all([
      import('../logger.js'),
      import('../pipeline/create-model.js'),
      import('../serve/serve-server.js'),
    ]);
    const logger = createLogger({ ...config.log, secrets: secretValues(config) });
    const model = await createModel(config, logger);
    const server = createServeServer({
      model,
      serve: config.serve,
      images: config.images,
      defaultMaxTokens: config.generation.maxNewTokens,
      logger: logger.child({ component: 'serve' }),
    });
    try {
      await server.start();
    } catch (error) {
      await model.close();
      throw error;
    }
    logger.info(
      {
        url: server.url,
        model: model.info.id,
        auth: config.serve.apiKey ? 'bearer' : 'none (loopback only)',
        concurrency: config.serve.concurrency,
        queueMax: config.serve.queueMax,
      },
      `serving ${model.info.id} on ${server.url}/v1 (OpenAI-compatible)`,
    );
    await untilShutdownSignal(logger);
    await server.stop();
    await model.close();
    logger.info('stopped');
    return 0;
  },
};
