// A bot process for the crash test: runs turns against a real SQLite store from the compiled
// dist/, printing `done <i>` after each stored turn, until the parent kills it with SIGKILL.
// Usage: node crash-child.mjs <sqlite path> <mode: churn | hang> [turns before hanging]
import { createConversationManager } from '../../dist/conversation/conversation-manager.js';
import { createConversationStore } from '../../dist/conversation/keyv-conversation-store.js';
import { createLogger } from '../../dist/logger.js';

const [path, mode, hangAfter = '3'] = process.argv.slice(2);
const logger = createLogger({ level: 'silent', format: 'json' });
const store = await createConversationStore({ sqlitePath: path, historyTtlSeconds: 3600 }, logger);

const lastText = (request) =>
  request.messages
    .at(-1)
    .content.filter((part) => part.type === 'text')
    .map((part) => part.text)
    .join(' ');

const model = {
  info: { id: 'child', source: 'memory', contextLength: 1_000_000, imageTokens: 1, maxImagesPerRequest: 4 },
  async measure(messages) {
    return { promptTokens: messages.length * 4, imageTokens: 0 };
  },
  async *stream(request, signal) {
    const asked = lastText(request);
    if (asked === 'hang') {
      yield { type: 'text-delta', text: 'partial answer' };
      // the turn's in-flight record (the store's own key) has the answer so far: now it may die
      for (;;) {
        const live = await store.keyv.get('live:web:local:crash');
        const text = JSON.stringify(live?.entries?.[0]?.turns ?? []);
        if (text.includes('partial answer')) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      process.stdout.write('streaming\n');
      await new Promise((resolve) => signal?.addEventListener('abort', resolve));
      return;
    }
    yield { type: 'text-delta', text: `answer ` };
    yield { type: 'text-delta', text: asked };
    yield {
      type: 'finish',
      finishReason: 'stop',
      usage: { promptTokens: 1, imageTokens: 0, completionTokens: 2 },
      timings: {
        preprocessMs: 0,
        visionMs: 0,
        prefillMs: 0,
        timeToFirstTokenMs: 0,
        decodeTokensPerSecond: 0,
        totalMs: 0,
      },
    };
  },
  async close() {},
};

const reply = {
  async notice(text) {
    process.stdout.write(`notice ${text}\n`);
  },
  async render(parts) {
    let shownText = '';
    for await (const part of parts) if (part.type === 'text-delta') shownText += part.text;
    return { shownText, messageIds: ['r'] };
  },
};

const manager = createConversationManager({
  model,
  store,
  logger,
  config: {
    generation: { maxNewTokens: 16, temperature: 0, topP: 1, topK: 0, repetitionPenalty: 1 },
    images: { maxPerRequest: 4, maxBytes: 1 << 20, maxPixels: 1 << 24 },
    scheduler: { concurrency: 1, queueMax: 8, rateLimitPerMinute: 0 },
  },
});

const message = (i, text) => ({
  platform: 'web',
  conversationId: 'web:local:crash',
  messageId: `m${i}`,
  author: { id: 'u1', name: 'User', isBot: false },
  parts: [{ type: 'text', text }],
});

process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  if (mode === 'hang' && i === Number(hangAfter)) {
    await (await manager.handle({ type: 'message', message: message(i, 'hang'), reply })).done;
    break;
  }
  await (await manager.handle({ type: 'message', message: message(i, `t${i}`), reply })).done;
  process.stdout.write(`done ${i}\n`);
}
