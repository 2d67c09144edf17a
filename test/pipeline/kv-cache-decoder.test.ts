import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { isGlimpseError } from '../../src/errors.js';
import { KvCacheDecoder } from '../../src/pipeline/kv-cache-decoder.js';
import type { DecoderSpec } from '../../src/pipeline/model-spec.js';
import type { OnnxSession } from '../../src/pipeline/onnx-sessions.js';

const spec: DecoderSpec = { numLayers: 1, numKeyValueHeads: 2, headDim: 4, hiddenSize: 8, vocabSize: 5 };

/** A decoder graph that records its feeds, grows the cache by the sequence length and returns logits. */
class FakeDecoderSession implements OnnxSession {
  readonly feeds: Record<string, Tensor>[] = [];
  released = false;
  constructor(
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[] = ['logits', 'present.0.key', 'present.0.value'],
  ) {}

  async run(feeds: InferenceSession.FeedsType): Promise<InferenceSession.ReturnType> {
    const typed = feeds as Record<string, Tensor>;
    this.feeds.push(typed);
    const sequence = typed.inputs_embeds!.dims[1]!;
    const past = typed['past_key_values.0.key']!.dims[2]!;
    const kept = typed.num_logits_to_keep ? 1 : sequence;
    const logits = new Float32Array(kept * 5);
    logits[(kept - 1) * 5 + ((past + sequence) % 5)] = 1; // the last row favours (total length mod 5)
    const present = () =>
      new Tensor('float32', new Float32Array(2 * (past + sequence) * 4), [1, 2, past + sequence, 4]);
    return {
      logits: new Tensor('float32', logits, [1, kept, 5]),
      'present.0.key': present(),
      'present.0.value': present(),
    };
  }

  async release(): Promise<void> {
    this.released = true;
  }
}

const standard = [
  'inputs_embeds',
  'attention_mask',
  'position_ids',
  'past_key_values.0.key',
  'past_key_values.0.value',
];

describe('KvCacheDecoder', () => {
  it('prefills with an empty past (length 0), then extends attention_mask and position_ids per step', async () => {
    const session = new FakeDecoderSession(standard);
    const decoder = new KvCacheDecoder(session, spec);
    const first = await decoder.prefill(new Float32Array(3 * 8), 3);
    expect(Array.from(first)).toEqual([0, 0, 0, 1, 0]);
    expect(decoder.length).toBe(3);
    await decoder.step(new Float32Array(8));
    await decoder.step(new Float32Array(8));
    const [prefill, step1, step2] = session.feeds;
    expect(prefill!['past_key_values.0.key']!.dims).toEqual([1, 2, 0, 4]);
    expect(Array.from(prefill!.position_ids!.data as BigInt64Array, Number)).toEqual([0, 1, 2]);
    expect(prefill!.attention_mask!.dims).toEqual([1, 3]);
    expect(step1!['past_key_values.0.key']!.dims).toEqual([1, 2, 3, 4]);
    expect(Array.from(step1!.position_ids!.data as BigInt64Array, Number)).toEqual([3]);
    expect(step2!.attention_mask!.dims).toEqual([1, 5]);
    expect(Array.from(step2!.position_ids!.data as BigInt64Array, Number)).toEqual([4]);
    expect(step2!.use_cache_branch).toBeUndefined();
    expect(step2!.num_logits_to_keep).toBeUndefined();
    decoder.dispose();
    expect(decoder.length).toBe(0);
  });

  it('feeds num_logits_to_keep and use_cache_branch when the graph declares them', async () => {
    const session = new FakeDecoderSession([...standard, 'num_logits_to_keep', 'use_cache_branch']);
    const decoder = new KvCacheDecoder(session, spec);
    await decoder.prefill(new Float32Array(2 * 8), 2);
    await decoder.step(new Float32Array(8));
    const [prefill, step] = session.feeds;
    expect(Array.from(prefill!.num_logits_to_keep!.data as BigInt64Array)).toEqual([1n]);
    expect(Array.from(prefill!.use_cache_branch!.data as Uint8Array)).toEqual([0]);
    expect(Array.from(step!.use_cache_branch!.data as Uint8Array)).toEqual([1]);
  });

  it('continues from a given past: positions and mask start after it, the past is fed as it is', async () => {
    const session = new FakeDecoderSession([...standard, 'use_cache_branch']);
    const decoder = new KvCacheDecoder(session, spec);
    const layer = new Float32Array(2 * 3 * 4).fill(0.5);
    await decoder.prefill(new Float32Array(2 * 8), 2, {
      past: { length: 3, kvHeads: 2, headDim: 4, layers: [layer, layer] },
      capacity: 8,
    });
    await decoder.step(new Float32Array(8));
    const [prefill, step] = session.feeds;
    expect(prefill!['past_key_values.0.key']!.dims).toEqual([1, 2, 3, 4]);
    expect(prefill!['past_key_values.0.key']!.data).toBe(layer);
    expect(Array.from(prefill!.position_ids!.data as BigInt64Array, Number)).toEqual([3, 4]);
    expect(prefill!.attention_mask!.dims).toEqual([1, 5]);
    expect(Array.from(prefill!.use_cache_branch!.data as Uint8Array)).toEqual([1]);
    expect(step!['past_key_values.0.value']!.dims).toEqual([1, 2, 5, 4]);
    expect(decoder.length).toBe(6);
    // the snapshot is a copy of exactly `length` tokens, never the given past's memory
    const snapshot = decoder.snapshot();
    expect(snapshot).toMatchObject({ length: 6, kvHeads: 2, headDim: 4 });
    expect(snapshot.layers[0]!.length).toBe(2 * 6 * 4);
    expect(snapshot.layers[0]!.buffer).not.toBe(layer.buffer);
  });

  it('a graph without the layout names is one clear error', () => {
    let error: unknown;
    try {
      new KvCacheDecoder(new FakeDecoderSession(['input_ids', 'attention_mask']), spec);
    } catch (caught) {
      error = caught;
    }
    expect(isGlimpseError(error, 'glimpse_model_invalid')).toBe(true);
    expect((error as Error).message).toMatch(/inputs_embeds/);
  });
});
