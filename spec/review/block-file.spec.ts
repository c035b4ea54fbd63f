/**
 * Review of openBlockFile (lib/block/block-file.ts): a handle that opens after the caller gave
 * up must not be leaked, and the handle it returns is `await using`-disposable.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBlockFile } from '../../lib/index.js';

const fdsOn = (file: string) => fs.readdirSync('/proc/self/fd').filter((fd) => {
  try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === file; } catch { return false; }
}).length;

describe('openBlockFile (review)', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'obf-'));
    file = path.join(dir, 'img');
    fs.writeFileSync(file, new Uint8Array(4096));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('closes a file whose open lands after the signal aborted (no fd leak)', async () => {
    const before = fdsOn(file);
    for (let i = 0; i < 20; i++) {
      const ac = new AbortController();
      const p = openBlockFile(file, { signal: ac.signal });
      ac.abort(); // the open is under way in the thread pool
      await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    }
    // Let the late opens land and whatever undoes them run.
    for (let i = 0; i < 20 && fdsOn(file) > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(fdsOn(file)).toBe(before);
  });

  it('returns a handle that `await using` closes', async () => {
    const before = fdsOn(file);
    const f = await openBlockFile(file);
    expect(typeof (f as unknown as Record<symbol, unknown>)[Symbol.asyncDispose]).toBe('function');
    await f.close();
    expect(fdsOn(file)).toBe(before);
  });
});

describe('openBlockFile path checks (review)', () => {
  it.each(['', 'a\0b', '/tmp/\0x'])('refuses %j with DmArgumentError before any open, on the host and the simulator', async (p) => {
    await expect(openBlockFile(p)).rejects.toMatchObject({ name: 'DmArgumentError' });
    const { SimulatedKernel } = await import('../../testing/index.js');
    const { DeviceMapper } = await import('../../lib/index.js');
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await expect(openBlockFile(p, { dm, mode: 'create' })).rejects.toMatchObject({ name: 'DmArgumentError' });
    } finally {
      await dm.close();
    }
  });
});
