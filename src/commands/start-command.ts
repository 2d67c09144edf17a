import { secretValues } from '../config.js';
import { createLogger } from '../logger.js';
import { startApp } from '../main.js';
import { type CliCommand, parseCommandArgs, UsageError } from './command.js';
import { untilShutdownSignal } from './shutdown-signal.js';

export const startCommand: CliCommand = {
  name: 'start',
  summary: 'run the configured adapters (the local web playground by default)',
  usage: 'Usage: glimpse start\n\nStarts every adapter whose credentials are configured; see README.md.',
  async run({ args, io }) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const config = io.loadConfig();
    const logger = createLogger({ ...config.log, secrets: secretValues(config) });
    const app = await startApp(config, logger);
    await untilShutdownSignal(logger);
    await app.stop();
    return 0;
  },
};
