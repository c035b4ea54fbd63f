// Adversarial review of crash safety (docs/crash-safety.md): a recovery must never touch what
// another process owns, must survive hostile or corrupt records and an unsafe state
// directory, and two recoverers must not act twice on one record.
import { afterEach, describe, expect, it, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, fileIntentStore, removeTree, suspendTree, ThinPool, type IntentRecord, type TargetSpecInput } from '../../lib/index.js';
import { hostAlive } from '../../lib/kernel/intent-store.js';
import { IntentJournal } from '../../lib/operations/intent-record.js';
import { countIoctls, killAfterIoctls, newSimThin, SimulatedKernel, thinSim } from '../../testing/index.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });
const scratch = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-review-')); dirs.push(d); return d; };
const record = (pid: number, startTime: string, extra: Partial<IntentRecord> = {}): IntentRecord => ({
  version: 1, op: 'createDevice', pid, startTime, startedAtMs: 1,
  effects: [{ kind: 'created', device: { name: 'victim', uuid: 'U-victim', dev: { major: 254, minor: 7 } } }],
  ...extra,
});
const isRoot = process.getuid?.() === 0;

describe('the file store refuses what is not its own', () => {
  test('a record that is a symlink is not followed (its target may be anywhere)', () => {
    const dir = scratch();
    const outside = scratch();
    fs.mkdirSync(path.join(dir, 'intents'), { mode: 0o700 });
    fs.writeFileSync(path.join(outside, 'planted.json'), JSON.stringify(record(1, '2')));
    fs.symlinkSync(path.join(outside, 'planted.json'), path.join(dir, 'intents', '1-2-a.json'));
    expect(fileIntentStore(dir).list()).toEqual([]);
  });

  test('a huge record file is not read into memory', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'intents'), { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'intents', '1-2-a.json'), JSON.stringify(record(1, '2', { notes: ['x'.repeat(4 << 20)] })));
    expect(fileIntentStore(dir).list()).toEqual([]);
  });

  test('a world-writable intents directory is refused with a typed error (anyone could plant records for root to act on)', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'intents'));
    fs.chmodSync(path.join(dir, 'intents'), 0o777);
    fs.writeFileSync(path.join(dir, 'intents', '1-2-a.json'), JSON.stringify(record(1, '2')));
    const store = fileIntentStore(dir);
    expect(() => store.list()).toThrow(expect.objectContaining({ name: 'DmSyscallError', code: 'EPERM' }));
    expect(() => store.write('3-4-b', record(3, '4'))).toThrow(expect.objectContaining({ code: 'EPERM' }));
  });

  test('an intents directory that is a symlink is refused', () => {
    const dir = scratch();
    const elsewhere = scratch();
    fs.chmodSync(elsewhere, 0o700);
    fs.writeFileSync(path.join(elsewhere, '1-2-a.json'), JSON.stringify(record(1, '2')));
    fs.symlinkSync(elsewhere, path.join(dir, 'intents'));
    expect(() => fileIntentStore(dir).list()).toThrow(expect.objectContaining({ code: 'EPERM' }));
  });

  (isRoot ? test : test.skip)('an intents directory or record owned by another user is refused / skipped (needs root to chown)', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'intents'), { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'intents', '1-2-a.json'), JSON.stringify(record(1, '2')), { mode: 0o600 });
    fs.chownSync(path.join(dir, 'intents', '1-2-a.json'), 65534, 65534);
    expect(fileIntentStore(dir).list()).toEqual([]);
    fs.chownSync(path.join(dir, 'intents'), 65534, 65534);
    expect(() => fileIntentStore(dir).list()).toThrow(expect.objectContaining({ code: 'EPERM' }));
  });

  test('claim acts on the record as it is after the rename, not as it was listed (another recoverer may have rewritten it)', () => {
    const dir = scratch();
    const a = fileIntentStore(dir);
    a.write('7-9-x', record(7, '9'));
    const [listed] = a.list();
    // Meanwhile another recoverer claimed it, did the work, and gave back only what failed.
    a.write('7-9-x', record(7, '9', { effects: [], notes: ['done elsewhere'] }));
    expect(a.claim(listed!)!.record).toEqual(record(7, '9', { effects: [], notes: ['done elsewhere'] }));
  });
});

describe('liveness the store cannot see is not death', () => {
  test('a process of another pid namespace is never taken for dead', () => {
    const me = fileIntentStore(scratch()).self();
    expect(me.pidNs).toMatch(/^pid:\[\d+\]$/);
    // pid 0x3fffff does not run here; in another namespace it may be the live writer.
    expect(hostAlive({ pid: 0x3fffff, startTime: '1', pidNs: 'pid:[1]' })).toBe(true);
    expect(hostAlive({ pid: 0x3fffff, startTime: '1', pidNs: me.pidNs })).toBe(false);
  });

  test('records carry the writer\'s pid namespace', () => {
    const store = fileIntentStore(scratch());
    const journal = new IntentJournal(store, 'createDevice');
    journal.record('created:uuid=U-victim', { kind: 'created', device: { name: 'victim', uuid: 'U-victim' } });
    expect(store.list()[0]!.record.pidNs).toBe(store.self().pidNs);
    journal.close();
  });
});

describe('hostile records never crash recover() and are not acted on', () => {
  const hostile: [string, unknown][] = [
    ['an effect without its device', { kind: 'suspended' }],
    ['a device that is a /dev path', { kind: 'created', device: { name: '../../dev/sda', uuid: null, dev: { major: 8, minor: 0 } } }],
    ['an absurd thin id', { kind: 'thin-id', pool: { name: 'pool', uuid: 'P', dev: { major: 254, minor: 0 } }, id: 1e300, phase: 'created', absentBefore: true }],
    ['a negative device number', { kind: 'suspended', device: { name: 'x', uuid: 'U-x', dev: { major: -1, minor: 2 ** 40 } } }],
    ['removing with devices that are not devices', { kind: 'removing', devices: [1, null], removed: 'x' }],
  ];
  test.each(hostile)('%s: the record is reported and left, nothing done', async (_what, effect) => {
    const kernel = new SimulatedKernel();
    const dead = kernel.processes.spawn();
    kernel.processes.store(dead).write('dead-op', { ...record(dead.pid, dead.startTime), effects: [effect as never], notes: 'not an array' as never });
    dead.kill();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const report = await dm.recover();
    expect(report.operations).toHaveLength(1);
    expect(report.operations[0]).toMatchObject({ outcome: 'failed', actions: [{ outcome: 'skipped', note: expect.stringMatching(/invalid record/) }] });
    expect([...kernel.processes.records().keys()]).toEqual(['dead-op']);
  });
});

describe('claims', () => {
  test('a claim names the claimer\'s pid namespace, so a live recoverer of another namespace keeps it', () => {
    const dir = scratch();
    const a = fileIntentStore(dir);
    a.write('7-9-x', record(7, '9'));
    fs.renameSync(path.join(dir, 'intents', '7-9-x.json'), path.join(dir, 'intents', '7-9-x.json.claimed.4194303-1-1'));
    const [theirs] = a.list();
    expect(theirs!.claimedBy).toEqual({ pid: 4194303, startTime: '1', pidNs: 'pid:[1]' });
    expect(a.alive(theirs!.claimedBy!)).toBe(true);
  });
});

const zero = (length = 2048): TargetSpecInput[] => [{ start: 0, length, type: 'zero', params: '' }];
const linear = (over: string, length = 2048): TargetSpecInput[] => [{ start: 0, length, type: 'linear', params: `${over} 0` }];
const MiB = 1n << 20n;
async function stack(dm: DeviceMapper): Promise<void> {
  const base = await dm.createDevice({ name: 'base', uuid: 'U-base', table: zero() });
  const mid = await dm.createDevice({ name: 'mid', uuid: 'U-mid', table: linear(`${base.dev.major}:${base.dev.minor}`) });
  await dm.createDevice({ name: 'top', uuid: 'U-top', table: linear(`${mid.dev.major}:${mid.dev.minor}`) });
}

describe('a recoverer that dies during recover()', () => {
  const ops: [string, (dm: DeviceMapper) => Promise<unknown>][] = [
    ['suspendTree', (dm) => suspendTree(dm, ['top'])],
    ['removeTree', (dm) => removeTree(dm, ['top'])],
  ];
  test.each(ops)('%s: killed after each of the victim\'s ioctls, then the recoverer killed after each of its own; the next recover converges', async (_name, run) => {
    // How many ioctls the victim's operation has.
    const probe = new SimulatedKernel();
    const pOwner = await DeviceMapper.open({ backend: probe.backend() });
    await stack(pOwner);
    const pDm = await DeviceMapper.open({ backend: probe.backend({ label: 'victim' }) });
    const steps = countIoctls(probe, 'victim');
    await run(pDm);
    steps.stop();
    for (let k = 1; k <= steps.count; k++) {
      for (let j = 1; j <= 12; j++) {
        const kernel = new SimulatedKernel();
        const owner = await DeviceMapper.open({ backend: kernel.backend() });
        await stack(owner);
        const victim = kernel.processes.spawn();
        const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
        const stopV = killAfterIoctls(kernel, victim, 'victim', k);
        await run(dm).catch(() => {});
        stopV();
        const rec = kernel.processes.spawn();
        const first = await DeviceMapper.open({ backend: kernel.backend({ label: 'rec', process: rec }) });
        const stopR = killAfterIoctls(kernel, rec, 'rec', j);
        await first.recover().catch(() => {});
        stopR();
        const last = await DeviceMapper.open({ backend: kernel.backend() });
        const report = await last.recover();
        const where = `k=${k} j=${j}`;
        expect({ where, failed: report.operations.filter((o) => o.outcome !== 'recovered').length, claimedElsewhere: report.claimedElsewhere }).toEqual({ where, failed: 0, claimedElsewhere: 0 });
        expect({ where, records: [...kernel.processes.records().keys()] }).toEqual({ where, records: [] });
        expect({ where, suspended: [...kernel.devices.values()].filter((d) => d.suspended).map((d) => d.name) }).toEqual({ where, suspended: [] });
        for (const c of [dm, first, last, owner]) c.close();
      }
    }
  }, 120_000);
});

describe('an operation that ends in any way leaves no record', () => {
  const ops: [string, (dm: DeviceMapper, signal: AbortSignal) => Promise<unknown>][] = [
    ['createDevice', (dm, signal) => dm.createDevice({ name: 'made', uuid: 'U-made', table: zero(), signal })],
    ['suspendTree', (dm, signal) => suspendTree(dm, ['top'], { signal })],
    ['removeTree', (dm, signal) => removeTree(dm, ['top'], { signal })],
    ['ThinPool.createThin', async (dm, signal) => (await ThinPool.open(dm, 'pool')).createThin(5, { signal })],
    ['ThinPool.snapshot', async (dm, signal) => (await ThinPool.open(dm, 'pool')).snapshot(2, 1, { signal })],
  ];
  const endings = ['abort', 'close', 'fail'] as const;
  for (const [name, run] of ops) {
    for (const ending of endings) {
      test(`${name}, ${ending} after each ioctl`, async () => {
        for (let k = 1; k <= 8; k++) {
          const kernel = new SimulatedKernel();
          const owner = await DeviceMapper.open({ backend: kernel.backend() });
          await stack(owner);
          const pool = await ThinPool.create(owner, { name: 'pool', data: { file: '/d.img', sizeBytes: 256n * MiB }, metadata: { file: '/m.img', sizeBytes: 16n * MiB } });
          await pool.createThin(1);
          await pool.activate(1, { name: 'origin', sizeSectors: 65536 });
          const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'op' }) });
          const ac = new AbortController();
          let n = 0;
          let calls = 0;
          const stop = kernel.intercept({
            // 'fail': the k-th call fails (EIO); 'abort' and 'close' come right after the k-th call.
            fault: (e) => (ending === 'fail' && e.label === 'op' && ++calls === k ? { errno: 5 } : undefined),
            after: (e) => { if (ending === 'fail' || e.label !== 'op' || ++n !== k) return; if (ending === 'abort') ac.abort(); if (ending === 'close') dm.close(); },
          });
          await run(dm, ac.signal).catch(() => {});
          stop();
          await new Promise((r) => setTimeout(r, 20));
          expect({ k, records: [...kernel.processes.records().keys()] }).toEqual({ k, records: [] });
          dm.close();
          owner.close();
        }
      }, 60_000);
    }
  }
});

describe('thin ids another process made', () => {
  // A dead createThin's record says 'sending': its create_thin may or may not have landed, and
  // another process may have made the same id before or after it. No kernel answer tells the
  // two creators apart (docs/crash-safety.md), so recovery never deletes such an id: it probes
  // it and reports it. Only a create whose reply was seen ('created') is deleted.
  type Scenario = { readonly name: string; readonly landed: boolean; readonly other: 'before' | 'after' | 'none'; readonly exists: boolean; readonly outcome: string };
  const scenarios: Scenario[] = [
    { name: 'ours never landed, another process made the id after our probe', landed: false, other: 'after', exists: true, outcome: 'skipped' },
    { name: 'another process made the id between our probe and our create (ours failed EEXIST)', landed: true, other: 'before', exists: true, outcome: 'skipped' },
    { name: 'ours landed (its reply never seen), another process tried the id after (EEXIST)', landed: true, other: 'after', exists: true, outcome: 'skipped' },
    { name: 'ours landed, its reply never seen, nobody else: reported, not deleted', landed: true, other: 'none', exists: true, outcome: 'skipped' },
    { name: 'ours never landed and nobody made the id: nothing to do', landed: false, other: 'none', exists: false, outcome: 'not-needed' },
  ];
  for (const s of scenarios) {
    test(`recover() after a createThin killed with its create unconfirmed: ${s.name}`, async () => {
      const kernel = new SimulatedKernel();
      const owner = await DeviceMapper.open({ backend: kernel.backend() });
      const pool = await ThinPool.create(owner, { name: 'pool', data: { file: '/d.img', sizeBytes: 256n * MiB }, metadata: { file: '/m.img', sizeBytes: 16n * MiB } });
      const victim = kernel.processes.spawn();
      const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
      const p = await ThinPool.open(dm, 'pool');
      const thins = thinSim(kernel).pool('pool').thins;
      let messages = 0;
      // Message 1 is the probe, 2 the create (its record already says 'sending').
      kernel.intercept({
        fault: (e) => {
          if (e.label !== 'victim' || e.command !== 'message' || ++messages !== 2) return undefined;
          // Another process's create_thin 5 (with its data) lands before ours reaches the kernel.
          if (s.other === 'before') thins.set(5, { ...newSimThin({ transactionId: 0n, time: 0 }, 5), map: new Map([[0, 0]]), times: new Map([[0, 0]]) });
          if (s.landed) return undefined;
          victim.kill(); // SIGKILL between the record's write and the ioctl
          return { errno: 5 };
        },
        after: (e) => { if (e.label === 'victim' && e.command === 'message' && messages === 2 && s.landed) victim.kill(); },
      });
      const mine = await p.createThin(5).then(() => 'resolved', (e: unknown) => (e as Error).name);
      expect(mine).not.toBe('resolved');
      expect(thins.has(5)).toBe(s.landed || s.other === 'before');
      if (s.other === 'after') {
        // Someone else's create of the same id, legitimately (EEXIST when ours landed).
        const theirs = await pool.createThin(5).then(() => 'created', (e: unknown) => (e as { code?: string }).code);
        expect(theirs).toBe(s.landed ? 'EEXIST' : 'created');
      }
      const before = thins.get(5) && JSON.stringify([...thins.get(5)!.map]);
      const other = await DeviceMapper.open({ backend: kernel.backend() });
      const report = await other.recover();
      expect(thins.has(5)).toBe(s.exists);
      if (before) expect(JSON.stringify([...thins.get(5)!.map])).toBe(before);
      expect(report.operations.map((o) => o.actions.map((a) => [a.action, a.outcome]))).toEqual([[['delete-thin', s.outcome]]]);
      if (s.outcome === 'skipped') expect(report.operations[0]!.actions[0]!.note).toMatch(/never confirmed.*not deleted/);
      expect([...kernel.processes.records().keys()]).toEqual([]);
      for (const c of [dm, other, owner]) c.close();
    });
  }

  test('recover() does delete an id whose create was confirmed (the record says created) and that nobody maps', async () => {
    const kernel = new SimulatedKernel();
    const owner = await DeviceMapper.open({ backend: kernel.backend() });
    const pool = await ThinPool.create(owner, { name: 'pool', data: { file: '/d.img', sizeBytes: 256n * MiB }, metadata: { file: '/m.img', sizeBytes: 16n * MiB } });
    await pool.createThin(5);
    const dead = kernel.processes.spawn();
    kernel.processes.store(dead).write('dead-op', {
      ...record(dead.pid, dead.startTime), op: 'ThinPool.createThin',
      effects: [{ kind: 'thin-id', pool: { name: 'pool', uuid: pool.uuid, dev: pool.dev }, id: 5, phase: 'created', absentBefore: true }],
    });
    dead.kill();
    const report = await owner.recover();
    expect(report.operations[0]!.actions).toEqual([expect.objectContaining({ action: 'delete-thin', outcome: 'done' })]);
    expect(thinSim(kernel).pool('pool').thins.has(5)).toBe(false);
    owner.close();
  });

  test('a dry run reports the unconfirmed id as skipped and changes nothing', async () => {
    const kernel = new SimulatedKernel();
    const owner = await DeviceMapper.open({ backend: kernel.backend() });
    const pool = await ThinPool.create(owner, { name: 'pool', data: { file: '/d.img', sizeBytes: 256n * MiB }, metadata: { file: '/m.img', sizeBytes: 16n * MiB } });
    await pool.createThin(5);
    const dead = kernel.processes.spawn();
    kernel.processes.store(dead).write('dead-op', {
      ...record(dead.pid, dead.startTime), op: 'ThinPool.createThin',
      effects: [{ kind: 'thin-id', pool: { name: 'pool', uuid: pool.uuid, dev: pool.dev }, id: 5, phase: 'sending', absentBefore: true }],
    });
    dead.kill();
    const report = await owner.recover({ dryRun: true });
    expect(report.operations[0]!.actions).toEqual([expect.objectContaining({ action: 'delete-thin', outcome: 'skipped' })]);
    expect(thinSim(kernel).pool('pool').thins.has(5)).toBe(true);
    expect([...kernel.processes.records().keys()]).toEqual(['dead-op']);
    owner.close();
  });
});

describe('devices replaced since the record', () => {
  test('a device a dead createDevice recorded before it knew the dev, since removed and made again by someone (it has a table now), is not removed', async () => {
    const kernel = new SimulatedKernel();
    const dead = kernel.processes.spawn();
    kernel.processes.store(dead).write('dead-op', { ...record(dead.pid, dead.startTime), effects: [{ kind: 'created', device: { name: 'made', uuid: 'U-made' } }] });
    dead.kill();
    const owner = await DeviceMapper.open({ backend: kernel.backend() });
    await owner.createDevice({ name: 'made', uuid: 'U-made', table: zero() }); // the service, restarted, made it again
    const report = await owner.recover();
    expect(kernel.devices.has('made')).toBe(true);
    expect(report.operations[0]!.actions[0]).toMatchObject({ action: 'remove', outcome: 'skipped' });
    owner.close();
  });

  test('the table-less device a dead createDevice left before it knew the dev is still removed', async () => {
    const kernel = new SimulatedKernel();
    const dead = kernel.processes.spawn();
    const victim = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: dead }) });
    const stop = killAfterIoctls(kernel, dead, 'victim', 1);
    await victim.createDevice({ name: 'made', uuid: 'U-made', table: zero() }).catch(() => {});
    stop();
    expect(kernel.devices.has('made')).toBe(true);
    const owner = await DeviceMapper.open({ backend: kernel.backend() });
    await owner.recover();
    expect(kernel.devices.has('made')).toBe(false);
    owner.close();
  });
});

describe('hostile records and the handles', () => {
  test('ThinPool.open is not broken by a corrupt record of a dead process (left for dm.recover() to report)', async () => {
    const kernel = new SimulatedKernel();
    const owner = await DeviceMapper.open({ backend: kernel.backend() });
    await ThinPool.create(owner, { name: 'pool', data: { file: '/d.img', sizeBytes: 256n * MiB }, metadata: { file: '/m.img', sizeBytes: 16n * MiB } });
    const dead = kernel.processes.spawn();
    kernel.processes.store(dead).write('dead-op', { ...record(dead.pid, dead.startTime), effects: [null as never, { kind: 'suspended', device: null } as never] });
    dead.kill();
    await expect(ThinPool.open(owner, 'pool')).resolves.toBeDefined();
    expect([...kernel.processes.records().keys()]).toEqual(['dead-op']);
    owner.close();
  });
});
