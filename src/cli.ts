import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfigFromProcess } from './config.js';
import { GlimpseError, isGlimpseError } from './errors.js';
import { version } from './version.js';

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

const commands = new Map<string, () => Promise<CliCommand>>([
  ['start', async () => (await import('./commands/start-command.js')).startCommand],
  ['ask', async () => (await import('./commands/ask-command.js')).askCommand],
  ['caption', async () => (await import('./commands/caption-command.js')).captionCommand],
  ['label', async () => (await import('./commands/label-command.js')).labelCommand],
  ['discord', async () => (await import('./commands/discord-command.js')).discordCommand],
  ['models', async () => (await import('./commands/models-command.js')).modelsCommand],
]);

/** Registers a command (so feature modules can add theirs, e.g. `caption`, `label`). */
export function registerCommand(name: string, load: () => Promise<CliCommand>): void {
  commands.set(name, load);
}

export async function helpText(): Promise<string> {
  const lines = [
    `glimpse ${version} — a LLaVA-style vision-language assistant for Discord, Slack and the web`,
    '',
    'Usage: glimpse <command> [options]',
    '',
    'Commands:',
  ];
  for (const load of commands.values()) {
    const command = await load();
    lines.push(`  ${command.name.padEnd(10)} ${command.summary}`);
  }
  lines.push(
    '',
    'Options:',
    '  -h, --help     show help (also: glimpse <command> --help)',
    '  -v, --version  print the version',
    '',
    'Configuration comes from environment variables and an optional .env file; see README.md.',
    '',
  );
  return lines.join('\n');
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

export async function main(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const fullIo: CliIo = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    loadConfig: io?.loadConfig ?? (() => loadConfigFromProcess()),
  };
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    fullIo.stdout.write(await helpText());
    return first === undefined ? 2 : 0;
  }
  if (first === '-v' || first === '--version') {
    fullIo.stdout.write(`${version}\n`);
    return 0;
  }
  const load = commands.get(first);
  if (!load) {
    const hint = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    fullIo.stderr.write(`glimpse: ${hint}\nRun 'glimpse --help' for the list of commands.\n`);
    return 2;
  }
  const command = await load();
  if (rest.includes('-h') || rest.includes('--help')) {
    fullIo.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run({ args: rest, io: fullIo });
  } catch (error) {
    if (error instanceof UsageError) {
      fullIo.stderr.write(`glimpse ${command.name}: ${error.message}\n${command.usage}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      fullIo.stderr.write(`glimpse: ${error.message}\n`);
      return 2;
    }
    if (isGlimpseError(error)) {
      fullIo.stderr.write(`glimpse ${command.name}: ${error.message} [${error.code}]\n`);
      return 1;
    }
    throw error;
  }
}
