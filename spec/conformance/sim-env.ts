/** The conformance environment on the simulated kernel: no root, any OS. */
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import type { BlockDev, ConformanceEnv } from './env.js';

export function simEnv(version: readonly [number, number, number] = [4, 48, 0]): ConformanceEnv & { kernel: SimulatedKernel } {
  const kernel = new SimulatedKernel({ version });
  let nextLoop = 0;
  return {
    kind: 'simulator',
    label: `simulator ${version.join('.')}`,
    kernel,
    prefix: 'dmts-',
    open: (options = {}) => DeviceMapper.open({ ...options, backend: kernel.backend() }),
    transport: () => kernel.backend().openControl(),
    async blockDevice(sectors: number): Promise<BlockDev> {
      const minor = nextLoop++;
      const d = kernel.addBlockDevice(`/dev/loop${minor}`, 7, minor, sectors);
      return { path: d.path, major: 7, minor, sectors, release: async () => {
        kernel.blockDevices.splice(kernel.blockDevices.indexOf(d), 1);
      } };
    },
    async holdOpen(name: string) {
      kernel.openDevice(name);
      let open = true;
      return async () => {
        if (!open) return;
        open = false;
        if (kernel.devices.has(name) || [...kernel.devices.values()].some((d) => d.deferredRemove)) {
          const d = [...kernel.devices.values()].find((x) => x.name === name);
          if (d) kernel.closeDevice(d.name);
        }
      };
    },
    async unprivilegedIoctlError() {
      const k = new SimulatedKernel({ version });
      const dm = await DeviceMapper.open({ backend: k.backend() });
      k.privileged = false;
      try {
        await dm.info('x');
        return 'none';
      } catch (e) {
        return (e as { code?: string }).code ?? String(e);
      } finally {
        dm.close();
      }
    },
    openFdCount: () => kernel.openFds,
  };
}
