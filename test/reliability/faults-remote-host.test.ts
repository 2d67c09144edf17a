import Keyv from 'keyv';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplyPart } from '../../src/conversation/chat-event.js';
import {
  type ConversationManager,
  createConversationManager,
} from '../../src/conversation/conversation-manager.js';
import { KeyvConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { OpenAICompatibleModel } from '../../src/pipeline/openai-compatible-model.js';
import {
  chatMessage,
  handled,
  managerConfig,
  messageEvent,
  recordingLogger,
} from '../conversation/helpers.js';
import { type FakeOpenAIHost, startFakeOpenAIHost } from '../fakes/fake-openai-host.js';
import { RecordingReplyChannel } from '../fakes/recording-reply-channel.js';

/**
 * The remote model host goes down (refused connections, then 5xx while it comes back) and
 * returns: users get one short "the model is unavailable" line instead of an answer, nothing
 * crashes, and once the host answers again on the same port the next turn is answered — with the
 * history the failed turns did not spoil.
 */
describe('the remote model host down and back', () => {
  let host: FakeOpenAIHost | undefined;
  let manager: ConversationManager | undefined;
  afterEach(async () => {
    await manager?.stop();
    await host?.stop();
  });

  it('refused connection, then HTTP 503 past the retries: a short "unavailable" reply each time; the host back on its port answers the next turn, through one more 503', async () => {
    host = await startFakeOpenAIHost();
    host.behaviour = { kind: 'answer', answer: () => ['Red', '.'] };
    const { logger, lines } = recordingLogger();
    // at start the model asks GET /v1/models: the host is up then
    const model = await OpenAICompatibleModel.connect({
      url: host.url,
      model: host.model,
      apiKey: 'sk-remote-test-key',
      logger,
      // the default backoff (0.5 s, 1 s, 2 s) shortened: the same retries, sooner
      retry: { retries: 3, minDelayMs: 5 },
    });
    const store = new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
    manager = createConversationManager({ model, store, logger, config: managerConfig() });
    const conversation = 'web:local:remote';
    const turn = async (id: string, text: string) => {
      const reply = new RecordingReplyChannel();
      const result = await handled(manager!, messageEvent(chatMessage(conversation, id, text), reply));
      expect(result.status).toBe('accepted');
      return { reply, parts: reply.renders[0]?.parts ?? [] };
    };
    const errorsOf = (parts: ReplyPart[]) =>
      parts.filter((part): part is { type: 'error'; message: string } => part.type === 'error');

    const first = await turn('m1', 'What colour is the circle?');
    expect(first.reply.texts()).toEqual(['Red.']);

    await host.stop();
    const down = await turn('m2', 'And the square?');
    expect(down.reply.texts()).toEqual(['']);
    expect(errorsOf(down.parts).map((part) => part.message)).toEqual([
      'The model is unavailable right now (its server cannot be reached); please try again shortly.',
    ]);
    expect(lines.some((line) => line.code === 'glimpse_remote_failed' && line.level === 40)).toBe(true);

    await host.start(); // the same port
    host.behaviour = { kind: 'status', status: 503 };
    const beforeStarting = host.chats.length;
    const starting = await turn('m3', 'And the square?');
    // asked 4 times (the first try and 3 retries) before the user hears of it
    expect(host.chats.length - beforeStarting).toBe(4);
    expect(errorsOf(starting.parts).map((part) => part.message)).toEqual([
      'The model is unavailable right now (its server had a problem); please try again shortly.',
    ]);

    const failedRequests = host.chats.length;
    host.behaviour = { kind: 'answer', answer: () => ['Blue', '.'] };
    // a 503 once more, then the answer: within the retry budget the user never sees the 503
    host.failNext.push(503);
    const back = await turn('m4', 'And the square?');
    expect(host.chats.length - failedRequests).toBe(2);
    expect(back.reply.texts()).toEqual(['Blue.']);
    expect(errorsOf(back.parts)).toEqual([]);
    // the answered turn carried the history: the first exchange and the failed questions
    const sent = host.chats
      .at(-1)!
      .body!.messages.map((message) =>
        typeof message.content === 'string'
          ? message.content
          : message.content.map((part) => part.text ?? `<${part.type}>`).join(' '),
      );
    expect(sent[0]).toBe('What colour is the circle?');
    expect(sent[1]).toBe('Red.');
    expect(sent.at(-1)).toBe('And the square?');
    const history = await store.load(conversation);
    expect(history.at(-1)).toMatchObject({ role: 'assistant', parts: [{ type: 'text', text: 'Blue.' }] });
    expect(history.filter((t) => t.interrupted).length).toBe(2); // the two failed turns, empty, marked
  });
});
