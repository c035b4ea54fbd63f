/**
 * ThinPool's block-device calls on a simulated kernel: files live in memory, loop devices
 * are simulated block devices (major 7), BLKDISCARD of a thin device unmaps its blocks in
 * the simulated pool, and every call is recorded in `calls` for tests to check the order.
 */
import type { ThinPoolIo } from '../lib/index.js';
import type { SimulatedKernel } from './simulator.js';
import { thinSim } from './thin-sim.js';
import { SimError } from './errors.js';

export interface SimThinPoolIo extends ThinPoolIo {
  /** Sizes of the in-memory files. */
  readonly files: Map<string, bigint>;
  /** `discard /dev/dm-3`, `attach f /dev/loop0`, … in call order. */
  readonly calls: string[];
}

/** The `io` of `ThinPool.create` for a simulated kernel: files become simulated block devices. */
export function simThinPoolIo(kernel: SimulatedKernel): SimThinPoolIo {
  const files = new Map<string, bigint>();
  const loops = new Map<string, string>(); // loop path → file
  const calls: string[] = [];
  const dmByPath = (p: string) => {
    const m = /^\/dev\/dm-(\d+)$/.exec(p);
    return m ? [...kernel.devices.values()].find((d) => d.minor === Number(m[1])) : undefined;
  };
  const setLoop = (p: string, minor: number, file: string) => {
    const i = kernel.blockDevices.findIndex((b) => b.path === p);
    if (i >= 0) kernel.blockDevices.splice(i, 1);
    kernel.addBlockDevice(p, 7, minor, files.get(file)! / 512n);
  };
  return {
    files,
    calls,
    async ensureFile(file, bytes) {
      calls.push(`ensure ${file} ${bytes ?? ''}`.trim());
      const cur = files.get(file);
      if (cur === undefined && bytes === undefined) throw new SimError('ENOENT', `${file} does not exist`);
      if (bytes !== undefined && (cur === undefined || cur < bytes)) files.set(file, bytes);
    },
    async attachLoop(file) {
      let n = 0;
      while (loops.has(`/dev/loop${n}`) || kernel.blockDevices.some((b) => b.path === `/dev/loop${n}`)) n++;
      const p = `/dev/loop${n}`;
      loops.set(p, file);
      setLoop(p, n, file);
      calls.push(`attach ${file} ${p}`);
      return { path: p };
    },
    async detachLoop(p) {
      calls.push(`detach ${p}`);
      loops.delete(p);
      const i = kernel.blockDevices.findIndex((b) => b.path === p);
      if (i >= 0) kernel.blockDevices.splice(i, 1);
    },
    async refreshLoop(p) {
      calls.push(`refresh ${p}`);
      const file = loops.get(p);
      if (!file) throw new SimError('ENXIO', `${p} is not attached`);
      setLoop(p, Number(p.slice('/dev/loop'.length)), file);
    },
    async sectors(p) {
      const d = dmByPath(p);
      if (d) return (d.live?.lines ?? []).reduce((s, l) => s + l.length, 0n);
      const b = kernel.blockDevices.find((x) => x.path === p || `${x.major}:${x.minor}` === p);
      if (!b) throw new SimError('ENODEV', `no simulated block device ${p}`);
      return b.sectors;
    },
    nodePath: (dev) => `/dev/dm-${dev.minor}`,
    async discard(p) {
      calls.push(`discard ${p}`);
      const d = dmByPath(p);
      if (!d) throw new SimError('ENXIO', `no simulated dm device ${p}`);
      thinSim(kernel).discard(d.name);
    },
  };
}
