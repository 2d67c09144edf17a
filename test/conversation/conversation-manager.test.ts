import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import type { ChatEvent, ReplyPart } from '../../src/conversation/chat-event.js';
import { createConversationManager } from '../../src/conversation/conversation-manager.js';
import type { ConversationStore } from '../../src/conversation/conversation-store.js';
import { KeyvConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { GlimpseError } from '../../src/errors.js';
import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import { RecordingReplyChannel } from '../fakes/recording-reply-channel.js';
import { type Script, ScriptedModel } from '../fakes/scripted-model.js';
import {
  chatMessage,
  gate,
  handled,
  imagePart,
  managerConfig,
  messageEvent,
  recordingLogger,
  until,
} from './helpers.js';

/** the text of the last user message of a request: which message a model call answers */
const asked = (request: ModelRequest) =>
  request.messages
    .at(-1)!
    .content.filter((part) => part.type === 'text')
    .map((part) => (part as { text: string }).text)
    .join(' ');

const texts = (request: ModelRequest) =>
  request.messages.map(
    (message) =>
      `${message.role}:${message.content.map((part) => (part.type === 'text' ? part.text : `<${part.name}>`)).join(' ')}`,
  );

function memoryStore(): KeyvConversationStore {
  return new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger: recordingLogger().logger });
}

function setup(
  options: {
    scripts?: Script[];
    fallback?: (request: ModelRequest) => Script;
    scheduler?: Parameters<typeof managerConfig>[0];
    overrides?: Parameters<typeof managerConfig>[1];
    info?: ConstructorParameters<typeof ScriptedModel>[1] extends infer O
      ? O extends { info?: infer I }
        ? I
        : never
      : never;
    store?: ConversationStore;
    now?: () => number;
  } = {},
) {
  const model = new ScriptedModel(options.scripts ?? [], {
    fallback: options.fallback ?? ((request) => ({ deltas: [`answer to ${asked(request)}`] })),
    ...(options.info ? { info: options.info } : {}),
  });
  const store = options.store ?? memoryStore();
  const { logger, lines } = recordingLogger();
  const manager = createConversationManager({
    model,
    store,
    logger,
    config: managerConfig(options.scheduler, options.overrides),
    ...(options.now ? { now: options.now } : {}),
  });
  return { model, store, manager, lines };
}

describe('ConversationManager', () => {
  it('answers a message, streams the parts, and stores both turns with image references', async () => {
    const { model, store, manager } = setup({ scripts: [{ deltas: ['a ', 'red ', 'circle'] }] });
    const reply = new RecordingReplyChannel();
    const image = imagePart('circle');
    await handled(
      manager,
      messageEvent(chatMessage('web:local:c1', 'm1', 'what is it?', { images: [image] }), reply),
    );

    expect(reply.renders).toHaveLength(1);
    const parts = reply.renders[0]!.parts;
    expect(parts.filter((p) => p.type === 'text-delta').map((p) => (p as { text: string }).text)).toEqual([
      'a ',
      'red ',
      'circle',
    ]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', interrupted: false });
    expect(model.calls[0]!.request.messages.at(-1)!.content).toEqual([
      { type: 'text', text: 'what is it?' },
      image,
    ]);
    expect(model.calls[0]!.request.maxNewTokens).toBe(64);

    const history = await store.load('web:local:c1');
    expect(history.map((turn) => turn.role)).toEqual(['user', 'assistant']);
    expect(history[0]!.parts[1]).toEqual({
      type: 'image-ref',
      sha256: image.sha256,
      mediaType: 'image/png',
      width: 8,
      height: 8,
      name: image.name,
    });
    expect(history[0]!.messageId).toBe('m1');
    expect(history[1]).toMatchObject({ parts: [{ type: 'text', text: 'a red circle' }] });
    expect(history[1]!.interrupted).toBeUndefined();
    expect((await store.getImage(image.sha256))?.bytes).toEqual(image.bytes);
  });

  it('builds each request from the history, with stored images resolved', async () => {
    const { model, manager } = setup({ overrides: { systemPrompt: 'Be brief.' } });
    const reply = new RecordingReplyChannel();
    const image = imagePart('square');
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'look', { images: [image] }), reply));
    await handled(manager, messageEvent(chatMessage('c', 'm2', 'and now?'), reply));
    expect(texts(model.calls[1]!.request)).toEqual([
      'system:Be brief.',
      `user:look <${image.name}>`,
      'assistant:answer to look',
      'user:and now?',
    ]);
    expect(model.calls[1]!.request.messages[1]!.content[1]).toMatchObject({
      type: 'image',
      sha256: image.sha256,
    });
  });

  it('runs one turn at a time per conversation, in the order messages came', async () => {
    const held = gate();
    const { model, manager, store } = setup({
      scheduler: { concurrency: 4 },
      scripts: [{ deltas: ['first'], gate: held.promise }],
    });
    const reply = new RecordingReplyChannel();
    const done = ['m1', 'm2', 'm3'].map((id) =>
      handled(manager, messageEvent(chatMessage('c', id, id), reply)),
    );
    await until(() => model.calls.length === 1, 'the first call');
    expect(model.calls).toHaveLength(1); // m2 and m3 wait although slots are free
    held.open();
    await Promise.all(done);
    expect(model.calls.map((call) => asked(call.request))).toEqual(['m1', 'm2', 'm3']);
    // each turn saw the previous one's answer
    expect(texts(model.calls[2]!.request)).toEqual([
      'user:m1',
      'assistant:first',
      'user:m2',
      'assistant:answer to m2',
      'user:m3',
    ]);
    expect(await store.load('c')).toHaveLength(6);
  });

  it('is fair across conversations: two busy ones interleave under a limit of one', async () => {
    const held = gate();
    const { model, manager } = setup({ scripts: [{ deltas: ['x'], gate: held.promise }] });
    const reply = new RecordingReplyChannel();
    const done: Promise<unknown>[] = [];
    done.push(handled(manager, messageEvent(chatMessage('busy', 'a1', 'a1'), reply)));
    await until(() => model.calls.length === 1, 'a1 running');
    for (const id of ['a2', 'a3'])
      done.push(handled(manager, messageEvent(chatMessage('busy', id, id), reply)));
    for (const id of ['b1', 'b2'])
      done.push(handled(manager, messageEvent(chatMessage('other', id, id), reply)));
    held.open();
    await Promise.all(done);
    expect(model.calls.map((call) => asked(call.request))).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
  });

  it('replies "busy" at once when the queue is full, without calling the model', async () => {
    const held = gate();
    const { model, manager, lines } = setup({
      scheduler: { queueMax: 1 },
      scripts: [{ deltas: ['x'], gate: held.promise }],
    });
    const reply = new RecordingReplyChannel();
    const first = handled(manager, messageEvent(chatMessage('a', 'm1', 'one'), reply));
    await until(() => model.calls.length === 1, 'm1 running');
    const second = handled(manager, messageEvent(chatMessage('a', 'm2', 'two'), reply));
    const refused = new RecordingReplyChannel();
    await handled(manager, messageEvent(chatMessage('b', 'm3', 'three'), refused));
    expect(refused.notices).toEqual([
      { text: "I'm busy right now — please try again shortly.", kind: 'warning' },
    ]);
    expect(refused.renders).toHaveLength(0);
    expect(lines.some((line) => line.code === 'glimpse_busy')).toBe(true);
    held.open();
    await Promise.all([first, second]);
    expect(model.calls.map((call) => asked(call.request))).toEqual(['one', 'two']);
  });

  it('rate-limits a user per minute with a reply that says when to retry', async () => {
    let now = 5_000_000;
    const { model, manager, lines } = setup({ scheduler: { rateLimitPerMinute: 2 }, now: () => now });
    const reply = new RecordingReplyChannel();
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'one'), reply));
    now += 20_000;
    await handled(manager, messageEvent(chatMessage('c2', 'm2', 'two'), reply));
    now += 10_000;
    await handled(manager, messageEvent(chatMessage('c', 'm3', 'three'), reply));
    expect(reply.notices).toEqual([
      {
        text: "You're sending messages faster than I can answer — please try again in 30 seconds.",
        kind: 'warning',
      },
    ]);
    expect(model.calls).toHaveLength(2);
    expect(lines.find((line) => line.code === 'glimpse_rate_limited')).toMatchObject({ userId: 'u1' });
    // another user is not affected, and the first may go again once the window has passed
    await handled(manager, messageEvent(chatMessage('c', 'm4', 'four', { authorId: 'u2' }), reply));
    now += 30_000;
    await handled(manager, messageEvent(chatMessage('c', 'm5', 'five'), reply));
    expect(model.calls.map((call) => asked(call.request))).toEqual(['one', 'two', 'four', 'five']);
  });

  it('cancels a waiting turn when its message is deleted: no model call, nothing stored', async () => {
    const held = gate();
    const { model, manager, store } = setup({ scripts: [{ deltas: ['x'], gate: held.promise }] });
    const reply = new RecordingReplyChannel();
    const first = handled(manager, messageEvent(chatMessage('c', 'm1', 'one'), reply));
    const second = handled(manager, messageEvent(chatMessage('c', 'm2', 'two'), reply));
    await until(() => model.calls.length === 1, 'm1 running');
    await handled(manager, {
      type: 'message-deleted',
      platform: 'web',
      conversationId: 'c',
      messageId: 'm2',
    });
    await second;
    held.open();
    await first;
    expect(model.calls).toHaveLength(1);
    expect((await store.load('c')).map((turn) => turn.messageId)).toEqual([
      'm1',
      expect.stringMatching(/^reply-/),
    ]);
    expect(await store.load('c')).toHaveLength(2);
  });

  it('cancels a streaming turn when its message is edited; stores what was shown, marked interrupted', async () => {
    const { model, manager, store } = setup({
      scripts: [{ deltas: ['one ', 'two ', 'three ', 'four'] }],
    });
    let cancel: Promise<unknown> | undefined;
    const reply = new RecordingReplyChannel({
      onPart: (part: ReplyPart) => {
        if (part.type === 'text-delta' && part.text === 'two ') {
          const edited: ChatEvent = {
            type: 'message-edited',
            platform: 'web',
            conversationId: 'c',
            messageId: 'm1',
          };
          cancel = handled(manager, edited);
        }
      },
      // the adapter had flushed only the first delta when the stream ended
      shown: (received) => received.slice(0, 4),
    });
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'count'), reply));
    await cancel;
    expect(model.calls[0]!.signal?.aborted).toBe(true);
    await until(() => model.calls[0]!.cleanedUp, 'the model stream closed');
    const parts = reply.renders[0]!.parts;
    expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(2);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', interrupted: true });
    const history = await store.load('c');
    expect(history[1]).toMatchObject({
      role: 'assistant',
      parts: [{ type: 'text', text: 'one ' }],
      interrupted: true,
    });
  });

  it('cancels a turn whose model is stuck, without waiting on the model', async () => {
    const never = new Promise<void>(() => {});
    const { manager, store } = setup({ scripts: [{ deltas: ['never shown'], gate: never }] });
    const reply = new RecordingReplyChannel();
    const turn = handled(manager, messageEvent(chatMessage('c', 'm1', 'hello'), reply));
    await until(() => reply.renders.length === 1, 'render started');
    await handled(manager, {
      type: 'message-deleted',
      platform: 'web',
      conversationId: 'c',
      messageId: 'm1',
    });
    await turn;
    expect(reply.renders[0]!.parts.at(-1)).toMatchObject({ type: 'finish', interrupted: true });
    expect((await store.load('c'))[1]).toMatchObject({
      parts: [{ type: 'text', text: '' }],
      interrupted: true,
    });
  });

  it('cancels cleanly when the model answers the abort by throwing', async () => {
    const model = new ScriptedModel();
    let cleaned = false;
    model.stream = (_request, signal) =>
      (async function* throwing() {
        try {
          yield { type: 'text-delta' as const, text: 'so far' };
          await new Promise((resolve) => signal?.addEventListener('abort', resolve));
          throw new DOMException('aborted', 'AbortError');
        } finally {
          cleaned = true;
        }
      })();
    const store = memoryStore();
    const { logger } = recordingLogger();
    const manager = createConversationManager({ model, store, logger, config: managerConfig() });
    const reply = new RecordingReplyChannel({
      onPart: (part) => {
        if (part.type === 'text-delta') {
          void handled(manager, {
            type: 'message-deleted',
            platform: 'web',
            conversationId: 'c',
            messageId: 'm1',
          });
        }
      },
    });
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'go'), reply));
    await until(() => cleaned, 'the model stream closed');
    expect(reply.renders[0]!.parts.at(-1)).toMatchObject({ type: 'finish', interrupted: true });
    expect((await store.load('c'))[1]).toMatchObject({
      parts: [{ type: 'text', text: 'so far' }],
      interrupted: true,
    });
  });

  it('fits history to the context: keeps the latest exchanges and warns in one line', async () => {
    // context 60, 20 kept for the answer → 40 prompt tokens; each exchange costs ~14
    const { model, manager } = setup({
      info: { contextLength: 60 },
      overrides: { maxNewTokens: 20 },
      fallback: () => ({ deltas: ['w1 w2 w3 w4 w5'] }),
    });
    const reply = new RecordingReplyChannel();
    for (let i = 1; i <= 5; i++) {
      await handled(manager, messageEvent(chatMessage('c', `m${i}`, `q${i} a b c d`), reply));
    }
    const last = model.calls.at(-1)!.request;
    const { promptTokens } = await model.measure(last.messages);
    expect(promptTokens).toBeLessThanOrEqual(40);
    expect(asked(last)).toBe('q5 a b c d');
    expect(texts(last)).toEqual([
      'user:q3 a b c d',
      'assistant:w1 w2 w3 w4 w5',
      'user:q4 a b c d',
      'assistant:w1 w2 w3 w4 w5',
      'user:q5 a b c d',
    ]);
    const warnings = reply.renders.at(-1)!.parts.filter((part) => part.type === 'warning');
    expect(warnings).toEqual([
      { type: 'warning', message: 'Earlier messages no longer fit my context; I used the last 2 exchanges.' },
    ]);
    expect(reply.renders[0]!.parts.some((part) => part.type === 'warning')).toBe(false);
  });

  it('keeps only the newest images up to the limit, with a warning', async () => {
    const { model, manager } = setup({ overrides: { maxImages: 2 } });
    const reply = new RecordingReplyChannel();
    const [one, two, three] = [imagePart('one'), imagePart('two'), imagePart('three')];
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'first', { images: [one] }), reply));
    await handled(manager, messageEvent(chatMessage('c', 'm2', 'second', { images: [two] }), reply));
    await handled(manager, messageEvent(chatMessage('c', 'm3', 'third', { images: [three] }), reply));
    const images = model.calls[2]!.request.messages.flatMap((message) =>
      message.content.filter((part) => part.type === 'image').map((part) => (part as { name: string }).name),
    );
    expect(images).toEqual(['two.png', 'three.png']);
    expect(texts(model.calls[2]!.request)[0]).toBe('user:first [image not shown: one.png]');
    expect(reply.renders[2]!.parts[0]).toEqual({
      type: 'warning',
      message: 'Only the last 2 images are used; older ones were left out.',
    });
  });

  it('says so when a message alone is too long for the context, without calling the model', async () => {
    const { model, manager, store } = setup({ info: { contextLength: 30 }, overrides: { maxNewTokens: 20 } });
    const reply = new RecordingReplyChannel();
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'word '.repeat(50)), reply));
    expect(model.calls).toHaveLength(0);
    expect(reply.notices[0]).toEqual({
      text: 'That message is too long for me — please shorten it or send fewer images.',
      kind: 'error',
    });
    expect(await store.load('c')).toEqual([]);
  });

  it('shows a model error as its user message and stores the answer as interrupted', async () => {
    const error = new GlimpseError('glimpse_model_failed', 'decoder exploded', {
      userMessage: 'The model failed.',
    });
    const { manager, store, lines } = setup({ scripts: [{ deltas: ['half'], error }] });
    const reply = new RecordingReplyChannel();
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'go'), reply));
    expect(reply.renders[0]!.parts.at(-1)).toEqual({ type: 'error', message: 'The model failed.' });
    expect((await store.load('c'))[1]).toMatchObject({
      parts: [{ type: 'text', text: 'half' }],
      interrupted: true,
    });
    expect(lines.some((line) => line.code === 'glimpse_model_failed')).toBe(true);
  });

  it('answers an empty message with a short hint and ignores bots', async () => {
    const { model, manager } = setup();
    const reply = new RecordingReplyChannel();
    await handled(manager, messageEvent(chatMessage('c', 'm1', '   '), reply));
    await handled(manager, messageEvent(chatMessage('c', 'm2', 'hi', { isBot: true }), reply));
    expect(reply.notices).toEqual([{ text: 'Send me some text or an image to talk about.', kind: 'info' }]);
    expect(model.calls).toHaveLength(0);
  });

  it('keeps history when the store fails to load, replying with a short error', async () => {
    const store = memoryStore();
    const failing: ConversationStore = {
      ...store,
      load: async () => {
        throw new GlimpseError('glimpse_store_failed', 'down', {
          userMessage: 'Sorry, I could not reach my memory store.',
        });
      },
      putImage: (image) => store.putImage(image),
      append: (id, turns) => store.append(id, turns),
      reset: (id) => store.reset(id),
      getImage: (sha) => store.getImage(sha),
      linkMessages: (id, anchor, keys) => store.linkMessages(id, anchor, keys),
      findMessage: (key) => store.findMessage(key),
      claimEvent: (key, ttl) => store.claimEvent(key, ttl),
      saveInFlight: (id, turn) => store.saveInFlight(id, turn),
      clearInFlight: (id, turnId) => store.clearInFlight(id, turnId),
      queueTurn: (id) => store.queueTurn(id),
      close: () => store.close(),
    };
    const { model, manager, lines } = setup({ store: failing });
    const reply = new RecordingReplyChannel();
    await handled(manager, messageEvent(chatMessage('c', 'm1', 'hi'), reply));
    expect(model.calls).toHaveLength(0);
    expect(reply.notices).toEqual([{ text: 'Sorry, I could not reach my memory store.', kind: 'error' }]);
    expect(lines.some((line) => line.code === 'glimpse_store_failed')).toBe(true);
  });

  describe('commands', () => {
    const command = (
      name: 'reset' | 'help' | 'status',
      reply: RecordingReplyChannel,
      conversationId = 'c',
    ): ChatEvent => ({
      type: 'command',
      command: name,
      platform: 'web',
      conversationId,
      author: { id: 'u1', name: 'User', isBot: false },
      reply,
    });

    it('reset forgets the conversation, and a turn running meanwhile is not stored', async () => {
      const held = gate();
      const { manager, store } = setup({
        scripts: [{ deltas: ['old'] }, { deltas: ['x'], gate: held.promise }],
      });
      const reply = new RecordingReplyChannel();
      await handled(manager, messageEvent(chatMessage('c', 'm1', 'one'), reply));
      const running = handled(manager, messageEvent(chatMessage('c', 'm2', 'two'), reply));
      await until(() => reply.renders.length === 2, 'm2 rendering');
      await handled(manager, command('reset', reply));
      held.open();
      await running;
      expect(await store.load('c')).toEqual([]);
      expect(reply.notices.at(-1)).toEqual({
        text: "Done — I've forgotten this conversation. Let's start fresh.",
        kind: 'info',
      });
    });

    it('help lists the commands and limits', async () => {
      const { manager } = setup({ scheduler: { rateLimitPerMinute: 6 } });
      const reply = new RecordingReplyChannel();
      await handled(manager, command('help', reply));
      expect(reply.notices[0]!.text).toContain('`reset`');
      expect(reply.notices[0]!.text).toContain('6 messages a minute');
    });

    it('status shows the model and where this conversation stands in the queue', async () => {
      const held = gate();
      const { model, manager } = setup({ scripts: [{ deltas: ['x'], gate: held.promise }] });
      const reply = new RecordingReplyChannel();
      const running = handled(manager, messageEvent(chatMessage('a', 'm1', 'one'), reply));
      await until(() => model.calls.length === 1, 'm1 running');
      const accepted = await Promise.all([
        manager.handle(messageEvent(chatMessage('b', 'm2', 'two'), reply)),
        manager.handle(messageEvent(chatMessage('c', 'm3', 'three'), reply)),
      ]);
      expect(accepted.map((result) => result.status)).toEqual(['accepted', 'accepted']);
      const waiting = accepted.map((result) => result.done);
      const status = new RecordingReplyChannel();
      await handled(manager, command('status', status, 'c'));
      await handled(manager, command('status', status, 'a'));
      expect(status.notices[0]!.text).toBe(
        'Model: scripted (context 2048 tokens)\nQueue: 2 waiting, 1 running (at most 1 at once); this conversation is number 2 in the queue.',
      );
      expect(status.notices[1]!.text).toContain('answering here now');
      held.open();
      await Promise.all([running, ...waiting]);
    });
  });

  it('stop() drops waiting turns, stores the running one as interrupted, and refuses new ones', async () => {
    const never = new Promise<void>(() => {});
    const { model, manager, store } = setup({ scripts: [{ deltas: ['x'], gate: never }] });
    const reply = new RecordingReplyChannel();
    const running = handled(manager, messageEvent(chatMessage('c', 'm1', 'one'), reply));
    const waiting = handled(manager, messageEvent(chatMessage('c', 'm2', 'two'), reply));
    await until(() => model.calls.length === 1, 'm1 running');
    await manager.stop();
    await Promise.all([running, waiting]);
    expect(model.calls).toHaveLength(1);
    expect(await store.load('c')).toHaveLength(2);
    expect((await store.load('c'))[1]!.interrupted).toBe(true);
    await handled(manager, messageEvent(chatMessage('c', 'm3', 'three'), reply));
    expect(reply.notices.at(-1)!.text).toBe("I'm restarting — please try again in a moment.");
  });
});
