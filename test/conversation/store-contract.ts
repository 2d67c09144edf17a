import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationStore, ConversationTurn } from '../../src/conversation/conversation-store.js';
import { isGlimpseError } from '../../src/errors.js';
import { imagePart } from './helpers.js';

export interface StoreUnderTest {
  store: ConversationStore;
  /** moves the store's clock forward (for TTL checks); absent where the backend keeps real time */
  advance?: (ms: number) => void | Promise<void>;
  /** milliseconds until a record expires, read from the backend itself */
  ttlOf?: (kind: 'conversation' | 'image', id: string) => Promise<number | undefined>;
  cleanup: () => Promise<void>;
}

export interface StoreContractOptions {
  /** history TTL the factory gives the store (seconds) */
  historyTtlSeconds: number;
  /** per-conversation turn cap the factory gives the store */
  maxTurns: number;
}

let sequence = 0;
/** a conversation id namespaced as adapters make them, unique per test (shared Redis) */
export const conversationId = (label: string) => `slack:T${Date.now()}:C${sequence++}:${label}`;

const turn = (
  role: 'user' | 'assistant',
  text: string,
  extra: Partial<ConversationTurn> = {},
): ConversationTurn => ({
  role,
  parts: [{ type: 'text', text }],
  createdAt: new Date(0).toISOString(),
  ...extra,
});

/**
 * The behaviour every ConversationStore promises, run against each backend (SQLite file, Redis).
 * `open` builds a fresh store with `options`.
 */
export function describeStoreContract(
  name: string,
  open: (options: StoreContractOptions) => Promise<StoreUnderTest>,
  options: StoreContractOptions = { historyTtlSeconds: 100, maxTurns: 6 },
): void {
  describe(`ConversationStore contract: ${name}`, () => {
    let subject: StoreUnderTest;
    beforeEach(async () => {
      subject = await open(options);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('claims an event once, also when two claims race', async () => {
      const key = `slack:event:Ev${Date.now()}-${sequence++}`;
      const claims = await Promise.all([
        subject.store.claimEvent(key, 60),
        subject.store.claimEvent(key, 60),
        subject.store.claimEvent(key, 60),
      ]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await subject.store.claimEvent(key, 60)).toBe(false);
      expect(await subject.store.claimEvent(`${key}-other`, 60)).toBe(true);
    });

    it("hands a conversation's turn to its tickets one at a time, in the order they were taken", async () => {
      const id = conversationId('turns');
      const tickets = [];
      for (let i = 0; i < 4; i++) tickets.push(await subject.store.queueTurn(id));
      const order: number[] = [];
      const acquired = tickets.map((ticket, index) => ticket.acquire().then(() => order.push(index)));
      await acquired[0];
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(order).toEqual([0]);
      // a waiting ticket given up does not hold the others back, and its wait ends
      await tickets[2]!.release();
      await expect(acquired[2]).rejects.toMatchObject({ code: 'glimpse_aborted' });
      await tickets[0]!.release();
      await acquired[1];
      expect(order).toEqual([0, 1]);
      await tickets[1]!.release();
      await acquired[3];
      expect(order).toEqual([0, 1, 3]);
      await tickets[3]!.release();
      // other conversations never wait on this one
      const other = await subject.store.queueTurn(conversationId('other'));
      await other.acquire();
      await other.release();
    });

    it('stops waiting for a turn when the signal aborts', async () => {
      const id = conversationId('abort');
      const first = await subject.store.queueTurn(id);
      await first.acquire();
      const second = await subject.store.queueTurn(id);
      const controller = new AbortController();
      const waiting = second.acquire(controller.signal);
      controller.abort();
      await expect(waiting).rejects.toMatchObject({ code: 'glimpse_aborted' });
      await second.release();
      await first.release();
      const third = await subject.store.queueTurn(id);
      await third.acquire();
      await third.release();
    });

    it('loads an unknown conversation as empty', async () => {
      expect(await subject.store.load(conversationId('none'))).toEqual([]);
    });

    it('appends turns in order and loads them back as written', async () => {
      const id = conversationId('order');
      const author = { id: 'u1', name: 'Ada', isBot: false };
      await subject.store.append(id, [
        turn('user', 'hello', { messageId: 'm1', author }),
        turn('assistant', 'hi'),
      ]);
      await subject.store.append(id, [turn('user', 'more'), turn('assistant', 'cut', { interrupted: true })]);
      const loaded = await subject.store.load(id);
      expect(loaded.map((t) => (t.parts[0] as { text: string }).text)).toEqual([
        'hello',
        'hi',
        'more',
        'cut',
      ]);
      expect(loaded[0]).toEqual(turn('user', 'hello', { messageId: 'm1', author }));
      expect(loaded[3]?.interrupted).toBe(true);
    });

    it('keeps conversations apart by their namespaced id', async () => {
      const a = conversationId('thread-a');
      const b = `${a}x`;
      const c = a.replace('slack:', 'discord:');
      await subject.store.append(a, [turn('user', 'in a')]);
      await subject.store.append(b, [turn('user', 'in b')]);
      expect(await subject.store.load(a)).toHaveLength(1);
      expect((await subject.store.load(b))[0]?.parts).toEqual([{ type: 'text', text: 'in b' }]);
      expect(await subject.store.load(c)).toEqual([]);
    });

    it('reset forgets one conversation and leaves the others', async () => {
      const a = conversationId('reset-a');
      const b = conversationId('reset-b');
      await subject.store.append(a, [turn('user', 'a')]);
      await subject.store.append(b, [turn('user', 'b')]);
      await subject.store.reset(a);
      expect(await subject.store.load(a)).toEqual([]);
      expect(await subject.store.load(b)).toHaveLength(1);
      await subject.store.reset(conversationId('never-existed'));
    });

    it('loses no turn when appends to one conversation overlap', async () => {
      const id = conversationId('concurrent');
      const many = Array.from({ length: 5 }, (_, i) => subject.store.append(id, [turn('user', `t${i}`)]));
      await Promise.all(many);
      const texts = (await subject.store.load(id)).map((t) => (t.parts[0] as { text: string }).text);
      expect(texts.sort()).toEqual(['t0', 't1', 't2', 't3', 't4']);
    });

    it('keeps only the newest turns beyond the cap', async () => {
      const id = conversationId('cap');
      for (let i = 0; i < options.maxTurns + 2; i++) await subject.store.append(id, [turn('user', `t${i}`)]);
      const texts = (await subject.store.load(id)).map((t) => (t.parts[0] as { text: string }).text);
      expect(texts).toHaveLength(options.maxTurns);
      expect(texts.at(-1)).toBe(`t${options.maxTurns + 1}`);
      expect(texts[0]).toBe('t2');
    });

    it('stores an image once, by sha256, and turns hold only the reference', async () => {
      const image = imagePart(`contract-${Date.now()}-${sequence++}`);
      const ref = await subject.store.putImage(image);
      expect(ref).toEqual({
        type: 'image-ref',
        sha256: image.sha256,
        mediaType: 'image/png',
        width: 8,
        height: 8,
        name: image.name,
      });
      expect(await subject.store.putImage(image)).toEqual(ref);
      const id = conversationId('image');
      await subject.store.append(id, [{ role: 'user', parts: [ref], createdAt: new Date(0).toISOString() }]);
      const loaded = await subject.store.load(id);
      expect(loaded[0]?.parts[0]).toEqual(ref);
      expect(JSON.stringify(loaded)).not.toContain('bytes');
      const back = await subject.store.getImage(image.sha256);
      expect(back?.sha256).toBe(image.sha256);
      expect(Buffer.from(back!.bytes).equals(Buffer.from(image.bytes))).toBe(true);
      expect(back?.mediaType).toBe('image/png');
    });

    it('refuses an image whose bytes do not match its sha256, and misses unknown ones', async () => {
      const image = { ...imagePart('liar'), sha256: 'f'.repeat(64) };
      await expect(subject.store.putImage(image)).rejects.toSatisfy((error) =>
        isGlimpseError(error, 'glimpse_image_invalid'),
      );
      expect(await subject.store.getImage('0'.repeat(64))).toBeUndefined();
      expect(await subject.store.getImage('not-a-hash')).toBeUndefined();
    });

    it('gives history and images the history TTL', async () => {
      const id = conversationId('ttl');
      await subject.store.append(id, [turn('user', 'soon gone')]);
      const image = imagePart(`ttl-${Date.now()}-${sequence++}`);
      await subject.store.putImage(image);
      const ttl = options.historyTtlSeconds * 1000;
      if (subject.ttlOf) {
        for (const [kind, key] of [
          ['conversation', id],
          ['image', image.sha256],
        ] as const) {
          const left = await subject.ttlOf(kind, key);
          expect(left).toBeGreaterThan(0);
          expect(left).toBeLessThanOrEqual(ttl);
        }
      }
      if (subject.advance) {
        await subject.advance(ttl - 1000);
        expect(await subject.store.load(id)).toHaveLength(1);
        await subject.advance(2000);
        expect(await subject.store.load(id)).toEqual([]);
        expect(await subject.store.getImage(image.sha256)).toBeUndefined();
      }
    });

    it('refreshes an image TTL when the image is used again', async () => {
      const image = imagePart(`refresh-${Date.now()}-${sequence++}`);
      await subject.store.putImage(image);
      const ttl = options.historyTtlSeconds * 1000;
      if (subject.advance) {
        await subject.advance(ttl * 0.6);
        await subject.store.putImage(image); // reuse: more than half the TTL has gone
        await subject.advance(ttl * 0.6); // past the first expiry
        expect(await subject.store.getImage(image.sha256)).toBeDefined();
      } else if (subject.ttlOf) {
        // a backend with a real clock: a fresh put keeps the TTL near full
        expect(await subject.ttlOf('image', image.sha256)).toBeGreaterThan(ttl / 2);
      }
    });
  });
}
