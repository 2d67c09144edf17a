import { REST, Routes } from 'discord.js';
import { discordCommandDefinitions } from '../adapters/discord/discord-commands.js';
import { GlimpseError } from '../errors.js';
import { type CliCommand, parseCommandArgs, UsageError } from './command.js';

const usage = `Usage: glimpse discord register [--guild <id>]

Registers Glimpse's slash commands (/ask, /caption, /reset, /help, /status) and its message
commands ("Describe image", "Alt text") with Discord, replacing the application's commands.
Needs DISCORD_TOKEN and DISCORD_APPLICATION_ID. With --guild they are registered in that server
only (at once, good for trying out); without it globally (every server the bot is in).`;

export const discordCommand: CliCommand = {
  name: 'discord',
  summary: 'discord register [--guild ID]: register the slash and message commands',
  usage,
  async run({ args, io }) {
    const { values, positionals } = parseCommandArgs(args, { guild: { type: 'string' } });
    if (positionals[0] !== 'register' || positionals.length > 1)
      throw new UsageError('expected: discord register');
    const guild = values.guild;
    if (guild !== undefined && !/^\d+$/.test(guild))
      throw new UsageError(`--guild expects a numeric server id, got '${guild}'`);
    const config = io.loadConfig();
    const discord = config.discord;
    if (!discord?.applicationId) {
      throw new UsageError(
        'set DISCORD_TOKEN and DISCORD_APPLICATION_ID (the Developer Portal → your application → General Information)',
      );
    }
    const rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    const route = guild
      ? Routes.applicationGuildCommands(discord.applicationId, guild)
      : Routes.applicationCommands(discord.applicationId);
    let registered: { name: string }[];
    try {
      registered = (await rest.put(route, { body: discordCommandDefinitions() })) as { name: string }[];
    } catch (error) {
      throw new GlimpseError(
        'glimpse_usage',
        `Discord refused the commands: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    io.stdout.write(
      `registered ${registered.length} commands ${guild ? `in server ${guild}` : 'globally'}: ${registered.map((c) => c.name).join(', ')}\n`,
    );
    return 0;
  },
};
