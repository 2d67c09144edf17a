import { describe, expect, it } from 'vitest';
import { FairScheduler } from '../../src/conversation/fair-scheduler.js';
import { isGlimpseError } from '../../src/errors.js';
import { gate } from './helpers.js';

/** schedules a task that records its start and waits for its gate */
function harness(concurrency: number, queueMax = 100) {
  const scheduler = new FairScheduler({ concurrency, queueMax });
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const add = (key: string, name: string, signal?: AbortSignal) => {
    const held = gate();
    gates.set(name, held.open);
    return scheduler.schedule(
      key,
      async () => {
        started.push(name);
        await held.promise;
      },
      signal,
    );
  };
  const finish = async (name: string) => {
    gates.get(name)!();
    // the task's promise settles, then the scheduler starts the next one
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { scheduler, started, add, finish };
}

describe('FairScheduler', () => {
  it('runs one task at a time per key, in order', async () => {
    const { started, add, finish } = harness(4);
    add('a', 'a1');
    add('a', 'a2');
    add('a', 'a3');
    expect(started).toEqual(['a1']);
    await finish('a1');
    expect(started).toEqual(['a1', 'a2']);
    await finish('a2');
    expect(started).toEqual(['a1', 'a2', 'a3']);
  });

  it('interleaves two busy keys under a global limit of one', async () => {
    const { started, add, finish } = harness(1);
    for (const name of ['a1', 'a2', 'a3']) add('a', name);
    for (const name of ['b1', 'b2', 'b3']) add('b', name);
    for (const name of ['a1', 'b1', 'a2', 'b2', 'a3']) await finish(name);
    expect(started).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  it('does not let a stream of new keys starve a key that is waiting', async () => {
    const { started, add, finish } = harness(1);
    add('a', 'a1');
    add('a', 'a2');
    add('b', 'b1');
    await finish('a1');
    add('c', 'c1');
    add('d', 'd1');
    await finish('b1');
    expect(started).toEqual(['a1', 'b1', 'a2']);
  });

  it('runs different keys side by side up to the concurrency', async () => {
    const { scheduler, started, add } = harness(2);
    add('a', 'a1');
    add('b', 'b1');
    add('c', 'c1');
    expect(started).toEqual(['a1', 'b1']);
    expect(scheduler.active).toBe(2);
    expect(scheduler.waiting).toBe(1);
    expect(scheduler.positionOf('c')).toBe(0);
    expect(scheduler.isRunning('a')).toBe(true);
  });

  it('refuses with glimpse_busy when the waiting queue is full', () => {
    const { scheduler, add } = harness(1, 2);
    add('a', 'a1'); // runs
    add('a', 'a2');
    add('b', 'b1');
    expect(scheduler.full).toBe(true);
    expect(() => add('c', 'c1')).toThrowError(expect.toSatisfy((e) => isGlimpseError(e, 'glimpse_busy')));
  });

  it('drops a waiting task whose signal aborts, and reports it cancelled', async () => {
    const { scheduler, started, add, finish } = harness(1);
    add('a', 'a1');
    const controller = new AbortController();
    const task = add('a', 'a2', controller.signal);
    add('a', 'a3');
    controller.abort();
    expect(await task.finished).toBe('cancelled');
    expect(scheduler.waiting).toBe(1);
    await finish('a1');
    expect(started).toEqual(['a1', 'a3']);
  });

  it('keeps going after a task throws', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, queueMax: 10 });
    const failing = scheduler.schedule('a', async () => {
      throw new Error('boom');
    });
    let ran = false;
    const next = scheduler.schedule('a', async () => {
      ran = true;
    });
    expect(await failing.finished).toBe('done');
    expect(await next.finished).toBe('done');
    expect(ran).toBe(true);
  });
});
