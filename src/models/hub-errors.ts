import { GlimpseError } from '../errors.js';

/**
 * The Hub's failures as one-line, coded errors. The Hub says what went wrong in `X-Error-Code`
 * (`RepoNotFound`, `GatedRepo`, `EntryNotFound`, `RevisionNotFound`); without a token it answers
 * 401 for private, gated and missing repositories alike, so that message names all three.
 */

export interface HubErrorContext {
  endpoint: string;
  id: string;
  revision: string;
  /** the file, for downloads */
  path?: string;
  hasToken: boolean;
}

export function hubUnreachable(context: HubErrorContext, cause: unknown): GlimpseError {
  const errno = (cause as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const why = typeof errno === 'string' ? errno : cause instanceof Error ? cause.message : String(cause);
  return new GlimpseError(
    'glimpse_hub_unreachable',
    `cannot reach ${context.endpoint} (${why}): offline? Set HF_ENDPOINT to use a mirror`,
    { userMessage: 'The model hub cannot be reached.', details: { endpoint: context.endpoint, errno: why } },
  );
}

export function hubStatusError(context: HubErrorContext, response: Response): GlimpseError {
  const status = response.status;
  const hubCode = response.headers.get('x-error-code') ?? undefined;
  const what = context.path ? `${context.id}/${context.path}` : context.id;
  const page = `${context.endpoint}/${context.id}`;
  const details = { endpoint: context.endpoint, id: context.id, status, ...(hubCode ? { hubCode } : {}) };
  if (hubCode === 'GatedRepo' || (status === 403 && context.hasToken)) {
    return new GlimpseError(
      'glimpse_hub_unauthorized',
      `${context.id} is gated: accept its terms at ${page} with the account HF_TOKEN belongs to (HTTP ${status})`,
      { userMessage: 'That model needs access granted on the hub.', details },
    );
  }
  if (status === 401 || status === 403) {
    return new GlimpseError(
      'glimpse_hub_unauthorized',
      context.hasToken
        ? `HF_TOKEN was refused for ${context.id} (HTTP ${status}): check the token, or that ${context.id} exists`
        : `${context.id} is private, gated or missing (HTTP ${status}): check the id, or set HF_TOKEN (a read token from ${context.endpoint}/settings/tokens)`,
      { userMessage: 'The model hub refused access.', details },
    );
  }
  if (status === 404) {
    const message =
      hubCode === 'RevisionNotFound'
        ? `${context.id} has no revision '${context.revision}' on ${context.endpoint}`
        : hubCode === 'EntryNotFound' || context.path
          ? `${what} is not on ${context.endpoint} (revision ${context.revision})`
          : `no model ${context.id} on ${context.endpoint} (HTTP 404)`;
    return new GlimpseError('glimpse_hub_not_found', message, {
      userMessage: 'That model is not on the hub.',
      details,
    });
  }
  return new GlimpseError('glimpse_hub_failed', `${context.endpoint} answered HTTP ${status} for ${what}`, {
    userMessage: 'The model hub had a problem; try again.',
    details,
  });
}
