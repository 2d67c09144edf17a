import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/conversation/rate-limiter.js';

describe('RateLimiter', () => {
  it('allows the limit per window per key, then says when to retry', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter({ limit: 2, windowMs: 60_000, now: () => now });
    expect(limiter.take('u1')).toEqual({ allowed: true });
    now += 10_000;
    expect(limiter.take('u1')).toEqual({ allowed: true });
    expect(limiter.take('u2')).toEqual({ allowed: true });
    now += 5_000;
    expect(limiter.take('u1')).toEqual({ allowed: false, retryAfterMs: 45_000 });
    now += 45_000;
    expect(limiter.take('u1')).toEqual({ allowed: true });
  });

  it('does not count refused attempts, and can refund one', () => {
    let now = 0;
    const limiter = new RateLimiter({ limit: 1, now: () => now });
    expect(limiter.take('u').allowed).toBe(true);
    for (let i = 0; i < 5; i++) expect(limiter.take('u').allowed).toBe(false);
    now = 60_000;
    expect(limiter.take('u').allowed).toBe(true);
    limiter.refund('u');
    expect(limiter.take('u').allowed).toBe(true);
  });

  it('is off at 0', () => {
    const limiter = new RateLimiter({ limit: 0 });
    for (let i = 0; i < 100; i++) expect(limiter.take('u').allowed).toBe(true);
  });
});
