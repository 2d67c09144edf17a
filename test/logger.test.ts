import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig, secretValues } from '../src/config.js';
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

  it('scrubs the configured secrets by value, wherever the redacted paths do not reach, also encoded', () => {
    const config = loadConfig({
      DISCORD_TOKEN: 'MTA5.discord-token-value',
      SLACK_BOT_TOKEN: 'xoxb-slack-bot-token-value',
      SLACK_SIGNING_SECRET: 'signing-secret-value',
      GLIMPSE_MODEL_PROVIDER: 'remote',
      GLIMPSE_REMOTE_URL: 'http://127.0.0.1:9/v1',
      GLIMPSE_REMOTE_MODEL: 'm',
      GLIMPSE_REMOTE_API_KEY: 'sk-remote-key-value',
      REDIS_URL: 'redis://:redis-password-value@127.0.0.1:6379',
    });
    const secrets = secretValues(config);
    expect(secrets).toEqual(
      expect.arrayContaining([
        'MTA5.discord-token-value',
        'xoxb-slack-bot-token-value',
        'signing-secret-value',
        'sk-remote-key-value',
        'redis-password-value',
      ]),
    );
    const lines: string[] = [];
    const logger = createLogger({
      level: 'trace',
      format: 'json',
      secrets,
      destination: { write: (line: string) => void lines.push(line) },
    });
    // an HTTP client's error, as some libraries build them: the request's headers four levels down
    const error = Object.assign(new Error('request failed for xoxb-slack-bot-token-value'), {
      original: { config: { headers: { Authorization: 'Bearer sk-remote-key-value' } } },
    });
    logger.warn(
      { err: error, url: `https://x/?t=${encodeURIComponent('MTA5.discord-token-value')}` },
      'failed',
    );
    logger.info(`basic ${Buffer.from('signing-secret-value').toString('base64')} redis-password-value`);
    const text = lines.join('');
    for (const secret of secrets) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret).toString('base64').replace(/=+$/, ''));
    }
    expect(text).toContain('request failed for [redacted]');
    expect(lines).toHaveLength(2);
    for (const line of lines) JSON.parse(line);
  });
});
