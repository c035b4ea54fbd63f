// Adversarial review of ThinPool and FaultyDevice on the simulator: a fault at
// every step of every multi-step method, hostile arguments counted in ioctls, close
// mid-operation, and the conditions() iterator's ending.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmClosedError, DmCodecError, DmError, DmIdentityError, DmOperationError, FaultyDevice, ThinPool } from '../../lib/index.js';
import { SimulatedKernel, simFaults, simBlockIo, thinSim } from '../../testing/index.js';
import type { SimBlockIo } from "../../testing/sim-io.js";
import type { CommandName } from '../../codec/index.js';

const MiB = 1024n * 1024n;
let kernel: SimulatedKernel;
let dm: DeviceMapper;
let io: SimBlockIo;

beforeEach(async () => {
  kernel = new SimulatedKernel();
  dm = await DeviceMapper.open({ backend: kernel.backend() });
  io = simBlockIo(kernel);
});
afterEach(() => dm.close());

function typed(e: unknown): boolean {
  return e instanceof DmError || e instanceof DmOperationError || e instanceof DmIdentityError || e instanceof DmAbortError || e instanceof DmClosedError || e instanceof DmCodecError;
}
const ioctls = () => [...kernel.calls.values()].reduce((a, b) => a + b, 0);
/** Long enough for a call held by LATE_MS and what runs after it (a late create's removal). */
const settle = async () => { for (let i = 0; i < 30; i++) await new Promise((r) => setTimeout(r, 5)); };
const BOUND_MS = 30;
const LATE_MS = 90;

async function pool(extra: Record<string, unknown> = {}): Promise<ThinPool> {
  return ThinPool.create(dm, { name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, ...extra });
}

/** The ioctls `run` makes, in order (commands), on a fresh setup. */
async function stepsOf(run: () => Promise<unknown>): Promise<CommandName[]> {
  const seen: CommandName[] = [];
  const stop = kernel.intercept({ before: (e) => { if (e.command) seen.push(e.command); } });
  try { await run(); } finally { stop(); }
  return seen;
}

function nothingSuspendedOrHalfLoaded(): void {
  for (const d of kernel.devices.values()) {
    expect({ name: d.name, suspended: d.suspended, inactive: d.inactive !== undefined }).toEqual({ name: d.name, suspended: false, inactive: false });
  }
}

describe('hostile input: a typed error before any ioctl', () => {
  test('null, non-object and misspelt options of every public method; a hostile ThinDevice; a non-string uuid', async () => {
    const p = await pool();
    await p.createThin(1);
    kernel.addBlockDevice('/dev/sdq', 8, 16, 65536);
    const fd = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/sdq', sizeSectors: 65536 });
    const bad: [string, () => unknown][] = [
      ['create null', () => ThinPool.create(dm, null as never)],
      ['create misspelt', () => ThinPool.create(dm, { name: 'p2', data: '/dev/loop1', metadata: '/dev/loop0', skipBlockZeroin: true } as never)],
      ['open null', () => ThinPool.open(dm, 'pool', null as never)],
      ['open misspelt', () => ThinPool.open(dm, 'pool', { timeout: 5 } as never)],
      ['status misspelt', () => p.status({ noFlush: true } as never)],
      ['setTransactionId null', () => p.setTransactionId(1, null as never)],
      ['snapshot null', () => p.snapshot(2, 1, null as never)],
      ['snapshot misspelt', () => p.snapshot(2, 1, { origin: 'base' } as never)],
      ['delete null', () => p.delete(1, null as never)],
      ['delete misspelt', () => p.delete(1, { discrad: true } as never)],
      ['activate null', () => p.activate(1, null as never)],
      ['activate misspelt', () => p.activate(1, { name: 'a', sizeSectors: 8, readonly: true } as never)],
      ['deactivate null', () => p.deactivate(null as never)],
      ['deactivate uuid undefined', () => p.deactivate({ name: 'pool' } as never)],
      ['deactivate options null', () => p.deactivate(1, null as never)],
      ['reload null', () => p.reload(null as never)],
      ['reload misspelt', () => p.reload({ lowWatermark: 5 } as never)],
      ['resize null', () => p.resize(null as never)],
      ['conditions null', () => p.conditions(null as never).next()],
      ['conditions signal', () => p.conditions({ signal: 'stop' } as never).next()],
      ['destroy null', () => p.destroy(null as never)],
      ['FaultyDevice.create null', () => FaultyDevice.create(dm, null as never)],
      ['FaultyDevice.create uuid 5', () => FaultyDevice.create(dm, { name: 'f2', device: '/dev/sdq', uuid: 5 as never, sizeSectors: 8 })],
      ['FaultyDevice.create misspelt', () => FaultyDevice.create(dm, { name: 'f2', device: '/dev/sdq', sector: 8 } as never)],
      ['delay null', () => fd.delay(null as never)],
      ['intervals null', () => fd.intervals(null as never)],
      ['corrupt null', () => fd.corrupt(null as never)],
      ['remove null', () => fd.remove(null as never)],
    ];
    const problems: string[] = [];
    for (const [what, f] of bad) {
      const n = ioctls();
      let e: unknown;
      try { await f(); } catch (x) { e = x; }
      if (e === undefined) problems.push(`${what}: accepted`);
      else if (!typed(e)) problems.push(`${what}: ${String(e)}`);
      if (ioctls() !== n) problems.push(`${what}: ${ioctls() - n} ioctls`);
    }
    expect(problems).toEqual([]);
    expect(thinSim(kernel).pool('pool').thins.has(1)).toBe(true); // the misspelt delete did not delete
    expect(kernel.devices.has('p2')).toBe(false);
  });
});

interface Scenario {
  readonly name: string;
  /** Builds the state before the operation; returns the operation. */
  setup(timeoutMs: number): Promise<() => Promise<unknown>>;
}

function devicesNow(): string[] { return [...kernel.devices.keys()].sort(); }
function loopsNow(): string[] { return kernel.blockDevices.filter((b) => b.major === 7).map((b) => b.path).sort(); }

/** The pool made in setup, reopened with the bound of the case (setup itself runs unbounded). */
const bound = (timeoutMs: number) => ThinPool.open(dm, 'pool', { timeoutMs });

const SCENARIOS: Scenario[] = [
  { name: 'ThinPool.create over files', setup: async (timeoutMs) => () => pool({ timeoutMs }) },
  {
    name: 'snapshot of an active origin', setup: async (timeoutMs) => {
      const p = await pool(); await p.createThin(1); await p.activate(1, { name: 'base', sizeSectors: 8192 });
      const q = await bound(timeoutMs);
      return () => q.snapshot(2, 1);
    },
  },
  {
    name: 'activate', setup: async (timeoutMs) => {
      const p = await pool(); await p.createThin(1);
      const q = await bound(timeoutMs);
      return () => q.activate(1, { name: 'thin1', sizeSectors: 8192 });
    },
  },
  {
    name: 'delete with discard', setup: async (timeoutMs) => {
      const p = await pool(); await p.createThin(1);
      const t = await p.activate(1, { name: 'thin1', sizeSectors: 8192 }); thinSim(kernel).write('thin1', 0, 4096); await p.deactivate(t);
      const q = await bound(timeoutMs);
      return () => q.delete(1, { discard: true });
    },
  },
  {
    name: 'reload', setup: async (timeoutMs) => {
      const p = await pool(); await p.createThin(1); await p.activate(1, { name: 'thin1', sizeSectors: 8192 });
      const q = await bound(timeoutMs);
      return () => q.reload({ lowWaterMarkBlocks: 10 });
    },
  },
  {
    name: 'resize', setup: async (timeoutMs) => {
      const p = await pool();
      return () => p.resize({ dataBytes: 128n * MiB, timeoutMs }); // the call's own bound (the whole call)
    },
  },
  {
    name: 'deactivate --force of an open thin', setup: async (timeoutMs) => {
      const p = await pool(); await p.createThin(1); await p.activate(1, { name: 'thin1', sizeSectors: 8192 });
      kernel.openDevice('thin1');
      const q = await bound(timeoutMs);
      return () => q.deactivate(1, { force: true, retries: 1 });
    },
  },
  {
    name: 'FaultyDevice.create', setup: async (timeoutMs) => {
      kernel.addBlockDevice('/dev/sdq', 8, 16, 65536);
      return () => FaultyDevice.create(dm, { name: 'fd', device: '/dev/sdq', sizeSectors: 65536, timeoutMs });
    },
  },
  ...(['fail-writes', 'delay', 'passthrough'] as const).map((kind): Scenario => ({
    name: `FaultyDevice.setMode ${kind}`, setup: async (timeoutMs) => {
      kernel.addBlockDevice('/dev/sdq', 8, 16, 65536);
      // Set-up unbounded (a loaded machine must not fail it); the bound is the call's own.
      const d = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/sdq', sizeSectors: 65536 });
      if (kind === 'passthrough') await d.failAll();
      return () => d.setMode(kind === 'delay' ? { kind, readMs: 1, writeMs: 2 } : { kind }, { timeoutMs });
    },
  })),
];

describe('a fault at every step of every multi-step method', () => {
  for (const s of SCENARIOS) {
    test(`${s.name}: each step failing (EIO) or held past the bound leaves nothing suspended, half-loaded or behind; errors typed`, async () => {
      const clean = await stepsOf(await s.setup(10_000));
      const problems: string[] = [];
      for (const fault of ['EIO', 'late'] as const) {
        for (let i = 0; i < clean.length; i++) {
          dm.close();
          kernel = new SimulatedKernel();
          dm = await DeviceMapper.open({ backend: kernel.backend() });
          io = simBlockIo(kernel);
          const op = await s.setup(fault === 'late' ? BOUND_MS : 10_000);
          const devices = devicesNow();
          const loops = loopsNow();
          let n = 0;
          const stop = kernel.intercept({ fault: (e) => (e.command && n++ === i ? (fault === 'EIO' ? { errno: 5 } : { delayMs: LATE_MS }) : undefined) });
          let err: unknown;
          try { await op(); } catch (e) { err = e; }
          const where = `${fault} at step ${i} (${clean[i]})`;
          const found = (): string[] => {
            const p: string[] = [];
            if (err !== undefined && !typed(err)) p.push(`${where}: untyped ${String(err)}`);
            for (const d of kernel.devices.values()) {
              if (d.suspended) p.push(`${where}: ${d.name} left suspended`);
              if (d.inactive) p.push(`${where}: ${d.name} left with an inactive table`);
            }
            if (err !== undefined) {
              const extra = devicesNow().filter((d) => !devices.includes(d));
              if (extra.length) p.push(`${where}: left behind ${extra.join(',')}`);
              const extraLoops = loopsNow().filter((d) => !loops.includes(d));
              if (extraLoops.length) p.push(`${where}: loops left ${extraLoops.join(',')}`);
            }
            return p;
          };
          // The undo of a late call runs when that call completes: give it time (bounded by
          // wall time, not by a count of turns, so a loaded CI machine does not fail it).
          await settle();
          for (let k = 0; k < 200 && found().length; k++) await new Promise((r) => setTimeout(r, 10));
          stop();
          problems.push(...found());
        }
      }
      expect({ steps: clean, problems }).toEqual({ steps: clean, problems: [] });
    });
  }
});

describe('close() mid-operation', () => {
  const CASES: [string, () => Promise<() => Promise<unknown>>][] = [
    ['snapshot of an active origin', async () => {
      const p = await pool(); await p.createThin(1); await p.activate(1, { name: 'base', sizeSectors: 8192 });
      return () => p.snapshot(2, 1);
    }],
    ['reload', async () => {
      const p = await pool();
      return () => p.reload({ lowWaterMarkBlocks: 3 });
    }],
    ['FaultyDevice.setMode', async () => {
      kernel.addBlockDevice('/dev/sdq', 8, 16, 65536);
      const d = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/sdq', sizeSectors: 65536 });
      return () => d.failWrites();
    }],
  ];
  for (const [name, setup] of CASES) {
    test(`${name}: the client closed before each step — DmClosedError, and nothing is left suspended or half-loaded`, async () => {
      const clean = await stepsOf(await setup());
      const problems: string[] = [];
      for (let i = 0; i < clean.length; i++) {
        dm.close();
        kernel = new SimulatedKernel();
        dm = await DeviceMapper.open({ backend: kernel.backend() });
        io = simBlockIo(kernel);
        const op = await setup();
        let n = 0;
        const closing = dm;
        const stop = kernel.intercept({ before: (e) => { if (e.command && n++ === i) closing.close(); } });
        let err: unknown;
        try { await op(); } catch (e) { err = e; }
        await settle();
        stop();
        if (err !== undefined && !typed(err)) problems.push(`close before step ${i}: untyped ${String(err)}`);
        for (const d of kernel.devices.values()) {
          if (d.suspended) problems.push(`close before step ${i} (${clean[i]}): ${d.name} left suspended`);
          if (d.inactive) problems.push(`close before step ${i} (${clean[i]}): ${d.name} left with an inactive table`);
        }
      }
      expect({ steps: clean, problems }).toEqual({ steps: clean, problems: [] });
    });
  }
});

describe('a pool whose name is long and not ASCII', () => {
  test('delete with discard names its helper device within the kernel\'s 127 bytes (cut by characters, not UTF-16 units)', async () => {
    const name = 'é'.repeat(59); // 118 bytes: the pool's uuid THINPOOL-<name> fits in 128
    const p = await ThinPool.create(dm, { name, data: { file: '/d', sizeBytes: 64n * MiB }, metadata: { file: '/m', sizeBytes: 4n * MiB } });
    await p.createThin(1);
    const t = await p.activate(1, { name: 't', sizeSectors: 8192 });
    thinSim(kernel).write('t', 0, 4096);
    await p.deactivate(t);
    await p.delete(1, { discard: true });
    expect(io.calls.filter((c) => c.startsWith('discard'))).toHaveLength(1);
    expect(thinSim(kernel).pool(name).thins.has(1)).toBe(false);
    expect([...kernel.devices.keys()]).toEqual([name]);
  });
});

describe('conditions(): the iterator ends and gives back its watcher', () => {
  test('a pre-aborted signal: DmAbortError before any ioctl', async () => {
    const p = await pool();
    const ac = new AbortController();
    ac.abort();
    const n = ioctls();
    await expect(p.conditions({ signal: ac.signal }).next()).rejects.toBeInstanceOf(DmAbortError);
    expect(ioctls()).toBe(n);
  });

  test('close() of the client ends it ({ done: true }), as it ends the client\'s own events() iterators', async () => {
    const p = await pool();
    const it = p.conditions({ initial: false });
    const pending = it.next();
    await new Promise((r) => setTimeout(r, 10));
    dm.close();
    expect(await pending).toEqual({ value: undefined, done: true });
    await settle();
    expect({ pollerActive: dm.pollerActive, pendingWaits: kernel.pendingWaits }).toEqual({ pollerActive: false, pendingWaits: 0 });
  });
});

describe('resize() sizes are checked as create() checks them', () => {
  test('0, not whole sectors, or past a safe file size: INVALID_INPUT before the file or a loop device is touched', async () => {
    const p = await pool();
    const calls = io.calls.length;
    const n = ioctls();
    for (const bytes of [0, 1000, 64n * MiB + 1n, 1n << 62n, 2 ** 53]) {
      await expect(p.resize({ dataBytes: bytes })).rejects.toMatchObject({ name: 'DmOperationError', code: 'INVALID_INPUT' });
      await expect(p.resize({ metadataBytes: bytes })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    expect({ io: io.calls.slice(calls), ioctls: ioctls() - n }).toEqual({ io: [], ioctls: 0 });
  });
});

describe('deactivate() removes only thin devices of this pool', () => {
  test('a device that is not a thin, or a thin of another pool, named to deactivate is WRONG_TARGET and stays', async () => {
    const p = await pool();
    const q = await ThinPool.create(dm, { name: 'other', data: { file: '/d2', sizeBytes: 64n * MiB }, metadata: { file: '/m2', sizeBytes: 4n * MiB } });
    await q.createThin(1);
    const foreign = await q.activate(1, { name: 'foreign-thin', sizeSectors: 8192 });
    await dm.createDevice({ name: 'bystander', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await expect(p.deactivate('bystander')).rejects.toMatchObject({ name: 'DmOperationError', code: 'WRONG_TARGET' });
    await expect(p.deactivate('foreign-thin')).rejects.toMatchObject({ code: 'WRONG_TARGET' });
    await expect(p.deactivate(foreign)).rejects.toMatchObject({ code: 'WRONG_TARGET' });
    await expect(p.deactivate('other')).rejects.toMatchObject({ code: 'WRONG_TARGET' }); // the other pool itself
    expect(['bystander', 'foreign-thin', 'other'].every((n) => kernel.devices.has(n))).toBe(true);
    // Its own thins still go by name, object or id.
    await p.createThin(1);
    const own = await p.activate(1, { name: 'own', sizeSectors: 8192 });
    await p.deactivate('own');
    await p.activate(1, { name: 'own', sizeSectors: 8192 });
    await p.deactivate(own);
    expect(kernel.devices.has('own')).toBe(false);
  });
});
