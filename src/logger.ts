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
  'GLIMPSE_SERVE_API_KEY',
  'HF_TOKEN',
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
  /**
   * the configured secret values (tokens, keys): wherever one still turns up in a line — deeper
   * than the redacted paths reach, inside an error's message, base64- or URL-encoded — it is
   * replaced by `[redacted]` before the line is written
   */
  secrets?: string[];
}

/** the shortest value scrubbed by value (shorter ones would hit ordinary text) */
const minSecretLength = 8;

/** replaces each secret, as written or trivially encoded, by `[redacted]` */
export function secretScrubber(secrets: string[]): (line: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < minSecretLength) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(encodeURIComponent(secret));
    forms.add(Buffer.from(secret).toString('base64').replace(/=+$/, ''));
    forms.add(Buffer.from(secret).toString('base64url'));
  }
  // longest first, so a form inside another is not cut in two
  const ordered = [...forms]
    .filter((form) => form.length >= minSecretLength)
    .sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (line) => line;
  return (line) => {
    let scrubbed = line;
    for (const form of ordered)
      if (scrubbed.includes(form)) scrubbed = scrubbed.split(form).join('[redacted]');
    return scrubbed;
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const redact = { paths: [...new Set(redactPaths)], censor: '[redacted]' };
  const hooks = options.secrets?.length ? { hooks: { streamWrite: secretScrubber(options.secrets) } } : {};
  const pretty =
    options.format === 'pretty' ||
    (options.format !== 'json' && !options.destination && process.stdout.isTTY === true);
  if (pretty) {
    return pino({
      level,
      redact,
      ...hooks,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' },
      },
    });
  }
  return pino(
    { level, redact, ...hooks, base: { name: 'glimpse' } },
    options.destination ?? pino.destination(1),
  );
}
