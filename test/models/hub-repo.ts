import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HubRepoFile } from '../fakes/fake-hub.js';

const fixture = 'test/fixtures/tiny-llava-random';
const read = (path: string) => readFileSync(join(fixture, path));

export const repoId = 'onnx-community/tiny-llava-random';

/**
 * A Hub repository laid out as the onnx-community conversions are: the JSON files, a
 * `chat_template.json`, the graphs at fp32 and q4 (the fixture's real graphs, so a pulled model
 * loads), an fp16 set whose decoder keeps its weights in `.onnx_data`, a lone q4f16 decoder,
 * and files Glimpse does not need (README, .gitattributes).
 */
export function hubRepo(): HubRepoFile[] {
  const json = [
    'config.json',
    'generation_config.json',
    'preprocessor_config.json',
    'processor_config.json',
    'special_tokens_map.json',
    'tokenizer.json',
    'tokenizer_config.json',
  ].map((path) => ({ path, bytes: read(path), lfs: false }));
  const template = JSON.parse(read('tokenizer_config.json').toString()).chat_template as string;
  const graphs = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'];
  return [
    {
      path: '.gitattributes',
      bytes: Buffer.from('*.onnx filter=lfs diff=lfs merge=lfs -text\n'),
      lfs: false,
    },
    { path: 'README.md', bytes: Buffer.from('# tiny llava\n'), lfs: false },
    ...json,
    {
      path: 'chat_template.json',
      bytes: Buffer.from(JSON.stringify({ chat_template: template })),
      lfs: false,
    },
    ...graphs.map((graph) => ({ path: `onnx/${graph}.onnx`, bytes: read(`onnx/${graph}.onnx`), lfs: true })),
    ...graphs.map((graph) => ({
      path: `onnx/${graph}_q4.onnx`,
      bytes: read(`onnx/${graph}.onnx`),
      lfs: true,
    })),
    ...graphs.map((graph) => ({
      path: `onnx/${graph}_fp16.onnx`,
      bytes: Buffer.from(`fp16 ${graph}`),
      lfs: true,
    })),
    { path: 'onnx/decoder_model_merged_fp16.onnx_data', bytes: Buffer.alloc(4096, 7), lfs: true },
    { path: 'onnx/decoder_model_merged_q4f16.onnx', bytes: Buffer.from('q4f16'), lfs: true },
  ];
}
