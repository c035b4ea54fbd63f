// Adversarial review of crash safety (docs/crash-safety.md): a recovery must never touch what
// another process owns, must survive hostile or corrupt records and an unsafe state
// directory, and two recoverers must not act twice on one record.
import { afterEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, fileIntentStore, type IntentRecord } from '../../lib/index.js';
import { hostAlive } from '../../lib/kernel/intent-store.js';
import { IntentJournal } from '../../lib/operations/intent-record.js';
import { SimulatedKernel } from '../../testing/index.js';

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
