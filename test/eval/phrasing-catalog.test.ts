import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { phrasingCatalog } from '../../src/eval/phrasing-grammar.js';
import { loadSceneSpec } from '../../src/eval/scene-spec.js';

/**
 * One grammar, two expanders: the Python trainer (models/recipes/tiny-shapes/phrasings.py) and this
 * evaluation must agree on every trained and held-out pattern, or the held-out split would leak
 * into training (or the evaluation would ask what was never meant). The fixture is the Python
 * side's output; after changing the spec's conversation section, rewrite it with
 *   /usr/bin/python3 models/recipes/tiny-shapes/phrasings.py --catalog > test/fixtures/tiny-shapes-phrasing-catalog.json
 */
describe('the phrasing catalog', () => {
  it('is the same in TypeScript as the Python trainer wrote it', async () => {
    const spec = await loadSceneSpec();
    const python = JSON.parse(await readFile('test/fixtures/tiny-shapes-phrasing-catalog.json', 'utf8'));
    expect(phrasingCatalog(spec)).toEqual(python);
  });
});
