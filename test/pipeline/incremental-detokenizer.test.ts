import { beforeAll, describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../../src/pipeline/incremental-detokenizer.js';
import { readModelDirectory } from '../../src/pipeline/model-directory.js';
import { TextTokenizer } from '../../src/pipeline/text-tokenizer.js';
import { fixtureDir } from './helpers/fixture.js';

let tokenizer: TextTokenizer;
beforeAll(async () => {
  const files = await readModelDirectory(fixtureDir);
  tokenizer = new TextTokenizer(files.tokenizerJson, files.tokenizerConfig);
});

/** Feeds ids one by one; returns every released text and the deltas between them. */
function stream(ids: number[]): { snapshots: string[]; deltas: string[]; final: string } {
  const detokenizer = new IncrementalDetokenizer((all) => tokenizer.decode(all));
  const snapshots: string[] = [];
  const deltas: string[] = [];
  let previous = '';
  for (const id of ids) {
    const text = detokenizer.push(id);
    snapshots.push(text);
    deltas.push(text.slice(previous.length));
    previous = text;
  }
  const final = detokenizer.finish();
  deltas.push(final.slice(previous.length));
  return { snapshots, deltas, final };
}

describe('IncrementalDetokenizer', () => {
  it('never emits a broken multi-byte character (byte-fallback tokens)', () => {
    const text = 'shapes: ● 円 é 🟥 done';
    const ids = tokenizer.encode(text, false);
    // the fixture's BPE spells these characters as several <0xNN> byte tokens
    expect(ids.some((id) => id >= 3 && id <= 258)).toBe(true);
    const { snapshots, deltas, final } = stream(ids);
    for (const snapshot of snapshots) expect(snapshot).not.toContain('\uFFFD');
    expect(deltas.join('')).toBe(final);
    expect(final).toBe(tokenizer.decode(ids));
  });

  it('never takes text back: each release extends the previous one', () => {
    const ids = tokenizer.encode('A red circle , left of a blue square . Yes !', false);
    const { snapshots, final } = stream(ids);
    for (let i = 1; i < snapshots.length; i++) expect(snapshots[i]!.startsWith(snapshots[i - 1]!)).toBe(true);
    expect(final.startsWith(snapshots.at(-1)!)).toBe(true);
  });

  it('holds trailing whitespace until something follows, then releases it', () => {
    const detokenizer = new IncrementalDetokenizer((ids) => ids.map((id) => ['a', ' ', 'b'][id]).join(''));
    expect(detokenizer.push(0)).toBe('a');
    expect(detokenizer.push(1)).toBe('a');
    expect(detokenizer.push(2)).toBe('a b');
    expect(detokenizer.finish()).toBe('a b');
  });

  it('drops a dangling partial character at the end', () => {
    const detokenizer = new IncrementalDetokenizer((ids) => ids.map((id) => ['ok', '\uFFFD'][id]).join(''));
    expect(detokenizer.push(0)).toBe('ok');
    expect(detokenizer.push(1)).toBe('ok');
    expect(detokenizer.finish()).toBe('ok');
  });
});
