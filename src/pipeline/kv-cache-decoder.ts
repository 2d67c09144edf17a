import { Tensor } from 'onnxruntime-node';
import { GlimpseError } from '../errors.js';
import { bindableTensor, type FloatType, floatTensor, fromHalf, inputFloatType } from './float16.js';
import type { KvArray, KvSnapshot } from './kv-prefix-cache.js';
import type { DecoderSpec } from './model-spec.js';
import type { OnnxSession } from './onnx-sessions.js';

const pastPrefix = 'past_key_values.';

export interface PrefillOptions {
  /** a past to continue from (a stored state's prefix); its arrays are only read */
  past?: KvSnapshot;
  /** the most tokens this generation will hold (prompt + new tokens): sizes the buffers */
  capacity?: number;
}

/**
 * One generation's pass through `decoder_model_merged.onnx`: prefill (with an empty past, or a
 * reused prefix), then one token at a time with the KV cache, extending `attention_mask` and
 * `position_ids`. Input and output names come from the session; `num_logits_to_keep` and
 * `use_cache_branch` are fed when the graph declares them.
 *
 * The decode loop is lean: for float32 caches the `present.*` outputs are written into two
 * preallocated buffer sets that take turns as past and present (no allocation per step), the
 * attention mask is one buffer viewed at the current length, and only the last position's logits
 * are copied out, into one reused row. `dispose()` frees what it holds.
 */
export class KvCacheDecoder {
  private readonly pastNames: string[];
  private readonly presentNames: string[];
  private readonly embedsType: FloatType;
  private readonly cacheType: FloatType;
  private readonly wantsPositions: boolean;
  private readonly wantsLogitsToKeep: boolean;
  private readonly wantsCacheBranch: boolean;
  /** the current past, as fed to the next run */
  private past: Record<string, Tensor> | undefined;
  private pastArrays: KvArray[] = [];
  private pastLength = 0;
  /** float32 only: two buffer sets of `capacity` tokens, past and present in turn */
  private buffers: [Float32Array[], Float32Array[]] | undefined;
  private presentSet = 0;
  private capacity = 0;
  private mask = new BigInt64Array(0);
  private logitsRow = new Float32Array(0);
  private logitsOut: Float32Array | undefined;

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
    this.wantsPositions = session.inputNames.includes('position_ids');
    this.wantsLogitsToKeep = session.inputNames.includes('num_logits_to_keep');
    this.wantsCacheBranch = session.inputNames.includes('use_cache_branch');
  }

  /** tokens in the cache */
  get length(): number {
    return this.pastLength;
  }

  /**
   * Runs the prompt's embeddings (`[1, S, hidden]`) after `options.past` (or an empty past);
   * returns the last position's logits (a row this decoder reuses: read it before the next step).
   */
  async prefill(
    embeds: Float32Array,
    sequenceLength: number,
    options: PrefillOptions = {},
  ): Promise<Float32Array> {
    this.release();
    const { numKeyValueHeads: heads, headDim } = this.spec;
    const past = options.past;
    const pastLength = past?.length ?? 0;
    this.capacity = Math.max(options.capacity ?? 0, pastLength + sequenceLength);
    this.mask = new BigInt64Array(this.capacity).fill(1n);
    if (this.cacheType === 'float32') {
      const size = heads * this.capacity * headDim;
      this.buffers = [
        this.pastNames.map(() => new Float32Array(size)),
        this.pastNames.map(() => new Float32Array(size)),
      ];
      this.presentSet = 0;
    }
    this.pastArrays = past
      ? past.layers
      : this.pastNames.map(() => (this.cacheType === 'float32' ? new Float32Array(0) : new Uint16Array(0)));
    this.past = this.pastTensors(this.pastArrays, pastLength);
    this.pastLength = pastLength;
    return this.run(embeds, sequenceLength);
  }

  /** One decode step: the new token's embedding (`[1, 1, hidden]`). */
  async step(embeds: Float32Array): Promise<Float32Array> {
    if (!this.past) throw new Error('KvCacheDecoder.step before prefill');
    return this.run(embeds, 1);
  }

  /** A copy of the cache as plain arrays (exactly `length` tokens), for the prefix cache. */
  snapshot(): KvSnapshot {
    const size = this.spec.numKeyValueHeads * this.pastLength * this.spec.headDim;
    return {
      length: this.pastLength,
      kvHeads: this.spec.numKeyValueHeads,
      headDim: this.spec.headDim,
      layers: this.pastArrays.map((array) => array.slice(0, size)),
    };
  }

  private pastTensors(arrays: KvArray[], length: number): Record<string, Tensor> {
    const dims = [1, this.spec.numKeyValueHeads, length, this.spec.headDim];
    const out: Record<string, Tensor> = {};
    this.pastNames.forEach((name, index) => {
      const data = arrays[index]!;
      out[name] =
        this.cacheType === 'float32'
          ? new Tensor('float32', data as Float32Array, dims)
          : bindableTensor(new Tensor('float16', data as Uint16Array, dims));
    });
    return out;
  }

  private async run(embeds: Float32Array, sequenceLength: number): Promise<Float32Array> {
    const { numKeyValueHeads: heads, headDim, hiddenSize } = this.spec;
    const total = this.pastLength + sequenceLength;
    const feeds: Record<string, Tensor> = {
      inputs_embeds: floatTensor(this.embedsType, embeds, [1, sequenceLength, hiddenSize]),
      attention_mask: new Tensor(
        'int64',
        total <= this.mask.length ? this.mask.subarray(0, total) : new BigInt64Array(total).fill(1n),
        [1, total],
      ),
      ...this.past,
    };
    if (this.wantsPositions) {
      const positions = new BigInt64Array(sequenceLength);
      for (let i = 0; i < sequenceLength; i++) positions[i] = BigInt(this.pastLength + i);
      feeds.position_ids = new Tensor('int64', positions, [1, sequenceLength]);
    }
    if (this.wantsLogitsToKeep) feeds.num_logits_to_keep = new Tensor('int64', [1n], []);
    if (this.wantsCacheBranch) feeds.use_cache_branch = new Tensor('bool', [this.pastLength > 0], [1]);

    // float32: the presents go straight into the buffer set that is not the past
    const preallocated = this.buffers !== undefined && total <= this.capacity;
    let fetches: Record<string, Tensor | null> | undefined;
    if (preallocated) {
      fetches = {};
      const size = heads * total * headDim;
      const set = this.buffers![this.presentSet]!;
      this.presentNames.forEach((name, index) => {
        fetches![name] = new Tensor('float32', set[index]!.subarray(0, size), [1, heads, total, headDim]);
      });
      const rows = this.wantsLogitsToKeep ? 1 : sequenceLength;
      fetches.logits =
        rows === 1 && this.logitsOut
          ? new Tensor('float32', this.logitsOut, [1, 1, this.logitsOut.length])
          : null;
    }
    const outputs = fetches ? await this.session.run(feeds, fetches) : await this.session.run(feeds);

    if (preallocated) {
      const size = heads * total * headDim;
      this.pastArrays = this.buffers![this.presentSet]!.map((buffer) => buffer.subarray(0, size));
      this.presentSet = 1 - this.presentSet;
      for (const name of this.presentNames) (outputs[name] as Tensor | undefined)?.dispose();
    } else {
      // past the buffers' capacity (or a float16 cache): the session's own outputs become the past
      this.buffers = undefined;
      this.pastArrays = this.presentNames.map((name) => {
        const tensor = bindableTensor(outputs[name] as Tensor);
        const data = tensor.data as KvArray | (ArrayBufferView & { length: number });
        return data instanceof Float32Array || data instanceof Uint16Array
          ? data
          : new Uint16Array(data.buffer, data.byteOffset, data.length);
      });
    }
    this.past = this.pastTensors(this.pastArrays, total);
    this.pastLength = total;

    const logits = outputs.logits as Tensor;
    const vocab = logits.dims.at(-1)!;
    const rows = logits.dims.at(-2)!;
    if (this.logitsRow.length !== vocab) this.logitsRow = new Float32Array(vocab);
    if (preallocated && !this.logitsOut) this.logitsOut = new Float32Array(vocab);
    const from = (rows - 1) * vocab;
    if (logits.type === 'float16') {
      const data = logits.data as Uint16Array | (ArrayBufferView & { length: number });
      const bits =
        data instanceof Uint16Array ? data : new Uint16Array(data.buffer, data.byteOffset, data.length);
      for (let i = 0; i < vocab; i++) this.logitsRow[i] = fromHalf(bits[from + i]!);
    } else {
      this.logitsRow.set((logits.data as Float32Array).subarray(from, from + vocab));
    }
    logits.dispose();
    return this.logitsRow;
  }

  /** Frees the KV cache; safe to call more than once. */
  dispose(): void {
    this.release();
  }

  private release(): void {
    this.past = undefined;
    this.pastArrays = [];
    this.buffers = undefined;
    this.pastLength = 0;
  }
}
