/**
 * The README's fault API example (README.md, "Testing your code without root"), kept here so
 * it is type-checked and run: spec/lib/readme-examples.spec.ts runs it and checks that README
 * shows exactly this code between the README markers.
 */
// README:begin sim-faults
import { DeviceMapper, DmError } from '../lib/index.js';
import { SimulatedKernel, simFaults } from '../testing/index.js';

/** Drives each error path once; returns what the code under test saw. */
export async function errorPaths(): Promise<string[]> {
  const kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/loop0', 7, 0, 131072); // path, major, minor, size in sectors
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  const faults = simFaults(kernel);
  const seen: string[] = [];
  const code = (e: unknown) => (e instanceof DmError ? e.code : String(e));
  const table = [{ start: 0n, length: 131072n, type: 'linear', params: '/dev/loop0 0' }];

  faults.failNext('load', 'ENOMEM');                  // the next table load fails
  await dm.createDevice({ name: 'vol', table }).catch((e) => seen.push(`create: ${code(e)}`));
  seen.push(`rolled back: ${!(await dm.info('vol')).exists}`);
  await dm.createDevice({ name: 'vol', table });

  const release = faults.holdOpen('vol');             // as if mounted: remove sees EBUSY
  await dm.remove('vol').catch((e) => seen.push(`remove: ${code(e)}`));
  release();

  faults.delay('suspend', 50, { device: 'vol' });     // a slow suspend (async calls wait)
  await dm.suspend('vol');
  await dm.resume('vol');

  const info = await dm.info('vol');
  if (info.exists) {
    const woken = dm.wait('vol', { eventNr: info.eventNr });
    faults.raiseEvent('vol');                         // a target event wakes waiters
    await woken;
    seen.push('woken');
  }
  await dm.removeDevice('vol');
  dm.close();
  return seen;
}
// README:end
