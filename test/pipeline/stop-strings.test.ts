import { describe, expect, it } from 'vitest';
import { checkStopStrings } from '../../src/pipeline/stop-strings.js';

describe('checkStopStrings', () => {
  it('finds the earliest stop string', () => {
    expect(checkStopStrings('a cat. USER: hi', ['USER:', '.'])).toEqual({ stopAt: 5, safeLength: 5 });
  });
  it('holds back a possible start of a stop string', () => {
    expect(checkStopStrings('a cat US', ['USER:'])).toEqual({ stopAt: undefined, safeLength: 6 });
    expect(checkStopStrings('a cat', ['USER:'])).toEqual({ stopAt: undefined, safeLength: 5 });
  });
  it('no stops, nothing held', () => {
    expect(checkStopStrings('anything', [])).toEqual({ stopAt: undefined, safeLength: 8 });
  });
});
