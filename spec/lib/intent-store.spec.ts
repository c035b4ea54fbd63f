// The real backend's intent-record store (lib/kernel/intent-store.ts) on a scratch directory:
// atomic writes, listing, claims (one winner, a dead claimer's claim taken again), records
// given back with a note, and process identity by pid and /proc start time.
import { afterEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileIntentStore, type IntentRecord } from '../../lib/index.js';
import { hostAlive, procStartTime } from '../../lib/kernel/intent-store.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });
const scratch = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-intents-')); dirs.push(d); return d; };

const record = (pid: number, startTime: string): IntentRecord => ({
  version: 1, op: 'ThinPool.snapshot', pid, startTime, startedAtMs: 1,
  effects: [{ kind: 'suspended', device: { name: 'base', uuid: 'THIN-1-pool', dev: { major: 254, minor: 1 } } }],
});

describe('fileIntentStore', () => {
  test('this process is alive by pid and start time; another start time or a pid that does not run is not', () => {
    const me = fileIntentStore(scratch()).self();
    expect(me.pid).toBe(process.pid);
    expect(me.startTime).toBe(procStartTime(process.pid));
    expect(me.startTime).toMatch(/^\d+$/);
    expect(hostAlive(me)).toBe(true);
    expect(hostAlive({ pid: me.pid, startTime: String(Number(me.startTime) + 1) })).toBe(false);
    expect(hostAlive({ pid: 0x3fffff, startTime: '1' })).toBe(false);
  });

  test('write is atomic (no temporary file left), list reads it back, remove takes it away; the directory is private', () => {
    const dir = scratch();
    const store = fileIntentStore(dir);
    expect(store.list()).toEqual([]); // no directory yet
    store.write('1-2-a', record(1, '2'));
    expect(fs.readdirSync(path.join(dir, 'intents'))).toEqual(['1-2-a.json']);
    expect(fs.statSync(path.join(dir, 'intents')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'intents', '1-2-a.json')).mode & 0o777).toBe(0o600);
    expect(store.list()).toEqual([{ key: '1-2-a', record: record(1, '2') }]);
    store.write('1-2-a', { ...record(1, '2'), effects: [] });
    expect(store.list()[0]!.record.effects).toEqual([]);
    store.remove('1-2-a');
    store.remove('1-2-a'); // a missing one is fine
    expect(store.list()).toEqual([]);
  });

  test('claim: one of two recoverers wins; a claim by a dead recoverer is taken again; unclaim gives it back with a note', () => {
    const dir = scratch();
    const a = fileIntentStore(dir);
    a.write('7-9-x', record(7, '9'));
    const [found] = a.list();
    const mine = a.claim(found!);
    expect(mine).toMatchObject({ claimedBy: a.self() });
    expect(a.claim(found!)).toBeUndefined(); // the second rename finds nothing
    expect(a.list()).toEqual([{ key: mine!.key, record: record(7, '9'), claimedBy: a.self() }]);
    // A claim whose recoverer is gone (another start time) is listed as such and can be taken again.
    const deadClaim = `7-9-x.json.claimed.${process.pid}-1`;
    fs.renameSync(path.join(dir, 'intents', mine!.key), path.join(dir, 'intents', deadClaim));
    const [stale] = a.list();
    expect(stale!.claimedBy).toEqual({ pid: process.pid, startTime: '1' });
    expect(a.alive(stale!.claimedBy!)).toBe(false);
    const again = a.claim(stale!)!;
    expect(again.key).toBe(mine!.key);
    a.unclaim(again, { ...record(7, '9'), notes: ['resume base: EIO'] });
    expect(a.list()).toEqual([{ key: '7-9-x', record: { ...record(7, '9'), notes: ['resume base: EIO'] } }]);
    const last = a.claim(a.list()[0]!)!;
    a.removeClaimed(last);
    expect(fs.readdirSync(path.join(dir, 'intents'))).toEqual([]);
  });

  test('files that are not records are ignored; a directory that cannot be written fails the write with the errno', () => {
    const dir = scratch();
    const store = fileIntentStore(dir);
    fs.mkdirSync(path.join(dir, 'intents'));
    fs.writeFileSync(path.join(dir, 'intents', 'README'), 'x');
    fs.writeFileSync(path.join(dir, 'intents', '1-2-bad.json'), '{');
    expect(store.list()).toEqual([]);
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, '');
    expect(() => fileIntentStore(file).write('1-2-a', record(1, '2'))).toThrow(expect.objectContaining({ name: 'DmSyscallError', code: expect.stringMatching(/^E/) }));
  });
});

describe('a killed child', () => {
  test('is dead as soon as it is a zombie (before its parent reaps it), and after', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const id = { pid: child.pid!, startTime: procStartTime(child.pid!)! };
    expect(hostAlive(id)).toBe(true);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    for (let i = 0; i < 200 && hostAlive(id); i++) await new Promise((r) => setTimeout(r, 5));
    expect(hostAlive(id)).toBe(false);
    await exited;
    expect(hostAlive(id)).toBe(false);
  });
});
