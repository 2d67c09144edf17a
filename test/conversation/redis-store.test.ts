import { createClient } from '@keyv/redis';
import { describe, expect, it } from 'vitest';
import { createConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { recordingLogger } from './helpers.js';
import { describeStoreContract } from './store-contract.js';

/**
 * The same store contract against a real Redis server on loopback. `.ci/run` starts one and sets
 * GLIMPSE_TEST_REDIS_URL; locally: `redis-server --port 6391 --daemonize yes` and
 * `GLIMPSE_TEST_REDIS_URL=redis://127.0.0.1:6391 npx vitest run test/conversation`.
 */
const redisUrl = process.env.GLIMPSE_TEST_REDIS_URL;

if (!redisUrl) {
  describe('ConversationStore contract: Redis', () => {
    it.skip('skipped: GLIMPSE_TEST_REDIS_URL is not set (CI sets it; see .ci/run)', () => {});
  });
} else {
  describeStoreContract('Redis', async ({ historyTtlSeconds, maxTurns }) => {
    const { logger } = recordingLogger();
    const store = await createConversationStore(
      { sqlitePath: 'unused', redisUrl, historyTtlSeconds },
      logger,
      {
        maxTurns,
      },
    );
    const client = createClient({ url: redisUrl });
    await client.connect();
    return {
      store,
      ttlOf: async (kind, id) => {
        const key = `glimpse::${kind === 'conversation' ? 'conv' : 'img'}:${id}`;
        const left = await client.pTTL(key);
        return left >= 0 ? left : undefined;
      },
      cleanup: async () => {
        await store.close();
        await client.close();
      },
    };
  });

  describe('Redis conversation store', () => {
    it('fails to open with a coded error when nothing listens at the URL', async () => {
      const { logger } = recordingLogger();
      await expect(
        createConversationStore(
          { sqlitePath: 'unused', redisUrl: 'redis://127.0.0.1:1', historyTtlSeconds: 60 },
          logger,
        ),
      ).rejects.toMatchObject({ code: 'glimpse_store_failed' });
    });
  });
}
