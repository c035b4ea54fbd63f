// examples/thin-backup.ts on the simulator (its live twin: spec/live/thin-backup.live.spec.ts):
// an origin written through the simulated thin device, snapshotted, written again and
// snapshotted again; the changed blocks between the snapshots, read from the pool's
// metadata device (a metadata snapshot reserved and released), copied to a file, restored
// into a new thin made from the first snapshot, which then has the second's sha256.
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { DeviceMapper, ThinPool, openBlockFile, thinDelta } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo, thinSim } from '../../testing/index.js';
import { backupChanged, restoreBackup, sha256Of } from '../../examples/thin-backup.js';

const BLOCK_BYTES = 64 * 1024;
const SIZE_SECTORS = 32n * 1024n * 2n; // 32 MiB

let kernel: SimulatedKernel;
let dm: DeviceMapper;
beforeEach(async () => {
  kernel = new SimulatedKernel();
  dm = await DeviceMapper.open({ backend: kernel.backend() });
});
afterEach(() => dm.close());

async function writeBlocks(dev: string, blocks: readonly number[], tag: number): Promise<void> {
  const f = await openBlockFile(dev, { dm, mode: 'write' });
  try {
    for (const b of blocks) {
      const buf = Buffer.alloc(BLOCK_BYTES, (b * 7 + tag) & 0xff);
      buf.writeUInt32LE(b, 0);
      buf.writeUInt32LE(tag, 4);
      await f.write(BigInt(b * BLOCK_BYTES), buf);
    }
  } finally {
    await f.close();
  }
}

async function setUp(): Promise<{ pool: ThinPool; second: number[] }> {
  const pool = await ThinPool.create(dm, {
    name: 'pool', data: { file: '/img/data.img', sizeBytes: 128n << 20n }, metadata: { file: '/img/meta.img', sizeBytes: 4n << 20n },
    blockSizeSectors: BLOCK_BYTES / 512, skipBlockZeroing: true, lowWaterMarkBlocks: 0,
  });
  const originId = await pool.nextFreeThinId();
  await pool.createThin(originId);
  const origin = await pool.activate(originId, { name: 'o', sizeSectors: SIZE_SECTORS });
  await writeBlocks(origin.path, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 300], 1);
  await pool.snapshot(1, originId, { activeOrigin: origin.name });
  const second = [3, 4, 50, 200, 201, 202, 300];
  await writeBlocks(origin.path, second, 2);
  await pool.snapshot(2, originId, { activeOrigin: origin.name });
  return { pool, second };
}

test('the backup example runs on the simulator: delta = the blocks written, restore matches by sha256', async () => {
  const { pool, second } = await setUp();
  expect(await pool.nextFreeThinId()).toBe(3);
  {
    await using md = await pool.openMetadata();
    const changed: number[] = [];
    for await (const r of thinDelta(md, 1, 2, { includeSame: false })) for (let k = 0n; k < r.lengthBlocks; k++) changed.push(Number(r.thinBlock + k));
    expect(changed).toEqual([...second].sort((a, b) => a - b));
  }
  const snap2 = await pool.activate(2, { name: 's2', sizeSectors: SIZE_SECTORS, readOnly: true });
  const { ranges, dataBytes } = await backupChanged(dm, pool, 1, 2, snap2.path, '/backup/one.bin');
  expect(dataBytes).toBe(BigInt(second.length * BLOCK_BYTES));
  expect(simBlockIo(kernel).files.get('/backup/one.bin')).toBe(BigInt(ranges * 16 + second.length * BLOCK_BYTES));
  // The metadata snapshot was released when the reader closed.
  expect(thinSim(kernel).pool('pool').heldRoot).toBeNull();
  const restoredId = await pool.nextFreeThinId();
  await pool.snapshot(restoredId, 1);
  const restored = await pool.activate(restoredId, { name: 'r', sizeSectors: SIZE_SECTORS });
  const sizeBytes = SIZE_SECTORS * 512n;
  const snap1 = await pool.activate(1, { name: 's1', sizeSectors: SIZE_SECTORS, readOnly: true });
  // Before the restore the new thin is snapshot 1, which differs from snapshot 2.
  expect(await sha256Of(dm, restored.path, sizeBytes)).toBe(await sha256Of(dm, snap1.path, sizeBytes));
  expect(await sha256Of(dm, restored.path, sizeBytes)).not.toBe(await sha256Of(dm, snap2.path, sizeBytes));
  expect(await restoreBackup(dm, '/backup/one.bin', restored.path)).toBe(dataBytes);
  expect(await sha256Of(dm, restored.path, sizeBytes)).toBe(await sha256Of(dm, snap2.path, sizeBytes));
  // The snapshots kept their own bytes while the origin and the restored thin were written.
  expect(await sha256Of(dm, snap1.path, sizeBytes)).not.toBe(await sha256Of(dm, snap2.path, sizeBytes));
});

test('a damaged backup file is refused before anything is written past the device', async () => {
  const { pool } = await setUp();
  const snap2 = await pool.activate(2, { name: 's2', sizeSectors: SIZE_SECTORS, readOnly: true });
  await backupChanged(dm, pool, 1, 2, snap2.path, '/backup/one.bin');
  const f = await openBlockFile('/backup/one.bin', { dm, mode: 'write' });
  const head = Buffer.alloc(16);
  head.writeBigUInt64LE(SIZE_SECTORS * 512n, 0); // a range starting at the device's end
  head.writeBigUInt64LE(65536n, 8);
  await f.write(0n, head);
  await f.close();
  await pool.snapshot(3, 1);
  const restored = await pool.activate(3, { name: 'r', sizeSectors: SIZE_SECTORS });
  await expect(restoreBackup(dm, '/backup/one.bin', restored.path)).rejects.toThrow(/past the end/);
  // A backup into a file that is not empty is refused too (openBlockFile never truncates).
  await expect(backupChanged(dm, pool, 1, 2, snap2.path, '/backup/one.bin')).rejects.toThrow(/not empty/);
  expect(thinSim(kernel).pool('pool').heldRoot).toBeNull();
});

test('openBlockFile: bad input is refused before any call; a thin device reads back what was written', async () => {
  await expect(openBlockFile(42 as unknown as string, { dm })).rejects.toMatchObject({ name: 'DmArgumentError' });
  await expect(openBlockFile('/x', { dm, mode: 'append' as 'read' })).rejects.toMatchObject({ name: 'DmArgumentError' });
  await expect(openBlockFile('/nope', { dm })).rejects.toMatchObject({ code: 'ENOENT' });
  const { pool } = await setUp();
  const t = await pool.activate(2, { name: 's2', sizeSectors: SIZE_SECTORS });
  const f = await openBlockFile(t.path, { dm, mode: 'write' });
  const bytes = Buffer.from('hello across a block boundary');
  await f.write(BigInt(BLOCK_BYTES - 5), bytes);
  const back = Buffer.alloc(bytes.length);
  expect(await f.read(BigInt(BLOCK_BYTES - 5), back)).toBe(bytes.length);
  expect(back.equals(bytes)).toBe(true);
  await expect(f.write(SIZE_SECTORS * 512n - 2n, bytes)).rejects.toMatchObject({ code: 'ENOSPC' });
  await f.close();
});
