import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandList } from '../../src/commands/command-list.js';

const root = resolve(import.meta.dirname, '../..');
const hook = resolve(import.meta.dirname, 'forbid-runtime.mjs');

/** `bin/glimpse <args>` (the compiled CLI, as `npm test` builds it) with runtime imports forbidden. */
function glimpseWithoutRuntime(args: string[]) {
  const result = spawnSync(process.execPath, ['--import', hook, join(root, 'bin/glimpse'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, GLIMPSE_LOG_LEVEL: 'silent' },
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The import specifiers of a TypeScript file that survive compilation (not `import type`). */
function valueImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const imports: string[] = [];
  for (const match of source.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms))
    imports.push(match[1]!);
  return imports;
}

describe('glimpse --help loads no model runtime', () => {
  it('prints the help with onnxruntime-node, sharp, discord.js and bolt forbidden', () => {
    const help = glimpseWithoutRuntime(['--help']);
    expect(help.stderr).not.toContain('glimpse-forbidden-import');
    expect(help.code).toBe(0);
    for (const command of commandList) expect(help.stdout).toContain(command.name);
    expect(glimpseWithoutRuntime(['--version']).code).toBe(0);
    // serve loads its runtime only when it runs
    const serveHelp = glimpseWithoutRuntime(['serve', '--help']);
    expect(serveHelp.stderr).not.toContain('glimpse-forbidden-import');
    expect(serveHelp.stdout).toMatch(/Usage: glimpse serve/);
  });

  it('the guard does catch a runtime import (ask imports the model statically)', () => {
    const ask = glimpseWithoutRuntime(['ask', '--help']);
    expect(ask.code).not.toBe(0);
    expect(ask.stderr).toMatch(/glimpse-forbidden-import: (onnxruntime-node|sharp)/);
  });
});

describe('CLI dispatch without an import cycle', () => {
  it('no command imports the dispatcher, and the dispatcher imports no command statically', () => {
    const commandsDir = join(root, 'src/commands');
    for (const file of readdirSync(commandsDir).filter((name) => name.endsWith('.ts'))) {
      expect(valueImports(join(commandsDir, file)), file).not.toContain('../cli.js');
    }
    const cli = valueImports(join(root, 'src/cli.ts')).filter((specifier) =>
      specifier.startsWith('./commands/'),
    );
    expect(cli.sort()).toEqual(['./commands/command-list.js', './commands/command.js']);
    // the list names commands and loads them with import(): its only static import is a type
    expect(valueImports(join(commandsDir, 'command-list.ts'))).toEqual([]);
  });

  it('every listed command loads, under its own name and summary', async () => {
    for (const entry of commandList) {
      const command = await entry.load();
      expect(command.name).toBe(entry.name);
      expect(command.summary).toBe(entry.summary);
      expect(command.usage).toMatch(new RegExp(`^Usage: glimpse ${entry.name}`));
    }
  });
});
