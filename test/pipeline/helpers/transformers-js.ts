import { basename, dirname } from 'node:path';
import {
  AutoProcessor,
  AutoTokenizer,
  env,
  LlavaForConditionalGeneration,
  type PreTrainedModel,
  type PreTrainedTokenizer,
  type Processor,
  Tensor,
} from '@huggingface/transformers';

/** transformers.js 4.3.1 over a local model directory, remote models off (no network). */
export interface TransformersJsLlava {
  model: PreTrainedModel;
  tokenizer: PreTrainedTokenizer;
  processor: Processor;
  /** greedy `generate` on exactly these inputs; returns only the new token ids */
  greedy(
    inputIds: readonly number[],
    pixels: Float32Array | undefined,
    pixelShape: number[],
    maxNewTokens: number,
    repetitionPenalty?: number,
  ): Promise<number[]>;
}

export async function loadTransformersJs(dir: string): Promise<TransformersJsLlava> {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${dirname(dir)}/`;
  const id = basename(dir);
  const model = await LlavaForConditionalGeneration.from_pretrained(id, { dtype: 'fp32', device: 'cpu' });
  const tokenizer = await AutoTokenizer.from_pretrained(id);
  const processor = await AutoProcessor.from_pretrained(id);
  return {
    model,
    tokenizer,
    processor,
    async greedy(inputIds, pixels, pixelShape, maxNewTokens, repetitionPenalty = 1) {
      const ids = BigInt64Array.from(inputIds, (value) => BigInt(value));
      const inputs: Record<string, Tensor> = {
        input_ids: new Tensor('int64', ids, [1, ids.length]),
        attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
      };
      if (pixels && pixelShape[0]! > 0) inputs.pixel_values = new Tensor('float32', pixels, pixelShape);
      const output = (await model.generate({
        ...inputs,
        max_new_tokens: maxNewTokens,
        do_sample: false,
        repetition_penalty: repetitionPenalty,
      })) as Tensor;
      const all = Array.from(output.data as BigInt64Array, Number);
      return all.slice(inputIds.length);
    },
  };
}
