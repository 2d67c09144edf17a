import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createConversationManager } from '../../src/conversation/conversation-manager.js';
import type { ConversationTurn } from '../../src/conversation/conversation-store.js';
import { createConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import { RecordingReplyChannel } from '../fakes/recording-reply-channel.js';
import { ScriptedModel } from '../fakes/scripted-model.js';
import { chatMessage, handled, imagePart, managerConfig, messageEvent, recordingLogger } from './helpers.js';

const here = new URL('.', import.meta.url).pathname;
const childScript = join(here, 'crash-child.mjs');
const builtManager = join(here, '../../dist/conversation/conversation-manager.js');

const dirs: string[] = [];
const children: ChildProcess[] = [];
function tmpStorePath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-crash-'));
  dirs.push(dir);
  return join(dir, 'data', 'glimpse.sqlite');
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const textOf = (turn: ConversationTurn | undefined) =>
  (turn?.parts.find((part) => part.type === 'text') as { text: string } | undefined)?.text;

/** Runs the child until `stopWhen` sees a line, then kills it with SIGKILL; returns its `done` lines. */
async function runAndKill(
  path: string,
  args: string[],
  stopWhen: (line: string) => boolean,
): Promise<number> {
  const child = spawn(process.execPath, [childScript, path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += String(chunk);
  });
  let lastDone = -1;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  const lines = createInterface({ input: child.stdout! });
  const killed = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      const done = /^done (\d+)$/.exec(line);
      if (done) lastDone = Number(done[1]);
      if (stopWhen(line)) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', (code) => {
      if (code !== null) reject(new Error(`child exited on its own (${code}): ${stderr}`));
    });
  });
  await killed;
  expect(await exited).toBe('SIGKILL');
  return lastDone;
}

async function reopen(path: string) {
  const { logger } = recordingLogger();
  return createConversationStore({ sqlitePath: path, historyTtlSeconds: 3600 }, logger);
}

/** the stored history is whole exchanges t0..tN, in order, each with its answer */
function expectWholeExchanges(turns: ConversationTurn[]): number {
  expect(turns.length % 2).toBe(0);
  for (let i = 0; i < turns.length / 2; i++) {
    expect(turns[2 * i]).toMatchObject({ role: 'user', messageId: `m${i}` });
    expect(textOf(turns[2 * i])).toBe(`t${i}`);
    expect(turns[2 * i + 1]?.role).toBe('assistant');
    expect(textOf(turns[2 * i + 1])).toBe(`answer t${i}`);
    expect(turns[2 * i + 1]?.interrupted).toBeUndefined();
  }
  return turns.length / 2;
}

describe('restart persistence (real SQLite file)', () => {
  beforeAll(() => {
    if (!existsSync(builtManager)) {
      throw new Error('dist/ is missing: run `npm run build` (npm test builds before vitest)');
    }
  });

  it('keeps every completed turn after a SIGKILL mid-answer, and the cut answer as far as it went, marked interrupted', async () => {
    const path = tmpStorePath();
    const lastDone = await runAndKill(path, ['hang', '3'], (line) => line === 'streaming');
    expect(lastDone).toBe(2);
    const store = await reopen(path);
    const turns = await store.load('web:local:crash');
    expect(expectWholeExchanges(turns.slice(0, 6))).toBe(3);
    // the half-streamed 4th turn: its question, and the answer so far, interrupted
    expect(turns.slice(6)).toMatchObject([
      { role: 'user', messageId: 'm3', parts: [{ type: 'text', text: 'hang' }] },
      { role: 'assistant', interrupted: true, parts: [{ type: 'text', text: 'partial answer' }] },
    ]);
    // moved into the history once: loading again changes nothing
    expect(await store.load('web:local:crash')).toEqual(turns);
    await store.close();
  });

  it('keeps every completed turn when killed at an arbitrary point of a busy loop', async () => {
    const path = tmpStorePath();
    const lastDone = await runAndKill(path, ['churn'], (line) => line === 'done 25');
    const store = await reopen(path);
    const turns = await store.load('web:local:crash');
    // a turn in flight when the kill came is there too, interrupted, as far as it had been saved
    const cut = turns.at(-1)?.interrupted === true;
    const stored = expectWholeExchanges(cut ? turns.slice(0, -2) : turns);
    if (cut) {
      expect(turns.at(-2)).toMatchObject({ role: 'user', messageId: `m${stored}` });
      expect(`answer t${stored}`.startsWith(textOf(turns.at(-1)) ?? '?')).toBe(true);
    }
    expect(stored).toBeGreaterThanOrEqual(lastDone + 1);
    await store.close();
  });

  it('continues a conversation after a restart, with the history and its images', async () => {
    const path = tmpStorePath();
    const image = imagePart('persisted');
    const first = await reopen(path);
    const model1 = new ScriptedModel([{ deltas: ['a triangle'] }]);
    const { logger } = recordingLogger();
    const manager1 = createConversationManager({
      model: model1,
      store: first,
      logger,
      config: managerConfig(),
    });
    const reply = new RecordingReplyChannel();
    await handled(
      manager1,
      messageEvent(chatMessage('discord:g1:c1:t1', 'm1', 'what shape?', { images: [image] }), reply),
    );
    await manager1.stop();
    await first.close();

    const second = await reopen(path);
    const model2 = new ScriptedModel([{ deltas: ['still a triangle'] }]);
    const manager2 = createConversationManager({
      model: model2,
      store: second,
      logger,
      config: managerConfig(),
    });
    await handled(manager2, messageEvent(chatMessage('discord:g1:c1:t1', 'm2', 'sure?'), reply));
    const request: ModelRequest = model2.calls[0]!.request;
    expect(request.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
    expect(request.messages[0]!.content[1]).toMatchObject({ type: 'image', sha256: image.sha256 });
    expect(textOf((await second.load('discord:g1:c1:t1'))[3])).toBe('still a triangle');
    await manager2.stop();
    await second.close();
  });
});
