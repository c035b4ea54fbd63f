// Never the wrong device, live and across processes: several Node processes (each tagging
// what it creates with its own uuid prefix), a hostile Node process (single ioctls by name,
// as dmsetup does, but fast) and a dmsetup loop hammer the same 4 names for a bounded time;
// then the logs (every ioctl's reply header, as the kernel wrote it) and the kernel's final
// state must show that no worker loaded, resumed or removed a device it did not create, and
// that nothing is left behind. Plus a fault: the device is held open by
// another process while createDevice's rollback runs, and the rollback completes once it is
// released. And suspendTree against another owner's device (docs/identity.md, rule 7): a
// device without a uuid replaced, between suspendTree's check and its suspend, by a device of
// another process that it suspended with a table staged; ours must leave it so.
// Knobs: DM_IDENTITY_RACE_MS (default 20000), DM_IDENTITY_RACE_WORKERS (3).
import { expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { codec, decodeDev, requestCode } from '../../codec/index.js';
import { DeviceMapper, suspendTree, type Backend } from '../../lib/index.js';
import { realBackend } from '../../lib/kernel/kernel-backend.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

const REPO = path.resolve(__dirname, '..', '..');
const DURATION_MS = Number(process.env.DM_IDENTITY_RACE_MS ?? 20_000);
const WORKERS = Number(process.env.DM_IDENTITY_RACE_WORKERS ?? 3);
const DMSETUP_SECTORS = 8;
const ADVERSARY_SECTORS = 4;
const workerSectors = (i: number) => 16 * (i + 1);

interface Line { t: string; [k: string]: unknown }

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
}

describeLive(`identity races across processes [kernel ${kernelLabel}]`, () => {
  const tag = `idr${process.pid}`;

  test(`${WORKERS} node processes, a hostile one and a dmsetup loop on 4 names: nobody's device but its own, nothing left behind`, async () => {
    const names = ['a', 'b', 'c', 'd'].map((x) => `${tag}-${x}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idr-'));
    const start = (mode: string, i: number, prefix: string, sectors: number) => {
      const logFile = path.join(dir, `${mode}${i}.jsonl`);
      const child = spawn(process.execPath, [path.join(REPO, 'spec/live/identity-worker.mjs')], {
        env: {
          ...process.env, IDR_DIST: path.join(REPO, 'dist'), IDR_MODE: mode, IDR_PREFIX: prefix, IDR_NAMES: names.join(','),
          IDR_SECTORS: String(sectors), IDR_DURATION_MS: String(DURATION_MS), IDR_LOG: logFile, IDR_SEED: String(1000 + i),
          // Even workers on the engine, where createDevice and each pinned removal attempt go as one chain; odd ones step by step.
          IDR_ASYNC_PATH: mode === 'worker' && i % 2 === 0 ? 'engine' : 'auto',
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      return { i, prefix, logFile, sectors, done: exited(child) };
    };
    const workers = Array.from({ length: WORKERS }, (_, i) => start('worker', i, `IDR-${tag}-W${i}-`, workerSectors(i)));
    const adversary = start('adversary', WORKERS, `ADV-${tag}-`, ADVERSARY_SECTORS);
    // dmsetup, by name as always: creates (with its own uuids) and removes whatever holds a name.
    const script = `
      end=$((SECONDS + ${Math.ceil(DURATION_MS / 1000)})); i=0; ok=0
      set -- ${names.join(' ')}
      while [ $SECONDS -lt $end ]; do
        eval n=\\\${$((RANDOM % 4 + 1))}
        dmsetup create "$n" -u "DMS-${tag}-$i" --table "0 ${DMSETUP_SECTORS} zero" >/dev/null 2>&1 && ok=$((ok + 1))
        eval n=\\\${$((RANDOM % 4 + 1))}
        dmsetup remove "$n" >/dev/null 2>&1 && ok=$((ok + 1))
        i=$((i + 1))
      done
      echo "$i $ok"`;
    const loop = spawn('bash', ['-c', script], { env: { ...process.env, DM_DISABLE_UDEV: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let loopOut = '';
    loop.stdout!.on('data', (b: Buffer) => { loopOut += b.toString(); });
    const codes = await Promise.all([...workers.map((w) => w.done), adversary.done, exited(loop)]);
    expect(codes).toEqual(codes.map(() => 0));

    // From each process's log: every successful load, resume/suspend, clear and remove reached
    // a device with one of the uuids this process created (uuids are unique among live
    // devices and nobody else uses the prefix); every failure typed; our table on our device.
    const summary: Record<string, unknown>[] = [];
    for (const w of workers) {
      const lines = fs.readFileSync(w.logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
      const created = new Set(lines.filter((l) => l.t === 'ioctl' && l.cmd === 'create' && l.ok).map((l) => l.uuid as string));
      const foreign = lines.filter((l) => l.t === 'ioctl' && l.ok && ['load', 'suspend', 'clear', 'remove'].includes(l.cmd as string) && !created.has(l.uuid as string));
      expect(foreign).toEqual([]);
      expect([...created].filter((u) => !u.startsWith(w.prefix))).toEqual([]);
      expect(lines.filter((l) => l.t === 'fail' && !l.typed)).toEqual([]);
      // What runs on our device right after createDevice: our table — or, when a hostile
      // process loaded its own into our device by name meanwhile, theirs (interference with our
      // device is not ours to prevent: docs/identity.md) — never another worker's.
      const tables = lines.filter((l) => l.t === 'table');
      const hostile = [String(ADVERSARY_SECTORS), String(DMSETUP_SECTORS)];
      expect(tables.filter((l) => l.replyUuid !== l.uuid || (l.sectors !== String(w.sectors) && !hostile.includes(l.sectors as string)))).toEqual([]);
      const done = lines.find((l) => l.t === 'done')!;
      expect(done).toBeDefined();
      const ioctls = lines.filter((l) => l.t === 'ioctl').length;
      const renameWindow = lines.filter((l) => l.t === 'fail' && l.kind === 'rename' && l.code === 'DEVICE_REPLACED').length;
      const hostileTables = tables.filter((l) => l.sectors !== String(w.sectors)).length;
      summary.push({ worker: w.i, ...done, ioctls, tablesChecked: tables.length, hostileTables, renameWindowHits: renameWindow });
    }
    // The engine workers went through the chained path (createDevice, pinned removals); the
    // 'auto' ones start no engine (no batch), so they went step by step. Both under the same
    // checks above.
    for (const w of workers) {
      const chains = (summary[w.i]!.chains ?? {}) as Record<string, number>;
      if (w.i % 2 === 0) {
        expect(chains['create>load>suspend'] ?? 0).toBeGreaterThan(0);
        if ((summary[w.i]!.removed as number) > 0) expect(chains['info>remove'] ?? 0).toBeGreaterThan(0);
      } else {
        expect(chains).toEqual({});
      }
    }
    const [iterations, dmsetupOk] = loopOut.trim().split(' ').map(Number);
    const adversaryDone = fs.readFileSync(adversary.logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line).find((l) => l.t === 'done');

    // From the kernel: none of the processes' devices is left, and every device dmsetup still
    // has runs dmsetup's table, never a process's.
    const dm = await DeviceMapper.open();
    try {
      const left = (await dm.list()).filter((d) => d.name.startsWith(tag) || (d.uuid ?? '').includes(tag));
      expect(left.filter((d) => (d.uuid ?? '').startsWith('IDR-'))).toEqual([]);
      const workerSizes = workers.map((w) => BigInt(w.sectors));
      for (const d of left) {
        // The neighbours' devices run the neighbours' tables (or none), never a worker's.
        const t = await dm.table(d.uuid ? { uuid: d.uuid } : { name: d.name });
        expect(t.targets.filter((x) => workerSizes.includes(x.length))).toEqual([]);
        await dm.removeDevice(d.uuid ? { uuid: d.uuid } : d.name, { expect: { name: d.name, uuid: d.uuid ?? '', dev: d.dev } });
      }
    } finally {
      dm.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const totals = summary.reduce<{ ops: number; ioctls: number }>((a, s) => ({ ops: a.ops + (s.ops as number), ioctls: a.ioctls + (s.ioctls as number) }), { ops: 0, ioctls: 0 });
    const report = { durationMs: DURATION_MS, workers: summary, adversary: adversaryDone, dmsetup: { iterations, succeeded: dmsetupOk }, ...totals };
    process.stderr.write(`identity race [${kernelLabel}]: ${JSON.stringify(report)}\n`);
    recordLiveFact('identityRace', report);
    expect(totals.ops).toBeGreaterThan(WORKERS * 5);
  }, DURATION_MS + 240_000);

  test('suspendTree: our device (no uuid) replaced between the check and the suspend by another owner\'s, suspended with a table staged: it stays suspended, its table staged', async () => {
    const name = `${tag}-st`;
    const theirs = `OWNER-${tag}-st`;
    const zero = (n: number) => [{ start: 0, length: n, type: 'zero', params: '' }];
    const other = await DeviceMapper.open();
    let armed = false;
    let replaced = false;
    const base = realBackend();
    // The other owner acts at the transport, right before our DM_DEV_SUSPEND with DM_SUSPEND_FLAG leaves.
    const backend: Backend = {
      ...base,
      async openControl() {
        const t = await base.openControl();
        return {
          get fd() { return t.fd; },
          ioctl: (request, buf) => t.ioctl(request, buf),
          async ioctlAsync(request, buf) {
            const suspend = request === requestCode('suspend') && (codec.decodeHeader(buf).flags & 2) !== 0;
            if (suspend && armed && !replaced) {
              replaced = true;
              await other.removeDevice(name);
              await other.create({ name, uuid: theirs });
              await other.load({ uuid: theirs }, zero(16));
              await other.resume({ uuid: theirs });
              await other.load({ uuid: theirs }, zero(32));
              await other.suspend({ uuid: theirs });
            }
            return t.ioctlAsync(request, buf);
          },
          close: () => t.close(),
        };
      },
    };
    const dm = await DeviceMapper.open({ backend });
    try {
      await dm.createDevice({ name, table: zero(8) });
      armed = true;
      const e = await suspendTree(dm, [name]).catch((x: unknown) => x);
      expect(replaced).toBe(true);
      expect(e).toMatchObject({ name: 'DmIdentityError', acted: true, actual: { uuid: theirs } });
      // The kernel's word on their device: still suspended, the staged table still staged, the first still live.
      expect(await other.info({ uuid: theirs })).toMatchObject({ exists: true, flags: { suspended: true, inactivePresent: true } });
      expect((await other.table({ uuid: theirs })).targets.map((x) => x.length)).toEqual([16n]);
      recordLiveFact('suspendTreeForeignDevice', { leftSuspended: true });
    } finally {
      dm.close();
      await other.resume({ uuid: theirs }).catch(() => {});
      await other.removeDevice({ uuid: theirs }).catch(() => {});
      await other.removeDevice(name).catch(() => {});
      other.close();
    }
  }, 60_000);

  test('rollback meets a device held open by another process and completes once it is released', async () => {
    const name = `${tag}-held`;
    const uuid = `IDR-${tag}-held`;
    let minor = -1;
    let removes = 0;
    let holder: ChildProcess | undefined;
    const base = realBackend();
    // Fault injection at the transport: once the table is loaded (so /dev/dm-N exists), a
    // child process opens the node and holds it for 2 s, and the resume is made to fail.
    const backend: Backend = {
      ...base,
      async openControl() {
        const t = await base.openControl();
        return {
          get fd() { return t.fd; },
          ioctl: (request, buf) => t.ioctl(request, buf),
          async ioctlAsync(request, buf) {
            const resume = request === requestCode('suspend') && (codec.decodeHeader(buf).flags & 2) === 0;
            if (resume && minor >= 0 && !holder) {
              holder = spawn('sh', ['-c', `exec 3</dev/dm-${minor}; echo open; sleep 2`], { stdio: ['ignore', 'pipe', 'inherit'] });
              await new Promise<void>((resolve, reject) => {
                holder!.stdout!.once('data', () => resolve());
                holder!.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
              });
              return { ret: -1, errno: 5 }; // EIO
            }
            if (request === requestCode('remove')) removes++;
            const r = await t.ioctlAsync(request, buf);
            if (request === requestCode('load') && r.ret === 0) minor = decodeDev(codec.decodeHeader(buf).dev).minor;
            return r;
          },
          close: () => t.close(),
        };
      },
    };
    const dm = await DeviceMapper.open({ backend });
    try {
      const err = await dm.createDevice({ name, uuid, table: [{ start: 0, length: 64, type: 'zero', params: '' }], rollback: { delayMs: 100, retries: 100 } }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'EIO', command: 'suspend' });
      expect((err as { cleanupError?: unknown }).cleanupError).toBeUndefined();
      expect(removes).toBeGreaterThan(1); // at least one EBUSY while the holder had it open
      expect(await dm.info({ uuid })).toEqual({ exists: false });
      recordLiveFact('heldOpenRollback', { removeAttempts: removes });
    } finally {
      if (holder && holder.exitCode === null) await exited(holder);
      if ((await dm.info({ uuid })).exists) await dm.removeDevice({ uuid });
      dm.close();
    }
  }, 120_000);
});
