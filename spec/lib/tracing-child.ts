// Child of tracing.spec.ts: one createDevice on the simulator, with whatever NODE_DEBUG the parent set.
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

void (async () => {
  const dm = await DeviceMapper.open({ backend: new SimulatedKernel().backend() });
  await dm.createDevice({ name: 'traced', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
  dm.close();
})();
