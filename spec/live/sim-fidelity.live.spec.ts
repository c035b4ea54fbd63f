// The simulator against the kernel, side by side: the same calls on the same loop devices
// (the simulator is given their paths, numbers and sizes) must give the same table and status
// texts, the same errors and the same kernel log lines. Covers what testing/
// storage-targets.ts and device-areas.ts claim about the kernel.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, DeviceMapper, detachLoop, DmError, type TargetSpecInput } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { describeLive, kernelLabel } from './live-env.js';

const MiB = 1024 * 1024;

describeLive(`simulator fidelity [kernel ${kernelLabel}]`, () => {
  let real: DeviceMapper;
  let sim: DeviceMapper;
  let dir: string;
  const loops: string[] = [];
  const prefix = `dmts-sf-${process.pid}-`;
  let n = 0;
  let l0: string, l1: string, m2: string, m3: string;

  beforeAll(async () => {
    real = await DeviceMapper.open();
    const version = await real.version();
    const kernel = new SimulatedKernel({ version });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-sf-'));
    for (const [i, mib] of [16, 16, 4, 4].entries()) {
      const file = path.join(dir, `l${i}.img`);
      fs.writeFileSync(file, '');
      fs.truncateSync(file, mib * MiB);
      const loop = await attachLoop(file);
      loops.push(loop.path);
      kernel.addBlockDevice(loop.path, loop.major, loop.minor, (mib * MiB) / 512);
    }
    [l0, l1, m2, m3] = loops as [string, string, string, string];
    sim = await DeviceMapper.open({ backend: kernel.backend() });
  });

  afterAll(async () => {
    for (const d of await real.list({ namePrefix: prefix })) await real.removeDevice(d.name).catch(() => undefined);
    real.close();
    sim.close();
    for (const l of loops) await detachLoop(l).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** create + load + resume on one side; what the caller can see of the outcome. */
  async function outcome(dm: DeviceMapper, table: TargetSpecInput[]) {
    const name = `${prefix}${n++}`;
    const info = await dm.create({ name });
    const where = `${info.dev.major}:${info.dev.minor}`;
    const step = async (what: string, f: () => Promise<unknown>) => {
      try { await f(); return `${what}: ok`; } catch (e) {
        if (!(e instanceof DmError)) throw e;
        // The simulator prints constructor errors without 6.x's " (-EINVAL)" suffix (docs/kernel-facts.md).
        const own = (e.kernelLog ?? []).map((l) => l.replaceAll(where, 'DEV').replace(/ \(-E[A-Z]+\)$/, ''))
          // 6.12's snapshot constructor error path puts a device it never got (measured: a
          // garbage name "not in table devices list", then "dm_put_device call missing"):
          // kernel artefacts the simulator does not model (docs/kernel-facts.md).
          .filter((l) => !/: device .* not in table devices list$/.test(l) && !/: dm_table_destroy: dm_put_device call missing for /.test(l));
        return `${what}: ${e.code} ${JSON.stringify(own)}`;
      }
    };
    const load = await step('load', () => dm.load(name, table));
    const resume = await step('resume', () => dm.resume(name));
    const after = await dm.info(name);
    const flags = after.exists ? { suspended: after.flags.suspended, live: after.flags.activePresent, inactive: after.flags.inactivePresent } : undefined;
    const texts = after.exists && after.flags.activePresent
      ? { table: (await dm.table(name, { showKeys: true })).targets.map((t) => t.params), status: (await dm.status(name)).targets.map((t) => t.params) }
      : undefined;
    await dm.removeDevice(name);
    return { load, resume, flags, texts };
  }

  const same = async (table: () => TargetSpecInput[]) => {
    const [k, s] = [await outcome(real, table()), await outcome(sim, table())];
    // A line the kernel logged may be missed by the kmsg cursor (seen once for a crypt key
    // error on 6.1): then only the errno is compared.
    if (k.load.endsWith(' []') && s.load.startsWith(k.load.slice(0, -2))) s.load = k.load;
    expect(s).toEqual(k);
    return k;
  };

  test('linear longer than its device: the load is refused with the kernel\'s line', async () => {
    const k = await same(() => [{ start: 0n, length: 32768n + 8n, type: 'linear', params: `${l0} 0` }]);
    expect(k.load).toMatch(/EINVAL.*too small for target/);
  });

  test('linear past the end of its device', async () => {
    await same(() => [{ start: 0n, length: 8n, type: 'linear', params: `${l0} 32768` }]);
  });

  test('striped: one stripe too short', async () => {
    await same(() => [{ start: 0n, length: 32768n, type: 'striped', params: `2 8 ${l0} 0 ${l1} 24576` }]);
  });

  test('crypt', async () => {
    await same(() => [{ start: 0n, length: 2048n, type: 'crypt', params: `aes-xts-plain64 ${'0123456789abcdef'.repeat(4)} 0 ${l0} 0 1 allow_discards` }]);
  });

  test('snapshot-origin and a persistent snapshot', async () => {
    fs.writeFileSync(m2, Buffer.alloc(MiB));
    await same(() => [{ start: 0n, length: 32768n, type: 'snapshot-origin', params: l0 }]);
    await same(() => [{ start: 0n, length: 32768n, type: 'snapshot', params: `${l0} ${m2} P 8` }]);
  });

  test('mirror (core log, nosync)', async () => {
    await same(() => [{ start: 0n, length: 8192n, type: 'mirror', params: `core 2 1024 nosync 2 ${l0} 0 ${l1} 0` }]);
  });

  test('era', async () => {
    fs.writeFileSync(m3, Buffer.alloc(MiB));
    await same(() => [{ start: 0n, length: 32768n, type: 'era', params: `${m3} ${l0} 128` }]);
  });

  test('bad params: the constructor\'s error', async () => {
    await same(() => [{ start: 0n, length: 2048n, type: 'crypt', params: `aes-xts-plain64 0g 0 ${l0} 0` }]);
    await same(() => [{ start: 0n, length: 2048n, type: 'snapshot', params: `${l0} ${l0} P 8` }]);
    await same(() => [{ start: 0n, length: 2048n, type: 'mirror', params: `core 1 1024 1 ${l0} 0` }]);
  });
});
