import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

/** a loopback port nothing listens on right now (for a child process to bind) */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

export interface AppProcess {
  url: string;
  logs: Record<string, unknown>[];
  child: ChildProcess;
  /** resolves with the first log line (already written or to come) matching `match` */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** SIGTERM, then the exit code (SIGKILL after `timeoutMs`) */
  stop(timeoutMs?: number): Promise<number | null>;
}

const repoRoot = resolve(import.meta.dirname, '../..');

/** The environment of the test runner without any Glimpse, chat-platform or Redis settings. */
function cleanEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(GLIMPSE_|DISCORD_|SLACK_|REDIS_URL$)/.test(key)) continue;
    env[key] = value;
  }
  return env;
}

/**
 * Runs the real CLI (`bin/glimpse start`, the compiled app `npm start` runs) in `cwd`, with
 * JSON logs, on a free loopback port, and resolves once the web playground is listening.
 */
export async function startAppProcess(options: {
  cwd: string;
  env: Record<string, string>;
  startTimeoutMs?: number;
}): Promise<AppProcess> {
  const child = spawn(process.execPath, [resolve(repoRoot, 'bin/glimpse'), 'start'], {
    cwd: options.cwd,
    env: {
      ...cleanEnvironment(),
      GLIMPSE_LOG_FORMAT: 'json',
      GLIMPSE_LOG_LEVEL: 'info',
      GLIMPSE_WEB_HOST: '127.0.0.1',
      GLIMPSE_WEB_PORT: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the app did not start in time; logs:\n${JSON.stringify(logs)}\n${stderr}`)),
      options.startTimeoutMs ?? 60_000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (!line.trim()) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        const match = /web playground on (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg));
        if (match?.[1]) {
          clearTimeout(timer);
          resolveUrl(match[1]);
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited (${code}) before it started:\n${stderr}\n${JSON.stringify(logs)}`));
    });
  });

  return {
    url,
    logs,
    child,
    async waitForLog(match, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = logs.find(match);
        if (line) return line;
        if (Date.now() > deadline)
          throw new Error(`no log line: ${what}; logs:\n${JSON.stringify(logs.slice(-10))}`);
        await new Promise((resolveWait) => setTimeout(resolveWait, 50));
      }
    },
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
