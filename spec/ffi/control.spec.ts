// Runs on machines without device-mapper: everything here uses /dev/null, temp
// files and pipes. The real control node is exercised by spec/live/.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createCancelPipe,
  createPoller,
  DmClosedError,
  DmPermissionError,
  DmPlatformError,
  DmUnavailableError,
  libcCandidates,
  loadLibc,
  mapOpenError,
  openControl,
  POLLIN,
} from '../../ffi/index.js';
import { pollerOf } from '../../lib/kernel/syscall-structs.js';

/** poll(2) through ffi's byte-level poller, with struct pollfd from its layout. */
const pollAsync = async (fds: { fd: number; events: number }[], timeoutMs: number) => pollerOf(await createPoller()).pollAsync(fds, timeoutMs);

const DM_VERSION = 0xc138fd00;
const ENOTTY = 25;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-ffi-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('loadLibc', () => {
  it('rejects a non-Linux platform with DmPlatformError', async () => {
    await expect(loadLibc('darwin')).rejects.toBeInstanceOf(DmPlatformError);
    await expect(loadLibc('win32')).rejects.toMatchObject({ code: 'DM_PLATFORM', platform: 'win32' });
  });
  it('loads libc on Linux, once', async () => {
    const a = await loadLibc();
    expect(await loadLibc()).toBe(a);
    expect(libcCandidates('x64')).toEqual(['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.so']);
  });
});

describe('openControl', () => {
  it('maps a missing node to DmUnavailableError', async () => {
    const p = path.join(tmp, 'no-such-control');
    await expect(openControl(p)).rejects.toBeInstanceOf(DmUnavailableError);
    await expect(openControl(p)).rejects.toMatchObject({ errno: 2, path: p, code: 'ENOENT' });
  });

  it('maps a control node on a kernel without dm (or a dead char device) to DmUnavailableError', async () => {
    // c 10,236 is the dm control node; without dm_mod its open fails with ENODEV.
    const node = path.join(tmp, 'control');
    const mk = spawnSync('mknod', [node, 'c', '10', '236']);
    if (mk.status !== 0) return; // not root / no mknod: covered by the synthetic cases
    let t;
    try {
      t = await openControl(node);
    } catch (err) {
      expect(err).toBeInstanceOf(DmUnavailableError);
      return;
    }
    t.close(); // this host really has device-mapper
  });

  it('ioctl on /dev/null returns ENOTTY, sync and async, in place', async () => {
    const t = await openControl('/dev/null');
    try {
      expect(t.fd).toBeGreaterThanOrEqual(0);
      const buf = new Uint8Array(16384);
      expect(t.ioctl(DM_VERSION, buf)).toEqual({ ret: -1, errno: ENOTTY });
      expect(await t.ioctlAsync(DM_VERSION, buf)).toEqual({ ret: -1, errno: ENOTTY });
      // negative (signed) request numbers are normalised too
      expect(t.ioctl(DM_VERSION | 0, buf)).toEqual({ ret: -1, errno: ENOTTY });
    } finally {
      t.close();
    }
  });

  it('a closed transport throws DmClosedError; close is idempotent', async () => {
    const t = await openControl('/dev/null');
    t.close();
    t.close();
    expect(t.fd).toBe(-1);
    expect(() => t.ioctl(DM_VERSION, new Uint8Array(512))).toThrow(DmClosedError);
    await expect(t.ioctlAsync(DM_VERSION, new Uint8Array(512))).rejects.toBeInstanceOf(DmClosedError);
  });

  it('close during an async ioctl defers releasing the fd until it settles', async () => {
    const t = await openControl('/dev/null');
    const pending = t.ioctlAsync(DM_VERSION, new Uint8Array(512));
    t.close();
    expect(t.fd).toBe(-1);
    expect(await pending).toEqual({ ret: -1, errno: ENOTTY });
  });

  it('EACCES at open → DmPermissionError (real error from an unprivileged process)', async () => {
    const file = path.join(tmp, 'mode-0000');
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o000);
    if (process.getuid?.() !== 0) {
      // Not root: the real openControl path fails with EACCES.
      await expect(openControl(file)).rejects.toBeInstanceOf(DmPermissionError);
      return;
    }
    // Root bypasses file modes; let an unprivileged child produce the real error.
    fs.chmodSync(tmp, 0o755);
    const child = spawnSync(
      process.execPath,
      ['-e', `try{require('fs').openSync(${JSON.stringify(file)},'r+')}catch(e){process.stdout.write(JSON.stringify({code:e.code,errno:e.errno}))}`],
      { uid: 65534, gid: 65534, encoding: 'utf8' },
    );
    if (child.error || !child.stdout) return; // cannot drop privileges here
    const real = JSON.parse(child.stdout) as { code: string; errno: number };
    expect(real.code).toBe('EACCES');
    const mapped = mapOpenError(real, file, fs.statSync(file).mode);
    expect(mapped).toBeInstanceOf(DmPermissionError);
    expect((mapped as DmPermissionError).message).toContain('mode 0000');
  });
});

describe('cancel pipe and poll', () => {
  it('pollAsync returns when the pipe is signalled', async () => {
    const pipe = await createCancelPipe();
    try {
      const started = Date.now();
      const waiting = pollAsync([{ fd: pipe.readFd, events: POLLIN }], 10000);
      setTimeout(() => pipe.signal(), 50);
      const r = await waiting;
      expect(r.ret).toBe(1);
      expect(r.revents[0]! & POLLIN).toBe(POLLIN);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(pipe.drain()).toBe(1);
      expect(pipe.drain()).toBe(0);
    } finally {
      pipe.close();
    }
  });

  it('pollAsync and poll time out when nothing happens', async () => {
    const pipe = await createCancelPipe();
    try {
      const started = Date.now();
      const r = await pollAsync([{ fd: pipe.readFd, events: POLLIN }], 100);
      expect(r).toEqual({ ret: 0, errno: 0, revents: [0] });
      expect(Date.now() - started).toBeGreaterThanOrEqual(90);
      const poller = pollerOf(await createPoller());
      expect(poller.poll([{ fd: pipe.readFd, events: POLLIN }], 0)).toEqual({ ret: 0, errno: 0, revents: [0] });
      pipe.signal();
      pipe.signal();
      const ready = poller.poll([{ fd: pipe.readFd, events: POLLIN }], 0);
      expect(ready.ret).toBe(1);
      expect(pipe.drain()).toBe(2);
    } finally {
      pipe.close();
    }
  });

  it('signal on a full pipe does not block or throw; closed pipe throws', async () => {
    const pipe = await createCancelPipe();
    for (let i = 0; i < 70000; i++) pipe.signal(); // > the 64 KiB default pipe capacity
    expect(pipe.drain()).toBeGreaterThan(0);
    pipe.close();
    pipe.close();
    expect(pipe.readFd).toBe(-1);
    expect(() => pipe.signal()).toThrow(DmClosedError);
  });
});
