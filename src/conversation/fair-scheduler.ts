import { GlimpseError } from '../errors.js';

export interface FairSchedulerOptions {
  /** tasks running at once, across all keys */
  concurrency: number;
  /** tasks waiting (not running) at once; beyond it `schedule` refuses with `glimpse_busy` */
  queueMax: number;
}

export type TaskOutcome = 'done' | 'cancelled';

export interface ScheduledTask {
  /** settles when the task has run (`done`, also when it threw) or was cancelled while waiting */
  readonly finished: Promise<TaskOutcome>;
}

interface Job {
  key: string;
  run: () => Promise<void>;
  signal: AbortSignal | undefined;
  resolve: (outcome: TaskOutcome) => void;
  onAbort: () => void;
  /** false until the task's `ready` promise settled */
  ready: boolean;
}

interface Lane {
  waiting: Job[];
  running: boolean;
  /** virtual time of the lane's last start (or its arrival): the lowest goes first */
  servedAt: number;
  /** order of arrival, for ties */
  order: number;
}

/**
 * Runs tasks one at a time per key (FIFO within a key) and at most `concurrency` at once overall,
 * fair across keys: whenever a slot frees, the key that was served longest ago goes next
 * (round-robin over keys with waiting tasks), so one busy conversation cannot starve the others.
 * A new key counts as served just before the current moment, so it goes ahead of keys served since.
 */
export class FairScheduler {
  private readonly lanes = new Map<string, Lane>();
  private running = 0;
  private waitingCount = 0;
  private tick = 0;
  private arrivals = 0;

  constructor(private readonly options: FairSchedulerOptions) {}

  /** tasks waiting to start */
  get waiting(): number {
    return this.waitingCount;
  }

  /** tasks running now */
  get active(): number {
    return this.running;
  }

  /** whether one more task would be refused */
  get full(): boolean {
    return this.waitingCount >= this.options.queueMax;
  }

  /**
   * Queues `run` under `key`. An abort of `signal` while it waits removes it (`cancelled`); once it
   * runs, `run` itself must honour the signal. Throws `glimpse_busy` when the queue is full.
   * With `ready`, the task waits (counted, in its place) until that settles without holding a slot,
   * so waiting on something outside (another replica's turn) never blocks other keys' tasks.
   */
  schedule(
    key: string,
    run: () => Promise<void>,
    signal?: AbortSignal,
    ready?: Promise<unknown>,
  ): ScheduledTask {
    if (this.full) {
      throw new GlimpseError('glimpse_busy', 'the queue is full', {
        userMessage: "I'm busy right now — please try again shortly.",
        details: { waiting: this.waitingCount, queueMax: this.options.queueMax },
      });
    }
    let resolve!: (outcome: TaskOutcome) => void;
    const finished = new Promise<TaskOutcome>((r) => {
      resolve = r;
    });
    if (signal?.aborted) {
      resolve('cancelled');
      return { finished };
    }
    const job: Job = {
      key,
      run,
      signal,
      resolve,
      onAbort: () => this.cancel(job),
      ready: ready === undefined,
    };
    if (ready !== undefined) {
      const settle = () => {
        job.ready = true;
        this.pump();
      };
      ready.then(settle, settle);
    }
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { waiting: [], running: false, servedAt: this.tick - 0.5, order: this.arrivals++ };
      this.lanes.set(key, lane);
    }
    lane.waiting.push(job);
    this.waitingCount++;
    signal?.addEventListener('abort', job.onAbort, { once: true });
    this.pump();
    return { finished };
  }

  /**
   * Where the next waiting task of `key` stands: 0 when it would start next, undefined when the
   * key has nothing waiting. An estimate when several keys run at once.
   */
  positionOf(key: string): number | undefined {
    const lane = this.lanes.get(key);
    if (!lane || lane.waiting.length === 0) return undefined;
    return this.order().indexOf(lane);
  }

  /** whether a task of `key` is running */
  isRunning(key: string): boolean {
    return this.lanes.get(key)?.running ?? false;
  }

  /** removes every waiting task (they finish `cancelled`); running ones are left to their signals */
  cancelWaiting(key?: string): void {
    for (const lane of this.lanes.values()) {
      for (const job of [...lane.waiting]) if (key === undefined || job.key === key) this.cancel(job);
    }
  }

  private cancel(job: Job): void {
    const lane = this.lanes.get(job.key);
    if (!lane) return;
    const index = lane.waiting.indexOf(job);
    if (index < 0) return;
    lane.waiting.splice(index, 1);
    this.waitingCount--;
    job.signal?.removeEventListener('abort', job.onAbort);
    this.dropIfIdle(job.key, lane);
    job.resolve('cancelled');
  }

  /** lanes with waiting tasks, in the order they would be served */
  private order(): Lane[] {
    return [...this.lanes.values()]
      .filter((lane) => lane.waiting.length > 0)
      .sort((a, b) => a.servedAt - b.servedAt || a.order - b.order);
  }

  private pump(): void {
    while (this.running < this.options.concurrency) {
      const lane = this.order().find((candidate) => !candidate.running && candidate.waiting[0]?.ready);
      if (!lane) return;
      const job = lane.waiting.shift()!;
      this.waitingCount--;
      job.signal?.removeEventListener('abort', job.onAbort);
      lane.running = true;
      lane.servedAt = ++this.tick;
      this.running++;
      void this.execute(job, lane);
    }
  }

  private async execute(job: Job, lane: Lane): Promise<void> {
    try {
      await job.run();
    } catch {
      // the task reports its own failures; the scheduler only keeps going
    } finally {
      lane.running = false;
      this.running--;
      this.dropIfIdle(job.key, lane);
      job.resolve('done');
      this.pump();
    }
  }

  private dropIfIdle(key: string, lane: Lane): void {
    if (!lane.running && lane.waiting.length === 0 && this.lanes.get(key) === lane) this.lanes.delete(key);
  }
}
