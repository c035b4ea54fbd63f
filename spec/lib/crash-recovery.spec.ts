// Crash safety on the simulator (docs/crash-safety.md): every multi-step operation runs in a
// simulated process that is killed right after its k-th ioctl, for every k the operation has;
// then another process runs dm.recover(), and nothing may be left: no device suspended that
// was not before, no staged table, no temporary or half-made device, no thin id nobody was
// told about, no udev semaphore, no record — and the data of the devices is what it was. A
// live process's record is never touched, and no record ever holds key material.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, FaultyDevice, reloadTree, removeTree, resumeTree, suspendTree, ThinPool, type TargetSpecInput } from '../../lib/index.js';
import { countIoctls, killAfterIoctls, SimulatedKernel, thinSim, type SimProcess } from '../../testing/index.js';

const zero = (length = 2048): TargetSpecInput[] => [{ start: 0, length, type: 'zero', params: '' }];
const linear = (over: string, length = 2048): TargetSpecInput[] => [{ start: 0, length, type: 'linear', params: `${over} 0` }];
const MiB = 1n << 20n;

/** One multi-step operation: what exists before it, how its process prepares, the operation itself. */
interface Scenario {
  readonly name: string;
  readonly udev?: boolean;
  /** Made by a process that stays alive. */
  setup(dm: DeviceMapper, kernel: SimulatedKernel): Promise<void>;
  /** The victim's own preparation (not counted: the kill comes during `run` only). */
  prepare?(dm: DeviceMapper, kernel: SimulatedKernel): Promise<unknown>;
  /** The operation, in the victim's process. */
  run(dm: DeviceMapper, prepared: unknown): Promise<unknown>;
}

async function stack(dm: DeviceMapper): Promise<void> {
  const base = await dm.createDevice({ name: 'base', uuid: 'U-base', table: zero() });
  const mid = await dm.createDevice({ name: 'mid', uuid: 'U-mid', table: linear(`${base.dev.major}:${base.dev.minor}`) });
  await dm.createDevice({ name: 'top', uuid: 'U-top', table: linear(`${mid.dev.major}:${mid.dev.minor}`) });
}

async function poolWithOrigin(dm: DeviceMapper, kernel: SimulatedKernel): Promise<void> {
  const pool = await ThinPool.create(dm, { name: 'pool', data: { file: '/d.img', sizeBytes: 256n * MiB }, metadata: { file: '/m.img', sizeBytes: 16n * MiB } });
  await pool.createThin(1);
  await pool.activate(1, { name: 'base', sizeSectors: 65536 });
  thinSim(kernel).write('base', 0, 128 * 8);
  await pool.createThin(3);
  await pool.activate(3, { name: 'scratch', sizeSectors: 65536 });
  thinSim(kernel).write('scratch', 0, 128 * 4);
  await pool.deactivate('scratch');
}

const SCENARIOS: Scenario[] = [
  { name: 'createDevice (udev cookie)', udev: true, setup: async () => {}, run: (dm) => dm.createDevice({ name: 'made', uuid: 'U-made', table: zero() }) },
  { name: 'removeDevice (udev cookie)', udev: true, setup: async (dm) => { await dm.createDevice({ name: 'gone', uuid: 'U-gone', table: zero() }); }, run: (dm) => dm.removeDevice('gone') },
  { name: 'rename by uuid (udev cookie)', udev: true, setup: async (dm) => { await dm.createDevice({ name: 'old', uuid: 'U-old', table: zero() }); }, run: (dm) => dm.rename({ uuid: 'U-old' }, { newName: 'new' }) },
  { name: 'rename by name (udev cookie)', udev: true, setup: async (dm) => { await dm.createDevice({ name: 'old', uuid: 'U-old', table: zero() }); }, run: (dm) => dm.rename('old', { newName: 'new' }) },
  {
    // Every call that makes a cookie for itself records it, not only the multi-step ones.
    name: 'resume (one call, udev cookie)', udev: true,
    setup: async (dm) => { await dm.createDevice({ name: 'held', uuid: 'U-held', table: zero() }); await dm.suspend('held'); },
    run: async (dm) => { await dm.resume('held'); await dm.resume('held'); },
  },
  {
    name: 'resumeTree (udev cookie)', udev: true,
    setup: async (dm) => { await stack(dm); await suspendTree(dm, ['top']); },
    run: (dm) => resumeTree(dm, ['top']),
  },
  { name: 'suspendTree', setup: stack, run: (dm) => suspendTree(dm, ['top']) },
  {
    name: 'resumeTree',
    setup: async (dm) => { await stack(dm); await suspendTree(dm, ['top']); },
    run: (dm) => resumeTree(dm, ['top']),
  },
  {
    name: 'reloadTree',
    setup: stack,
    run: async (dm) => {
      const base = await dm.info('base');
      if (!base.exists) throw new Error('no base');
      return reloadTree(dm, [{ device: 'mid', table: [{ start: 0, length: 2040, type: 'linear', params: `${base.dev.major}:${base.dev.minor} 8` }] }]);
    },
  },
  { name: 'removeTree', setup: stack, run: (dm) => removeTree(dm, ['top']) },
  { name: 'ThinPool.snapshot of an active origin', setup: poolWithOrigin, prepare: (dm) => ThinPool.open(dm, 'pool'), run: (_dm, p) => (p as ThinPool).snapshot(2, 1) },
  { name: 'ThinPool.createThin', setup: poolWithOrigin, prepare: (dm) => ThinPool.open(dm, 'pool'), run: (_dm, p) => (p as ThinPool).createThin(5) },
  { name: 'ThinPool.delete with discard', setup: poolWithOrigin, prepare: (dm) => ThinPool.open(dm, 'pool'), run: (_dm, p) => (p as ThinPool).delete(3, { discard: true }) },
  {
    name: 'FaultyDevice mode switch',
    setup: async (_dm, kernel) => { kernel.addBlockDevice('/dev/vdb', 252, 16, 1n << 20n); },
    prepare: (dm) => FaultyDevice.create(dm, { name: 'fd', device: '/dev/vdb' }),
    run: (_dm, f) => (f as FaultyDevice).failWrites(),
  },
];

/** What must hold after recovery, read from the kernel. */
interface State {
  readonly devices: Map<string, { suspended: boolean; inactive: boolean; live: boolean; table: string }>;
  readonly thins: Map<number, string>;
}

function stateOf(kernel: SimulatedKernel): State {
  const devices = new Map<string, { suspended: boolean; inactive: boolean; live: boolean; table: string }>();
  for (const d of kernel.devices.values()) {
    devices.set(d.name, {
      suspended: d.suspended, inactive: d.inactive !== undefined, live: d.live !== undefined,
      table: d.live?.lines.map((l) => `${l.start} ${l.length} ${l.type}`).join(';') ?? '',
    });
  }
  const thins = new Map<number, string>();
  if (kernel.devices.has('pool')) {
    for (const [id, map] of thinSim(kernel).pool('pool').thins) thins.set(id, JSON.stringify([...map.map.entries()]));
  }
  return { devices, thins };
}

const names = (s: State) => [...s.devices.keys()].sort().join(',');
const settle = async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0)); };

interface Run { kernel: SimulatedKernel; victim: SimProcess; before: State; error: unknown }

async function runScenario(s: Scenario, killAt: number | undefined): Promise<Run & { ioctls: number }> {
  const kernel = new SimulatedKernel({ udev: s.udev === true });
  const owner = await DeviceMapper.open({ backend: kernel.backend() });
  await s.setup(owner, kernel);
  const victim = kernel.processes.spawn();
  const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
  const prepared = await s.prepare?.(dm, kernel);
  await settle();
  const before = stateOf(kernel);
  const counter = countIoctls(kernel, 'victim');
  const stop = killAt === undefined ? () => {} : killAfterIoctls(kernel, victim, 'victim', killAt);
  let error: unknown;
  try { await s.run(dm, prepared); } catch (e) { error = e; }
  await settle();
  stop();
  counter.stop();
  dm.close();
  owner.close();
  return { kernel, victim, before, error, ioctls: counter.count };
}

test('resumeTree killed anywhere: after recover() the stack is as before it (all suspended) or as after it (none), never half', async () => {
  const s = SCENARIOS.find((x) => x.name === 'resumeTree (udev cookie)')!;
  const clean = await runScenario(s, undefined);
  for (let k = 1; k < clean.ioctls; k++) {
    const r = await runScenario(s, k);
    const recoverer = await DeviceMapper.open({ backend: r.kernel.backend() });
    const report = await recoverer.recover();
    await settle();
    recoverer.close();
    const suspended = [...stateOf(r.kernel).devices].filter(([, d]) => d.suspended).map(([n]) => n).sort().join(',');
    expect({ k, suspended: ['', 'base,mid,top'].includes(suspended) ? 'all or none' : suspended }).toEqual({ k, suspended: 'all or none' });
  }
});

describe('a process killed after every step of every multi-step operation leaves nothing once another process recovers', () => {
  for (const s of SCENARIOS) {
    test(s.name, async () => {
      const clean = await runScenario(s, undefined);
      expect(clean.error).toBeUndefined();
      expect(clean.ioctls).toBeGreaterThan(1);
      const after = stateOf(clean.kernel);
      expect([...clean.kernel.processes.records().keys()]).toEqual([]); // a finished operation leaves no record
      for (let k = 1; k <= clean.ioctls; k++) {
        const r = await runScenario(s, k);
        const where = `${s.name}, killed after ioctl ${k} of ${clean.ioctls}`;
        expect({ where, dead: r.victim.alive }).toEqual({ where, dead: false });
        const recoverer = await DeviceMapper.open({ backend: r.kernel.backend() });
        const report = await recoverer.recover();
        await settle();
        recoverer.close();
        const now = stateOf(r.kernel);
        // Nothing suspended or staged that was not before; no device without a table.
        for (const [name, d] of now.devices) {
          const was = r.before.devices.get(name);
          expect({ where, name, suspended: d.suspended && !was?.suspended }).toEqual({ where, name, suspended: false });
          expect({ where, name, staged: d.inactive && !was?.inactive }).toEqual({ where, name, staged: false });
          expect({ where, name, tableless: !d.live }).toEqual({ where, name, tableless: false });
        }
        // The devices are those before the operation or those after it, nothing else (no temporary helper, no half-made device).
        expect({ where, devices: [names(r.before), names(after)].includes(names(now)) ? 'before or after' : names(now) }).toEqual({ where, devices: 'before or after' });
        // Thin ids: as before or as after (none made and never reported); every thin kept has its data.
        const ids = (x: State) => [...x.thins.keys()].sort().join(',');
        expect({ where, thins: [ids(r.before), ids(after)].includes(ids(now)) ? 'before or after' : ids(now) }).toEqual({ where, thins: 'before or after' });
        // (A thin whose delete had begun discarding it is deleted: its data was going, so the delete is finished.)
        for (const [id, map] of now.thins) {
          if (r.before.thins.has(id)) expect({ where, id, data: map }).toEqual({ where, id, data: r.before.thins.get(id) });
        }
        expect({ where, semaphores: r.kernel.udev?.semaphores.length ?? 0 }).toEqual({ where, semaphores: 0 });
        expect({ where, records: [...r.kernel.processes.records().keys()] }).toEqual({ where, records: [] });
        expect({ where, failed: report.operations.filter((o) => o.outcome !== 'recovered') }).toEqual({ where, failed: [] });
      }
    }, 60_000);
  }
});

describe('handles recover their own devices when they are opened', () => {
  test('ThinPool.open resumes the origin a dead snapshot left suspended and keeps its unconfirmed id (reported: it may be another process\'s); records of other devices stay', async () => {
    const kernel = new SimulatedKernel();
    const owner = await DeviceMapper.open({ backend: kernel.backend() });
    await poolWithOrigin(owner, kernel);
    await owner.createDevice({ name: 'other', uuid: 'U-other', table: zero() });
    await owner.suspend('other');
    const unrelated = kernel.processes.spawn();
    kernel.processes.store(unrelated).write('unrelated', {
      version: 1, op: 'suspendTree', pid: unrelated.pid, startTime: unrelated.startTime, startedAtMs: 0,
      effects: [{ kind: 'suspended', device: { name: 'other', uuid: 'U-other' } }],
    });
    unrelated.kill();
    const victim = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
    const p = await ThinPool.open(dm, 'pool');
    // Killed right after create_snap landed: the origin is suspended, id 2 exists, nobody was told.
    kernel.intercept({ after: (e) => { if (e.label === 'victim' && e.command === 'message' && thinSim(kernel).pool('pool').thins.has(2)) victim.kill(); } });
    await p.snapshot(2, 1).catch(() => {});
    expect(kernel.devices.get('base')!.suspended).toBe(true);
    expect(thinSim(kernel).pool('pool').thins.has(2)).toBe(true);
    const other = await DeviceMapper.open({ backend: kernel.backend() });
    await ThinPool.open(other, 'pool');
    expect(kernel.devices.get('base')!.suspended).toBe(false);
    // Its create_snap landed but its reply was never seen: no kernel answer tells that create
    // from another process's of the same id, so the id stays (docs/crash-safety.md).
    expect(thinSim(kernel).pool('pool').thins.has(2)).toBe(true);
    expect(kernel.devices.get('other')!.suspended).toBe(true); // not the pool's: left to dm.recover()
    expect([...kernel.processes.records().keys()]).toEqual(['unrelated']);
    dm.close();
    other.close();
    owner.close();
  });

  test('a snapshot that finds its origin left suspended by a dead snapshot resumes it first, and snapshots it suspended and resumed by itself', async () => {
    const kernel = new SimulatedKernel();
    const owner = await DeviceMapper.open({ backend: kernel.backend() });
    await poolWithOrigin(owner, kernel);
    const live = await ThinPool.open(owner, 'pool'); // a handle of a process that stays, opened before the crash
    const victim = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
    const p = await ThinPool.open(dm, 'pool');
    kernel.intercept({ after: (e) => { if (e.label === 'victim' && e.command === 'suspend') victim.kill(); } });
    await p.snapshot(2, 1).catch(() => {});
    expect(kernel.devices.get('base')!.suspended).toBe(true);
    const order: string[] = [];
    kernel.intercept({ before: (e) => { if (e.command === 'suspend' || e.command === 'message') order.push(`${e.command} ${String(e.name ?? e.uuid)} suspended=${kernel.devices.get('base')!.suspended}`); } });
    await live.snapshot(4, 1);
    expect(kernel.devices.get('base')!.suspended).toBe(false);
    expect(order).toEqual([
      'message THINPOOL-pool suspended=true', // the probe of id 4
      'suspend THIN-1-pool suspended=true', // the dead snapshot's suspend taken back
      'suspend THIN-1-pool suspended=false', // this snapshot's own
      'message THINPOOL-pool suspended=true',
      'suspend THIN-1-pool suspended=true',
    ]);
    expect([...thinSim(kernel).pool('pool').thins.keys()].sort()).toEqual([1, 3, 4]);
    dm.close();
    owner.close();
  });

  test('FaultyDevice.create removes the table-less device a dead create of the same name left, then creates it', async () => {
    const kernel = new SimulatedKernel();
    kernel.addBlockDevice('/dev/vdb', 252, 16, 1n << 20n);
    const victim = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
    const stop = killAfterIoctls(kernel, victim, 'victim', 1);
    await FaultyDevice.create(dm, { name: 'fd', device: '/dev/vdb', sizeSectors: 2048 }).catch(() => {});
    stop();
    expect(kernel.devices.get('fd')!.live).toBeUndefined(); // stranded: created, no table
    const other = await DeviceMapper.open({ backend: kernel.backend() });
    const f = await FaultyDevice.create(other, { name: 'fd', device: '/dev/vdb', sizeSectors: 2048 });
    expect(await f.mode()).toEqual({ kind: 'passthrough' });
    expect([...kernel.processes.records().keys()]).toEqual([]);
    dm.close();
    other.close();
  });
});

describe('what recovery never does', () => {
  test("a live process's record is never touched, whatever it names", async () => {
    const kernel = new SimulatedKernel();
    const alive = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ process: alive }) });
    await dm.createDevice({ name: 'x', uuid: 'U-x', table: zero() });
    await dm.suspend('x');
    const other = await DeviceMapper.open({ backend: kernel.backend() });
    // A record of the live process, written as an operation in flight would have it.
    kernel.processes.store(alive).write('live-op', {
      version: 1, op: 'suspendTree', pid: alive.pid, startTime: alive.startTime, startedAtMs: Date.now(),
      effects: [{ kind: 'suspended', device: { name: 'x', uuid: 'U-x', dev: { major: 254, minor: 0 } } }],
    });
    const report = await other.recover();
    expect(report.live).toBe(1);
    expect(report.operations).toEqual([]);
    expect(kernel.devices.get('x')!.suspended).toBe(true);
    expect([...kernel.processes.records().keys()]).toEqual(['live-op']);
    // Once the process is dead, the same record is recovered.
    alive.kill();
    const again = await other.recover();
    expect(again.operations).toMatchObject([{ operation: 'suspendTree', outcome: 'recovered', actions: [{ action: 'resume', outcome: 'done' }] }]);
    expect(kernel.devices.get('x')!.suspended).toBe(false);
    dm.close();
    other.close();
  });

  test('a device replaced since the record (same name and uuid, another dev) is not touched; the record goes (nothing of ours is left)', async () => {
    const kernel = new SimulatedKernel();
    const dead = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'pad', table: zero() });
    await dm.createDevice({ name: 'x', uuid: 'U-x', table: zero() });
    await dm.suspend('x');
    kernel.processes.store(dead).write('dead-op', {
      version: 1, op: 'FaultyDevice.setMode', pid: dead.pid, startTime: dead.startTime, startedAtMs: 0,
      effects: [{ kind: 'suspended', device: { name: 'x', uuid: 'U-x', dev: { major: 254, minor: 0 } } }],
    });
    dead.kill();
    const report = await dm.recover();
    expect(report.operations).toMatchObject([{ outcome: 'recovered', actions: [{ action: 'resume', outcome: 'skipped' }] }]);
    expect(kernel.devices.get('x')!.suspended).toBe(true);
    expect([...kernel.processes.records().keys()]).toEqual([]);
    dm.close();
  });

  test('dryRun reports what would be done, claims nothing and changes nothing', async () => {
    const kernel = new SimulatedKernel();
    const dead = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const x = await dm.createDevice({ name: 'x', uuid: 'U-x', table: zero() });
    await dm.suspend('x');
    kernel.processes.store(dead).write('dead-op', {
      version: 1, op: 'suspendTree', pid: dead.pid, startTime: dead.startTime, startedAtMs: 0,
      effects: [{ kind: 'suspended', device: { name: 'x', uuid: 'U-x', dev: { major: x.dev.major, minor: x.dev.minor } } }],
    });
    dead.kill();
    const plan = await dm.recover({ dryRun: true });
    expect(plan.operations).toMatchObject([{ outcome: 'planned', actions: [{ action: 'resume', outcome: 'planned' }] }]);
    expect(kernel.devices.get('x')!.suspended).toBe(true);
    expect([...kernel.processes.records().keys()]).toEqual(['dead-op']);
    dm.close();
  });

  test('a record claimed by a recoverer that died too is claimed again; one claimed by a live recoverer is left to it', async () => {
    const kernel = new SimulatedKernel();
    const dead = kernel.processes.spawn();
    const recoverer = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const x = await dm.createDevice({ name: 'x', uuid: 'U-x', table: zero() });
    await dm.suspend('x');
    const store = kernel.processes.store(dead);
    store.write('dead-op', {
      version: 1, op: 'suspendTree', pid: dead.pid, startTime: dead.startTime, startedAtMs: 0,
      effects: [{ kind: 'suspended', device: { name: 'x', uuid: 'U-x', dev: { major: x.dev.major, minor: x.dev.minor } } }],
    });
    dead.kill();
    const theirs = kernel.processes.store(recoverer);
    expect(theirs.claim(theirs.list()[0]!)).toBeDefined();
    expect((await dm.recover()).claimedElsewhere).toBe(1);
    expect(kernel.devices.get('x')!.suspended).toBe(true);
    recoverer.kill();
    expect((await dm.recover()).operations).toMatchObject([{ outcome: 'recovered' }]);
    expect(kernel.devices.get('x')!.suspended).toBe(false);
    dm.close();
  });

  test('no record ever holds key material (the secrets canary, extended to intent records)', async () => {
    const key = 'a3'.repeat(32);
    for (let k = 1; k <= 3; k++) {
      const kernel = new SimulatedKernel({ udev: true });
      const victim = kernel.processes.spawn();
      const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
      kernel.addBlockDevice('/dev/vdc', 252, 32, 4096);
      const texts: string[] = [];
      const stopSpy = kernel.intercept({ after: () => { for (const t of kernel.processes.records().values()) texts.push(t); } });
      const stop = killAfterIoctls(kernel, victim, 'victim', k);
      await dm.createDevice({ name: 'secret', uuid: 'CRYPT-secret', table: [{ start: 0, length: 4096, type: 'crypt', params: `aes-xts-plain64 ${key} 0 /dev/vdc 0` }] }).catch(() => {});
      stop();
      stopSpy();
      for (const t of kernel.processes.records().values()) texts.push(t);
      expect(texts.length).toBeGreaterThan(0);
      for (const t of texts) {
        expect(t.includes(key)).toBe(false);
        expect(t.includes(key.slice(0, 16))).toBe(false);
      }
      dm.close();
    }
  });
});

describe('a recovery that is stopped or fails', () => {
  test('a failed step keeps the record, with a note and only what is left; a recovery stopped by its signal gives the record back untouched', async () => {
    const kernel = new SimulatedKernel();
    const dead = kernel.processes.spawn();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const a = await dm.createDevice({ name: 'a', uuid: 'U-a', table: zero() });
    const b = await dm.createDevice({ name: 'b', uuid: 'U-b', table: zero() });
    await dm.suspend('a');
    await dm.suspend('b');
    const dev = (d: { dev: { major: number; minor: number } }) => ({ major: d.dev.major, minor: d.dev.minor });
    kernel.processes.store(dead).write('dead-op', {
      version: 1, op: 'suspendTree', pid: dead.pid, startTime: dead.startTime, startedAtMs: 0,
      effects: [{ kind: 'suspended', device: { name: 'a', uuid: 'U-a', dev: dev(a) } }, { kind: 'suspended', device: { name: 'b', uuid: 'U-b', dev: dev(b) } }],
    });
    dead.kill();
    // The resume of b (last suspended, so first resumed) fails once.
    let failures = 1;
    const stop = kernel.intercept({ fault: (e) => (e.command === 'suspend' && e.uuid === 'U-b' && failures-- > 0 ? { errno: 5 } : undefined) });
    const first = await dm.recover();
    stop();
    expect(first.operations).toMatchObject([{ outcome: 'failed', actions: [{ action: 'resume', outcome: 'failed' }, { action: 'resume', outcome: 'done' }] }]);
    expect(kernel.devices.get('a')!.suspended).toBe(false);
    expect(kernel.devices.get('b')!.suspended).toBe(true);
    const kept = JSON.parse([...kernel.processes.records().values()][0]!) as { effects: { device: { name: string } }[]; notes: string[] };
    expect(kept.effects.map((e) => e.device.name)).toEqual(['b']);
    expect(kept.notes).toEqual([expect.stringMatching(/^resume b .*EIO/)]);
    // Stopped before it acts: the record is given back as it was.
    const ac = new AbortController();
    const held = kernel.intercept({ before: (e) => { if (e.command === 'info') ac.abort(); } });
    await expect(dm.recover({ signal: ac.signal })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    held();
    expect(kernel.processes.records().size).toBe(1);
    expect((await dm.recover()).operations).toMatchObject([{ outcome: 'recovered' }]);
    expect(kernel.devices.get('b')!.suspended).toBe(false);
    expect(kernel.processes.records().size).toBe(0);
    dm.close();
  });
});
