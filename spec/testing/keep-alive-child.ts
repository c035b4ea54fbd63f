/**
 * Child process of keep-alive.spec.ts: one lone wait on the simulator, as a user script
 * would write it, then the process's fate is reported on stdout. argv[2] picks the wait.
 */
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

async function main(): Promise<void> {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.create({ name: 'vol' });
  await dm.load('vol', [{ start: 0n, length: 8n, type: 'zero', params: '' }]);
  await dm.resume('vol');
  const mode = process.argv[process.argv.length - 1];
  // Something else (not the wait) raises the event later, on an unref'd timer: only the
  // wait itself can keep the process alive until then.
  setTimeout(() => kernel.triggerEvent('vol'), 200).unref();
  if (mode === 'wait') {
    await dm.wait('vol');
    console.log('woken');
  } else if (mode === 'events') {
    for await (const e of dm.events()) { console.log(`event ${e.kind}`); break; }
  } else if (mode === 'events-unref') {
    process.on('exit', (code) => console.log(`exit ${code}`));
    for await (const e of dm.events({ ref: false })) { console.log(`event ${e.kind}`); break; }
  }
  dm.close();
}
void main();
