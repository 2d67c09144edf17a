import { readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { GlimpseError } from './errors.js';

/**
 * Configuration is read here and only here: environment variables, plus an optional `.env`
 * file (real environment variables win). Every problem is reported at once.
 */

const boolString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'expected true or false' })
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));

const intString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'expected a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { message: `expected at least ${min}` })
        .max(max, { message: `expected at most ${max}` }),
    );

const floatString = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+(\.\d+)?$/, { message: 'expected a number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `expected at least ${min}` })
        .max(max, { message: `expected at most ${max}` }),
    );

const durationUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** `7d`, `12h`, `30m`, `45s` or a number of seconds → seconds */
const durationString = z
  .string()
  .regex(/^\d+[smhd]?$/, { message: 'expected a duration such as 45s, 30m, 12h or 7d' })
  .transform((value) => {
    const unit = /[smhd]$/.test(value) ? value.slice(-1) : 's';
    return Number.parseInt(value, 10) * (durationUnits[unit] ?? 1);
  });

const urlString = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const nonEmpty = z.string().min(1, { message: 'must not be empty' });

/** a comma-separated list of ids, each matching `pattern` (blanks between commas ignored) */
const commaList = (pattern: RegExp, message: string) =>
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id !== ''),
    )
    .pipe(z.array(z.string().regex(pattern, { message })));

/** `123, 456`: Discord snowflakes */
const idList = commaList(/^\d+$/, 'expected comma-separated numeric ids');

/** `C0123, U0456`: Slack ids (upper-case letters and digits) */
const slackIdList = commaList(/^[A-Z0-9]+$/, 'expected comma-separated Slack ids (C…, U…, T…)');

/** The environment variables Glimpse reads, with defaults and what each means (README's table). */
export const envSchema = z.object({
  GLIMPSE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  GLIMPSE_LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),

  GLIMPSE_MODEL_PROVIDER: z.enum(['onnx', 'remote']).default('onnx'),
  GLIMPSE_MODEL_DIR: nonEmpty.default('models/tiny-shapes'),
  GLIMPSE_PRECISION: z
    .enum(['fp32', 'fp16', 'q4', 'q8', 'quantized', 'int8', 'uint8', 'bnb4', 'q4f16'])
    .default('fp32'),
  GLIMPSE_DEVICE: z.enum(['cpu', 'cuda']).default('cpu'),
  GLIMPSE_THREADS: intString(0, 256).default(0),
  GLIMPSE_IMAGE_MODE: z.enum(['crop', 'pad']).default('crop'),
  GLIMPSE_KV_CACHE_MB: intString(0, 1_048_576).default(256),
  GLIMPSE_IMAGE_CACHE_MB: intString(0, 1_048_576).default(64),
  GLIMPSE_REMOTE_URL: urlString(['http:', 'https:']).optional(),
  GLIMPSE_REMOTE_API_KEY: nonEmpty.optional(),
  GLIMPSE_REMOTE_MODEL: nonEmpty.optional(),
  GLIMPSE_REMOTE_CONTEXT_LENGTH: intString(256, 10_000_000).optional(),
  GLIMPSE_REMOTE_IMAGE_TOKENS: intString(1, 100_000).default(576),
  GLIMPSE_REMOTE_RETRIES: intString(0, 10).default(3),

  HF_TOKEN: nonEmpty.optional(),
  HF_ENDPOINT: urlString(['http:', 'https:']).default('https://huggingface.co'),

  GLIMPSE_SYSTEM_PROMPT: z.string().optional(),
  GLIMPSE_MAX_NEW_TOKENS: intString(1, 8192).default(256),
  GLIMPSE_TEMPERATURE: floatString(0, 5).default(0),
  GLIMPSE_TOP_P: floatString(0, 1).default(1),
  GLIMPSE_TOP_K: intString(0, 100000).default(0),
  GLIMPSE_REPETITION_PENALTY: floatString(0.5, 5).default(1),
  GLIMPSE_MAX_IMAGES: intString(1, 64).default(4),
  GLIMPSE_MAX_IMAGE_BYTES: intString(1024, 100 * 1024 * 1024).default(10 * 1024 * 1024),
  GLIMPSE_MAX_IMAGE_PIXELS: intString(1, 400_000_000).default(40_000_000),

  GLIMPSE_STORE_PATH: nonEmpty.default('./data/glimpse.sqlite'),
  REDIS_URL: urlString(['redis:', 'rediss:']).optional(),
  GLIMPSE_HISTORY_TTL: durationString.default(7 * 86400),
  GLIMPSE_CONCURRENCY: intString(1, 64).default(1),
  GLIMPSE_QUEUE_MAX: intString(1, 10000).default(32),
  GLIMPSE_RATE_LIMIT_PER_MINUTE: intString(0, 10000).default(6),

  GLIMPSE_WEB_ENABLED: boolString.default(true),
  GLIMPSE_WEB_HOST: nonEmpty.default('127.0.0.1'),
  GLIMPSE_WEB_PORT: intString(0, 65535).default(8080),

  GLIMPSE_SERVE_HOST: nonEmpty.default('127.0.0.1'),
  GLIMPSE_SERVE_PORT: intString(0, 65535).default(8000),
  GLIMPSE_SERVE_API_KEY: z.string().min(8, { message: 'expected at least 8 characters' }).optional(),
  GLIMPSE_SERVE_CONCURRENCY: intString(1, 64).default(1),
  GLIMPSE_SERVE_QUEUE_MAX: intString(0, 10000).default(64),
  GLIMPSE_SERVE_IMAGE_HOSTS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((host) => host.trim().toLowerCase())
        .filter((host) => host !== ''),
    )
    .pipe(
      z.array(
        z.string().regex(/^\.?[a-z0-9-]+(\.[a-z0-9-]+)*$/, {
          message:
            'expected comma-separated host names (files.example.com, or .example.com for its subdomains)',
        }),
      ),
    )
    .optional(),

  GLIMPSE_EDIT_INTERVAL_MS: intString(100, 60_000).default(1000),
  GLIMPSE_CAPTION_LABELS: z.string().optional(),
  GLIMPSE_CAPTIONS_PER_MINUTE: intString(0, 1000).default(10),

  DISCORD_TOKEN: nonEmpty.optional(),
  DISCORD_API_URL: urlString(['http:', 'https:']).default('https://discord.com/api'),
  GLIMPSE_DISCORD_CAPTION_CHANNELS: idList.optional(),
  GLIMPSE_DISCORD_DMS: boolString.default(true),
  GLIMPSE_DISCORD_ALLOW_GUILDS: idList.optional(),
  GLIMPSE_DISCORD_DENY_GUILDS: idList.optional(),
  GLIMPSE_DISCORD_ALLOW_CHANNELS: idList.optional(),
  GLIMPSE_DISCORD_DENY_CHANNELS: idList.optional(),
  GLIMPSE_DISCORD_ALLOW_ROLES: idList.optional(),
  GLIMPSE_DISCORD_DENY_ROLES: idList.optional(),
  GLIMPSE_DISCORD_ALLOW_USERS: idList.optional(),
  GLIMPSE_DISCORD_DENY_USERS: idList.optional(),
  DISCORD_APPLICATION_ID: z
    .string()
    .regex(/^\d+$/, { message: 'expected a numeric application id' })
    .optional(),
  SLACK_BOT_TOKEN: z
    .string()
    .startsWith('xoxb-', { message: 'expected a bot token starting with xoxb-' })
    .optional(),
  SLACK_SIGNING_SECRET: nonEmpty.optional(),
  SLACK_APP_TOKEN: z
    .string()
    .startsWith('xapp-', { message: 'expected an app token starting with xapp-' })
    .optional(),
  SLACK_PORT: intString(0, 65535).default(3000),
  SLACK_HOST: nonEmpty.default('0.0.0.0'),
  SLACK_API_URL: urlString(['http:', 'https:']).default('https://slack.com/api/'),
  GLIMPSE_SLACK_CAPTION_CHANNELS: slackIdList.optional(),
  GLIMPSE_SLACK_ALLOW_TEAMS: slackIdList.optional(),
  GLIMPSE_SLACK_DENY_TEAMS: slackIdList.optional(),
  GLIMPSE_SLACK_ALLOW_CHANNELS: slackIdList.optional(),
  GLIMPSE_SLACK_DENY_CHANNELS: slackIdList.optional(),
  GLIMPSE_SLACK_ALLOW_USERS: slackIdList.optional(),
  GLIMPSE_SLACK_DENY_USERS: slackIdList.optional(),
});

type Env = z.output<typeof envSchema>;

export interface GenerationDefaults {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  repetitionPenalty: number;
}

export interface Config {
  log: { level: Env['GLIMPSE_LOG_LEVEL']; format: Env['GLIMPSE_LOG_FORMAT'] };
  model:
    | {
        provider: 'onnx';
        dir: string;
        precision: Env['GLIMPSE_PRECISION'];
        device: 'cpu' | 'cuda';
        threads: number;
        imageMode: 'crop' | 'pad';
        /** decoder state kept for reuse across turns, MiB; 0 = off */
        kvCacheMb: number;
        /** vision-encoder output kept per distinct image, MiB; 0 = off */
        imageCacheMb: number;
      }
    | {
        provider: 'remote';
        url: string;
        apiKey?: string;
        model: string;
        /** unset: the server's `max_model_len`, else 4096 */
        contextLength?: number;
        imageTokens: number;
        /** retries before the first token (refused connection, 408/429/5xx, a cut before any text) */
        retries: number;
      };
  generation: GenerationDefaults & { systemPrompt?: string };
  /** the Hugging Face Hub, for `glimpse models pull`: `HF_ENDPOINT` (a mirror) and `HF_TOKEN` */
  hub: { endpoint: string; token?: string };
  images: { maxPerRequest: number; maxBytes: number; maxPixels: number };
  store: { sqlitePath: string; redisUrl?: string; historyTtlSeconds: number };
  scheduler: { concurrency: number; queueMax: number; rateLimitPerMinute: number };
  web: { enabled: boolean; host: string; port: number };
  serve: ServeConfig;
  /** how the chat platforms render answers */
  rendering: { editIntervalMs: number };
  captions: { labels: string[]; perChannelPerMinute: number };
  discord?: DiscordConfig;
  slack?: SlackConfig;
}

/** `glimpse serve`: the OpenAI-compatible HTTP server on the in-process model. */
export interface ServeConfig {
  host: string;
  port: number;
  /** required (as a bearer token) whenever `host` is not loopback; see `checkServeBinding` */
  apiKey?: string;
  /** generations running at once */
  concurrency: number;
  /** requests waiting for a slot; past it, 429 with Retry-After */
  queueMax: number;
  /** https hosts whose `image_url`s are downloaded; empty: only `data:` URLs */
  imageHosts: string[];
}

/** Allow and deny lists: deny wins; a non-empty allow list admits only what it names. */
export interface AccessList {
  allow: string[];
  deny: string[];
}

export interface DiscordConfig {
  token: string;
  applicationId?: string;
  /** the REST base (`https://discord.com/api`); the gateway address is discovered from it */
  apiUrl: string;
  captionChannels: string[];
  dms: boolean;
  access: { guilds: AccessList; channels: AccessList; roles: AccessList; users: AccessList };
}

export interface SlackConfig {
  botToken: string;
  /** HTTP mode: every request's signature is checked with it ('' in Socket Mode) */
  signingSecret: string;
  /** set: Socket Mode (no public URL needed) */
  appToken?: string;
  /** HTTP mode's address (bolt's `/slack/events`; Slack must reach it, hence 0.0.0.0 by default) */
  port: number;
  host: string;
  /** the Web API base, ending in `/` */
  apiUrl: string;
  captionChannels: string[];
  access: { teams: AccessList; channels: AccessList; users: AccessList };
}

export interface ConfigIssue {
  variable: string;
  message: string;
}

export class ConfigError extends GlimpseError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const lines = issues.map((issue) => `  - ${issue.variable}: ${issue.message}`);
    super(
      'glimpse_config_invalid',
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
      {
        userMessage: 'Glimpse is misconfigured.',
      },
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Reads a `.env` file if present; a missing file is not an error. */
export function readDotenv(path: string): Record<string, string> {
  try {
    return parseDotenv(readFileSync(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

/**
 * Validates `env` (usually `{...readDotenv('.env'), ...process.env}`) and returns the config.
 * Blank values count as unset. Throws a ConfigError listing every problem.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const known = Object.keys(envSchema.shape);
  const input: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') input[key] = value.trim();
  }
  const parsed = envSchema.safeParse(input);
  const issues: ConfigIssue[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({ variable: String(issue.path[0] ?? '(environment)'), message: issue.message });
    }
  }
  const e = parsed.success ? parsed.data : undefined;

  // Cross-field rules, checked on the raw input so they are reported alongside schema errors.
  const provider = input.GLIMPSE_MODEL_PROVIDER ?? 'onnx';
  if (provider === 'remote') {
    if (!input.GLIMPSE_REMOTE_URL)
      issues.push({ variable: 'GLIMPSE_REMOTE_URL', message: 'required when GLIMPSE_MODEL_PROVIDER=remote' });
    if (!input.GLIMPSE_REMOTE_MODEL)
      issues.push({
        variable: 'GLIMPSE_REMOTE_MODEL',
        message: 'required when GLIMPSE_MODEL_PROVIDER=remote',
      });
  }
  if (input.SLACK_BOT_TOKEN && !input.SLACK_SIGNING_SECRET && !input.SLACK_APP_TOKEN) {
    issues.push({
      variable: 'SLACK_SIGNING_SECRET',
      message: 'set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode) with SLACK_BOT_TOKEN',
    });
  }
  if ((input.SLACK_SIGNING_SECRET || input.SLACK_APP_TOKEN) && !input.SLACK_BOT_TOKEN) {
    issues.push({ variable: 'SLACK_BOT_TOKEN', message: 'required when other SLACK_* variables are set' });
  }
  if (input.DISCORD_APPLICATION_ID && !input.DISCORD_TOKEN) {
    issues.push({ variable: 'DISCORD_TOKEN', message: 'required when DISCORD_APPLICATION_ID is set' });
  }

  if (issues.length > 0 || !e) throw new ConfigError(issues);

  return {
    log: { level: e.GLIMPSE_LOG_LEVEL, format: e.GLIMPSE_LOG_FORMAT },
    model:
      e.GLIMPSE_MODEL_PROVIDER === 'remote'
        ? {
            provider: 'remote',
            url: e.GLIMPSE_REMOTE_URL!,
            model: e.GLIMPSE_REMOTE_MODEL!,
            ...(e.GLIMPSE_REMOTE_API_KEY ? { apiKey: e.GLIMPSE_REMOTE_API_KEY } : {}),
            ...(e.GLIMPSE_REMOTE_CONTEXT_LENGTH ? { contextLength: e.GLIMPSE_REMOTE_CONTEXT_LENGTH } : {}),
            imageTokens: e.GLIMPSE_REMOTE_IMAGE_TOKENS,
            retries: e.GLIMPSE_REMOTE_RETRIES,
          }
        : {
            provider: 'onnx',
            dir: e.GLIMPSE_MODEL_DIR,
            precision: e.GLIMPSE_PRECISION,
            device: e.GLIMPSE_DEVICE,
            threads: e.GLIMPSE_THREADS,
            imageMode: e.GLIMPSE_IMAGE_MODE,
            kvCacheMb: e.GLIMPSE_KV_CACHE_MB,
            imageCacheMb: e.GLIMPSE_IMAGE_CACHE_MB,
          },
    generation: {
      maxNewTokens: e.GLIMPSE_MAX_NEW_TOKENS,
      temperature: e.GLIMPSE_TEMPERATURE,
      topP: e.GLIMPSE_TOP_P,
      topK: e.GLIMPSE_TOP_K,
      repetitionPenalty: e.GLIMPSE_REPETITION_PENALTY,
      ...(e.GLIMPSE_SYSTEM_PROMPT ? { systemPrompt: e.GLIMPSE_SYSTEM_PROMPT } : {}),
    },
    hub: {
      endpoint: e.HF_ENDPOINT.replace(/\/+$/, ''),
      ...(e.HF_TOKEN ? { token: e.HF_TOKEN } : {}),
    },
    images: {
      maxPerRequest: e.GLIMPSE_MAX_IMAGES,
      maxBytes: e.GLIMPSE_MAX_IMAGE_BYTES,
      maxPixels: e.GLIMPSE_MAX_IMAGE_PIXELS,
    },
    store: {
      sqlitePath: e.GLIMPSE_STORE_PATH,
      historyTtlSeconds: e.GLIMPSE_HISTORY_TTL,
      ...(e.REDIS_URL ? { redisUrl: e.REDIS_URL } : {}),
    },
    scheduler: {
      concurrency: e.GLIMPSE_CONCURRENCY,
      queueMax: e.GLIMPSE_QUEUE_MAX,
      rateLimitPerMinute: e.GLIMPSE_RATE_LIMIT_PER_MINUTE,
    },
    web: { enabled: e.GLIMPSE_WEB_ENABLED, host: e.GLIMPSE_WEB_HOST, port: e.GLIMPSE_WEB_PORT },
    serve: {
      host: e.GLIMPSE_SERVE_HOST,
      port: e.GLIMPSE_SERVE_PORT,
      ...(e.GLIMPSE_SERVE_API_KEY ? { apiKey: e.GLIMPSE_SERVE_API_KEY } : {}),
      concurrency: e.GLIMPSE_SERVE_CONCURRENCY,
      queueMax: e.GLIMPSE_SERVE_QUEUE_MAX,
      imageHosts: e.GLIMPSE_SERVE_IMAGE_HOSTS ?? [],
    },
    rendering: { editIntervalMs: e.GLIMPSE_EDIT_INTERVAL_MS },
    captions: {
      labels: (e.GLIMPSE_CAPTION_LABELS ?? '')
        .split(/[,\n]/)
        .map((label) => label.trim())
        .filter((label) => label !== ''),
      perChannelPerMinute: e.GLIMPSE_CAPTIONS_PER_MINUTE,
    },
    ...(e.DISCORD_TOKEN
      ? {
          discord: {
            token: e.DISCORD_TOKEN,
            ...(e.DISCORD_APPLICATION_ID ? { applicationId: e.DISCORD_APPLICATION_ID } : {}),
            apiUrl: e.DISCORD_API_URL.replace(/\/+$/, ''),
            captionChannels: e.GLIMPSE_DISCORD_CAPTION_CHANNELS ?? [],
            dms: e.GLIMPSE_DISCORD_DMS,
            access: {
              guilds: {
                allow: e.GLIMPSE_DISCORD_ALLOW_GUILDS ?? [],
                deny: e.GLIMPSE_DISCORD_DENY_GUILDS ?? [],
              },
              channels: {
                allow: e.GLIMPSE_DISCORD_ALLOW_CHANNELS ?? [],
                deny: e.GLIMPSE_DISCORD_DENY_CHANNELS ?? [],
              },
              roles: { allow: e.GLIMPSE_DISCORD_ALLOW_ROLES ?? [], deny: e.GLIMPSE_DISCORD_DENY_ROLES ?? [] },
              users: { allow: e.GLIMPSE_DISCORD_ALLOW_USERS ?? [], deny: e.GLIMPSE_DISCORD_DENY_USERS ?? [] },
            },
          },
        }
      : {}),
    ...(e.SLACK_BOT_TOKEN
      ? {
          slack: {
            botToken: e.SLACK_BOT_TOKEN,
            signingSecret: e.SLACK_SIGNING_SECRET ?? '',
            ...(e.SLACK_APP_TOKEN ? { appToken: e.SLACK_APP_TOKEN } : {}),
            port: e.SLACK_PORT,
            host: e.SLACK_HOST,
            apiUrl: e.SLACK_API_URL.endsWith('/') ? e.SLACK_API_URL : `${e.SLACK_API_URL}/`,
            captionChannels: e.GLIMPSE_SLACK_CAPTION_CHANNELS ?? [],
            access: {
              teams: { allow: e.GLIMPSE_SLACK_ALLOW_TEAMS ?? [], deny: e.GLIMPSE_SLACK_DENY_TEAMS ?? [] },
              channels: {
                allow: e.GLIMPSE_SLACK_ALLOW_CHANNELS ?? [],
                deny: e.GLIMPSE_SLACK_DENY_CHANNELS ?? [],
              },
              users: { allow: e.GLIMPSE_SLACK_ALLOW_USERS ?? [], deny: e.GLIMPSE_SLACK_DENY_USERS ?? [] },
            },
          },
        }
      : {}),
  };
}

/** Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`): reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' ||
    bare === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)
  );
}

/**
 * `glimpse serve` refuses to listen beyond loopback without an API key: checked where the final
 * address is known (after `--host`), before anything is loaded.
 */
export function checkServeBinding(serve: Pick<ServeConfig, 'host' | 'apiKey'>): void {
  if (isLoopbackHost(serve.host) || serve.apiKey) return;
  throw new ConfigError([
    {
      variable: 'GLIMPSE_SERVE_API_KEY',
      message: `required when glimpse serve listens on ${serve.host} (anything but loopback): clients then send it as "Authorization: Bearer <key>"`,
    },
  ]);
}

/** The config from `.env` in `cwd` and `process.env`: the one place that reads the environment. */
export function loadConfigFromProcess(cwd = process.cwd()): Config {
  return loadConfig({ ...readDotenv(`${cwd}/.env`), ...process.env });
}

/** The secret values in a configuration (tokens, keys, the Redis URL and its password), for `createLogger({secrets})`. */
export function secretValues(config: Config): string[] {
  const values: (string | undefined)[] = [
    config.discord?.token,
    config.slack?.botToken,
    config.slack?.appToken,
    config.slack?.signingSecret,
    config.model.provider === 'remote' ? config.model.apiKey : undefined,
    config.serve.apiKey,
    config.hub.token,
  ];
  const redis = config.store.redisUrl;
  if (redis) {
    values.push(redis);
    try {
      const url = new URL(redis);
      values.push(decodeURIComponent(url.password), url.password);
    } catch {
      // validated at load; nothing more to find
    }
  }
  return values.filter((value): value is string => typeof value === 'string' && value !== '');
}
