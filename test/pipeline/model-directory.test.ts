import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isGlimpseError } from '../../src/errors.js';
import { onnxFileName, readModelDirectory } from '../../src/pipeline/model-directory.js';
import { fixtureDir } from './helpers/fixture.js';

const temps: string[] = [];
async function copyFixture(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glimpse-model-'));
  temps.push(dir);
  await cp(fixtureDir, dir, { recursive: true });
  return dir;
}
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('readModelDirectory', () => {
  it('reads the standard layout: configs, tokenizer, chat template, the three graphs', async () => {
    const model = await readModelDirectory(fixtureDir);
    expect(model.name).toBe('tiny-llava-random');
    expect(model.config.model_type).toBe('llava');
    expect(model.processorConfig?.patch_size).toBe(14);
    expect(model.chatTemplate).toContain('ASSISTANT:');
    expect(model.onnx.decoder).toBe(join(fixtureDir, 'onnx/decoder_model_merged.onnx'));
  });

  it('picks the precision by file suffix', () => {
    expect(onnxFileName('decoder_model_merged', 'fp32')).toBe('onnx/decoder_model_merged.onnx');
    expect(onnxFileName('decoder_model_merged', 'fp16')).toBe('onnx/decoder_model_merged_fp16.onnx');
    expect(onnxFileName('vision_encoder', 'q4')).toBe('onnx/vision_encoder_q4.onnx');
    expect(onnxFileName('embed_tokens', 'quantized')).toBe('onnx/embed_tokens_quantized.onnx');
    expect(() => onnxFileName('embed_tokens', 'fp8')).toThrow(/unknown precision/);
  });

  it('reports every missing file in one error that lists what exists', async () => {
    const dir = await copyFixture();
    await rm(join(dir, 'tokenizer.json'));
    const error = await readModelDirectory(dir, 'q4').catch((caught: unknown) => caught);
    expect(isGlimpseError(error, 'glimpse_model_missing_file')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('tokenizer.json');
    expect(message).toContain('onnx/decoder_model_merged_q4.onnx');
    expect(message).toContain('onnx/vision_encoder_q4.onnx');
    // what the directory holds, so the fix is obvious
    expect(message).toContain('onnx/decoder_model_merged.onnx');
    expect(message).toContain('config.json');
  });

  it('says so when the directory does not exist', async () => {
    const error = await readModelDirectory('/nonexistent/model').catch((caught: unknown) => caught);
    expect(isGlimpseError(error, 'glimpse_model_missing_file')).toBe(true);
    expect((error as Error).message).toMatch(/config\.json.*holds: nothing/);
  });

  it('rejects a damaged JSON file with glimpse_model_invalid', async () => {
    const dir = await copyFixture();
    await writeFile(join(dir, 'config.json'), '{ not json');
    const error = await readModelDirectory(dir).catch((caught: unknown) => caught);
    expect(isGlimpseError(error, 'glimpse_model_invalid')).toBe(true);
    expect((error as Error).message).toContain('config.json');
  });

  it('prefers chat_template.jinja over tokenizer_config.json', async () => {
    const dir = await copyFixture();
    await writeFile(join(dir, 'chat_template.jinja'), '{{ messages[0].role }}');
    expect((await readModelDirectory(dir)).chatTemplate).toBe('{{ messages[0].role }}');
  });
});
