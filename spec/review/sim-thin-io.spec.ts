/**
 * Review of the simulator's thin device I/O (testing/sim-io.ts): a thin device activated
 * read-only must not be writable through the backend (the kernel refuses writes to a
 * read-only dm device; the simulator refuses them for every other dm device with EROFS).
 */
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { DeviceMapper, ThinPool, openBlockFile } from '../../lib/index.js';
import { SimulatedKernel, thinSim } from '../../testing/index.js';

let kernel: SimulatedKernel;
let dm: DeviceMapper;
beforeEach(async () => {
  kernel = new SimulatedKernel();
  dm = await DeviceMapper.open({ backend: kernel.backend() });
});
afterEach(() => dm.close());

test('a read-only thin device is not written (EROFS), and its pool keeps no block for it', async () => {
  const pool = await ThinPool.create(dm, {
    name: 'pool', data: { file: '/img/data.img', sizeBytes: 64n << 20n }, metadata: { file: '/img/meta.img', sizeBytes: 4n << 20n },
    blockSizeSectors: 128, skipBlockZeroing: true, lowWaterMarkBlocks: 0,
  });
  await pool.createThin(1);
  const t = await pool.activate(1, { name: 'ro', sizeSectors: 2048n, readOnly: true });
  expect(await dm.info(t.name)).toMatchObject({ flags: { readOnly: true } });
  const attempt = (async () => {
    const f = await openBlockFile(t.path, { dm, mode: 'write' });
    try { await f.write(0n, new Uint8Array(4096).fill(7)); } finally { await f.close(); }
  })();
  await expect(attempt).rejects.toMatchObject({ code: 'EROFS' });
  const back = new Uint8Array(16);
  const r = await openBlockFile(t.path, { dm });
  await r.read(0n, back);
  await r.close();
  expect([...back]).toEqual(new Array(16).fill(0));
});

test('a data block freed while a metadata snapshot was held reads as zeros when provisioned again after the release', async () => {
  const pool = await ThinPool.create(dm, {
    name: 'pool2', data: { file: '/img/data2.img', sizeBytes: 64n << 20n }, metadata: { file: '/img/meta2.img', sizeBytes: 4n << 20n },
    blockSizeSectors: 128, lowWaterMarkBlocks: 0, // block zeroing on (the default)
  });
  const blockBytes = 128 * 512;
  await pool.createThin(1);
  const t1 = await pool.activate(1, { name: 'one', sizeSectors: 2048n });
  const w = await openBlockFile(t1.path, { dm, mode: 'write' });
  await w.write(0n, new Uint8Array(blockBytes).fill(0xaa)); // thin 1's secret
  await w.close();
  await pool.reserveMetadataSnap();
  await pool.deactivate(t1);
  await pool.delete(1);
  await pool.releaseMetadataSnap();
  await pool.createThin(2);
  const t2 = await pool.activate(2, { name: 'two', sizeSectors: 2048n });
  const f = await openBlockFile(t2.path, { dm, mode: 'write' });
  await f.write(0n, new Uint8Array(16).fill(1)); // provisions a block; the rest of it must read as zeros
  const back = new Uint8Array(32);
  await f.read(0n, back);
  await f.close();
  expect([...back.subarray(16)]).toEqual(new Array(16).fill(0));
});

test('a pool in read-only mode: a write to a block the thin maps alone goes through; one that needs a block fails EIO, not ENOSPC', async () => {
  const pool = await ThinPool.create(dm, {
    name: 'pool3', data: { file: '/img/data3.img', sizeBytes: 64n << 20n }, metadata: { file: '/img/meta3.img', sizeBytes: 4n << 20n },
    blockSizeSectors: 128, skipBlockZeroing: true, lowWaterMarkBlocks: 0,
  });
  await pool.createThin(1);
  const t = await pool.activate(1, { name: 'rw1', sizeSectors: 2048n });
  const f = await openBlockFile(t.path, { dm, mode: 'write' });
  await f.write(0n, new Uint8Array(512).fill(1));
  const sim = thinSim(kernel);
  sim.setMode(sim.pool('pool3'), 'ro'); // as after a metadata failure (dm-thin's PM_READ_ONLY)
  // process_bio_read_only: a bio to a block mapped and not shared is remapped as in write mode.
  await f.write(0n, new Uint8Array(512).fill(2));
  // An unprovisioned block cannot be allocated: the bio fails with BLK_STS_IOERR.
  await expect(f.write(BigInt(10 * 128 * 512), new Uint8Array(512).fill(3))).rejects.toMatchObject({ code: 'EIO' });
  const back = new Uint8Array(1);
  await f.read(0n, back);
  await f.close();
  expect(back[0]).toBe(2);
});
