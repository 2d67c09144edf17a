import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelStats } from '../pipeline/vision-chat-model.js';

/** Reads the queue's state when scraped. */
export interface QueueGauges {
  readonly depth: number;
  readonly active: number;
}

/**
 * The server's Prometheus metrics, on a registry of its own (several servers in one process —
 * tests — do not share counters). Queue depth, running generations, cache counters and the
 * execution provider are read when scraped; the rest is counted as requests finish.
 */
export class ServeMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'status' | 'stream'>;
  private readonly promptTokens: Counter;
  private readonly completionTokens: Counter;
  private readonly timeToFirstToken: Histogram;
  private readonly tokensPerSecond: Histogram;

  constructor(queue: QueueGauges, stats: () => ModelStats | undefined) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'glimpse_serve_process_' });
    new Gauge({
      name: 'glimpse_serve_queue_depth',
      help: 'chat completion requests waiting for a generation slot',
      registers,
      collect() {
        this.set(queue.depth);
      },
    });
    new Gauge({
      name: 'glimpse_serve_active_streams',
      help: 'generations running now (streamed or not)',
      registers,
      collect() {
        this.set(queue.active);
      },
    });
    this.requests = new Counter({
      name: 'glimpse_serve_requests_total',
      help: 'chat completion requests answered, by HTTP status and whether they streamed',
      labelNames: ['status', 'stream'] as const,
      registers,
    });
    this.promptTokens = new Counter({
      name: 'glimpse_serve_prompt_tokens_total',
      help: 'prompt tokens read, image tokens included',
      registers,
    });
    this.completionTokens = new Counter({
      name: 'glimpse_serve_completion_tokens_total',
      help: 'tokens generated',
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: 'glimpse_serve_time_to_first_token_seconds',
      help: 'from the request to its first generated token (queueing, preprocessing, vision encoder, prefill)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.tokensPerSecond = new Histogram({
      name: 'glimpse_serve_tokens_per_second',
      help: 'decode speed of each answer (after its first token)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
      registers,
    });
    const cacheCounter = (name: string, help: string, read: (s: ModelStats) => number | undefined) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const value = read(stats() ?? { executionProvider: 'unknown' });
          this.reset();
          if (value !== undefined) this.inc(value);
        },
      });
    const ratio = (hits: number | undefined, misses: number | undefined) =>
      hits === undefined || misses === undefined || hits + misses === 0 ? 0 : hits / (hits + misses);
    cacheCounter(
      'glimpse_serve_image_cache_hits_total',
      'images whose vision-encoder output was cached',
      (s) => s.imageCache?.hits,
    );
    cacheCounter(
      'glimpse_serve_image_cache_misses_total',
      'images run through the vision encoder',
      (s) => s.imageCache?.misses,
    );
    cacheCounter(
      'glimpse_serve_kv_cache_hits_total',
      'prompts that reused a stored decoder prefix',
      (s) => s.kvCache?.hits,
    );
    cacheCounter(
      'glimpse_serve_kv_cache_misses_total',
      'prompts prefilled from the start',
      (s) => s.kvCache?.misses,
    );
    cacheCounter(
      'glimpse_serve_kv_cache_reused_tokens_total',
      'prompt tokens not prefilled thanks to the KV prefix cache',
      (s) => s.kvCache?.reusedTokens,
    );
    new Gauge({
      name: 'glimpse_serve_image_cache_hit_ratio',
      help: 'image-feature cache hits / lookups since start (0 before any lookup)',
      registers,
      collect() {
        const s = stats();
        this.set(ratio(s?.imageCache?.hits, s?.imageCache?.misses));
      },
    });
    new Gauge({
      name: 'glimpse_serve_kv_cache_hit_ratio',
      help: 'KV prefix cache hits / lookups since start (0 before any lookup)',
      registers,
      collect() {
        const s = stats();
        this.set(ratio(s?.kvCache?.hits, s?.kvCache?.misses));
      },
    });
    new Gauge({
      name: 'glimpse_serve_execution_provider_info',
      help: 'where the model runs (always 1; the provider is the label)',
      labelNames: ['provider'] as const,
      registers,
      collect() {
        this.reset();
        this.set({ provider: stats()?.executionProvider ?? 'unknown' }, 1);
      },
    });
  }

  /** One answered request (any status). */
  request(status: number, stream: boolean): void {
    this.requests.inc({ status: String(status), stream: String(stream) });
  }

  /** One finished generation: its tokens, time to first token and decode speed. */
  generation(
    promptTokens: number,
    completionTokens: number,
    ttftSeconds: number,
    tokensPerSecond: number,
  ): void {
    this.promptTokens.inc(promptTokens);
    this.completionTokens.inc(completionTokens);
    if (completionTokens > 0) this.timeToFirstToken.observe(ttftSeconds);
    if (tokensPerSecond > 0) this.tokensPerSecond.observe(tokensPerSecond);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
