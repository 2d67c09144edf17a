/**
 * Turns generated token ids into text that is never taken back. Each step decodes only a short
 * window (the last stable token onwards, as vLLM does) and appends the new characters once they
 * are whole: a trailing U+FFFD means a multi-byte character is still arriving over several byte
 * tokens, so nothing is appended until it completes. Trailing whitespace is held back from the
 * released text until something follows it. Cost per step is O(window), not O(sequence).
 */
export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  /** ids before `prefixOffset` are settled; ids from `readOffset` on are not yet in `decoded` */
  private prefixOffset = 0;
  private readOffset = 0;
  private decoded = '';
  private released = '';

  private readonly decode: (ids: readonly number[]) => string;

  constructor(decode: (ids: readonly number[]) => string) {
    this.decode = (ids) => (ids.length === 0 ? '' : decode(ids));
  }

  /** Adds a token; returns the full released text so far (which only ever grows). */
  push(id: number): string {
    this.ids.push(id);
    this.advance(false);
    const stable = this.decoded.replace(/\s+$/, '');
    if (stable.length > this.released.length) this.released = stable;
    return this.released;
  }

  /** All the text, once generation is over (a dangling partial character is dropped). */
  finish(): string {
    this.advance(true);
    this.released = this.decoded;
    return this.released;
  }

  get text(): string {
    return this.released;
  }

  private advance(final: boolean): void {
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    let newText = this.decode(this.ids.slice(this.prefixOffset));
    if (final) newText = newText.replace(/\uFFFD+$/, '');
    else if (newText.endsWith('\uFFFD')) return;
    if (newText.length <= prefixText.length || !newText.startsWith(prefixText)) return;
    this.decoded += newText.slice(prefixText.length);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
  }
}
