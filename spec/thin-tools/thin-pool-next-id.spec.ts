// ThinPool.nextFreeThinId on the simulated kernel: bad options are refused before any ioctl;
// the simulated pool keeps no on-disk metadata (its metadata file stays zeros), so the read
// fails with a typed error naming the block, and the metadata snapshot reserved for it is
// released all the same.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmArgumentError, DmThinMetadataError, ThinPool } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';

describe('ThinPool.nextFreeThinId (simulator)', () => {
  test('bad options cost no ioctl; a failed read still releases the metadata snapshot', async () => {
    const kernel = new SimulatedKernel();
    await using dm = await DeviceMapper.open({ backend: kernel.backend() });
    await using pool = await ThinPool.create(dm, {
      name: 'p', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n }, lowWaterMarkBlocks: 100,
    });
    let ioctls = 0;
    kernel.intercept({ before: () => { ioctls++; } });
    await expect(pool.nextFreeThinId({ policy: 'highest' as 'lowest' })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(pool.nextFreeThinId({ from: 1 << 24 })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(pool.nextFreeThinId({ from: -1 })).rejects.toBeInstanceOf(DmArgumentError);
    expect(ioctls).toBe(0);
    // The simulated pool's metadata device reads as its metadata: no thin yet, so 0.
    expect(await pool.nextFreeThinId()).toBe(0);
    expect(ioctls).toBeGreaterThan(0);
    // A metadata path that holds no metadata (zeros): the read fails, the snapshot is released.
    await simBlockIo(kernel).ensureFile('/zeros', 4n << 20n);
    await expect(pool.nextFreeThinId({ metadataPath: '/zeros' })).rejects.toBeInstanceOf(DmThinMetadataError);
    const s = await pool.status();
    expect(s.health === 'ok' ? s.heldMetadataRoot : 'not ok').toBeNull();
  });
});
