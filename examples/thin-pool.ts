/**
 * The README's snapshotter example (README.md, "Thin provisioning"), kept here so it is
 * type-checked and run: spec/lib/readme-examples.spec.ts runs it on the simulated kernel
 * and checks that README shows exactly this code between the README markers.
 */
// README:begin thin-pool
import { DeviceMapper, ThinPool, type ThinPoolIo } from '../lib/index.js';

/** A containerd-style snapshotter's life cycle. `io` is for tests (the simulator); omit it. */
export async function snapshotterCycle(dm: DeviceMapper, dir: string, io?: ThinPoolIo): Promise<void> {
  const pool = await ThinPool.create(dm, {
    name: 'images',
    data: { file: `${dir}/data.img`, bytes: 1n << 30n },       // files get loop devices; or give block devices
    metadata: { file: `${dir}/meta.img`, bytes: 64n << 20n },
    skipBlockZeroing: true, lowWaterMark: 1024, io,
  });
  await pool.createThin(1);
  const base = await pool.activate(1, { name: 'base', size: 20_971_520n }); // 10 GiB virtual, in sectors
  // … mkfs.ext4 base.path, mount it, unpack an image layer …
  await pool.snapshot(2, 1);                  // base is active: suspended, snapshotted, resumed
  await pool.setTransactionId(1);             // tie the pool's state to your own metadata
  const snap = await pool.activate(2, { name: 'container-1', size: 20_971_520n });
  const s = await pool.status();
  if (s.health === 'ok') console.log(`${s.usedDataBlocks}/${s.totalDataBlocks} blocks used, mode ${s.mode}`);
  await pool.deactivate(snap);
  await pool.delete(2, { discard: true });    // discard first: the space reaches the disk under the pool
  await pool.deactivate(base);
  await pool.destroy();                       // removes the pool, detaches its loop devices
}
// README:end
