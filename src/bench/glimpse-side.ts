import type { ImagePart } from '../messages.js';
import { OnnxLlavaModel } from '../pipeline/onnx-llava-model.js';
import type { FinishPart, ModelMessage } from '../pipeline/vision-chat-model.js';
import { version } from '../version.js';
import type { BenchSide } from './bench-result.js';

/**
 * Glimpse's side: `OnnxLlavaModel` on the model directory, greedy, through the same `stream`
 * every adapter uses. Time to first token and decode speed are the model's own timings (measured
 * at the sampled token, as the peer's streamer sees it); end-to-end is the whole stream.
 */
export async function loadGlimpseSide(dir: string, threads: number, precision = 'fp32'): Promise<BenchSide> {
  const model = await OnnxLlavaModel.load({
    dir,
    precision,
    device: 'cpu',
    threads,
    imageMode: 'crop',
  });
  const messagesOf = (image: ImagePart, question: string): ModelMessage[] => [
    { role: 'user', content: [image, { type: 'text', text: question }] },
  ];
  return {
    label: `Glimpse ${version}`,
    async run(image, question, maxNewTokens) {
      const messages = messagesOf(image, question);
      const started = performance.now();
      let text = '';
      let finish: FinishPart | undefined;
      for await (const part of model.stream({
        messages,
        maxNewTokens,
        temperature: 0,
        topK: 0,
        topP: 1,
        repetitionPenalty: 1,
      })) {
        if (part.type === 'text-delta') text += part.text;
        else if (part.type === 'finish') finish = part;
        else if (part.type === 'error') throw part.error;
      }
      const endToEndMs = performance.now() - started;
      if (!finish) throw new Error('the stream ended without a finish part');
      const promptIds = (await model.buildInputs(messages)).prompt.inputIds;
      return {
        sample: {
          timeToFirstTokenMs: finish.timings.timeToFirstTokenMs,
          decodeTokensPerSecond: finish.timings.decodeTokensPerSecond,
          endToEndMs,
          generatedTokens: finish.usage.completionTokens,
          stages: {
            preprocessMs: finish.timings.preprocessMs,
            visionMs: finish.timings.visionMs,
            prefillMs: finish.timings.prefillMs,
          },
        },
        promptIds,
        generatedIds: finish.tokenIds ?? [],
        text,
      };
    },
    dispose: () => model.close(),
  };
}
