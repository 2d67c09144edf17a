import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import { imagePart } from './helpers/fixture.js';

/**
 * The embedded trained model (models/tiny-shapes: 128 px, patch 16 → 64 image tokens) against the
 * PyTorch greedy answers its trainer recorded for PNG scenes (PIL CLIPImageProcessor → greedy):
 * token for token, with sizes read from the files.
 */
const dir = resolve('models/tiny-shapes');
const referencePath = join(dir, 'reference/reference.json');

interface Case {
  image: string;
  questions: { question: string; prompt: string; greedy_ids: number[]; greedy_answer: string }[];
}

describe.skipIf(!existsSync(referencePath))('models/tiny-shapes against its PyTorch reference', () => {
  let model: OnnxLlavaModel;
  beforeAll(async () => {
    model = await OnnxLlavaModel.load({ dir, threads: 1 });
  });
  afterAll(async () => {
    await model.close();
  });

  it('reads 128 px and 64 image tokens from the files', () => {
    expect(model.info.imageTokens).toBe(64);
    expect(model.spec.image.outputSize).toEqual({ height: 128, width: 128 });
  });

  it('gives the recorded greedy answer, token for token, for every case', async () => {
    const cases = (JSON.parse(readFileSync(referencePath, 'utf8')) as { cases: Case[] }).cases;
    let checked = 0;
    for (const item of cases) {
      const bytes = new Uint8Array(readFileSync(join(dir, 'reference', item.image)));
      const image = imagePart(bytes, 128, 128, item.image);
      for (const question of item.questions) {
        const messages = [
          { role: 'user' as const, content: [image, { type: 'text' as const, text: question.question }] },
        ];
        const inputs = await model.buildInputs(messages);
        expect(inputs.prompt.text).toBe(question.prompt);
        let tokenIds: number[] = [];
        let text = '';
        for await (const part of model.stream({ messages, temperature: 0, maxNewTokens: 48 })) {
          if (part.type === 'text-delta') text += part.text;
          if (part.type === 'finish') tokenIds = part.tokenIds ?? [];
          if (part.type === 'error') throw part.error;
        }
        const answer = tokenIds.filter((id) => !model.spec.eosTokenIds.includes(id));
        expect({ question: question.question, ids: answer }).toEqual({
          question: question.question,
          ids: question.greedy_ids,
        });
        expect(text).toBe(question.greedy_answer);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});
