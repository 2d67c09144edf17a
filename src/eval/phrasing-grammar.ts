import type { ConversationSpec, IntentSpec, SceneSpec, Side } from './scene-spec.js';
import type { SeededRandom } from './seeded-random.js';

/**
 * Issue #17's phrasing grammar (`scene-spec.json` → `conversation`), the TypeScript twin of
 * `models/recipes/tiny-shapes/phrasings.py`: a template's `<wordClass>` references expand to
 * every value of the class (the last class varies fastest), `{slot}`s are filled from the scene,
 * and a surface (politeness, end mark, case) is applied last. Every part is trained or held out;
 * a question is held out when any of its parts is, and its `heldOut` lists why (what it tests).
 * Training only ever sees trained parts; `phrasingCatalog` is compared with the Python side's.
 */

export type Split = 'trained' | 'heldOut';

export type IntentName = keyof ConversationSpec['intents'];
export type FollowUpName = keyof ConversationSpec['followUps'];
export type AnyIntent = IntentName | FollowUpName;

/** One template with its word classes chosen; slots still open. */
export interface Pattern {
  template: number;
  text: string;
  /** why it is held out; empty when trained */
  heldOut: string[];
}

export interface Surface {
  prefix?: number;
  suffix?: number;
  end: 'keep' | 'drop' | 'double';
  case: 'asWritten' | 'lower' | 'upper';
}

export interface Phrased {
  question: string;
  heldOut: string[];
}

export function intentSpec(spec: SceneSpec, name: AnyIntent): IntentSpec {
  const c = spec.conversation;
  const def =
    (c.intents as Record<string, IntentSpec>)[name] ?? (c.followUps as Record<string, IntentSpec>)[name];
  if (!def) throw new Error(`no intent '${name}' in the spec`);
  return def;
}

const templateText = (entry: IntentSpec['templates'][number]) =>
  typeof entry === 'string' ? entry : entry.t;
const templateReason = (entry: IntentSpec['templates'][number]) =>
  typeof entry === 'string' ? undefined : entry.heldOut;

/** The word classes a template uses, in order of first use. */
function wordClasses(text: string): string[] {
  return [...new Set([...text.matchAll(/<(\w+)>/g)].map((m) => m[1]!))];
}

/** Every expansion of one template, in a fixed order. */
export function expandTemplate(spec: SceneSpec, def: IntentSpec, index: number): Pattern[] {
  const entry = def.templates[index]!;
  const classes = wordClasses(templateText(entry));
  let out: { text: string; heldOut: string[] }[] = [
    { text: templateText(entry), heldOut: templateReason(entry) ? [templateReason(entry)!] : [] },
  ];
  for (const word of classes) {
    const values = spec.conversation.words[word]!;
    const next: typeof out = [];
    for (const partial of out) {
      for (const value of values) {
        const reason = def.heldOutWords?.[word]?.[value];
        next.push({
          text: partial.text.split(`<${word}>`).join(value),
          heldOut: reason ? [...partial.heldOut, reason] : partial.heldOut,
        });
      }
    }
    out = next;
  }
  return out.map((p) => ({ template: index, ...p }));
}

const patternCache = new WeakMap<SceneSpec, Map<string, Pattern[]>>();

/** Every pattern of an intent (all templates expanded). */
export function intentPatterns(spec: SceneSpec, name: AnyIntent): Pattern[] {
  let cache = patternCache.get(spec);
  if (!cache) {
    cache = new Map();
    patternCache.set(spec, cache);
  }
  let patterns = cache.get(name);
  if (!patterns) {
    const def = intentSpec(spec, name);
    patterns = def.templates.flatMap((_entry, index) => expandTemplate(spec, def, index));
    cache.set(name, patterns);
  }
  return patterns;
}

export const intentNames: readonly IntentName[] = [
  'colour',
  'shape',
  'position',
  'count',
  'exists',
  'existsKind',
  'describe',
  'outOfDomain',
];
export const followUpNames: readonly FollowUpName[] = [
  'itColour',
  'andKind',
  'andPlural',
  'andSide',
  'andColourOne',
  'andExists',
  'andExistsKind',
  'howManyOfThose',
];

/**
 * The whole grammar as text: per intent its trained and held-out patterns (slots open), then the
 * trained and held-out slot phrases. The Python side writes the same object
 * (`phrasings.py --catalog`); a test compares the two.
 */
export function phrasingCatalog(spec: SceneSpec): Record<string, { trained: string[]; heldOut: string[] }> {
  const out: Record<string, { trained: string[]; heldOut: string[] }> = {};
  for (const name of [...intentNames, ...followUpNames]) {
    const patterns = intentPatterns(spec, name);
    out[name] = {
      trained: patterns.filter((p) => p.heldOut.length === 0).map((p) => p.text),
      heldOut: patterns.filter((p) => p.heldOut.length > 0).map((p) => p.text),
    };
  }
  const c = spec.conversation;
  out['sides:where'] = {
    trained: sideList.flatMap((side) => c.sidePhrases[side].where),
    heldOut: Object.keys(c.sidePhrases.heldOut),
  };
  out['sides:most'] = { trained: sideList.flatMap((side) => c.sidePhrases[side].most), heldOut: [] };
  out.nouns = { trained: [...c.nouns.values], heldOut: Object.keys(c.nouns.heldOut) };
  return out;
}

const sideList: readonly Side[] = ['left', 'right', 'top', 'bottom'];

/** The held-out {where} phrases of one side (each names its side word). */
export function heldOutWhere(spec: SceneSpec, side: Side): string[] {
  return Object.keys(spec.conversation.sidePhrases.heldOut).filter((phrase) =>
    phrase.split(/\W+/).includes(side),
  );
}

/** "a" or "an" for the word that follows, the answers' rule. */
export function articleFor(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/** Fills `{slot}`s; `{a}` becomes the article of the word after it. */
export function fillSlots(text: string, values: Record<string, string>): string {
  const filled = text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (name === 'a') return whole;
    const value = values[name];
    if (value === undefined) throw new Error(`pattern '${text}' needs {${name}}`);
    return value;
  });
  return filled.replace(/\{a\} (\S+)/g, (_whole, next: string) => `${articleFor(next)} ${next}`);
}

/** Politeness, then the end mark, then the case. */
export function applySurface(spec: SceneSpec, text: string, surface: Surface): string {
  const s = spec.conversation.surface;
  const match = text.match(/^(.*?)([?.!]*)$/s)!;
  let body = match[1]!;
  let end = match[2]!;
  if (surface.end === 'drop') end = '';
  else if (surface.end === 'double' && end === '?') end = '??';
  const suffix = surface.suffix === undefined ? undefined : s.suffixes[surface.suffix]!;
  let out = suffix?.beforeEnd ? `${body}${suffix.text}${end}` : `${body}${end}${suffix?.text ?? ''}`;
  if (surface.prefix !== undefined) {
    const prefix = s.prefixes[surface.prefix]!;
    body = prefix.lowerNext ? out.charAt(0).toLowerCase() + out.slice(1) : out;
    out = `${prefix.text}${body}`;
  }
  if (surface.case === 'lower') return out.toLowerCase();
  if (surface.case === 'upper') return out.toUpperCase();
  return out;
}

function weighted<K extends string>(random: SeededRandom, weights: Record<K, number>): K {
  const entries = Object.entries(weights) as [K, number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let r = random.next() * total;
  for (const [key, w] of entries) {
    r -= w;
    if (r < 0) return key;
  }
  return entries.at(-1)![0];
}

/** A surface from the trained split (a prefix or a suffix, never both), or the held-out one. */
export function sampleSurface(spec: SceneSpec, random: SeededRandom, heldOut = false): Surface {
  const s = spec.conversation.surface;
  const surface: Surface = { end: weighted(random, s.end), case: weighted(random, s.case) };
  const politeness = heldOut ? 'both' : weighted(random, s.politeness);
  if (politeness === 'prefix' || politeness === 'both') surface.prefix = random.int(0, s.prefixes.length - 1);
  if (politeness === 'suffix' || politeness === 'both') surface.suffix = random.int(0, s.suffixes.length - 1);
  return surface;
}

/** What the scene fixes for a question: slot values, and the side when the intent has one. */
export interface SlotValues {
  values: Record<string, string>;
  side?: Side;
}

type HeldOutItem =
  | { kind: 'template'; template: number; reason: string }
  | { kind: 'word'; word: string; value: string; reason: string }
  | { kind: 'where'; phrase: string; reason: string }
  | { kind: 'noun'; noun: string; reason: string }
  | { kind: 'surface'; reason: string };

/** The held-out items an intent can show with these slot values (its side, if any). */
function heldOutItems(spec: SceneSpec, name: AnyIntent, slots: SlotValues): HeldOutItem[] {
  const def = intentSpec(spec, name);
  const c = spec.conversation;
  const texts = def.templates.map(templateText);
  const trainedTexts = def.templates.filter((entry) => typeof entry === 'string').map(templateText);
  const items: HeldOutItem[] = [];
  def.templates.forEach((entry, template) => {
    const reason = templateReason(entry);
    if (reason) items.push({ kind: 'template', template, reason });
  });
  for (const [word, values] of Object.entries(def.heldOutWords ?? {})) {
    if (!trainedTexts.some((t) => t.includes(`<${word}>`))) continue;
    for (const [value, reason] of Object.entries(values)) items.push({ kind: 'word', word, value, reason });
  }
  if (slots.side && trainedTexts.some((t) => t.includes('{where}'))) {
    for (const phrase of heldOutWhere(spec, slots.side))
      items.push({ kind: 'where', phrase, reason: c.sidePhrases.heldOut[phrase]! });
  }
  if (trainedTexts.some((t) => t.includes('{noun}'))) {
    for (const [noun, reason] of Object.entries(c.nouns.heldOut)) items.push({ kind: 'noun', noun, reason });
  }
  if (texts.length > 0) items.push({ kind: 'surface', reason: c.surface.heldOut.prefixAndSuffix });
  return items;
}

/** Slot values for the phrase slots: {where}/{most} of the side, {noun}, from the trained split. */
function trainedPhraseSlots(
  spec: SceneSpec,
  slots: SlotValues,
  random: SeededRandom,
): Record<string, string> {
  const c = spec.conversation;
  const values = { ...slots.values };
  if (slots.side) {
    values.where ??= random.pick(c.sidePhrases[slots.side].where);
    values.most ??= random.pick(c.sidePhrases[slots.side].most);
    values.side ??= slots.side;
  }
  values.noun ??= random.pick(c.nouns.values);
  values.honest ??= c.honestReply;
  return values;
}

/** A trained template (uniformly), then one of its trained expansions. */
function trainedPattern(
  spec: SceneSpec,
  name: AnyIntent,
  random: SeededRandom,
  filter: (p: Pattern) => boolean = () => true,
): Pattern {
  const patterns = intentPatterns(spec, name).filter((p) => p.heldOut.length === 0 && filter(p));
  const templates = [...new Set(patterns.map((p) => p.template))];
  const template = random.pick(templates);
  return random.pick(patterns.filter((p) => p.template === template));
}

/**
 * A question of intent `name` in the given split: trained = only trained parts; held-out = one
 * held-out item (drawn uniformly among those the intent can show), the rest trained.
 */
export function phraseQuestion(
  spec: SceneSpec,
  name: AnyIntent,
  slots: SlotValues,
  random: SeededRandom,
  split: Split,
): Phrased {
  if (split === 'trained') {
    const pattern = trainedPattern(spec, name, random);
    const values = trainedPhraseSlots(spec, slots, random);
    return {
      question: applySurface(spec, fillSlots(pattern.text, values), sampleSurface(spec, random)),
      heldOut: [],
    };
  }
  const item = random.pick(heldOutItems(spec, name, slots));
  let pattern: Pattern;
  const extra: Record<string, string> = {};
  let surface: Surface | undefined;
  let reasons: string[] = [];
  switch (item.kind) {
    case 'template': {
      pattern = random.pick(intentPatterns(spec, name).filter((p) => p.template === item.template));
      reasons = pattern.heldOut;
      break;
    }
    case 'word': {
      const def = intentSpec(spec, name);
      const withWord = intentPatterns(spec, name).filter(
        (p) =>
          typeof def.templates[p.template] === 'string' &&
          templateText(def.templates[p.template]!).includes(`<${item.word}>`) &&
          p.heldOut.length === 1 &&
          p.heldOut[0] === item.reason,
      );
      const templates = [...new Set(withWord.map((p) => p.template))];
      const template = random.pick(templates);
      pattern = random.pick(withWord.filter((p) => p.template === template));
      reasons = pattern.heldOut;
      break;
    }
    case 'where': {
      pattern = trainedPattern(spec, name, random, (p) => p.text.includes('{where}'));
      extra.where = item.phrase;
      reasons = [item.reason];
      break;
    }
    case 'noun': {
      pattern = trainedPattern(spec, name, random, (p) => p.text.includes('{noun}'));
      extra.noun = item.noun;
      reasons = [item.reason];
      break;
    }
    case 'surface': {
      pattern = trainedPattern(spec, name, random);
      surface = sampleSurface(spec, random, true);
      reasons = [item.reason];
      break;
    }
  }
  const values = trainedPhraseSlots(spec, { ...slots, values: { ...slots.values, ...extra } }, random);
  return {
    question: applySurface(spec, fillSlots(pattern.text, values), surface ?? sampleSurface(spec, random)),
    heldOut: reasons,
  };
}
