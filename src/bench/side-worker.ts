import { benchImage, paritySizeOf, phonePhotoPath, picturePath } from './bench-image.js';
import type { BenchOptions } from './bench-options.js';
import { imageSpecOf, measurePreprocessing } from './bench-preprocess.js';
import type { BenchSide, FollowUps, PreprocessResult, SideRun } from './bench-result.js';
import { loadGlimpseSide } from './glimpse-side.js';
import { loadTransformersPeer } from './transformers-peer.js';

/** the questions after the first, in order (the fourth turn is the third of these) */
export const followUpQuestions = [
  'And the square?',
  'Where is the circle?',
  'Describe the picture again.',
  'Which shape is bigger?',
  'Anything else?',
  'Thanks. One more look?',
  'Summarise.',
];

export const sideNames = ['transformers.js', 'glimpse'] as const;
export type SideName = (typeof sideNames)[number];

/** parent → child */
export type ParentMessage = { type: 'run' } | { type: 'finish' };
/** child → parent */
export type WorkerMessage =
  | { type: 'ready'; label: string; loadMs: number }
  | { type: 'ran'; run: SideRun }
  | {
      type: 'finished';
      parity: SideRun;
      parityImage: string;
      peakRssBytes: number;
      preprocess: PreprocessResult[];
    }
  | { type: 'failed'; message: string };

/**
 * The child-process end of one side: loads the model, then runs one generation per `run`
 * message, so the parent can interleave the two sides' runs; `finish` runs the parity picture and
 * reports the process's peak RSS.
 */
export async function runSideWorker(side: SideName, options: BenchOptions): Promise<void> {
  const send = (message: WorkerMessage) =>
    new Promise<void>((resolve, reject) => {
      if (!process.send) {
        reject(new Error('the bench worker must be started by `npm run bench`'));
        return;
      }
      process.send(message, (error: Error | null) => (error ? reject(error) : resolve()));
    });
  const image = await benchImage(options.image);
  const followUps: FollowUps = {
    questions: Array.from(
      { length: options.turns - 1 },
      (_, index) => followUpQuestions[index % followUpQuestions.length]!,
    ),
    maxNewTokens: options.historyTokens,
  };
  const loadStart = performance.now();
  const bench: BenchSide =
    side === 'glimpse'
      ? await loadGlimpseSide(options.model, options.threads, options.precision)
      : await loadTransformersPeer(options.model, options.threads, options.precision);
  await send({ type: 'ready', label: bench.label, loadMs: performance.now() - loadStart });
  await new Promise<void>((resolve, reject) => {
    let queue = Promise.resolve();
    process.on('message', (message: ParentMessage) => {
      queue = queue
        .then(async () => {
          if (message.type === 'run') {
            await send({
              type: 'ran',
              run: await bench.run(image, options.question, options.maxNewTokens, followUps),
            });
          } else {
            const size = await paritySizeOf(options.model);
            const parity = await bench.run(
              await benchImage(undefined, size),
              options.question,
              options.maxNewTokens,
            );
            const spec = await imageSpecOf(options.model);
            const images = [
              { path: options.image ?? picturePath, image },
              { path: phonePhotoPath, image: await benchImage(phonePhotoPath) },
            ];
            const preprocess =
              options.preprocessRuns > 0
                ? await measurePreprocessing(bench, images, spec, options.preprocessRuns)
                : [];
            await bench.dispose();
            await send({
              type: 'finished',
              parity,
              preprocess,
              parityImage: `${size[0]}×${size[1]}`,
              peakRssBytes: process.resourceUsage().maxRSS * 1024,
            });
            resolve();
          }
        })
        .catch(async (error: unknown) => {
          await send({
            type: 'failed',
            message: error instanceof Error ? error.message : String(error),
          }).catch(() => undefined);
          reject(error);
        });
    });
  });
}
