import { describe, expect, it } from 'vitest';
import { formatSseEvent } from '../../../src/adapters/web/sse-connection.js';
import { WebSessionRegistry } from '../../../src/adapters/web/web-session-registry.js';

describe('web sessions', () => {
  it('forgets sessions idle for longer than idleMs, but not one with a turn in flight', () => {
    let now = 0;
    const registry = new WebSessionRegistry({ maxSessions: 10, idleMs: 1000, now: () => now });
    const idle = registry.create()!;
    const busy = registry.create()!;
    busy.beginTurn('m1');
    now = 5000;
    registry.sweep();
    expect(registry.get(idle.id)).toBeUndefined();
    expect(registry.get(busy.id)).toBe(busy);
    busy.endTurn('m1');
    now = 10_000;
    registry.sweep();
    expect(registry.size).toBe(0);
  });

  it('keeps a bounded backlog of events published while no stream is open', () => {
    const registry = new WebSessionRegistry({ maxSessions: 1, idleMs: 1000, maxBacklog: 3 });
    const session = registry.create()!;
    for (let index = 0; index < 5; index++) session.publish('delta', { text: String(index) });
    const written: string[] = [];
    const connection = { writeFrame: (frame: string) => written.push(frame) > 0, onClose: () => {} };
    session.subscribe(connection as never, () => {});
    expect(written).toEqual(['2', '3', '4'].map((text) => formatSseEvent('delta', { text })));
  });

  it('frames an event as one event line and one data line', () => {
    expect(formatSseEvent('delta', { text: 'a\nb\r\n' })).toBe(
      'event: delta\ndata: {"text":"a\\nb\\r\\n"}\n\n',
    );
    expect(() => formatSseEvent('bad\nname', {})).toThrow();
  });
});
