/**
 * The kernel's check that a table fits its devices. It does not run at table load: a
 * linear target longer than its device, or starting past its end, loads fine and is
 * refused when the table goes live. do_resume() takes the new table from the device's
 * inactive slot, suspends the device, and dm_swap_table() → dm_calculate_queue_limits()
 * walks every target's devices (`iterate_devices`) with device_area_is_invalid()
 * (drivers/md/dm-table.c): the resume fails with EINVAL and this log line, the inactive
 * table is gone and the device stays suspended (docs/kernel-facts.md, "Tables that do not
 * fit their devices").
 */
import { SimError, type ConstructedTarget, type SimBlockDevice } from './targets.js';

/** `%pg` of a block device: its disk name (`loop0`, `dm-3`). */
function diskName(d: SimBlockDevice): string {
  return d.path.slice(d.path.lastIndexOf('/') + 1);
}

/** device_area_is_invalid() over every line; `where` is dm_device_name(): "major:minor". */
export function checkDeviceAreas(lines: readonly { readonly target: ConstructedTarget }[], where: string): void {
  for (const { target } of lines) {
    for (const a of target.areas ?? []) {
      const size = a.device.sectors;
      if (size === 0n) continue; // "if (!dev_size) return 0": a size the kernel cannot know
      if (a.start >= size || a.start + a.length > size) {
        throw new SimError('EINVAL', `table: ${where}: ${diskName(a.device)} too small for target: start=${a.start}, len=${a.length}, dev_size=${size}`);
      }
    }
  }
}
