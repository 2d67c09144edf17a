import { type CliIo, UsageError } from './commands/command.js';
import { commandList } from './commands/command-list.js';
import { ConfigError, loadConfigFromProcess } from './config.js';
import { isGlimpseError } from './errors.js';
import { version } from './version.js';

/**
 * The dispatcher: finds the command and loads it with a dynamic `import()` only when it runs, so
 * `glimpse --help` loads no model runtime. Commands depend on `./commands/command.js`, not on this
 * file.
 */
export type { CliCommand, CliIo, CommandContext } from './commands/command.js';

export function helpText(): string {
  const lines = [
    `glimpse ${version} — a LLaVA-style vision-language assistant for Discord, Slack and the web`,
    '',
    'Usage: glimpse <command> [options]',
    '',
    'Commands:',
  ];
  for (const command of commandList) lines.push(`  ${command.name.padEnd(10)} ${command.summary}`);
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

export async function main(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const fullIo: CliIo = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    loadConfig: io?.loadConfig ?? (() => loadConfigFromProcess()),
  };
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    fullIo.stdout.write(helpText());
    return first === undefined ? 2 : 0;
  }
  if (first === '-v' || first === '--version') {
    fullIo.stdout.write(`${version}\n`);
    return 0;
  }
  const entry = commandList.find((candidate) => candidate.name === first);
  if (!entry) {
    const hint = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    fullIo.stderr.write(`glimpse: ${hint}\nRun 'glimpse --help' for the list of commands.\n`);
    return 2;
  }
  const command = await entry.load();
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
