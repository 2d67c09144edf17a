import { describe, expect, it } from 'vitest';
import type { HubFile } from '../../src/models/hub-client.js';
import { precisionsIn, selectModelFiles } from '../../src/models/model-files.js';
import { hubRepo, repoId } from './hub-repo.js';

const listing: HubFile[] = hubRepo().map((file) => ({ path: file.path, size: file.bytes.length }));
const paths = (precision: string) =>
  selectModelFiles(listing, precision, repoId)
    .map((file) => file.path)
    .sort();

const json = [
  'chat_template.json',
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'processor_config.json',
  'special_tokens_map.json',
  'tokenizer.json',
  'tokenizer_config.json',
];

describe('selectModelFiles', () => {
  it('q4: the JSON files (chat_template.json too) and the three q4 graphs, nothing else', () => {
    expect(paths('q4')).toEqual(
      [
        ...json,
        'onnx/decoder_model_merged_q4.onnx',
        'onnx/embed_tokens_q4.onnx',
        'onnx/vision_encoder_q4.onnx',
      ].sort(),
    );
  });

  it('fp32: the suffix-less graphs', () => {
    expect(paths('fp32').filter((path) => path.startsWith('onnx/'))).toEqual([
      'onnx/decoder_model_merged.onnx',
      'onnx/embed_tokens.onnx',
      'onnx/vision_encoder.onnx',
    ]);
  });

  it('fp16: a graph with external data brings its .onnx_data', () => {
    expect(paths('fp16').filter((path) => path.startsWith('onnx/'))).toEqual([
      'onnx/decoder_model_merged_fp16.onnx',
      'onnx/decoder_model_merged_fp16.onnx_data',
      'onnx/embed_tokens_fp16.onnx',
      'onnx/vision_encoder_fp16.onnx',
    ]);
  });

  it('takes a text encoder at the precision when there is one, and split external data', () => {
    const more = [
      ...listing,
      { path: 'onnx/text_encoder_q4.onnx', size: 1 },
      { path: 'onnx/decoder_model_merged_q4.onnx_data', size: 1 },
      { path: 'onnx/decoder_model_merged_q4.onnx_data_1', size: 1 },
      { path: 'onnx/decoder_model_merged_q4f16.onnx_data', size: 1 },
    ];
    const selected = selectModelFiles(more, 'q4', repoId).map((file) => file.path);
    expect(selected).toContain('onnx/text_encoder_q4.onnx');
    expect(selected).toContain('onnx/decoder_model_merged_q4.onnx_data');
    expect(selected).toContain('onnx/decoder_model_merged_q4.onnx_data_1');
    expect(selected).not.toContain('onnx/decoder_model_merged_q4f16.onnx_data');
  });

  it('a precision the export lacks: one error naming the precisions it has', () => {
    expect(() => selectModelFiles(listing, 'q4f16', repoId)).toThrow(
      expect.objectContaining({
        code: 'glimpse_precision_unavailable',
        message: expect.stringMatching(/has no q4f16 export .*vision_encoder_q4f16.*it has: fp32, fp16, q4$/),
      }),
    );
  });

  it('an export without a tokenizer is not a model Glimpse loads', () => {
    expect(() =>
      selectModelFiles(
        listing.filter((file) => file.path !== 'tokenizer.json'),
        'q4',
        repoId,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'glimpse_precision_unavailable',
        message: expect.stringContaining('tokenizer.json'),
      }),
    );
  });

  it('precisionsIn: only complete sets', () => {
    expect(precisionsIn(listing.map((file) => file.path))).toEqual(['fp32', 'fp16', 'q4']);
  });
});
