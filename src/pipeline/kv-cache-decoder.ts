import { Tensor } from 'onnxruntime-node';
import { GlimpseError } from '../errors.js';
import { bindableTensor, type FloatType, float32Data, floatTensor, inputFloatType } from './float16.js';
import type { DecoderSpec } from './model-spec.js';
import type { OnnxSession } from './onnx-sessions.js';

const pastPrefix = 'past_key_values.';

/**
 * One generation's pass through `decoder_model_merged.onnx`: prefill with an empty past
 * (length 0), then one token at a time with the KV cache, extending `attention_mask` and
 * `position_ids`. Input and output names come from the session; `num_logits_to_keep` and
 * `use_cache_branch` are fed when the graph declares them. `dispose()` frees the cache.
 */
export class KvCacheDecoder {
  private readonly pastNames: string[];
  private readonly presentNames: string[];
  private cache: Record<string, Tensor> | undefined;
  private pastLength = 0;
  private readonly embedsType: FloatType;
  private readonly cacheType: FloatType;

  constructor(
    private readonly session: OnnxSession,
    private readonly spec: DecoderSpec,
  ) {
    this.pastNames = session.inputNames.filter((name) => name.startsWith(pastPrefix));
    this.presentNames = this.pastNames.map((name) => `present.${name.slice(pastPrefix.length)}`);
    const missing = [
      ...['inputs_embeds', 'attention_mask'].filter((name) => !session.inputNames.includes(name)),
      ...['logits', ...this.presentNames].filter((name) => !session.outputNames.includes(name)),
    ];
    if (missing.length > 0 || this.pastNames.length === 0) {
      throw new GlimpseError(
        'glimpse_model_invalid',
        `decoder_model_merged.onnx lacks ${missing.length > 0 ? missing.join(', ') : 'past_key_values inputs'} (inputs: ${session.inputNames.join(', ')}; outputs: ${session.outputNames.join(', ')})`,
        { userMessage: 'The model is not installed correctly.' },
      );
    }
    // fp16 exports take and return float16; the pipeline works in float32 and converts at the edge
    this.embedsType = inputFloatType(session, 'inputs_embeds');
    this.cacheType = inputFloatType(session, this.pastNames[0]!);
  }

  /** tokens in the cache */
  get length(): number {
    return this.pastLength;
  }

  /** Runs the prompt (`[1, S, hidden]` embeddings) with an empty past; returns the last logits row. */
  async prefill(embeds: Float32Array, sequenceLength: number): Promise<Float32Array> {
    this.disposeCache();
    const empty: Record<string, Tensor> = {};
    for (const name of this.pastNames) {
      empty[name] = floatTensor(this.cacheType, new Float32Array(0), [
        1,
        this.spec.numKeyValueHeads,
        0,
        this.spec.headDim,
      ]);
    }
    this.cache = empty;
    this.pastLength = 0;
    return this.run(embeds, sequenceLength);
  }

  /** One decode step: the new token's embedding (`[1, 1, hidden]`). */
  async step(embeds: Float32Array): Promise<Float32Array> {
    if (!this.cache) throw new Error('KvCacheDecoder.step before prefill');
    return this.run(embeds, 1);
  }

  private async run(embeds: Float32Array, sequenceLength: number): Promise<Float32Array> {
    const total = this.pastLength + sequenceLength;
    const positions = new BigInt64Array(sequenceLength);
    for (let i = 0; i < sequenceLength; i++) positions[i] = BigInt(this.pastLength + i);
    const feeds: Record<string, Tensor> = {
      inputs_embeds: floatTensor(this.embedsType, embeds, [1, sequenceLength, this.spec.hiddenSize]),
      attention_mask: new Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      ...this.cache,
    };
    const names = this.session.inputNames;
    if (names.includes('position_ids'))
      feeds.position_ids = new Tensor('int64', positions, [1, sequenceLength]);
    if (names.includes('num_logits_to_keep')) feeds.num_logits_to_keep = new Tensor('int64', [1n], []);
    if (names.includes('use_cache_branch')) {
      feeds.use_cache_branch = new Tensor('bool', [this.pastLength > 0], [1]);
    }
    const outputs = await this.session.run(feeds);
    const next: Record<string, Tensor> = {};
    this.pastNames.forEach((name, index) => {
      // a session's float16 outputs come back wrapped for the runtime: keep them bindable as the next past
      next[name] = bindableTensor(outputs[this.presentNames[index]!] as Tensor);
    });
    this.disposeCache();
    this.cache = next;
    this.pastLength = total;
    const logits = outputs.logits as Tensor;
    const vocab = logits.dims.at(-1)!;
    const rows = logits.dims.at(-2)!;
    const row = float32Data(logits, (rows - 1) * vocab, rows * vocab);
    logits.dispose();
    return row;
  }

  private disposeCache(): void {
    for (const tensor of Object.values(this.cache ?? {})) tensor.dispose();
    this.cache = undefined;
  }

  /** Frees the KV cache; safe to call more than once. */
  dispose(): void {
    this.disposeCache();
    this.pastLength = 0;
  }
}
