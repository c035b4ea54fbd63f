/**
 * The README's snapshotter example (README.md, "Thin provisioning"), kept here so it is
 * type-checked and run: spec/lib/readme-examples.spec.ts runs it on the simulated kernel
 * and checks that README shows exactly this code between the README markers.
 */
// README:begin thin-pool
import { DeviceMapper, ThinPool } from '../lib/index.js';

/** A containerd-style snapshotter's life cycle (on the simulator: the same code, files and loop devices in its memory). */
export async function snapshotterCycle(dm: DeviceMapper, dir: string): Promise<void> {
  await using pool = await ThinPool.create(dm, {
    name: 'images',
    data: { file: `${dir}/data.img`, sizeBytes: 1n << 30n },     // files get loop devices; or give block devices
    metadata: { file: `${dir}/meta.img`, sizeBytes: 64n << 20n },
    skipBlockZeroing: true, lowWaterMarkBlocks: 1024, timeoutMs: 30_000,
  });
  await pool.createThin(1);
  const base = await pool.activate(1, { name: 'base', sizeSectors: 20_971_520n }); // 10 GiB virtual
  // … mkfs.ext4 base.path, mount it, unpack an image layer …
  await pool.snapshot(2, 1);                  // base is active: suspended, snapshotted, resumed by uuid
  await pool.setTransactionId(1);             // tie the pool's state to your own metadata
  const snap = await pool.activate(2, { name: 'container-1', sizeSectors: base.sizeSectors });
  const s = await pool.status();
  if (s.health === 'ok') console.log(`${s.usedDataBlocks}/${s.totalDataBlocks} blocks of ${s.blockSizeSectors} sectors used, mode ${s.mode}`);
  await pool.deactivate(snap);
  await pool.delete(2, { discard: true, signal: AbortSignal.timeout(60_000) }); // the space reaches the disk under the pool
  // Leaving the scope removes base, the pool and its loop devices (the files keep the pool's metadata).
}
// README:end
