import { afterEach, describe, expect, it } from 'vitest';
import { SseTestClient } from './sse-test-client.js';
import { type Harness, startHarness } from './web-test-harness.js';

/** The playground bounds what one client can hold open: new chats, chats, event streams. */
describe('web playground limits', () => {
  let harness: Harness | undefined;
  const streams: SseTestClient[] = [];
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await harness?.close();
    harness = undefined;
  });

  const newChat = () => fetch(`${harness!.url}/api/sessions`, { method: 'POST' });
  const openStream = async (sessionId: string) => {
    const stream = await SseTestClient.open(`${harness!.url}/api/sessions/${sessionId}/events`);
    streams.push(stream);
    return stream;
  };
  const until = async (condition: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    if (!condition()) throw new Error(`timed out waiting for ${what}`);
  };

  it('300 new chats in a row from one client: 30 a minute, then 429 with Retry-After and a log line', async () => {
    harness = await startHarness({ adapter: { sessionsPerMinute: 30 } });
    const statuses: number[] = [];
    let refusal: Response | undefined;
    for (let i = 0; i < 300; i++) {
      const response = await newChat();
      statuses.push(response.status);
      if (response.status !== 201) refusal ??= response;
      else await response.body?.cancel();
    }
    expect(statuses.filter((status) => status === 201)).toHaveLength(30);
    expect(statuses.slice(30).every((status) => status === 429)).toBe(true);
    expect(Number(refusal!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refusal!.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(await refusal!.json()).toMatchObject({ error: { code: 'glimpse_rate_limited' } });
    expect(harness.logs.some((line) => line.code === 'glimpse_rate_limited')).toBe(true);
  });

  it('keeps at most maxSessions chats: idle ones make room, chats in use are never dropped', async () => {
    harness = await startHarness({ adapter: { maxSessions: 3, sessionsPerMinute: 1000 } });
    const inUse: string[] = [];
    for (let i = 0; i < 3; i++) {
      const body = (await (await newChat()).json()) as { sessionId: string };
      const stream = await openStream(body.sessionId);
      await stream.next('ready');
      inUse.push(body.sessionId);
    }
    const refused = await newChat();
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'glimpse_busy' } });
    // every chat in use still answers
    for (const sessionId of inUse) expect((await harness.ask(sessionId, 'still here?')).status).toBe(202);
    // once a tab closes its stream, its chat may make room
    streams[0]!.close();
    await until(() => streams[0]!.ended, 'the stream to close');
    let created = 0;
    for (let i = 0; i < 20 && created === 0; i++) {
      const response = await newChat();
      if (response.status === 201) created++;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(created).toBe(1);
  });

  it('one chat keeps its 4 newest event streams; over every chat at most maxStreams are open', async () => {
    harness = await startHarness({ adapter: { maxStreams: 6, sessionsPerMinute: 1000 } });
    const first = (await (await newChat()).json()) as { sessionId: string };
    const opened: SseTestClient[] = [];
    for (let i = 0; i < 6; i++) {
      const stream = await openStream(first.sessionId);
      await stream.next('ready');
      opened.push(stream);
    }
    // the two oldest were closed by the server as the fifth and sixth opened
    await until(() => opened[0]!.ended && opened[1]!.ended, 'the oldest streams to close');
    expect(opened.slice(2).every((stream) => !stream.ended)).toBe(true);
    // 4 open now; 2 more on another chat reach the cap of 6, the next is refused
    const second = (await (await newChat()).json()) as { sessionId: string };
    for (let i = 0; i < 2; i++) await (await openStream(second.sessionId)).next('ready');
    const refused = await fetch(`${harness.url}/api/sessions/${second.sessionId}/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ error: { code: 'glimpse_busy' } });
    // and the newest stream of the first chat still gets its answers
    const asked = await harness.ask(first.sessionId, 'hello');
    expect(asked.status).toBe(202);
    const { messageId } = (await asked.json()) as { messageId: string };
    expect((await opened[5]!.next('done', messageId)).event).toBe('done');
  });
});
