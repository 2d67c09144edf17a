import type { CliCommand } from './command.js';

/**
 * The commands `glimpse` knows: a name, the one-line summary `--help` lists, and how to load the
 * command. Loading is a dynamic `import()`, so `glimpse --help` reads no command module — and
 * none of the model runtime (onnxruntime-node, sharp) or the chat SDKs they import.
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<CliCommand>;
}

export const commandList: readonly CommandEntry[] = [
  {
    name: 'start',
    summary: 'run the configured adapters (the local web playground by default)',
    load: async () => (await import('./start-command.js')).startCommand,
  },
  {
    name: 'serve',
    summary: 'serve the model over an OpenAI-compatible HTTP API (for a GPU host)',
    load: async () => (await import('./serve-command.js')).serveCommand,
  },
  {
    name: 'ask',
    summary: 'ask the model about images from the command line',
    load: async () => (await import('./ask-command.js')).askCommand,
  },
  {
    name: 'caption',
    summary: 'caption images (for moderators: what does this upload show?)',
    load: async () => (await import('./caption-command.js')).captionCommand,
  },
  {
    name: 'label',
    summary: 'rank your own labels for an image (zero-shot, for auto-tagging)',
    load: async () => (await import('./label-command.js')).labelCommand,
  },
  {
    name: 'models',
    summary: 'pull a LLaVA ONNX export from the Hugging Face Hub, list installed models',
    load: async () => (await import('./models-command.js')).modelsCommand,
  },
  {
    name: 'discord',
    summary: 'discord register [--guild ID]: register the slash and message commands',
    load: async () => (await import('./discord-command.js')).discordCommand,
  },
];
