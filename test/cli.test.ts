import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { loadConfig } from '../src/config.js';
import { captureIo } from './fakes/captured-io.js';

describe('glimpse CLI', () => {
  it('prints help listing the commands, and the version', async () => {
    const io = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out()).toMatch(/Usage: glimpse <command>/);
    expect(io.out()).toMatch(/start/);
    expect(io.out()).toMatch(/ask/);
    const io2 = captureIo();
    expect(await main(['--version'], io2)).toBe(0);
    expect(io2.out().trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('rejects unknown commands and flags with exit code 2 and a clear message', async () => {
    const io = captureIo();
    expect(await main(['frobnicate'], io)).toBe(2);
    expect(io.err()).toMatch(/unknown command 'frobnicate'/);
    const io2 = captureIo();
    expect(await main(['--frob'], io2)).toBe(2);
    expect(io2.err()).toMatch(/unknown option '--frob'/);
    const io3 = captureIo();
    expect(await main(['ask', '--bogus', 'hi'], { ...io3, loadConfig: () => loadConfig({}) })).toBe(2);
    expect(io3.err()).toMatch(/--bogus/);
    expect(io3.err()).toMatch(/Usage: glimpse ask/);
  });

  it('reports a bad configuration with exit code 2', async () => {
    const io = captureIo();
    const code = await main(['ask', 'hi'], {
      ...io,
      loadConfig: () => loadConfig({ GLIMPSE_WEB_PORT: 'x', GLIMPSE_THREADS: '-1' }),
    });
    expect(code).toBe(2);
    expect(io.err()).toMatch(/GLIMPSE_WEB_PORT/);
    expect(io.err()).toMatch(/GLIMPSE_THREADS/);
  });
});
