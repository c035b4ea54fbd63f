// A process killed anywhere in a udev cookie's life (docs/crash-safety.md, "cookie"): not only
// between ioctls but between every semaphore call and every record write — between the semget
// that makes the set and the record that names it, between the IPC_RMID and the record's
// removal — leaves nothing once another process recovers; and recovery never removes a set
// that is not the dead process's (another process's set under the same key, made before or
// after the death, or under the same key and id).
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, fileIntentStore, UdevCookies, type IntentRecord, type TargetSpecInput } from '../../lib/index.js';
import { realCookieHost, type SemOps } from '../../lib/udev/cookies.js';
import { openSemOps } from '../../ffi/sem.js';
import { countCalls, killAfterCalls, SimulatedKernel, type SimProcess } from '../../testing/index.js';

const zero = (length = 2048): TargetSpecInput[] => [{ start: 0, length, type: 'zero', params: '' }];
const settle = async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0)); };

interface Scenario {
  readonly name: string;
  setup(dm: DeviceMapper): Promise<void>;
  run(dm: DeviceMapper): Promise<unknown>;
}

const SCENARIOS: Scenario[] = [
  { name: 'createDevice', setup: async () => {}, run: (dm) => dm.createDevice({ name: 'made', uuid: 'U-made', table: zero() }) },
  { name: 'rename', setup: async (dm) => { await dm.createDevice({ name: 'old', uuid: 'U-old', table: zero() }); }, run: (dm) => dm.rename('old', { newName: 'new' }) },
  { name: 'removeDevice', setup: async (dm) => { await dm.createDevice({ name: 'gone', uuid: 'U-gone', table: zero() }); }, run: (dm) => dm.removeDevice('gone') },
  {
    name: 'resume (one call)',
    setup: async (dm) => { await dm.createDevice({ name: 'held', uuid: 'U-held', table: zero() }); await dm.suspend('held'); },
    run: (dm) => dm.resume('held'),
  },
];

interface Run { kernel: SimulatedKernel; victim: SimProcess; calls: readonly string[]; bystander: number }

/**
 * Runs `s` in a victim process, killed after its `killAt`-th call (undefined: never). A
 * bystander process holds a transaction cookie of its own throughout: no recovery may touch it.
 */
async function runScenario(s: Scenario, killAt: number | undefined): Promise<Run> {
  const kernel = new SimulatedKernel({ udev: true });
  const owner = await DeviceMapper.open({ backend: kernel.backend() });
  await s.setup(owner);
  const bystander = new UdevCookies(kernel.udev!.host(kernel.processes.spawn().pid)).create({ lifetime: 'transaction' });
  const victim = kernel.processes.spawn();
  const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim', process: victim }) });
  await settle();
  const counter = countCalls(kernel, victim, 'victim');
  const stop = killAt === undefined ? () => {} : killAfterCalls(kernel, victim, 'victim', killAt);
  await s.run(dm).catch(() => {});
  await settle();
  stop();
  counter.stop();
  dm.close();
  owner.close();
  return { kernel, victim, calls: [...counter.calls], bystander };
}

const keys = (k: SimulatedKernel) => k.udev!.semaphores.map((e) => e.key);

describe('killed after any call of the cookie path, recover() leaves no semaphore and no record, and only the dead process\'s set goes', () => {
  for (const s of SCENARIOS) {
    test(s.name, async () => {
      const clean = await runScenario(s, undefined);
      // The finer steps are there: a semget and the record writes, not only ioctls.
      expect(clean.calls).toEqual(expect.arrayContaining(['semget IPC_CREAT', 'semctl SETVAL', 'record write', 'semctl IPC_RMID', 'record remove', 'ioctl']));
      expect(keys(clean.kernel)).toEqual([clean.bystander]);
      for (let k = 1; k <= clean.calls.length; k++) {
        const r = await runScenario(s, k);
        const where = `${s.name}, killed after call ${k} of ${clean.calls.length} (${clean.calls[k - 1]})`;
        expect({ where, dead: r.victim.alive }).toEqual({ where, dead: false });
        const recoverer = await DeviceMapper.open({ backend: r.kernel.backend() });
        const report = await recoverer.recover();
        await settle();
        recoverer.close();
        expect({ where, semaphores: keys(r.kernel) }).toEqual({ where, semaphores: [r.bystander] });
        expect({ where, records: [...r.kernel.processes.records().keys()] }).toEqual({ where, records: [] });
        expect({ where, failed: report.operations.filter((o) => o.outcome !== 'recovered') }).toEqual({ where, failed: [] });
      }
    }, 60_000);
  }
});

/** The cookie effect of the cookie record the dead process left. */
function cookieEffect(kernel: SimulatedKernel): { cookie: number; semid?: number; ctimeS?: number; notBeforeS?: number } {
  const records = [...kernel.processes.records().values()].map((t) => JSON.parse(t) as IntentRecord).filter((r) => r.op === 'udev cookie');
  expect(records).toHaveLength(1);
  const e = records[0]!.effects.find((x) => x.kind === 'cookie');
  expect(e).toBeDefined();
  return e as never;
}

/** Kills a resume (one call: its only record is its cookie's) right after its first call named `call`. */
async function killedAt(call: string): Promise<{ kernel: SimulatedKernel; dm: DeviceMapper }> {
  const resume = SCENARIOS.find((x) => x.name === 'resume (one call)')!;
  const probe = await runScenario(resume, undefined);
  const at = probe.calls.indexOf(call) + 1;
  expect(at).toBeGreaterThan(0);
  const r = await runScenario(resume, at);
  return { kernel: r.kernel, dm: await DeviceMapper.open({ backend: r.kernel.backend() }) };
}

describe('another process\'s set under the recorded key is left alone', () => {
  test('the key is recorded before the semget: killed between the record and the semget, the set another process makes under that key afterwards is kept', async () => {
    const { kernel, dm } = await killedAt('record write');
    const e = cookieEffect(kernel);
    expect(e.semid).toBeUndefined();
    expect(kernel.udev!.semaphores.map((x) => x.key)).not.toContain(e.cookie); // the victim died before its semget
    // Another process (libdevmapper's way: semget, then SETVAL 1 at once) takes the key.
    const other = kernel.udev!.host(kernel.processes.spawn().pid).sems;
    const semid = other.create(e.cookie, 0o600);
    other.setVal(semid, 1);
    const report = await dm.recover();
    expect(kernel.udev!.semaphores.map((x) => x.semid)).toContain(semid);
    expect(report.operations[0]!.actions).toEqual([expect.objectContaining({ action: 'release-cookie', outcome: 'skipped' })]);
    expect(kernel.processes.records().size).toBe(0);
    dm.close();
  });

  test('a set another process has just made under the key (no SETVAL yet) is watched, and kept once that process sets it up', async () => {
    const { kernel, dm } = await killedAt('record write');
    const e = cookieEffect(kernel);
    const other = kernel.udev!.host(kernel.processes.spawn().pid).sems;
    const semid = other.create(e.cookie, 0o600); // between its semget and its SETVAL when recovery looks
    setTimeout(() => other.setVal(semid, 1), 10);
    const report = await dm.recover();
    expect(kernel.udev!.semaphores.map((x) => x.semid)).toContain(semid);
    expect(report.operations[0]!.actions[0]).toMatchObject({ action: 'release-cookie', outcome: 'skipped', note: expect.stringMatching(/another process/) });
    dm.close();
  });

  test('killed between the semget and the record of its id: the set is the dead process\'s (made after the record, by it, untouched since) and goes', async () => {
    const { kernel, dm } = await killedAt('semget IPC_CREAT');
    const e = cookieEffect(kernel);
    expect(e.semid).toBeUndefined();
    expect(kernel.udev!.semaphores.map((x) => x.key)).toContain(e.cookie);
    await dm.recover();
    expect(kernel.udev!.semaphores.map((x) => x.key)).not.toContain(e.cookie);
    dm.close();
  });

  test('a set another process made under the key before the dead process\'s semget (which then failed with EEXIST) is kept', async () => {
    const taken = ((0x0d4d << 16) | 0x4242) >>> 0;
    /** A victim whose first random base is the taken one, killed right after its `n`-th call. */
    const attempt = async (kernel: SimulatedKernel, n: number | undefined) => {
      const victim = kernel.processes.spawn();
      const base = kernel.backend({ label: 'victim', process: victim });
      let draws = 0;
      const backend = { ...base, openCookieHost: async () => ({ ...(await base.openCookieHost!()), random16: () => (draws++ === 0 ? taken & 0xffff : 0x100 + draws) }) };
      const vdm = await DeviceMapper.open({ backend });
      const counter = countCalls(kernel, victim, 'victim');
      const stop = n === undefined ? () => {} : killAfterCalls(kernel, victim, 'victim', n);
      await vdm.createDevice({ name: 'made', uuid: 'U-made', table: zero() }).catch(() => {});
      stop();
      counter.stop();
      vdm.close();
      return counter.calls;
    };
    const withTheirs = () => {
      const kernel = new SimulatedKernel({ udev: true });
      const other = kernel.udev!.host(kernel.processes.spawn().pid).sems;
      const theirs = other.create(taken, 0o600);
      other.setVal(theirs, 1);
      return { kernel, theirs };
    };
    const probe = withTheirs();
    const calls = await attempt(probe.kernel, undefined);
    const eexist = calls.indexOf('semget IPC_CREAT') + 1;
    expect(calls.slice(eexist, eexist + 2)).toEqual(['record write', 'semget IPC_CREAT']); // the retry is recorded before its semget
    const { kernel, theirs } = withTheirs();
    await attempt(kernel, eexist); // dead right after the EEXIST
    expect(cookieEffect(kernel).cookie).toBe(taken);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.recover();
    expect(kernel.udev!.semaphores.map((x) => x.semid)).toEqual([theirs]);
    expect(kernel.processes.records().size).toBe(0);
    dm.close();
  });

  test('a set made under the same key and id after the death (another ctime) is kept; the recorded one goes', async () => {
    for (const same of [false, true]) {
      const kernel = new SimulatedKernel({ udev: true });
      const other = kernel.udev!.host(kernel.processes.spawn().pid).sems;
      const key = ((0x0d4d << 16) | 0x1234) >>> 0;
      const semid = other.create(key, 0o600);
      other.setVal(semid, 1);
      const ctime = kernel.udev!.semaphores[0]!.ctime;
      const dead = kernel.processes.spawn();
      // The dead process's set was removed (udevcomplete_all) and the key and id came back to another's.
      kernel.processes.store(dead).write('dead-op', {
        version: 1, op: 'udev cookie', pid: dead.pid, startTime: dead.startTime, startedAtMs: 0,
        effects: [{ kind: 'cookie', cookie: key, semid, ctimeS: same ? ctime : ctime - 100 }],
      });
      dead.kill();
      const dm = await DeviceMapper.open({ backend: kernel.backend() });
      const report = await dm.recover();
      expect({ same, kept: kernel.udev!.semaphores.length }).toEqual({ same, kept: same ? 0 : 1 });
      expect(report.operations[0]!.actions[0]).toMatchObject({ action: 'release-cookie', outcome: same ? 'done' : 'skipped' });
      dm.close();
    }
  });
});

// The same on this host's real semaphores and the real file store, in a real process killed
// with SIGKILL (cookie-kill-child.ts): IPC_STAT's layout, GETPID and the kernel's times as
// they are, no simulator between.
const sysv = process.platform === 'linux' && fs.existsSync('/proc/sysvipc/sem');
(sysv ? describe : describe.skip)('SIGKILLed after any call of a resume\'s cookie path, on real semaphores', () => {
  const child = (stateDir: string, at: string) => {
    const r = spawnSync(process.execPath, [
      '-r', path.join(__dirname, '..', 'testing', 'ts-child.cjs'),
      '-e', `require(${JSON.stringify(path.join(__dirname, 'cookie-kill-child.ts'))})`, 'cookie-kill-child', stateDir, String(at),
    ], { encoding: 'utf8', timeout: 60_000 });
    return { signal: r.signal, status: r.status, stderr: r.stderr, keys: [...r.stdout.matchAll(/^key (\d+)$/gm)].map((m) => Number(m[1])), calls: JSON.parse(/^calls (.*)$/m.exec(r.stdout)?.[1] ?? 'null') as string[] | null };
  };
  const recoverer = async (stateDir: string) => DeviceMapper.open({
    backend: {
      ...new SimulatedKernel().backend(),
      openCookieHost: async () => ({ ...(await realCookieHost({})), udevRunning: () => true, notifyRulesInstalled: () => true }),
      openIntentStore: () => fileIntentStore(stateDir),
    },
  });
  const exists = (sems: SemOps, key: number) => { try { sems.get(key); return true; } catch { return false; } };

  test('every kill point: recover() removes the dead process\'s set and its record, and nothing else', async () => {
    const sems = await openSemOps();
    const dirs: string[] = [];
    const scratch = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-cookie-kill-')); dirs.push(d); return d; };
    // Another live process's cookie, made before everything: never touched.
    const bystander = new UdevCookies({ ...(await realCookieHost({})), udevRunning: () => true, notifyRulesInstalled: () => true }).create({ lifetime: 'transaction' });
    const leftovers: number[] = [];
    try {
      const clean = child(scratch(), 'count');
      expect({ stderr: clean.stderr, status: clean.status }).toEqual({ stderr: '', status: 0 });
      const steps = clean.calls!;
      expect(steps).toEqual(expect.arrayContaining(['record write', 'semget IPC_CREAT', 'semctl SETVAL', 'semctl IPC_STAT', 'ioctl', 'semctl IPC_RMID', 'record remove']));
      for (const k of clean.keys) expect(exists(sems, k)).toBe(false);
      // Each call named by its occurrence; a run of the same call (the wait's polls, as many as
      // timing makes) is one kill point, its first: it happens in every run.
      const seen = new Map<string, number>();
      const points = steps.flatMap((name, i) => {
        const n = (seen.get(name) ?? 0) + 1;
        seen.set(name, n);
        return i > 0 && steps[i - 1] === name ? [] : [`${name}#${n}`];
      });
      for (const [k, point] of points.entries()) {
        const dir = scratch();
        const r = child(dir, point);
        leftovers.push(...r.keys);
        const where = `killed after ${point} (kill point ${k + 1} of ${points.length})`;
        expect({ where, signal: r.signal }).toEqual({ where, signal: 'SIGKILL' });
        const dm = await recoverer(dir);
        const report = await dm.recover();
        dm.close();
        expect({ where, failed: report.operations.filter((o) => o.outcome !== 'recovered') }).toEqual({ where, failed: [] });
        expect({ where, left: r.keys.filter((key) => exists(sems, key)) }).toEqual({ where, left: [] });
        expect({ where, records: fs.existsSync(path.join(dir, 'intents')) ? fs.readdirSync(path.join(dir, 'intents')) : [] }).toEqual({ where, records: [] });
        expect(exists(sems, bystander)).toBe(true);
      }
    } finally {
      for (const key of [bystander, ...leftovers]) { try { sems.remove(sems.get(key)); } catch { /* gone */ } }
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    }
  }, 300_000);

  test('a set another process made under the key after the death, and one under the same key and id with another ctime, are kept', async () => {
    const sems = await openSemOps();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-cookie-kill-'));
    const key = ((0x0d4d << 16) | (0x9000 + (process.pid & 0xfff))) >>> 0;
    try { sems.remove(sems.get(key)); } catch { /* not there */ }
    const semid = sems.create(key, 0o600);
    try {
      sems.setVal(semid, 1); // this process's, set up: GETPID is this pid
      const ctime = (await realCookieHost({})).stat?.(semid).ctime;
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      const pid = Number(dead.stdout);
      const store = fileIntentStore(dir);
      const write = (k: string, effect: object) => store.write(k, { version: 1, op: 'udev cookie', pid, startTime: '1', startedAtMs: 0, effects: [effect as never] });
      write(`${pid}-1-a`, { kind: 'cookie', cookie: key, notBeforeS: 1 }); // the dead one recorded the key, and died before its semget
      write(`${pid}-1-b`, { kind: 'cookie', cookie: key, semid, ...(ctime !== undefined ? { ctimeS: ctime - 100 } : {}) });
      const dm = await recoverer(dir);
      const report = await dm.recover();
      dm.close();
      expect(report.operations.map((o) => o.actions[0]!.outcome)).toEqual(ctime !== undefined ? ['skipped', 'skipped'] : ['skipped', 'done']);
      expect(exists(sems, key)).toBe(ctime !== undefined);
    } finally {
      try { sems.remove(semid); } catch { /* removed */ }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
