/** What a pull reports as it goes. */
export interface PullProgress {
  /** a file begins (or resumes from `from` bytes) */
  start(path: string, size: number, from: number): void;
  /** `bytes` more of the current file arrived */
  advance(bytes: number): void;
  /** the current file is complete and verified */
  done(path: string, verified: 'sha256' | 'git-sha1' | 'size'): void;
  /** the file was already there, complete and verified */
  skip(path: string, size: number): void;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * On a terminal: one line per file redrawn in place (`\r`), at most every `intervalMs`, with a
 * bar, the percentage, bytes so far and the rate. Elsewhere (a log, CI): plain lines, one when a
 * file starts and one when it is verified. `now` is injectable for tests.
 */
export function createPullProgress(
  output: ProgressOutput,
  options: { now?: () => number; intervalMs?: number } = {},
): PullProgress {
  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 100;
  const tty = output.isTTY === true;
  let path = '';
  let size = 0;
  let received = 0;
  let from = 0;
  let startedAt = 0;
  let drawnAt = Number.NEGATIVE_INFINITY;

  const draw = () => {
    const fraction = size > 0 ? Math.min(1, received / size) : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const seconds = (now() - startedAt) / 1000;
    const rate = seconds > 0 ? (received - from) / seconds : 0;
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    output.write(
      `\r\x1b[K${path} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(received)}/${formatBytes(size)}${
        rate > 0 ? ` ${formatBytes(rate)}/s` : ''
      }`,
    );
    drawnAt = now();
  };

  return {
    start(file, total, resumeFrom) {
      path = file;
      size = total;
      received = resumeFrom;
      from = resumeFrom;
      startedAt = now();
      drawnAt = Number.NEGATIVE_INFINITY;
      if (tty) draw();
      else
        output.write(
          resumeFrom > 0
            ? `resuming ${file} at ${formatBytes(resumeFrom)} of ${formatBytes(total)}\n`
            : `downloading ${file} (${formatBytes(total)})\n`,
        );
    },
    advance(bytes) {
      received += bytes;
      if (tty && now() - drawnAt >= intervalMs) draw();
    },
    done(file, verified) {
      if (tty) {
        received = size;
        draw();
        output.write('\n');
      } else output.write(`ok ${file} (${formatBytes(size)}, ${verified} checked)\n`);
    },
    skip(file, total) {
      output.write(`${tty ? '\r\x1b[K' : ''}have ${file} (${formatBytes(total)})\n`);
    },
  };
}

/** Reports nothing. */
export const silentProgress: PullProgress = {
  start() {},
  advance() {},
  done() {},
  skip() {},
};
