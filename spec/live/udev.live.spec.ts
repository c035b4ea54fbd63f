// The udev flavour (DMVM_UDEV=1): systemd-udevd runs in the guest with the system's dm rules
// (55-dm, 60-persistent-storage-dm, 95-dm-notify: the last runs the system's
// `dmsetup udevcomplete $env{DM_COOKIE}`). By default the client now syncs with udev through
// a cookie (lib/udev/cookie-call.ts, docs/udev-cookies.md); `udev: 'none'` keeps the old path (no
// cookie; the library waits for udev's node, lib/udev/device-nodes.ts). Outside that flavour the file
// registers one visibly skipped test.
import { afterAll, beforeAll, describe, expect, it, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DeviceMapper, DmUdevTimeoutError, UdevCookies, addNode, attachLoop, detachLoop, realCookieHost, removeNode, renameNode, udevActive, type LoopDevice,
} from '../../lib/index.js';
import { runDmctl } from '../../cli/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

/** Keys of the cookie semaphores `ipcs -s` shows (0x0d4d…). */
function ipcsCookies(): string[] {
  return execFileSync('ipcs', ['-s'], { encoding: 'utf8' }).split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((k) => /^0x0d4d[0-9a-f]{4}$/i.test(k));
}

function dmsetup(...args: string[]): string {
  return execFileSync('dmsetup', args, { encoding: 'utf8' });
}

/**
 * dmctl in a process of its own (cli/ from source through spec/testing/ts-child.cjs), so the
 * process's exit and its 'exit' handlers happen between commands, as with the bin.
 */
function dmctlProcess(...argv: string[]): { code: number | null; stdout: string; stderr: string; error?: string } {
  const entry = path.join(__dirname, '..', '..', 'cli', 'index.ts');
  const r = spawnSync(process.execPath, [
    '-r', path.join(__dirname, '..', 'testing', 'ts-child.cjs'),
    '-e', `require(${JSON.stringify(entry)}).runDmctl(JSON.parse(process.argv[1])).then((c) => { process.exitCode = c; })`,
    JSON.stringify(argv),
  ], { encoding: 'utf8', timeout: 400_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ...(r.error ? { error: r.error.message } : {}) };
}

/** dmctl in this process; stdout and the exit status. */
async function dmctl(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runDmctl(argv, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; } });
  return { code, stdout, stderr };
}

/** The main systemd-udevd process of the guest (its workers are its children). */
function udevdPid(): number {
  const procs = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return { pid: Number(p), comm, ppid };
    } catch { return undefined; }
  }).filter((x): x is { pid: number; comm: string; ppid: number } => !!x);
  const udevd = procs.filter((p) => p.comm === 'systemd-udevd' || p.comm === 'udevadm');
  const main = udevd.find((p) => !udevd.some((q) => q.pid === p.ppid));
  if (!main) throw new Error('no systemd-udevd in the guest');
  return main.pid;
}

function cookieValue(cookie: number): number | undefined {
  const line = dmsetup('udevcookies').split('\n').find((l) => l.startsWith(`0x${cookie.toString(16)} `));
  return line === undefined ? undefined : Number(line.trim().split(/\s+/)[2]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const table = [{ start: 0, length: 64, type: 'zero', params: '' }];

if (process.env.DMVM_UDEV !== '1') {
  describe('udev flavour', () => {
    it.skip('skipped: runs only in the udev flavour of the VM (DMVM_UDEV=1 npm run test:live -- spec/live/udev)', () => {});
  });
} else {
  describeLive(`udev flavour [kernel ${kernelLabel}]`, () => {
    const tag = `dmts-udev-${process.pid}`;
    let dm: DeviceMapper;
    beforeAll(async () => { dm = await DeviceMapper.open(); });
    afterAll(async () => {
      for (const d of await dm.list()) if (d.name.startsWith(tag)) await dm.removeDevice(d.name, { udev: 'none' }).catch(() => undefined);
      dm.close();
    });

    test("udev: 'none' (no cookie): udev makes, moves and drops /dev/mapper/<name>; the library waits for it", async () => {
      expect(udevActive()).toBe(true);
      const name = `${tag}-n`;
      const info = await dm.createDevice({ name, table, udev: 'none' });
      expect(info.flags.ueventGenerated).toBe(true);
      const added = await addNode(name, info.dev, { ueventGenerated: info.flags.ueventGenerated, timeoutMs: 20000 });
      expect(added.action).toBe('udev');
      expect(fs.readlinkSync(`/dev/mapper/${name}`)).toBe(`../dm-${info.dev.minor}`);
      const renamed = await dm.rename(name, { newName: `${name}-r` }, { udev: 'none' });
      expect((await renameNode(name, `${name}-r`, info.dev, { ueventGenerated: renamed.flags.ueventGenerated, timeoutMs: 20000 })).action).toBe('udev');
      expect(fs.existsSync(`/dev/mapper/${name}`)).toBe(false);
      const removed = await dm.removeDevice(`${name}-r`, { udev: 'none' });
      expect((await removeNode(`${name}-r`, { ueventGenerated: removed.ueventGenerated, timeoutMs: 20000 })).action).toBe('udev');
      expect(ipcsCookies()).toEqual([]);
      recordLiveFact('udev', { add: added.action, node: `../dm-${info.dev.minor}` });
    });

    test('sync (the default here): nodes and /dev/disk links exist when createDevice resolves; rename and remove leave nothing stale; no semaphore left', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-udev-'));
      const img = path.join(dir, 'disk.img');
      const swap = path.join(dir, 'swap.img');
      const fsUuid = '6d9a3b52-2f4e-4c1b-9c59-0d4d00c0ffee';
      let loop: LoopDevice | undefined;
      const name = `${tag}-s`;
      const uuid = `DMTS-${tag}-s`;
      try {
        // A swap signature 1 MiB into the file: the dm device (offset 2048 sectors) has it, the loop device does not.
        fs.writeFileSync(img, Buffer.alloc(4 << 20));
        fs.writeFileSync(swap, Buffer.alloc(1 << 20));
        execFileSync('mkswap', ['-U', fsUuid, swap], { stdio: 'pipe' });
        const fd = fs.openSync(img, 'r+');
        fs.writeSync(fd, fs.readFileSync(swap), 0, 1 << 20, 1 << 20);
        fs.closeSync(fd);
        loop = await attachLoop(img);
        const t = [{ start: 0, length: 2048, type: 'linear', params: `${loop.major}:${loop.minor} 2048` }];

        const d = await dm.createDevice({ name, uuid, table: t });
        // No polling anywhere: each link is checked once, right after the call resolved.
        const dmN = `../dm-${d.dev.minor}`;
        expect(fs.readlinkSync(`/dev/mapper/${name}`)).toBe(dmN);
        expect(fs.readlinkSync(`/dev/disk/by-id/dm-name-${name}`)).toBe(`../../dm-${d.dev.minor}`);
        expect(fs.readlinkSync(`/dev/disk/by-id/dm-uuid-${uuid}`)).toBe(`../../dm-${d.dev.minor}`);
        expect(fs.readlinkSync(`/dev/disk/by-uuid/${fsUuid}`)).toBe(`../../dm-${d.dev.minor}`);
        expect(ipcsCookies()).toEqual([]);

        await dm.rename(name, { newName: `${name}-r` });
        expect(fs.existsSync(`/dev/mapper/${name}`)).toBe(false);
        expect(fs.existsSync(`/dev/disk/by-id/dm-name-${name}`)).toBe(false);
        expect(fs.readlinkSync(`/dev/mapper/${name}-r`)).toBe(dmN);
        expect(fs.readlinkSync(`/dev/disk/by-id/dm-name-${name}-r`)).toBe(`../../dm-${d.dev.minor}`);
        expect(ipcsCookies()).toEqual([]);

        await dm.removeDevice(`${name}-r`);
        for (const p of [`/dev/mapper/${name}-r`, `/dev/disk/by-id/dm-name-${name}-r`, `/dev/disk/by-id/dm-uuid-${uuid}`, `/dev/disk/by-uuid/${fsUuid}`]) {
          expect([p, fs.existsSync(p)]).toEqual([p, false]);
        }
        expect(ipcsCookies()).toEqual([]);
        recordLiveFact('udevSync', { links: ['mapper', 'by-id/dm-name', 'by-id/dm-uuid', 'by-uuid'], semaphoresLeft: 0 });
      } finally {
        if ((await dm.info(`${name}-r`)).exists) await dm.removeDevice(`${name}-r`, { udev: 'none' });
        if ((await dm.info(name)).exists) await dm.removeDevice(name, { udev: 'none' });
        if (loop) await detachLoop(loop);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('udev stopped mid-wait: dmsetup udevcookies lists our pending cookie; the wait times out, the semaphore is removed, the device rolled back', async () => {
      const pid = udevdPid();
      const name = `${tag}-t`;
      process.kill(pid, 'SIGSTOP');
      try {
        const p = dm.createDevice({ name, table, udevTimeoutMs: 3000 }).catch((e: unknown) => e);
        await sleep(500); // the resume is done and the wait polls
        const pending = dmsetup('udevcookies').split('\n').filter((l) => l.startsWith('0x'));
        expect(pending.length).toBe(1);
        expect(pending[0]!.trim().split(/\s+/)[2]).toBe('1'); // our 1 dropped, udev's uevent pending
        const e = await p;
        expect(e).toBeInstanceOf(DmUdevTimeoutError);
        expect((e as DmUdevTimeoutError).pending).toBe(1);
        expect(ipcsCookies()).toEqual([]);
        expect((await dm.info(name)).exists).toBe(false);
        recordLiveFact('udevTimeout', { listedWhilePending: pending[0]!.split(/\s+/)[0], semaphoresLeft: ipcsCookies().length });
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      execFileSync('udevadm', ['settle', '-t', '10']);
      expect(fs.existsSync(`/dev/mapper/${name}`)).toBe(false); // the queued change and remove events ran in order
    });

    test('interop: dmsetup udevcreatecookie → our call joins it → dmctl udevcomplete → dmsetup udevreleasecookie; and the reverse', async () => {
      const name = `${tag}-i`;
      const rows: Record<string, string>[] = [];
      await dm.createDevice({ name, table });
      const pid = udevdPid();
      // 1. libdevmapper's cookie, incremented by us, completed by dmctl, released by dmsetup.
      const theirs = Number(dmsetup('udevcreatecookie').trim());
      expect(theirs >>> 16).toBe(0x0d4d);
      expect(cookieValue(theirs)).toBe(1);
      process.kill(pid, 'SIGSTOP'); // udev must not complete it: dmctl does
      try {
        await dm.suspend(name);
        await dm.resume(name, { udevCookie: theirs });
        expect(cookieValue(theirs)).toBe(2);
        expect((await dmctl('udevcomplete', `0x${theirs.toString(16)}`)).stdout).toBe(`DM_COOKIE_COMPLETED=0x${theirs.toString(16).padEnd(10)}\n`);
        expect(cookieValue(theirs)).toBe(1);
        dmsetup('udevreleasecookie', `0x${theirs.toString(16)}`);
        expect(cookieValue(theirs)).toBeUndefined();
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      execFileSync('udevadm', ['settle', '-t', '10']);
      rows.push({ made: 'dmsetup udevcreatecookie', incremented: 'client resume({ udevCookie })', completed: 'dmctl udevcomplete', released: 'dmsetup udevreleasecookie' });

      // 2. Our cookie (dmctl udevcreatecookie, in a process that exits), joined by dmsetup,
      // completed by udev's rule (the system dmsetup), released by another dmctl process.
      const made = dmctlProcess('udevcreatecookie');
      expect([made.code, made.stderr, made.error]).toEqual([0, '', undefined]);
      expect(made.stdout).toMatch(/^0x0D4D[0-9A-F]{4}\n$/);
      const ours = made.stdout.trim();
      expect(cookieValue(Number(ours))).toBe(1); // outlived the dmctl that printed it
      dmsetup('suspend', name);
      dmsetup('resume', name, '--udevcookie', ours);
      const released = dmctlProcess('udevreleasecookie', ours, '--udev-timeout', '20000');
      expect([released.code, released.stderr, released.error]).toEqual([0, '', undefined]);
      expect(cookieValue(Number(ours))).toBeUndefined();
      rows.push({ made: 'dmctl udevcreatecookie', incremented: 'dmsetup resume --udevcookie', completed: "udev's 95-dm-notify (system dmsetup)", released: 'dmctl udevreleasecookie' });

      // 3. dmctl udevcookies is dmsetup's listing; dmctl udevcomplete_all removes libdevmapper's cookies.
      const c1 = Number(dmsetup('udevcreatecookie').trim());
      const c2 = new UdevCookies(await realCookieHost()).create({ lifetime: 'transaction' });
      expect((await dmctl('udevcookies')).stdout).toBe(dmsetup('udevcookies'));
      expect((await dmctl('udevcomplete_all', '-y')).stdout).toBe('2 semaphores with keys prefixed by 3405 (0xd4d) destroyed. 0 skipped.\n');
      expect([cookieValue(c1), cookieValue(c2)]).toEqual([undefined, undefined]);
      rows.push({ made: 'dmsetup udevcreatecookie + UdevCookies.create()', listed: 'dmctl udevcookies == dmsetup udevcookies', completed: 'dmctl udevcomplete_all -y' });

      await dm.removeDevice(name);
      expect(ipcsCookies()).toEqual([]);
      recordLiveFact('udevInterop', rows);
    }, 900_000); // two dmctl processes compile cli/ from source: minutes under emulation
  });
}
