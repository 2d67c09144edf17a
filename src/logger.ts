import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line, at the top level or one/two levels down. */
const secretKeys = [
  'token',
  'botToken',
  'appToken',
  'signingSecret',
  'apiKey',
  'password',
  'secret',
  'authorization',
  'Authorization',
  'cookie',
  'DISCORD_TOKEN',
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'SLACK_APP_TOKEN',
  'GLIMPSE_REMOTE_API_KEY',
  'REDIS_URL',
  'redisUrl',
];

export const redactPaths = secretKeys.flatMap((key) => [
  key,
  `*.${key}`,
  `*.*.${key}`,
  `*.headers["${key.toLowerCase()}"]`,
]);

export interface LoggerOptions {
  level?: string;
  /** `auto`: human-readable when stdout is a TTY, JSON otherwise */
  format?: 'auto' | 'json' | 'pretty';
  /** where lines go (tests); defaults to stdout */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const redact = { paths: [...new Set(redactPaths)], censor: '[redacted]' };
  const pretty =
    options.format === 'pretty' ||
    (options.format !== 'json' && !options.destination && process.stdout.isTTY === true);
  if (pretty) {
    return pino({
      level,
      redact,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' },
      },
    });
  }
  return pino({ level, redact, base: { name: 'glimpse' } }, options.destination ?? pino.destination(1));
}
