export interface StopCheck {
  /** index in the text where the first stop string starts, if one appeared */
  stopAt: number | undefined;
  /** how much of the text may be shown now (a possible start of a stop string is held back) */
  safeLength: number;
}

/** Finds stop strings in generated text; generation stops before them and they are not shown. */
export function checkStopStrings(text: string, stops: readonly string[]): StopCheck {
  let stopAt: number | undefined;
  for (const stop of stops) {
    if (!stop) continue;
    const at = text.indexOf(stop);
    if (at !== -1 && (stopAt === undefined || at < stopAt)) stopAt = at;
  }
  if (stopAt !== undefined) return { stopAt, safeLength: stopAt };
  let held = 0;
  for (const stop of stops) {
    for (let length = Math.min(stop.length - 1, text.length); length > held; length--) {
      if (text.endsWith(stop.slice(0, length))) {
        held = length;
        break;
      }
    }
  }
  return { stopAt: undefined, safeLength: text.length - held };
}
