/**
 * Turns generated token ids into text deltas that are never taken back: text is released only
 * once it is stable — no trailing U+FFFD (a multi-byte character still arriving over several byte
 * tokens) and no trailing whitespace (clean-up rules such as " ." → "." may still rewrite it).
 * The released text always equals a prefix of `decode(all ids)`, and `finish` releases the rest.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  private released = '';

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  /** Adds a token; returns the full stable text so far (which only ever grows). */
  push(id: number): string {
    this.ids.push(id);
    const text = this.decode(this.ids);
    let end = text.length;
    while (end > 0 && text[end - 1] === '\uFFFD') end--;
    while (end > 0 && /\s/.test(text[end - 1]!)) end--;
    const stable = text.slice(0, end);
    if (stable.length > this.released.length && stable.startsWith(this.released)) this.released = stable;
    return this.released;
  }

  /** All the text, once generation is over (a dangling partial character is dropped). */
  finish(): string {
    const text = this.decode(this.ids).replace(/\uFFFD+$/, '');
    if (text.startsWith(this.released)) this.released = text;
    return this.released;
  }

  get text(): string {
    return this.released;
  }
}
