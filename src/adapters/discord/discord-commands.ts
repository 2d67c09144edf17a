import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  type RESTPostAPIApplicationCommandsJSONBody,
} from 'discord.js';

/** The names of Glimpse's application commands (slash and message context menu). */
export const discordCommandNames = {
  ask: 'ask',
  caption: 'caption',
  reset: 'reset',
  help: 'help',
  status: 'status',
  describe: 'Describe image',
  altText: 'Alt text',
} as const;

/** What `glimpse discord register` puts in place: Discord's JSON for each command. */
export function discordCommandDefinitions(): RESTPostAPIApplicationCommandsJSONBody[] {
  return [
    {
      type: ApplicationCommandType.ChatInput,
      name: discordCommandNames.ask,
      description: 'Ask Glimpse about an image (or anything)',
      options: [
        {
          type: ApplicationCommandOptionType.String,
          name: 'question',
          description: 'What to ask',
          required: true,
          max_length: 1500,
        },
        {
          type: ApplicationCommandOptionType.Attachment,
          name: 'image',
          description: 'An image to ask about',
          required: false,
        },
      ],
    },
    {
      type: ApplicationCommandType.ChatInput,
      name: discordCommandNames.caption,
      description: 'Suggest alt text for an image',
      options: [
        {
          type: ApplicationCommandOptionType.Attachment,
          name: 'image',
          description: 'The image',
          required: true,
        },
      ],
    },
    {
      type: ApplicationCommandType.ChatInput,
      name: discordCommandNames.reset,
      description: 'Forget this conversation (thread or DM)',
    },
    {
      type: ApplicationCommandType.ChatInput,
      name: discordCommandNames.help,
      description: 'What Glimpse does, and its limits',
    },
    {
      type: ApplicationCommandType.ChatInput,
      name: discordCommandNames.status,
      description: 'The model and the queue',
    },
    { type: ApplicationCommandType.Message, name: discordCommandNames.describe },
    { type: ApplicationCommandType.Message, name: discordCommandNames.altText },
  ];
}
