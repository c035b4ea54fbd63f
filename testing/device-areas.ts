/**
 * The kernel's check that a table fits its devices: device_area_is_invalid()
 * (drivers/md/dm-table.c) over every target's devices (`iterate_devices`), once the whole
 * table is built. A linear target longer than its device, or starting at or past its end,
 * fails the table load with EINVAL and one log line,
 * `table: <major>:<minor>: <disk> too small for target: start=…, len=…, dev_size=…`
 * (measured on 6.1 by spec/live/sim-fidelity.live.spec.ts: the load fails, nothing else is
 * logged, the device keeps its state; docs/kernel-facts.md, "Tables that do not fit").
 */
import { SimError } from './errors.js';
import { type ConstructedTarget, type SimBlockDevice } from './targets.js';

/** `%pg` of a block device: its disk name (`loop0`, `dm-3`). */
function diskName(d: SimBlockDevice): string {
  return d.path.slice(d.path.lastIndexOf('/') + 1);
}

/** device_area_is_invalid() over every line; `where` is dm_device_name(): "major:minor". */
export function checkDeviceAreas(lines: readonly { readonly target: ConstructedTarget }[], where: string): void {
  for (const { target } of lines) {
    for (const a of target.areas ?? []) {
      const size = a.device.sizeSectors;
      if (size === 0n) continue; // "if (!dev_size) return 0": a size the kernel cannot know
      if (a.startSectors >= size || a.startSectors + a.lengthSectors > size) {
        throw new SimError('EINVAL', `table: ${where}: ${diskName(a.device)} too small for target: start=${a.startSectors}, len=${a.lengthSectors}, dev_size=${size}`);
      }
    }
  }
}
