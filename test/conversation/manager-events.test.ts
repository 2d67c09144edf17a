import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import type { PendingImage } from '../../src/conversation/chat-event.js';
import { createConversationManager } from '../../src/conversation/conversation-manager.js';
import { KeyvConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { GlimpseError } from '../../src/errors.js';
import type { ImagePart } from '../../src/messages.js';
import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import type { ImageLabeler } from '../../src/pipeline/zero-shot-labeler.js';
import { RecordingReplyChannel } from '../fakes/recording-reply-channel.js';
import { type Script, ScriptedModel } from '../fakes/scripted-model.js';
import { chatMessage, gate, handled, imagePart, managerConfig, recordingLogger, until } from './helpers.js';

const asked = (request: ModelRequest) =>
  request.messages
    .at(-1)!
    .content.filter((part) => part.type === 'text')
    .map((part) => (part as { text: string }).text)
    .join(' ');

const historyTexts = (request: ModelRequest) =>
  request.messages.map((message) =>
    message.content.map((part) => (part.type === 'text' ? part.text : `<${part.name}>`)).join(' '),
  );

/** a pending image that records whether it was fetched and resolves (or fails) on demand */
function pendingImage(image: ImagePart | Error): PendingImage & { fetched: number } {
  const pending = {
    name: image instanceof Error ? 'broken.png' : image.name,
    fetched: 0,
    async fetch() {
      pending.fetched++;
      if (image instanceof Error) throw image;
      return image;
    },
  };
  return pending;
}

function setup(
  options: {
    rateLimitPerMinute?: number;
    queueMax?: number;
    labeler?: ImageLabeler;
    captionsPerMinute?: number;
    scripts?: Script[];
  } = {},
) {
  const model = new ScriptedModel(options.scripts ?? [], {
    fallback: (request) => ({ deltas: [`answer to ${asked(request)}`] }),
  });
  const store = new KeyvConversationStore(new Keyv(), {
    historyTtlSeconds: 3600,
    logger: recordingLogger().logger,
  });
  const { logger, lines } = recordingLogger();
  const config = {
    ...managerConfig({
      rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
      ...(options.queueMax ? { queueMax: options.queueMax } : {}),
    }),
    captions: {
      labels: ['a red circle', 'a blue square'],
      perChannelPerMinute: options.captionsPerMinute ?? 10,
    },
  };
  const manager = createConversationManager({
    model,
    store,
    logger,
    config,
    waitingRefreshMs: 20,
    ...(options.labeler ? { labeler: options.labeler } : {}),
  });
  return { model, store, manager, lines };
}

describe('ConversationManager events', () => {
  it('resolves handle when the turn is accepted, before the answer; done follows when stored', async () => {
    const held = gate();
    const { manager, store } = setup({ scripts: [{ deltas: ['slow answer'], gate: held.promise }] });
    const reply = new RecordingReplyChannel();
    const result = await manager.handle({ type: 'message', message: chatMessage('c', 'm1', 'hi'), reply });
    expect(result.status).toBe('accepted');
    expect(await store.load('c')).toEqual([]);
    held.open();
    await result.done;
    expect((await store.load('c')).map((turn) => turn.role)).toEqual(['user', 'assistant']);
  });

  it('checks the rate limit before downloading anything, and downloads accepted images at once', async () => {
    const { manager, model } = setup({ rateLimitPerMinute: 1 });
    const reply = new RecordingReplyChannel();
    const first = pendingImage(imagePart('one'));
    const ok = await handled(manager, {
      type: 'message',
      message: chatMessage('c', 'm1', 'look'),
      reply,
      images: [first],
    });
    expect(ok.status).toBe('accepted');
    expect(first.fetched).toBe(1);
    expect(model.calls[0]!.request.messages.at(-1)!.content.map((part) => part.type)).toEqual([
      'text',
      'image',
    ]);

    const second = pendingImage(imagePart('two'));
    const refused = await handled(manager, {
      type: 'message',
      message: chatMessage('c', 'm2', 'and this'),
      reply,
      images: [second],
    });
    expect(refused).toMatchObject({ status: 'refused', reason: 'glimpse_rate_limited' });
    expect(second.fetched).toBe(0);
    expect(reply.notices.at(-1)?.text).toMatch(/try again in \d+ seconds?/);
  });

  it('answers a failed download with its short reason and stores nothing', async () => {
    const { manager, model, store, lines } = setup();
    const reply = new RecordingReplyChannel();
    const error = new GlimpseError('glimpse_image_download_failed', 'html', {
      userMessage: 'That link gave me a web page, not an image.',
    });
    await handled(manager, {
      type: 'message',
      message: chatMessage('c', 'm1', 'what is this?'),
      reply,
      images: [pendingImage(error)],
    });
    expect(model.calls).toHaveLength(0);
    expect(reply.notices).toEqual([{ text: 'That link gave me a web page, not an image.', kind: 'error' }]);
    expect(await store.load('c')).toEqual([]);
    expect(lines.some((line) => line.code === 'glimpse_image_download_failed')).toBe(true);
  });

  it('an edited question cancels its running answer and answers the new text', async () => {
    const held = gate();
    const { manager, model, store } = setup({
      scripts: [{ deltas: ['old ', 'answer'], gate: held.promise }],
    });
    const reply = new RecordingReplyChannel();
    const first = await manager.handle({
      type: 'message',
      message: chatMessage('c', 'm1', 'colour?'),
      reply,
    });
    await until(() => model.calls.length === 1, 'first turn running');
    const edited = manager.handle({
      type: 'message-edited',
      platform: 'web',
      conversationId: 'c',
      messageId: 'm1',
      message: chatMessage('c', 'm1', 'shape?'),
      reply,
    });
    held.open();
    const result = await edited;
    await Promise.all([first.done, result.done]);
    expect(model.calls[0]!.signal?.aborted).toBe(true);
    expect(asked(model.calls[1]!.request)).toBe('shape?');
    const history = await store.load('c');
    expect(history.at(-2)?.parts).toEqual([{ type: 'text', text: 'shape?' }]);
    expect(history.at(-1)?.parts).toEqual([{ type: 'text', text: 'answer to shape?' }]);
  });

  it('a reply to the newest answer continues its conversation; a reply to an earlier one branches', async () => {
    const { manager, model, store } = setup();
    const reply = new RecordingReplyChannel();
    await handled(manager, { type: 'message', message: chatMessage('chain:q1', 'q1', 'first'), reply });
    const firstAnswer = reply.renders[0]!.result!.messageIds[0]!;
    await handled(manager, {
      type: 'message',
      message: chatMessage('chain:q2', 'q2', 'second'),
      reply,
      continuesFrom: firstAnswer,
    });
    expect(historyTexts(model.calls[1]!.request)).toEqual(['first', 'answer to first', 'second']);
    expect((await store.load('chain:q1')).length).toBe(4);
    expect(await store.load('chain:q2')).toEqual([]);

    // a reply to the first answer again: a branch with only the first exchange
    await handled(manager, {
      type: 'message',
      message: chatMessage('chain:q3', 'q3', 'other way'),
      reply,
      continuesFrom: firstAnswer,
    });
    expect(historyTexts(model.calls[2]!.request)).toEqual(['first', 'answer to first', 'other way']);
    expect((await store.load('chain:q1')).length).toBe(4);
    expect((await store.load('chain:q3')).map((turn) => turn.messageId)).toEqual([
      'q1',
      firstAnswer,
      'q3',
      reply.renders[2]!.result!.messageIds[0],
    ]);
    // and the branch continues on its own
    const branchAnswer = reply.renders[2]!.result!.messageIds[0]!;
    await handled(manager, {
      type: 'message',
      message: chatMessage('chain:q4', 'q4', 'more'),
      reply,
      continuesFrom: branchAnswer,
    });
    expect(historyTexts(model.calls[3]!.request)).toEqual([
      'first',
      'answer to first',
      'other way',
      'answer to other way',
      'more',
    ]);
  });

  it('tells a waiting turn its queue position until it starts', async () => {
    const held = gate();
    const { manager, model } = setup({ scripts: [{ deltas: ['a'], gate: held.promise }] });
    const waits: number[] = [];
    const reply = new RecordingReplyChannel();
    const waitingReply = Object.assign(new RecordingReplyChannel(), {
      waiting: async (position: number) => void waits.push(position),
    });
    const first = await manager.handle({ type: 'message', message: chatMessage('a', 'm1', 'one'), reply });
    await until(() => model.calls.length === 1, 'first running');
    const second = await manager.handle({
      type: 'message',
      message: chatMessage('b', 'm2', 'two'),
      reply: waitingReply,
    });
    await until(() => waits.length >= 2, 'told twice while waiting');
    held.open();
    await Promise.all([first.done, second.done]);
    const told = waits.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(waits.length).toBe(told);
    expect(waits.every((position) => position === 0)).toBe(true);
  });

  it('captions images within a per-channel budget, with zero-shot labels from the labeler', async () => {
    const labeler: ImageLabeler = {
      rank: async (_image, labels) =>
        labels.map((label, i) => ({ label, probability: i === 0 ? 0.9 : 0.1, similarity: 0.5 })),
      close: async () => undefined,
    };
    const { manager, model } = setup({ labeler, captionsPerMinute: 1 });
    const reply = new RecordingReplyChannel();
    const event = {
      type: 'caption' as const,
      platform: 'web' as const,
      channelKey: 'web:chan',
      messageId: 'up1',
      author: { id: 'u', name: 'U', isBot: false },
      images: [pendingImage(imagePart('circle'))],
      reply,
    };
    expect((await handled(manager, event)).status).toBe('accepted');
    expect(asked(model.calls[0]!.request)).toBe('Describe the image.');
    expect(reply.notices[0]!.text).toBe(
      'Suggested alt text: answer to Describe the image.\nLabels: a red circle (90%)',
    );
    const over = await handled(manager, { ...event, messageId: 'up2' });
    expect(over).toMatchObject({ status: 'refused', reason: 'glimpse_rate_limited' });
    expect(model.calls).toHaveLength(1);
  });
});
