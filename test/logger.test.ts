import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';

describe('logger', () => {
  it('writes JSON lines and redacts tokens, secrets, API keys and authorization headers', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const logger = createLogger({ level: 'info', destination: destination as never });
    logger.info(
      {
        config: {
          discord: { token: 'discord-secret' },
          slack: { botToken: 'xoxb-secret', signingSecret: 'sig-secret' },
        },
        request: { headers: { authorization: 'Bearer sk-secret' } },
        apiKey: 'sk-top',
      },
      'starting',
    );
    const line = lines.join('');
    const parsed = JSON.parse(line);
    expect(parsed.msg).toBe('starting');
    for (const secret of ['discord-secret', 'xoxb-secret', 'sig-secret', 'sk-secret', 'sk-top']) {
      expect(line).not.toContain(secret);
    }
    expect(parsed.config.discord.token).toBe('[redacted]');
  });
});
