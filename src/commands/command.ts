import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { GlimpseError } from '../errors.js';

/**
 * What a CLI command is and what it gets, apart from the dispatcher (`src/cli.ts`): commands
 * import this file, never `cli.ts`, so the dispatcher can load them lazily without a cycle.
 */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** loads the validated config; injectable for tests */
  loadConfig: () => Config;
}

export interface CommandContext {
  args: string[];
  io: CliIo;
}

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  run(context: CommandContext): Promise<number>;
}

/** Raised by commands for bad arguments: printed with the usage line, exit code 2. */
export class UsageError extends GlimpseError {
  constructor(message: string) {
    super('glimpse_usage', message, { userMessage: message });
    this.name = 'UsageError';
  }
}

/** parseArgs with Glimpse's conventions: unknown flags are usage errors. */
export function parseCommandArgs<const O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true as const, strict: true as const });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
