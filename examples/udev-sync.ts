/**
 * The README's udev cookie example (README.md, "udev synchronisation with cookies"), kept
 * here so it is type-checked and run: spec/lib/readme-examples.spec.ts runs it on the
 * simulated kernel with its simulated udevd and checks that README shows exactly this code.
 */
// README:begin udev-sync
import { DeviceMapper, DmUdevTimeoutError, UDEV_FLAGS } from '../lib/index.js';

/** A device whose /dev/mapper and /dev/disk links exist when createDevice resolves. */
export async function withUdev(dm: DeviceMapper, signal?: AbortSignal): Promise<void> {
  const table = [{ start: 0, length: 2048, type: 'zero', params: '' }];
  await dm.createDevice({ name: 'z', uuid: 'Z-1', table, udevTimeoutMs: 10_000, signal });
  // here /dev/mapper/z and /dev/disk/by-id/dm-uuid-Z-1 exist: no polling
  await dm.rename('z', { newName: 'y' }, { udevFlags: UDEV_FLAGS.LOW_PRIORITY });
  try {
    await dm.removeDevice('y', { udevTimeoutMs: 5_000 });
  } catch (e) {
    if (!(e instanceof DmUdevTimeoutError)) throw e;
    console.log(`removed, but udev did not confirm: ${e.pending} uevent(s) pending`);
  }
}
// README:end
