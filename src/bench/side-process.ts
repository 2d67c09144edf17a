import { type ChildProcess, fork } from 'node:child_process';
import type { RunSample, SideResult, SideRun } from './bench-result.js';
import type { SideName, WorkerMessage } from './side-worker.js';

/**
 * The parent's handle on one side running in a child process of its own (so its load time and
 * peak RSS are its alone): start, one run per call, finish.
 */
export class SideProcess {
  private readonly child: ChildProcess;
  private readonly inbox: WorkerMessage[] = [];
  private waiting: ((message: WorkerMessage) => void) | undefined;
  private exited: string | undefined;
  private label = '';
  private loadMs = 0;
  private readonly samples: RunSample[] = [];
  private last: SideRun | undefined;

  private constructor(
    readonly side: SideName,
    script: string,
    argv: readonly string[],
  ) {
    this.child = fork(script, ['--worker', side, ...argv], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: WorkerMessage) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting) waiting(message);
      else this.inbox.push(message);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `the ${side} side exited (${signal ?? `code ${code}`})`;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.({ type: 'failed', message: this.exited });
    });
  }

  /** Starts the child and waits until its model is loaded. */
  static async start(side: SideName, script: string, argv: readonly string[]): Promise<SideProcess> {
    const handle = new SideProcess(side, script, argv);
    const ready = await handle.expect('ready');
    handle.label = ready.label;
    handle.loadMs = ready.loadMs;
    return handle;
  }

  private next(): Promise<WorkerMessage> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exited) return Promise.resolve({ type: 'failed', message: this.exited });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  private async expect<T extends WorkerMessage['type']>(
    type: T,
  ): Promise<Extract<WorkerMessage, { type: T }>> {
    const message = await this.next();
    if (message.type === 'failed') throw new Error(`${this.side}: ${message.message}`);
    if (message.type !== type) throw new Error(`${this.side}: expected '${type}', got '${message.type}'`);
    return message as Extract<WorkerMessage, { type: T }>;
  }

  /** One generation; `measured` false for warm-up runs. */
  async run(measured: boolean): Promise<RunSample> {
    this.child.send({ type: 'run' });
    const { run } = await this.expect('ran');
    if (measured) {
      this.samples.push(run.sample);
      this.last = run;
    }
    return run.sample;
  }

  /** Runs the parity picture, collects the peak RSS, and lets the child exit. */
  async finish(): Promise<SideResult> {
    this.child.send({ type: 'finish' });
    const finished = await this.expect('finished');
    this.child.disconnect();
    return {
      side: this.side,
      label: this.label,
      loadMs: this.loadMs,
      samples: this.samples,
      promptIds: this.last?.promptIds ?? [],
      generatedIds: this.last?.generatedIds ?? [],
      text: this.last?.text ?? '',
      parity: {
        image: finished.parityImage,
        promptIds: finished.parity.promptIds,
        generatedIds: finished.parity.generatedIds,
      },
      peakRssBytes: finished.peakRssBytes,
      preprocess: finished.preprocess,
    };
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}
