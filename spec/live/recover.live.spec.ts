// dm.recover() on a real kernel with the real record store (docs/crash-safety.md): records of
// a process that was really killed (SIGKILL; its pid and /proc start time) are found in a
// scratch stateDir, claimed and acted on — a suspended device resumed, a staged table cleared,
// a device left without a table removed — while the record of a live process (this one) is
// left alone. The SIGKILL-at-every-step suite is spec/live/crash.live.spec.ts.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, fileIntentStore, type IntentDevice, type ProcessIdentity } from '../../lib/index.js';
import { procStartTime } from '../../lib/kernel/intent-store.js';
import { describeLive, kernelLabel } from './live-env.js';

const P = `p24rec${process.pid}`;
const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

async function deadProcess(): Promise<ProcessIdentity> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const id = { pid: child.pid!, startTime: procStartTime(child.pid!)! };
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return id;
}

describeLive(`recover() with the real record store [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;
  let stateDir: string;
  beforeAll(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-state-'));
    dm = await DeviceMapper.open({ stateDir });
  });
  afterAll(async () => {
    for (const n of ['a', 'b', 'c', 'd']) await dm.resume(`${P}-${n}`).catch(() => {});
    for (const n of ['a', 'b', 'c', 'd']) await dm.removeDevice(`${P}-${n}`).catch(() => {});
    dm.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('a killed process\'s suspended device is resumed, its staged table cleared, its table-less device removed; a live record stays', async () => {
    const dev = (d: { name: string; uuid: string | null; dev: { major: number; minor: number } }): IntentDevice => ({ name: d.name, uuid: d.uuid, dev: { major: d.dev.major, minor: d.dev.minor } });
    const a = await dm.createDevice({ name: `${P}-a`, uuid: `${P}-A`, table: zero });
    await dm.suspend(a.name);
    const b = await dm.createDevice({ name: `${P}-b`, uuid: `${P}-B`, table: zero });
    await dm.load(b.name, [{ start: 0, length: 16, type: 'zero', params: '' }]);
    const c = await dm.create({ name: `${P}-c`, uuid: `${P}-C` });
    const d = await dm.createDevice({ name: `${P}-d`, uuid: `${P}-D`, table: zero });
    await dm.suspend(d.name);
    const dead = await deadProcess();
    const store = fileIntentStore(stateDir);
    store.write(`${dead.pid}-${dead.startTime}-x`, {
      version: 1, op: 'FaultyDevice.setMode', pid: dead.pid, startTime: dead.startTime, startedAtMs: Date.now(),
      effects: [{ kind: 'suspended', device: dev(a) }, { kind: 'loaded', device: dev(b) }, { kind: 'created', device: dev(c) }],
    });
    const me = store.self();
    store.write(`${me.pid}-${me.startTime}-live`, {
      version: 1, op: 'suspendTree', pid: me.pid, startTime: me.startTime, startedAtMs: Date.now(), effects: [{ kind: 'suspended', device: dev(d) }],
    });
    const plan = await dm.recover({ dryRun: true });
    expect(plan.operations).toMatchObject([{ outcome: 'planned' }]);
    expect((await dm.info(a.name)).exists && (await dm.info(a.name) as { flags: { suspended: boolean } }).flags.suspended).toBe(true);
    const report = await dm.recover();
    expect(report.live).toBe(1);
    expect(report.operations).toMatchObject([{
      operation: 'FaultyDevice.setMode', pid: dead.pid, outcome: 'recovered',
      actions: [{ action: 'clear', outcome: 'done' }, { action: 'resume', outcome: 'done' }, { action: 'remove', outcome: 'done' }],
    }]);
    const ia = await dm.info(a.name);
    const ib = await dm.info(b.name);
    expect(ia.exists && ia.flags.suspended).toBe(false);
    expect(ib.exists && ib.flags.inactivePresent).toBe(false);
    expect((await dm.info(c.name)).exists).toBe(false);
    const id = await dm.info(d.name);
    expect(id.exists && id.flags.suspended).toBe(true); // the live process's record: untouched
    expect(fs.readdirSync(path.join(stateDir, 'intents'))).toEqual([`${me.pid}-${me.startTime}-live.json`]);
    store.remove(`${me.pid}-${me.startTime}-live`);
  });
});
