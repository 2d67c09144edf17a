import { GlimpseError } from '../errors.js';
import {
  onnxFileName,
  optionalJson,
  requiredJson,
  supportedPrecisions,
} from '../pipeline/model-directory.js';
import type { HubFile } from './hub-client.js';

/** The JSON (and template) files beside the graphs that Glimpse reads, when the export has them. */
export const modelJsonFiles = [
  ...requiredJson,
  ...optionalJson,
  'added_tokens.json',
  'chat_template.json',
  'chat_template.jinja',
];

/** The graphs the pipeline loads; `text_encoder` (zero-shot labels) is taken when present. */
export const requiredGraphs = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'];
export const optionalGraphs = ['text_encoder'];

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A graph and its external data (`.onnx_data`, `.onnx_data_1`, …), as listed. */
function graphFiles(files: HubFile[], graph: string, precision: string): HubFile[] {
  const name = onnxFileName(graph, precision);
  const data = new RegExp(`^${escapeRegExp(name)}_data(_\\d+)?$`);
  return files.filter((file) => file.path === name || data.test(file.path));
}

/** The precisions whose three graphs are all in the listing. */
export function precisionsIn(paths: string[]): string[] {
  const present = new Set(paths);
  return supportedPrecisions.filter(
    (precision) =>
      precision !== 'q8' && requiredGraphs.every((graph) => present.has(onnxFileName(graph, precision))),
  );
}

/**
 * What `glimpse models pull` fetches for `precision`: the JSON files present, the three graphs
 * at that precision with their external-data files, and a text encoder at that precision when
 * there is one. An export without the three graphs at that precision → one error naming the
 * precisions it does have.
 */
export function selectModelFiles(files: HubFile[], precision: string, id: string): HubFile[] {
  const json = files.filter((file) => modelJsonFiles.includes(file.path));
  // what the model directory requires to load (model-directory.ts)
  const missingJson = requiredJson.filter((name) => !json.some((file) => file.path === name));
  const graphs = requiredGraphs.map((graph) => ({ graph, files: graphFiles(files, graph, precision) }));
  const missing = graphs.filter(
    ({ graph, files: found }) => !found.some((file) => file.path === onnxFileName(graph, precision)),
  );
  if (missing.length > 0) {
    const available = precisionsIn(files.map((file) => file.path));
    throw new GlimpseError(
      'glimpse_precision_unavailable',
      `${id} has no ${precision} export (${missing.map(({ graph }) => onnxFileName(graph, precision)).join(', ')} missing); it has: ${
        available.length > 0
          ? available.join(', ')
          : 'no LLaVA ONNX graphs (onnx/vision_encoder, embed_tokens, decoder_model_merged)'
      }`,
      {
        userMessage: 'That precision is not published for this model.',
        details: { id, precision, available },
      },
    );
  }
  if (missingJson.length > 0) {
    throw new GlimpseError(
      'glimpse_precision_unavailable',
      `${id} lacks ${missingJson.join(', ')}: not a model Glimpse can load`,
      {
        userMessage: 'That model is not in the layout Glimpse loads.',
        details: { id, missing: missingJson },
      },
    );
  }
  const optional = optionalGraphs.flatMap((graph) => graphFiles(files, graph, precision));
  return [...json, ...graphs.flatMap(({ files: found }) => found), ...optional];
}
