import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/commands/command.js';
import { type Config, loadConfig } from '../../src/config.js';

/** CLI streams that record what a command wrote, for `main(argv, io)`. */
export interface CapturedIo extends CliIo {
  stdout: PassThrough;
  stderr: PassThrough;
  out(): string;
  err(): string;
}

export function captureIo(
  config: () => Config = () => loadConfig({ GLIMPSE_LOG_LEVEL: 'silent' }),
): CapturedIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => {
    out += chunk;
  });
  stderr.on('data', (chunk) => {
    err += chunk;
  });
  return { stdout, stderr, out: () => out, err: () => err, loadConfig: config };
}
