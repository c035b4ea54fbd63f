// The ThinPool, FaultyDevice, fault API and udev examples of the guides (docs/*.md, linked from
// README) are the code in examples/*.ts (between `// README:begin <name>` and `// README:end`,
// imported from 'devicemapper' there): this checks that a guide shows exactly that code, and
// runs it on the simulated kernel.
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeviceMapper, ThinPool } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo, thinSim } from '../../testing/index.js';
import { snapshotterCycle } from '../../examples/thin-pool.js';
import { watchPool } from '../../examples/thin-pool-conditions.js';
import { faultInjection } from '../../examples/faulty-device.js';
import { errorPaths } from '../../examples/sim-faults.js';
import { withUdev } from '../../examples/udev-sync.js';

const ROOT = path.resolve(__dirname, '..', '..');
/** README.md and the guides: where an example's marker may stand. */
const DOCUMENTS = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  .map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'));

function region(file: string, name: string): string {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const m = new RegExp(`// README:begin ${name}\\n([\\s\\S]*?)// README:end\\n`).exec(src);
  if (!m) throw new Error(`no README region ${name} in ${file}`);
  return m[1]!.replaceAll("'../lib/index.js'", "'devicemapper'").replaceAll("'../testing/index.js'", "'devicemapper/testing'");
}

function readmeBlock(file: string, name: string): string | undefined {
  const marker = `<!-- example: ${file} ${name} -->\n\`\`\`ts\n`;
  const shown = DOCUMENTS.filter((d) => d.includes(marker));
  if (shown.length !== 1) return undefined;   // shown exactly once
  const doc = shown[0]!;
  const start = doc.indexOf(marker) + marker.length;
  return doc.slice(start, doc.indexOf('```\n', start));
}

describe('examples shown in README and the guides', () => {
  test.each([
    ['examples/thin-pool.ts', 'thin-pool'],
    ['examples/thin-pool-conditions.ts', 'thin-pool-conditions'],
    ['examples/faulty-device.ts', 'faulty-device'],
    ['examples/sim-faults.ts', 'sim-faults'],
    ['examples/udev-sync.ts', 'udev-sync'],
  ])('a guide shows %s (%s) verbatim', (file, name) => {
    expect(readmeBlock(file, name)).toBe(region(file, name));
  });

  let kernel: SimulatedKernel;
  let dm: DeviceMapper;
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    dm = await DeviceMapper.open({ backend: kernel.backend() });
  });
  afterEach(() => dm.close());

  test('the snapshotter cycle runs and leaves nothing behind', async () => {
    const io = simBlockIo(kernel);
    const log = jest.spyOn(console, 'log').mockImplementation(() => {});
    await snapshotterCycle(dm, '/var/lib/images');
    expect(log).toHaveBeenCalledWith('0/16384 blocks of 128 sectors used, mode rw');
    log.mockRestore();
    expect(kernel.devices.size).toBe(0);
    expect(io.calls.filter((c) => c.startsWith('attach')).length).toBe(io.calls.filter((c) => c.startsWith('detach')).length);
    // The pool's metadata (on the metadata file) kept thin 1 and dropped thin 2.
    expect([...thinSim(kernel).pools.values()][0]!.thins.has(2)).toBe(false);
    expect([...thinSim(kernel).pools.values()][0]!.transactionId).toBe(1n);
  });

  test('watchPool grows the pool at its low-water mark and alerts on out-of-data-space', async () => {
    const io = simBlockIo(kernel);
    const pool = await ThinPool.create(dm, {
      name: 'p', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n }, lowWaterMarkBlocks: 100, errorIfNoSpace: true,
    });
    await pool.createThin(1);
    await pool.activate(1, { name: 't', sizeSectors: 1n << 22n });
    const stop = new AbortController();
    const alerts: string[] = [];
    const watching = watchPool(pool, stop.signal, (a) => alerts.push(a));
    await new Promise((r) => setTimeout(r, 10));
    thinSim(kernel).write('t', 0, 128 * 930); // 94 free blocks ≤ 100: low water
    for (let i = 0; i < 100 && (await pool.healthyStatus()).totalDataBlocks === 1024n; i++) await new Promise((r) => setTimeout(r, 5));
    expect((await pool.healthyStatus()).totalDataBlocks).toBe(2048n);
    expect(thinSim(kernel).write('t', 128 * 930, 128 * 2000)).toBe(false); // past the grown pool: out of space
    for (let i = 0; i < 100 && alerts.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(alerts).toContain('p: out-of-data-space');
    stop.abort();
    await watching.catch(() => {});
  });

  test('the fault injection example switches through every mode and reads each back', async () => {
    kernel.addBlockDevice('/dev/sdb', 8, 16, 1 << 20);
    const log = jest.spyOn(console, 'log').mockImplementation(() => {});
    const seen = await faultInjection(dm, '/dev/sdb'); // no size: the simulated backend's BLKGETSIZE64
    expect(log).toHaveBeenCalledWith({ kind: 'passthrough' });
    log.mockRestore();
    expect(seen.map((m) => m.kind)).toEqual(['fail-writes', 'drop-writes', 'corrupt', 'delay', 'intervals', 'fail-all', 'passthrough']);
    expect(kernel.devices.size).toBe(0);
  });

  test('the fault API example drives each error path', async () => {
    expect(await errorPaths()).toEqual(['create: ENOMEM', 'rolled back: true', 'remove: EBUSY', 'woken']);
  });

  test('the udev example syncs every step with the simulated udevd and leaves no link or semaphore', async () => {
    const k = new SimulatedKernel({ udev: true });
    const d = await DeviceMapper.open({ backend: k.backend() });
    try {
      await withUdev(d);
      expect(k.udev!.events.map((e) => [e.action, e.cookie !== 0])).toEqual([['change', true], ['change', true], ['remove', true]]);
      expect(k.udev!.links.size).toBe(0);
      expect(k.udev!.semaphores).toEqual([]);
      expect(k.devices.size).toBe(0);
    } finally {
      d.close();
    }
  });
});
