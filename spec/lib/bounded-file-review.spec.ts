// Adversarial cases of the handle openBlockFile returns (lib/block/bounded-file.ts): what a
// call cut short leaves behind when the caller does what a caller may do once its promise
// has settled.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, openBlockFile, ThinPool } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo, simFaults } from '../../testing/index.js';

const FILE = '/srv/review.img';

async function simFile() {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await simBlockIo(kernel).ensureFile(FILE, 1n << 20n);
  const f = await openBlockFile(FILE, { dm, mode: 'write' });
  await f.write(0, new Uint8Array(4096).fill(0x11));
  return { dm, f, faults: simFaults(kernel) };
}

describe('BlockFile: a write cut short', () => {
  test("lands the bytes the caller passed, not what the caller put in its buffer after it gave up", async () => {
    const { dm, f, faults } = await simFile();
    try {
      faults.delayFile(FILE, 'write', 40);
      // A copy loop reusing one buffer: the first chunk's write times out...
      const chunk = new Uint8Array(512).fill(0xaa);
      await expect(f.write(0, chunk, { timeoutMs: 5 })).rejects.toMatchObject({ code: 'TIMEOUT' });
      // ...and the caller, its promise settled, fills the buffer with the next chunk.
      chunk.fill(0xbb);
      const into = new Uint8Array(512);
      // Ordered after the late write: it sees that write whole, with the bytes it was given.
      await f.read(0, into);
      expect(into.every((b) => b === 0xaa)).toBe(true);
    } finally {
      await f.close();
      dm.close();
    }
  });
});

describe('BlockFile: a late write failure reported by the next call', () => {
  test.each([['unbounded', undefined], ['bounded', { timeoutMs: 1000 }]] as const)("%s: keeps the frames of the caller it is reported to", async (_kind, options) => {
    const { dm, f, faults } = await simFile();
    try {
      faults.failFile(FILE, 'write', 'ENOSPC', { delayMs: 40 });
      await expect(f.write(0, new Uint8Array(512), { timeoutMs: 5 })).rejects.toMatchObject({ code: 'TIMEOUT' });
      async function theNextCaller() { return f.sizeBytes(options).catch((x: unknown) => x); }
      const e = (await theNextCaller()) as Error;
      expect(e).toMatchObject({ code: 'ENOSPC' });
      expect(e.stack).toContain('theNextCaller');
    } finally {
      await f.close();
      dm.close();
    }
  });
});

describe('ThinPool.conditions({ timeoutMs })', () => {
  const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  test('the bound alone keeps the process alive no more than events() does (an iterator left unstarted or dropped holds no ref)', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const MiB = 1n << 20n;
    const p = await ThinPool.create(dm, {
      name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, skipBlockZeroing: true,
    });
    const before = refTimers();
    // Made, never iterated, never returned: a process that did this would stay alive for the hour.
    const it = p.conditions({ timeoutMs: 3_600_000, initial: false });
    try {
      expect(refTimers()).toBe(before);
      // It still ends with TIMEOUT when iterated past its bound.
      const short = p.conditions({ timeoutMs: 20, initial: false });
      await expect(short.next()).rejects.toMatchObject({ code: 'TIMEOUT' });
    } finally {
      await it.return?.();
      await p.destroy();
      dm.close();
    }
  });
});
