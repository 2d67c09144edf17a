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
const reasons = z.record(z.string(), text);
const template = z.union([text, z.object({ t: text, heldOut: text })]);
const intent = z.object({
  answer: text,
  when: z.string().optional(),
  after: z.string().optional(),
  templates: z.array(template).min(1),
  /** word class → value → what holding it out of this intent tests */
  heldOutWords: z.record(z.string(), reasons).optional(),
});
const weights = <K extends string>(keys: readonly [K, ...K[]]) =>
  z.object(Object.fromEntries(keys.map((key) => [key, z.number().min(0)])) as Record<K, z.ZodNumber>);
const sidePhrase = z.object({ where: z.array(text).min(1), most: z.array(text).min(1) });

/** Issue #17's phrasing grammar, dialogues and out-of-domain questions (see the spec's $comment). */
const conversationSchema = z.object({
  honestReply: text,
  maxTurns: z.number().int().min(1),
  words: z.record(z.string(), z.array(text).min(1)),
  sidePhrases: z.object({
    left: sidePhrase,
    right: sidePhrase,
    top: sidePhrase,
    bottom: sidePhrase,
    heldOut: reasons,
  }),
  absentColours: z.object({ values: z.array(text).min(1) }),
  nouns: z.object({ values: z.array(text).min(1), heldOut: reasons }),
  intents: z.object({
    colour: intent,
    shape: intent,
    position: intent,
    count: intent,
    exists: intent,
    existsKind: intent,
    describe: intent,
    outOfDomain: intent,
  }),
  followUps: z.object({
    itColour: intent,
    andKind: intent,
    andPlural: intent,
    andSide: intent,
    andColourOne: intent,
    andExists: intent,
    andExistsKind: intent,
    howManyOfThose: intent,
  }),
  surface: z.object({
    prefixes: z.array(z.object({ text, lowerNext: z.boolean() })).min(1),
    suffixes: z.array(z.object({ text, beforeEnd: z.boolean() })).min(1),
    politeness: weights(['none', 'prefix', 'suffix']),
    end: weights(['keep', 'drop', 'double']),
    case: weights(['asWritten', 'lower', 'upper']),
    heldOut: z.object({ prefixAndSuffix: text }),
  }),
  playground: z.object({
    background: z.string(),
    shapes: z
      .array(
        z.object({
          kind: text,
          colour: text,
          size: z.number().int().min(1),
          cx: z.number().int(),
          cy: z.number().int(),
        }),
      )
      .min(1),
    turns: z.array(z.object({ q: text, a: text })).min(1),
  }),
});

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
  conversation: conversationSchema,
  answerMatching: z.string(),
});

export type Rgb = [number, number, number];
export type SceneSpec = z.output<typeof sceneSpecSchema>;
export type ConversationSpec = SceneSpec['conversation'];
export type IntentSpec = z.output<typeof intent>;
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
    problems.push(...conversationProblems(spec));
  }
  if (problems.length > 0 || !parsed.success) {
    throw new GlimpseError('glimpse_model_invalid', `${source} is invalid:\n  - ${problems.join('\n  - ')}`, {
      details: { source, problems },
    });
  }
  return parsed.data;
}

const knownSlots = new Set([
  'kind',
  'plural',
  'colour',
  'a',
  'side',
  'where',
  'most',
  'noun',
  'number',
  'yesno',
  'list',
  'honest',
]);

/** The grammar's cross-references: word classes and slots that exist, held-out values that occur. */
function conversationProblems(spec: SceneSpec): string[] {
  const problems: string[] = [];
  const c = spec.conversation;
  const groups = { intents: c.intents, followUps: c.followUps } as Record<string, Record<string, IntentSpec>>;
  for (const [group, intents] of Object.entries(groups)) {
    for (const [name, def] of Object.entries(intents)) {
      const where = `conversation.${group}.${name}`;
      const used = new Set<string>();
      let trained = 0;
      for (const entry of def.templates) {
        const t = typeof entry === 'string' ? entry : entry.t;
        if (typeof entry === 'string') trained++;
        for (const [, word] of t.matchAll(/<(\w+)>/g)) {
          used.add(word!);
          if (!c.words[word!]) problems.push(`${where}: '${t}' uses an unknown word class <${word}>`);
        }
        for (const [, slot] of t.matchAll(/\{(\w+)\}/g)) {
          if (!knownSlots.has(slot!)) problems.push(`${where}: '${t}' uses an unknown slot {${slot}}`);
        }
      }
      if (trained === 0) problems.push(`${where}: no trained template`);
      for (const [word, values] of Object.entries(def.heldOutWords ?? {})) {
        if (!used.has(word)) problems.push(`${where}.heldOutWords: <${word}> is not used by its templates`);
        for (const value of Object.keys(values)) {
          if (!c.words[word]?.includes(value))
            problems.push(`${where}.heldOutWords: '${value}' is not a value of <${word}>`);
        }
        if (c.words[word]?.every((value) => value in values))
          problems.push(`${where}.heldOutWords: every value of <${word}> is held out`);
      }
    }
  }
  for (const phrase of Object.keys(c.sidePhrases.heldOut)) {
    if (!sides.some((side) => phrase.split(/\W+/).includes(side)))
      problems.push(`conversation.sidePhrases.heldOut: '${phrase}' names no side`);
  }
  return problems;
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
