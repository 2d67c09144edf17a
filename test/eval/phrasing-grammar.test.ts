import { beforeAll, describe, expect, it } from 'vitest';
import {
  applySurface,
  expandTemplate,
  fillSlots,
  followUpNames,
  intentNames,
  intentPatterns,
  intentSpec,
  phraseQuestion,
  phrasingCatalog,
  sampleSurface,
} from '../../src/eval/phrasing-grammar.js';
import { loadSceneSpec, parseSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';
import { SeededRandom } from '../../src/eval/seeded-random.js';

let spec: SceneSpec;
let raw: Record<string, unknown>;
beforeAll(async () => {
  spec = await loadSceneSpec();
  raw = JSON.parse(JSON.stringify(spec));
});

const clone = () => JSON.parse(JSON.stringify(raw)) as SceneSpec;

describe('the phrasing grammar in the spec', () => {
  it('expands word classes into every combination, marking held-out words with what they test', () => {
    const def = intentSpec(spec, 'count');
    const index = def.templates.findIndex((t) => t === 'How many {plural} are in the <image>?');
    const patterns = expandTemplate(spec, def, index);
    expect(patterns.map((p) => p.text)).toEqual(
      spec.conversation.words.image!.map((word) => `How many {plural} are in the ${word}?`),
    );
    const photo = patterns.find((p) => p.text.includes('photo'))!;
    expect(photo.heldOut).toEqual([def.heldOutWords!.image!.photo]);
    expect(patterns.filter((p) => p !== photo).every((p) => p.heldOut.length === 0)).toBe(true);

    const colour = intentSpec(spec, 'colour');
    const two = colour.templates.findIndex((t) => t === '<whatIs> the <colourWord> of the {kind}?');
    expect(expandTemplate(spec, colour, two).map((p) => p.text)).toEqual([
      'What is the colour of the {kind}?',
      'What is the color of the {kind}?',
      "What's the colour of the {kind}?",
      "What's the color of the {kind}?",
    ]);
  });

  it("trains every intent on both spellings of colour and the issue's playground phrasings", () => {
    const catalog = phrasingCatalog(spec);
    expect(catalog.colour!.trained).toEqual(
      expect.arrayContaining(['What colour is the {kind}?', 'What color is the {kind}?', '{kind} color?']),
    );
    expect(catalog.describe!.trained).toEqual(expect.arrayContaining(["What's in this picture?"]));
    expect(catalog.count!.trained).toContain('How many {plural}?');
    for (const name of [...intentNames, ...followUpNames]) {
      expect(catalog[name]!.trained.length, name).toBeGreaterThan(2);
      expect(catalog[name]!.heldOut.length, name).toBeGreaterThan(0);
      // a held-out pattern is never also produced by the trained split
      for (const text of catalog[name]!.heldOut) expect(catalog[name]!.trained, name).not.toContain(text);
    }
  });

  it('keeps held-out words inside the training vocabulary: each is trained in another intent', () => {
    const catalog = phrasingCatalog(spec);
    const trainedText = Object.values(catalog)
      .flatMap((entry) => entry.trained)
      .join(' ')
      .toLowerCase();
    for (const name of [...intentNames, ...followUpNames]) {
      for (const [word, values] of Object.entries(intentSpec(spec, name).heldOutWords ?? {})) {
        for (const value of Object.keys(values)) {
          expect(catalog[name]!.trained.join(' '), `${name} <${word}>`).not.toContain(value);
          expect(trainedText, `${value} is trained somewhere`).toContain(value);
        }
      }
    }
  });

  it('refuses a grammar that names an unknown word class or holds out a value the class lacks', () => {
    const bad = clone();
    bad.conversation.intents.colour.templates.push('What <hue> is the {kind}?');
    bad.conversation.intents.count.heldOutWords = { image: { drawing: 'x' } };
    bad.conversation.intents.shape.templates.push('What shape is {color}?');
    expect(() => parseSceneSpec(bad)).toThrow(/unknown word class <hue>[\s\S]*unknown slot \{color\}/);
    expect(() => parseSceneSpec(bad)).toThrow(/'drawing' is not a value of <image>/);
  });
});

describe('questions from the grammar', () => {
  it('fills slots, with "an" before a vowel', () => {
    expect(fillSlots('Is there {a} {colour} {kind}?', { colour: 'orange', kind: 'star' })).toBe(
      'Is there an orange star?',
    );
    expect(fillSlots('Is there {a} {kind}?', { kind: 'hexagon' })).toBe('Is there a hexagon?');
    expect(() => fillSlots('How many {plural}?', {})).toThrow(/needs \{plural\}/);
  });

  it('applies politeness, the end mark and the case', () => {
    const s = spec.conversation.surface;
    const please = s.prefixes.findIndex((p) => p.text === 'Please, ');
    const thanks = s.suffixes.findIndex((p) => p.text === ' thanks');
    const thankYou = s.suffixes.findIndex((p) => p.text === ' Thank you.');
    const q = 'What colour is the circle?';
    expect(applySurface(spec, q, { end: 'keep', case: 'asWritten', prefix: please })).toBe(
      'Please, what colour is the circle?',
    );
    expect(applySurface(spec, q, { end: 'keep', case: 'asWritten', suffix: thanks })).toBe(
      'What colour is the circle thanks?',
    );
    expect(applySurface(spec, q, { end: 'drop', case: 'lower', suffix: thankYou })).toBe(
      'what colour is the circle thank you.',
    );
    expect(applySurface(spec, q, { end: 'double', case: 'upper' })).toBe('WHAT COLOUR IS THE CIRCLE??');
    expect(applySurface(spec, 'Describe the image.', { end: 'double', case: 'asWritten' })).toBe(
      'Describe the image.',
    );
  });

  it('draws trained questions from trained parts only, and held-out ones with a held-out part each', () => {
    const random = new SeededRandom(3);
    const seenItems = new Set<string>();
    const prefixes = spec.conversation.surface.prefixes.map((p) => p.text.toLowerCase());
    const suffixes = spec.conversation.surface.suffixes.map((p) => p.text.toLowerCase().replace(/[.!]$/, ''));
    const heldOutWhere = Object.keys(spec.conversation.sidePhrases.heldOut);
    const heldOutNouns = Object.keys(spec.conversation.nouns.heldOut);
    const slots = {
      values: { kind: 'star', plural: 'stars', colour: 'orange' },
      side: 'left' as const,
    };
    for (const name of [...intentNames, ...followUpNames]) {
      const def = intentSpec(spec, name);
      const heldOutTemplates = def.templates.filter((t) => typeof t !== 'string').length;
      for (let i = 0; i < 300; i++) {
        const trained = phraseQuestion(spec, name, slots, random, 'trained');
        expect(trained.heldOut).toEqual([]);
        const text = trained.question.toLowerCase();
        for (const [, values] of Object.entries(def.heldOutWords ?? {})) {
          for (const value of Object.keys(values))
            expect(text, name).not.toMatch(new RegExp(`\\b${value}\\b`));
        }
        for (const phrase of [...heldOutWhere, ...heldOutNouns]) expect(text).not.toContain(phrase);
        const polite =
          prefixes.some((p) => text.startsWith(p)) && suffixes.some((x) => text.includes(x.toLowerCase()));
        expect(polite, trained.question).toBe(false);

        const held = phraseQuestion(spec, name, slots, random, 'heldOut');
        expect(held.heldOut.length, held.question).toBeGreaterThan(0);
        for (const reason of held.heldOut) seenItems.add(`${name}:${reason}`);
      }
      // every held-out template of the intent comes up
      const reasons = [...seenItems].filter((item) => item.startsWith(`${name}:`));
      expect(reasons.length, name).toBeGreaterThanOrEqual(Math.min(heldOutTemplates, 1) + 1);
    }
  });

  it('is deterministic in the seed', () => {
    const draw = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 20 }, () =>
        phraseQuestion(spec, 'colour', { values: { kind: 'circle' } }, random, 'heldOut'),
      );
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(intentPatterns(spec, 'colour')).toBe(intentPatterns(spec, 'colour'));
    const random = new SeededRandom(1);
    const surfaces = Array.from({ length: 2000 }, () => sampleSurface(spec, random));
    const upper = surfaces.filter((s) => s.case === 'upper').length / surfaces.length;
    expect(upper).toBeGreaterThan(0.04);
    expect(upper).toBeLessThan(0.12);
  });
});
