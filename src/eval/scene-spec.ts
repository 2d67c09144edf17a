import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { GlimpseError } from '../errors.js';

/**
 * The tiny-shapes scene contract (`models/recipes/tiny-shapes/scene-spec.json`), shared with the
 * Python trainer. It is read at run time, never copied, so both sides change together.
 */

export const defaultSceneSpecPath = 'models/recipes/tiny-shapes/scene-spec.json';

const rgb = z.tuple([
  z.number().int().min(0).max(255),
  z.number().int().min(0).max(255),
  z.number().int().min(0).max(255),
]);
const range = z.object({ min: z.number().int().min(0), max: z.number().int().min(0) });
const text = z.string().min(1);
const qa = z.object({ q: text, a: text });
const dialogue = z.object({ q1: text, a1: text, q2: text, a2: text });

const sceneSpecSchema = z.object({
  imageSize: z.number().int().min(16),
  shapeCount: range,
  shapeSize: range,
  minGap: z.number().min(0),
  kinds: z.array(z.string().min(1)).min(2),
  plural: z.record(z.string(), z.string().min(1)),
  colours: z.record(z.string(), rgb),
  colourJitter: z.number().min(0),
  backgrounds: z.record(z.string(), rgb),
  diagram: z.object({
    labelProbability: z.number().min(0).max(1),
    labels: z.array(z.string().min(1)).min(1),
    labelColour: rgb,
    arrowProbability: z.number().min(0).max(1),
    arrowColour: rgb,
    outlineProbability: z.number().min(0).max(1),
    outlineWidth: z.number().min(0),
  }),
  positionMargin: z.number().min(0),
  questions: z.object({
    colour: qa,
    shape: qa,
    position: qa.extend({ sides: z.record(z.string(), text) }),
    count: qa.extend({ numbers: z.array(text).min(1) }),
    exists: qa,
    describe: qa,
  }),
  followUps: z.object({
    existsThenColour: dialogue,
    countThenCount: dialogue,
    positionThenColour: dialogue,
  }),
  answerMatching: z.string(),
});

export type Rgb = [number, number, number];
export type SceneSpec = z.output<typeof sceneSpecSchema>;
export type Side = 'left' | 'right' | 'top' | 'bottom';
export const sides: readonly Side[] = ['left', 'right', 'top', 'bottom'];

/** Validates a parsed spec: the schema, plus the cross-references the generator relies on. */
export function parseSceneSpec(raw: unknown, source = 'scene spec'): SceneSpec {
  const parsed = sceneSpecSchema.safeParse(raw);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  if (parsed.success) {
    const spec = parsed.data;
    for (const kind of spec.kinds) if (!spec.plural[kind]) problems.push(`plural: no plural for '${kind}'`);
    if (Object.keys(spec.colours).length < 2) problems.push('colours: at least two colours');
    if (Object.keys(spec.backgrounds).length < 1) problems.push('backgrounds: at least one background');
    if (spec.shapeCount.min < 1 || spec.shapeCount.max < spec.shapeCount.min)
      problems.push('shapeCount: expected 1 <= min <= max');
    if (spec.shapeSize.max < spec.shapeSize.min || spec.shapeSize.max > spec.imageSize)
      problems.push('shapeSize: expected min <= max <= imageSize');
    if (spec.questions.count.numbers.length <= spec.shapeCount.max)
      problems.push('questions.count.numbers: need a word for every count up to shapeCount.max');
    for (const side of sides)
      if (!spec.questions.position.sides[side]) problems.push(`questions.position.sides: no '${side}'`);
  }
  if (problems.length > 0 || !parsed.success) {
    throw new GlimpseError('glimpse_model_invalid', `${source} is invalid:\n  - ${problems.join('\n  - ')}`, {
      details: { source, problems },
    });
  }
  return parsed.data;
}

/** Reads and validates the scene spec (default: the repository's tiny-shapes contract). */
export async function loadSceneSpec(path = defaultSceneSpecPath): Promise<SceneSpec> {
  const full = resolve(path);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(full, 'utf8'));
  } catch (error) {
    throw new GlimpseError('glimpse_model_missing_file', `cannot read the scene spec ${full}`, {
      cause: error,
      details: { path: full },
    });
  }
  return parseSceneSpec(raw, full);
}

/** Fills `{name}` placeholders; an unknown placeholder is a bug in the spec or the caller. */
export function fillTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\{(\w+)\}/g, (_whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`template '${text}' needs {${name}}`);
    return value;
  });
}
