import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebAdapter } from '../../../src/adapters/web/web-adapter.js';
import { isGlimpseError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import type { ImagePart } from '../../../src/messages.js';
import { FakeEventHandler } from './fake-event-handler.js';
import { SseTestClient } from './sse-test-client.js';
import { type Harness, shapePng, startHarness } from './web-test-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('web adapter: sessions and streaming', () => {
  it('gives each session its own web:local:<uuid> conversation', async () => {
    harness = await startHarness();
    const first = await harness.createSession();
    const second = await harness.createSession();
    expect(first.conversationId).toMatch(/^web:local:[0-9a-f-]{36}$/);
    expect(first.conversationId).toBe(`web:local:${first.sessionId}`);
    expect(second.conversationId).not.toBe(first.conversationId);
    expect(first.events.response?.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  });

  it('turns an upload and a question into one message event and streams the answer as SSE', async () => {
    harness = await startHarness({ scripts: [{ deltas: ['a ', 'red ', 'circle'], delayMs: 5 }] });
    const { sessionId, conversationId, events } = await harness.createSession();
    const png = await shapePng();
    const response = await harness.ask(sessionId, '  What colour is the circle?  ', {
      bytes: png,
      name: 'c.png',
    });
    expect(response.status).toBe(202);
    const { messageId, images } = (await response.json()) as {
      messageId: string;
      images: { width: number; height: number; mediaType: string }[];
    };
    expect(images).toEqual([{ name: 'c.png', mediaType: 'image/png', width: 128, height: 128 }]);
    await events.next('done', messageId);

    const [event] = harness.handler.ofType('message');
    expect(event?.message).toMatchObject({
      platform: 'web',
      conversationId,
      messageId,
      author: { id: `web:${sessionId}`, isBot: false },
    });
    const [image, text] = event?.message.parts ?? [];
    expect(text).toEqual({ type: 'text', text: 'What colour is the circle?' });
    expect(image).toMatchObject({ type: 'image', mediaType: 'image/png', width: 128, height: 128 });
    expect(Buffer.from((image as ImagePart).bytes).equals(Buffer.from(png))).toBe(true);

    const sequence = events.forMessage(messageId).map((item) => item.event);
    expect(sequence).toEqual(['start', 'delta', 'delta', 'delta', 'finish', 'done']);
    const deltas = events.forMessage(messageId).filter((item) => item.event === 'delta');
    expect(deltas.map((item) => (item.data as { text: string }).text).join('')).toBe('a red circle');
    const finish = (await events.next('finish', messageId)).data as Record<string, unknown>;
    expect(finish).toMatchObject({
      interrupted: false,
      usage: { completionTokens: 3 },
      timings: { totalMs: expect.any(Number), timeToFirstTokenMs: expect.any(Number) },
    });
  });

  it('frames every event as `event:` + one `data:` line of JSON, and sends heartbeat comments', async () => {
    harness = await startHarness({ scripts: [{ deltas: ['line one\nline two', '\n\n', 'data: x'] }] });
    const { sessionId, events } = await harness.createSession();
    const { messageId } = (await (await harness.ask(sessionId, 'hi')).json()) as { messageId: string };
    await events.next('done', messageId);
    for (const block of events.rawBlocks) {
      const lines = block.split('\n');
      const isEvent =
        lines.length === 2 && /^event: [a-z-]+$/.test(lines[0]!) && lines[1]!.startsWith('data: ');
      const isControl = lines.length === 1 && (lines[0]!.startsWith(':') || /^retry: \d+$/.test(lines[0]!));
      expect(isEvent || isControl, block).toBe(true);
    }
    const text = events
      .forMessage(messageId)
      .filter((item) => item.event === 'delta')
      .map((item) => (item.data as { text: string }).text)
      .join('');
    expect(text).toBe('line one\nline two\n\ndata: x');
    await events.until((client) => client.comments.includes('ping'), 'a heartbeat');
  });

  it('continues the same conversation with a follow-up', async () => {
    harness = await startHarness({ scripts: [{ deltas: ['red'] }, { deltas: ['one'] }] });
    const { sessionId, conversationId, events } = await harness.createSession();
    const first = (await (
      await harness.ask(sessionId, 'What colour is the circle?', {
        bytes: await shapePng(),
        name: 'c.png',
      })
    ).json()) as { messageId: string };
    await events.next('done', first.messageId);
    const second = (await (await harness.ask(sessionId, 'How many circles are there?')).json()) as {
      messageId: string;
    };
    await events.next('done', second.messageId);
    const messages = harness.handler.ofType('message');
    expect(messages.map((event) => event.message.conversationId)).toEqual([conversationId, conversationId]);
    expect(messages[1]?.message.parts).toEqual([{ type: 'text', text: 'How many circles are there?' }]);
  });

  it('resets: a reset command for the conversation, answered with a notice', async () => {
    harness = await startHarness();
    const { sessionId, conversationId, events } = await harness.createSession();
    const response = await fetch(`${harness.url}/api/sessions/${sessionId}/reset`, { method: 'POST' });
    expect(response.status).toBe(202);
    const { commandId } = (await response.json()) as { commandId: string };
    const notice = await events.next('notice', commandId);
    expect(notice.data).toMatchObject({ text: 'Done: reset.', kind: 'info' });
    expect(harness.handler.ofType('command')).toMatchObject([
      { command: 'reset', platform: 'web', conversationId, author: { id: `web:${sessionId}` } },
    ]);
  });

  it('reset cancels an answer still being written first', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    harness = await startHarness({ scripts: [{ deltas: ['a', 'b'], gate }] });
    const { sessionId, events } = await harness.createSession();
    const { messageId } = (await (await harness.ask(sessionId, 'hi')).json()) as { messageId: string };
    await events.next('start', messageId);
    await fetch(`${harness.url}/api/sessions/${sessionId}/reset`, { method: 'POST' });
    const deleted = harness.handler.ofType('message-deleted');
    expect(deleted.map((event) => event.messageId)).toEqual([messageId]);
    release();
    const finish = await events.next('finish', messageId);
    expect(finish.data).toMatchObject({ interrupted: true });
    const types = harness.handler.events.map((event) => event.type);
    expect(types.indexOf('message-deleted')).toBeLessThan(types.indexOf('command'));
  });

  it('shows notices the manager sends instead of an answer (busy, rate limit)', async () => {
    harness = await startHarness();
    harness.handler.noticeInstead = { text: 'Busy, try again shortly.', kind: 'warning' };
    const { sessionId, events } = await harness.createSession();
    const { messageId } = (await (await harness.ask(sessionId, 'hi')).json()) as { messageId: string };
    const notice = await events.next('notice', messageId);
    expect(notice.data).toEqual({ messageId, text: 'Busy, try again shortly.', kind: 'warning' });
  });

  it('forwards warnings and errors of the reply stream', async () => {
    const { GlimpseError } = await import('../../../src/errors.js');
    harness = await startHarness({
      scripts: [
        {
          deltas: ['par'],
          warnings: ['Only the last 4 images are used.'],
          error: new GlimpseError('glimpse_model_failed', 'boom', { userMessage: 'The model failed.' }),
        },
      ],
    });
    const { sessionId, events } = await harness.createSession();
    const { messageId } = (await (await harness.ask(sessionId, 'hi')).json()) as { messageId: string };
    await events.next('done', messageId);
    expect(events.forMessage(messageId).map((item) => [item.event, item.data])).toEqual([
      ['start', { messageId, replyId: expect.any(String) }],
      ['warning', { messageId, message: 'Only the last 4 images are used.' }],
      ['delta', { messageId, text: 'par' }],
      ['error', { messageId, message: 'The model failed.' }],
      ['done', { messageId }],
    ]);
  });

  it('reports a handler that throws as an error event and a log line, and keeps serving', async () => {
    harness = await startHarness();
    harness.handler.handle = async () => {
      throw new Error('manager exploded');
    };
    const { sessionId, events } = await harness.createSession();
    const { messageId } = (await (await harness.ask(sessionId, 'hi')).json()) as { messageId: string };
    const error = await events.next('error', messageId);
    expect(error.data).toMatchObject({ message: expect.stringMatching(/something went wrong/i) });
    await events.next('done', messageId);
    expect(harness.logs.some((line) => line.msg === 'conversation handler failed' && line.level === 50)).toBe(
      true,
    );
    expect((await fetch(`${harness.url}/healthz`)).status).toBe(200);
  });

  it('keeps concurrent sessions apart', async () => {
    harness = await startHarness({
      scripts: [
        { deltas: ['a1', 'a2', 'a3'], delayMs: 10 },
        { deltas: ['b1', 'b2', 'b3'], delayMs: 10 },
      ],
    });
    const alice = await harness.createSession();
    const bob = await harness.createSession();
    const [a, b] = await Promise.all([
      harness.ask(alice.sessionId, 'one'),
      harness.ask(bob.sessionId, 'two'),
    ]);
    const aId = ((await a!.json()) as { messageId: string }).messageId;
    const bId = ((await b!.json()) as { messageId: string }).messageId;
    await Promise.all([alice.events.next('done', aId), bob.events.next('done', bId)]);
    const ids = (client: SseTestClient) =>
      new Set(client.events.map((item) => (item.data as { messageId?: string }).messageId).filter(Boolean));
    expect(ids(alice.events)).toEqual(new Set([aId]));
    expect(ids(bob.events)).toEqual(new Set([bId]));
    const text = (client: SseTestClient) =>
      client.events
        .filter((item) => item.event === 'delta')
        .map((item) => (item.data as { text: string }).text)
        .join('');
    expect(new Set([text(alice.events), text(bob.events)])).toEqual(new Set(['a1a2a3', 'b1b2b3']));
  });

  it('cancels the turn when the browser goes away (message-deleted), and stops writing', async () => {
    harness = await startHarness({
      scripts: [{ deltas: Array.from({ length: 200 }, () => 'x'), delayMs: 5 }],
    });
    const { sessionId, conversationId, events } = await harness.createSession();
    const { messageId } = (await (await harness.ask(sessionId, 'hi')).json()) as { messageId: string };
    await events.next('delta', messageId);
    events.close();
    const deadline = Date.now() + 20_000;
    while (harness.handler.ofType('message-deleted').length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(harness.handler.ofType('message-deleted')).toEqual([
      { type: 'message-deleted', platform: 'web', conversationId, messageId },
    ]);
    while (!harness.model.calls[0]?.cleanedUp && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(harness.model.calls[0]?.cleanedUp).toBe(true);
    expect(harness.model.calls[0]?.finishReason).toBe('abort');
    expect(harness.model.calls[0]?.yielded.length).toBeLessThan(200);
  });

  it('stops an answer on request', async () => {
    harness = await startHarness({
      scripts: [{ deltas: Array.from({ length: 200 }, () => 'x'), delayMs: 5 }],
    });
    const { sessionId, events } = await harness.createSession();
    const { messageId } = (await (await harness.ask(sessionId, 'hi')).json()) as { messageId: string };
    await events.next('delta', messageId);
    const response = await fetch(`${harness.url}/api/sessions/${sessionId}/messages/${messageId}/cancel`, {
      method: 'POST',
    });
    expect(await response.json()).toEqual({ cancelled: true });
    const finish = await events.next('finish', messageId);
    expect(finish.data).toMatchObject({ interrupted: true });
    const again = await fetch(`${harness.url}/api/sessions/${sessionId}/messages/${messageId}/cancel`, {
      method: 'POST',
    });
    expect(await again.json()).toEqual({ cancelled: false });
  });

  it('replays events published while no stream was open', async () => {
    harness = await startHarness({ scripts: [{ deltas: ['late'] }] });
    const created = (await (await fetch(`${harness.url}/api/sessions`, { method: 'POST' })).json()) as {
      sessionId: string;
    };
    const { messageId } = (await (await harness.ask(created.sessionId, 'hi')).json()) as {
      messageId: string;
    };
    const deadline = Date.now() + 20_000;
    while (!harness.model.calls[0]?.cleanedUp && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const events = await SseTestClient.open(`${harness.url}/api/sessions/${created.sessionId}/events`);
    await events.next('done', messageId);
    expect(events.forMessage(messageId).map((item) => item.event)).toEqual([
      'start',
      'delta',
      'finish',
      'done',
    ]);
    events.close();
  });

  it('answers 404 for an unknown session, and the page can start a new one', async () => {
    harness = await startHarness();
    const unknown = '00000000-0000-4000-8000-000000000000';
    const events = await fetch(`${harness.url}/api/sessions/${unknown}/events`);
    expect(events.status).toBe(404);
    const ask = await harness.ask(unknown, 'hi');
    expect(ask.status).toBe(404);
    expect(await ask.json()).toEqual({
      error: { code: 'web_session_unknown', message: expect.stringContaining('expired') },
    });
    expect((await fetch(`${harness.url}/api/sessions/not-a-uuid/reset`, { method: 'POST' })).status).toBe(
      404,
    );
    expect(harness.handler.events).toEqual([]);
  });

  it('closes open streams on stop and frees the port', async () => {
    harness = await startHarness();
    const { events } = await harness.createSession();
    const url = harness.url;
    await harness.adapter.stop();
    await events.until((client) => client.ended, 'the stream to end');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('refuses to start on a port in use, with a coded error naming GLIMPSE_WEB_PORT', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const adapter = createWebAdapter({
      host: '127.0.0.1',
      port,
      images: { maxBytes: 1024, maxPixels: 100, maxPerRequest: 1 },
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
    try {
      const error = await adapter.start(new FakeEventHandler(undefined as never)).catch((caught) => caught);
      expect(isGlimpseError(error, 'glimpse_config_invalid')).toBe(true);
      expect((error as Error).message).toContain('GLIMPSE_WEB_PORT');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('describes itself for the start-up log', async () => {
    harness = await startHarness();
    expect(harness.adapter.describe()).toBe(`web playground on ${harness.url}`);
    expect(harness.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
