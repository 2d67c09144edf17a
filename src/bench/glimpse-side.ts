import type { ImagePart } from '../messages.js';
import { preprocessImage } from '../pipeline/image-preprocess.js';
import { OnnxLlavaModel } from '../pipeline/onnx-llava-model.js';
import type { FinishPart, ModelMessage } from '../pipeline/vision-chat-model.js';
import { version } from '../version.js';
import type { BenchSide, RunSample } from './bench-result.js';

/**
 * Glimpse's side: `OnnxLlavaModel` on the model directory, greedy, through the same `stream`
 * every adapter uses. Time to first token and decode speed are the model's own timings (measured
 * at the sampled token, as the peer's streamer sees it); end-to-end is the whole stream. Each run
 * starts with empty caches (a cold first turn); its follow-up turns may reuse them, as a chat does.
 */
export async function loadGlimpseSide(dir: string, threads: number, precision = 'fp32'): Promise<BenchSide> {
  const model = await OnnxLlavaModel.load({
    dir,
    precision,
    device: 'cpu',
    threads,
    imageMode: 'crop',
  });
  const turn = async (messages: ModelMessage[], maxNewTokens: number) => {
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
    return { finish, text, endToEndMs };
  };
  return {
    label: `Glimpse ${version}`,
    async run(image, question, maxNewTokens, followUps) {
      model.clearCaches();
      const messages: ModelMessage[] = [{ role: 'user', content: [image, { type: 'text', text: question }] }];
      const first = await turn(messages, maxNewTokens);
      const sample: RunSample = {
        timeToFirstTokenMs: first.finish.timings.timeToFirstTokenMs,
        decodeTokensPerSecond: first.finish.timings.decodeTokensPerSecond,
        endToEndMs: first.endToEndMs,
        generatedTokens: first.finish.usage.completionTokens,
        stages: {
          preprocessMs: first.finish.timings.preprocessMs,
          visionMs: first.finish.timings.visionMs,
          prefillMs: first.finish.timings.prefillMs,
        },
      };
      const promptIds = (await model.buildInputs(messages)).prompt.inputIds;
      let answer = first.text;
      for (const [index, followUp] of (followUps?.questions ?? []).entries()) {
        messages.push({ role: 'assistant', content: [{ type: 'text', text: answer }] });
        messages.push({ role: 'user', content: [{ type: 'text', text: followUp }] });
        const later = await turn(messages, followUps!.maxNewTokens);
        answer = later.text;
        sample.laterTurn = {
          turn: index + 2,
          timeToFirstTokenMs: later.finish.timings.timeToFirstTokenMs,
          promptTokens: later.finish.usage.promptTokens,
        };
      }
      return { sample, promptIds, generatedIds: first.finish.tokenIds ?? [], text: first.text };
    },
    preprocess: (image: ImagePart) => preprocessImage(image.bytes, model.spec.image, 'crop', image.name),
    dispose: () => model.close(),
  };
}
