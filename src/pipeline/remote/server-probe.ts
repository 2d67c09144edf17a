import { GlimpseError } from '../../errors.js';
import {
  type LlamaCppProps,
  llamaCppPropsSchema,
  type ModelEntry,
  modelListSchema,
} from './openai-schemas.js';
import type { RemoteErrors } from './remote-errors.js';

/** What a server says about itself at start. */
export interface ServerFacts {
  /** the served models, or undefined when the server has no `/v1/models` (404) */
  models: ModelEntry[] | undefined;
  /** the context length the server reports, if any: vLLM's `max_model_len`, llama.cpp's `n_ctx` */
  contextLength: number | undefined;
  /** `llama.cpp` when `llama-server` answered (it owns its models as `llamacpp`) */
  kind: 'llama.cpp' | 'vllm' | 'other';
}

interface ProbeContext {
  base: string;
  source: string;
  model: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  timeoutMs: number;
  errors: RemoteErrors;
}

async function getJson(
  context: ProbeContext,
  path: string,
): Promise<{ status: 'missing' } | { status: 'ok'; body: unknown }> {
  let response: Response;
  try {
    response = await context.fetch(`${context.base}${path}`, {
      headers: context.headers,
      signal: AbortSignal.timeout(context.timeoutMs),
    });
  } catch (error) {
    throw context.errors.transport(error, false);
  }
  if (response.status === 404) {
    await response.body?.cancel().catch(() => undefined);
    return { status: 'missing' };
  }
  if (!response.ok) throw await context.errors.status(response);
  try {
    return { status: 'ok', body: await response.json() };
  } catch (error) {
    throw context.errors.malformed(`${path} is not JSON`, error);
  }
}

/** llama.cpp's `/props`; undefined when the server has none or it cannot be read (it is a bonus). */
async function llamaCppProps(context: ProbeContext): Promise<LlamaCppProps | undefined> {
  try {
    const answer = await getJson(context, '/props');
    if (answer.status === 'missing') return undefined;
    const parsed = llamaCppPropsSchema.safeParse(answer.body);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Asks `GET /v1/models` whether the server serves `model`, and its context: vLLM and `glimpse
 * serve` report `max_model_len`; llama.cpp's `llama-server` does not, so its `GET /props` is asked
 * for `default_generation_settings.n_ctx` (and whether it has a vision projector: one started
 * without `--mmproj` cannot read images). `llama-server` serves one model whatever name is asked,
 * so with llama.cpp the configured name need not match its id (a path, or its `--alias`).
 * Throws one `glimpse_remote_failed` error naming what is wrong.
 */
export async function probeServer(context: ProbeContext, needContext: boolean): Promise<ServerFacts> {
  const answer = await getJson(context, '/v1/models');
  let models: ModelEntry[] | undefined;
  if (answer.status === 'ok') {
    const parsed = modelListSchema.safeParse(answer.body);
    if (!parsed.success) throw context.errors.malformed('the model list has no data array of {id}');
    models = parsed.data.data;
  }
  const kind: ServerFacts['kind'] = models?.some((entry) => entry.owned_by === 'llamacpp')
    ? 'llama.cpp'
    : models?.some((entry) => entry.owned_by === 'vllm')
      ? 'vllm'
      : 'other';
  const entry = models?.find((candidate) => candidate.id === context.model);
  if (models && !entry && !(kind === 'llama.cpp' && models.length === 1)) {
    const served = models
      .map((candidate) => candidate.id)
      .slice(0, 10)
      .join(', ');
    throw new GlimpseError(
      'glimpse_remote_failed',
      `model '${context.model}' is not served by ${context.source} (it serves: ${served || 'nothing'})`,
      { userMessage: 'The remote model is not available.', details: { source: context.source } },
    );
  }
  let contextLength = (entry ?? (kind === 'llama.cpp' ? models?.[0] : undefined))?.max_model_len ?? undefined;
  if (kind === 'llama.cpp' || (needContext && contextLength === undefined)) {
    const props = await llamaCppProps(context);
    if (props?.modalities?.vision === false) {
      throw new GlimpseError(
        'glimpse_remote_failed',
        `the llama.cpp server ${context.source} has no vision projector: start llama-server with --mmproj <mmproj.gguf>`,
        { userMessage: 'The remote model cannot read images.', details: { source: context.source } },
      );
    }
    contextLength ??= props?.default_generation_settings?.n_ctx ?? undefined;
  }
  return { models, contextLength: contextLength ? Math.round(contextLength) : undefined, kind };
}
