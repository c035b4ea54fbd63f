/**
 * The README's FaultyDevice example (README.md, "Fault injection"), kept here so it is
 * type-checked and run: spec/lib/readme-examples.spec.ts runs it on the simulated kernel
 * and checks that README shows exactly this code between the README markers.
 */
// README:begin faulty-device
import { DeviceMapper, FaultyDevice, type FaultMode } from '../lib/index.js';

/** Fault injection under a mounted filesystem. `sizeSectors`: default the device's size. */
export async function faultInjection(dm: DeviceMapper, device: string, sizeSectors?: bigint): Promise<FaultMode[]> {
  await using disk = await FaultyDevice.create(dm, { name: 'disk-under-test', device, sizeSectors });
  // … mkfs disk.path, mount it, start the database under test …
  const seen: FaultMode[] = [];
  seen.push(await disk.failWrites());          // writes get EIO, reads work
  seen.push(await disk.dropWrites());          // writes "succeed" and are lost
  seen.push(await disk.corrupt({ byte: 1, direction: 'read', value: 0 }));
  seen.push(await disk.delay({ readMs: 50, writeMs: 200 }));
  seen.push(await disk.intervals({ upSeconds: 5, downSeconds: 1, down: { kind: 'fail-all' } }));
  seen.push(await disk.failAll());             // every I/O gets EIO
  seen.push(await disk.restore());             // linear passthrough again; nothing was unmounted
  console.log(await disk.mode({ timeoutMs: 1000 })); // read back from the kernel's live table
  return seen;                                 // leaving the scope removes the device
}
// README:end
