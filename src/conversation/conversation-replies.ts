/** The short texts the conversation manager sends to users, in one place. */

export const busyReply = "I'm busy right now — please try again shortly.";

export const emptyMessageReply = 'Send me some text or an image to talk about.';

export const stoppingReply = "I'm restarting — please try again in a moment.";

export const resetReply = "Done — I've forgotten this conversation. Let's start fresh.";

export const storeFailedReply = 'Sorry, I could not save that exchange, so I may not remember it.';

export function rateLimitedReply(retryAfterMs: number): string {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return `You're sending messages faster than I can answer — please try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
}

export function helpReply(options: { maxImages: number; rateLimitPerMinute: number }): string {
  const limits = [
    `up to ${options.maxImages} image${options.maxImages === 1 ? '' : 's'} per answer`,
    options.rateLimitPerMinute > 0 ? `${options.rateLimitPerMinute} messages a minute per person` : undefined,
  ].filter(Boolean);
  return [
    'Send me a message — with an image if you like — and I will answer about it. I remember this conversation (this thread, reply chain or DM), so you can ask follow-ups.',
    'Commands: `reset` forgets this conversation · `help` shows this · `status` shows the model and the queue.',
    `Limits: ${limits.join(', ')}.`,
  ].join('\n');
}

export interface StatusFacts {
  modelId: string;
  contextLength: number;
  waiting: number;
  running: number;
  concurrency: number;
  /** this conversation: answering, waiting at a 1-based position, or idle */
  here: { state: 'running' } | { state: 'waiting'; position: number } | { state: 'idle' };
}

export function statusReply(facts: StatusFacts): string {
  const here =
    facts.here.state === 'running'
      ? 'answering here now'
      : facts.here.state === 'waiting'
        ? `this conversation is number ${facts.here.position} in the queue`
        : 'nothing queued for this conversation';
  return [
    `Model: ${facts.modelId} (context ${facts.contextLength} tokens)`,
    `Queue: ${facts.waiting} waiting, ${facts.running} running (at most ${facts.concurrency} at once); ${here}.`,
  ].join('\n');
}
