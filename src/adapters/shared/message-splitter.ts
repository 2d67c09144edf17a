/**
 * Splits a long answer into messages a platform accepts, at the most natural boundary that fits:
 * a paragraph, else a line, else a sentence, else a word, else (a single giant word) anywhere
 * but inside a surrogate pair or a run of backticks. A code fence open at a cut is closed at the
 * end of that message and reopened (with its language) at the start of the next, so every message
 * renders on its own and no fence is ever cut.
 */

const fenceLine = /^ {0,3}(`{3,}|~{3,})([^`\n]*)$/;

interface FenceState {
  /** the opening marker (```` ``` ```` or `~~~`, possibly longer), when inside a fence */
  marker?: string;
  /** the info string after the opener (`ts`, `python`) */
  info?: string;
}

/** the fence state after `text`, starting from `state` */
function scanFences(text: string, state: FenceState): FenceState {
  let current = { ...state };
  for (const line of text.split('\n')) {
    const match = fenceLine.exec(line);
    if (!match) continue;
    const marker = match[1]!;
    if (current.marker === undefined) current = { marker, info: (match[2] ?? '').trim() };
    else if (
      marker[0] === current.marker[0] &&
      marker.length >= current.marker.length &&
      match[2]!.trim() === ''
    )
      current = {};
  }
  return current;
}

/** the raw slices of `text`, each at most `limitFor(state)` long, that join back to `text` */
export function splitText(text: string, maxLength: number): string[] {
  return split(text, maxLength).map((piece) => piece.raw);
}

interface Piece {
  raw: string;
  /** the fence open where this piece starts / ends */
  openAtStart: FenceState;
  openAtEnd: FenceState;
}

const closerFor = (state: FenceState) => (state.marker ? `\n${state.marker}` : '');
const openerFor = (state: FenceState) => (state.marker ? `${state.marker}${state.info ?? ''}\n` : '');

function split(text: string, maxLength: number): Piece[] {
  if (maxLength < 16) throw new RangeError('maxLength must leave room for a fence (at least 16)');
  const pieces: Piece[] = [];
  let rest = text;
  let state: FenceState = {};
  while (rest.length > 0) {
    // room for the reopened fence at the start and a closing one at the end
    const opener = openerFor(state).length;
    const limit = maxLength - opener - 8;
    if (rest.length + opener <= maxLength && scanFences(rest, state).marker === undefined) {
      pieces.push({ raw: rest, openAtStart: state, openAtEnd: {} });
      break;
    }
    if (rest.length <= limit) {
      const end = scanFences(rest, state);
      pieces.push({ raw: rest, openAtStart: state, openAtEnd: end });
      break;
    }
    const cut = boundary(rest, limit);
    const raw = rest.slice(0, cut);
    const end = scanFences(raw, state);
    pieces.push({ raw, openAtStart: state, openAtEnd: end });
    state = end;
    rest = rest.slice(cut);
  }
  return pieces;
}

/** where to cut `text` so the first part is at most `limit` long (always ≥ 1) */
function boundary(text: string, limit: number): number {
  const window = text.slice(0, limit + 1);
  const floor = Math.floor(limit * 0.3);
  const paragraph = window.lastIndexOf('\n\n', limit - 2);
  if (paragraph >= floor) return paragraph + 2;
  const line = window.lastIndexOf('\n', limit - 1);
  if (line >= floor) return line + 1;
  let sentence = -1;
  for (const match of window.slice(0, limit).matchAll(/[.!?。！？][)"'\]]?\s+/g)) {
    sentence = match.index + match[0].length;
  }
  if (sentence >= floor) return sentence;
  const space = window.lastIndexOf(' ', limit - 1);
  if (space >= floor) return space + 1;
  if (line > 0) return line + 1;
  if (space > 0) return space + 1;
  let cut = limit;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // keep a surrogate pair together
  while (cut > 1 && (text[cut - 1] === '`' || text[cut - 1] === '~') && text[cut] === text[cut - 1]) cut--;
  return Math.max(1, cut);
}

/**
 * The messages to send for `text`: each at most `maxLength` characters, fences closed at the end
 * of a message and reopened at the start of the next.
 */
export function splitMessage(text: string, maxLength: number): string[] {
  if (text.length <= maxLength) return [text];
  return split(text, maxLength).map(
    (piece) =>
      openerFor(piece.openAtStart) +
      piece.raw.replace(/\n$/, piece.openAtEnd.marker ? '' : '\n') +
      closerFor(piece.openAtEnd),
  );
}
