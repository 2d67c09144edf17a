import type { CommandName } from './chat-event.js';

/** A command typed as text (after the bot's mention is removed): `reset`, `ask <question>`, … */
export type ParsedCommand =
  | { kind: 'command'; command: CommandName }
  | { kind: 'ask'; question: string }
  | { kind: 'caption' };

const bare = new Set<string>(['reset', 'help', 'status']);

/**
 * Reads a text command: the first word, optionally `/` or `!` prefixed, when it names one.
 * `reset`, `help` and `status` stand alone (so "help me read this graph" is a question);
 * `ask <question>` and `caption` take what follows. Anything else is not a command.
 */
export function parseChatCommand(text: string): ParsedCommand | undefined {
  const match = /^[/!]?([a-z]+)\b[\s:]*([\s\S]*)$/i.exec(text.trim());
  if (!match) return undefined;
  const word = match[1]!.toLowerCase();
  const rest = match[2]!.trim();
  if (bare.has(word) && rest === '') return { kind: 'command', command: word as CommandName };
  if (word === 'ask' && rest !== '') return { kind: 'ask', question: rest };
  if (word === 'caption' && rest === '') return { kind: 'caption' };
  return undefined;
}
