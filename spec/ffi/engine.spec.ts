// The ioctl engine's ring (ffi/engine.ts) against a fake ioctl run in its worker, and the
// transport's engine/pool paths against /dev/null (ENOTTY) with the real koffi in the worker.
import * as fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { IoctlEngine } from '../../ffi/engine.js';
import { openControl } from '../../ffi/control.js';
import { DmEngineError, ERRNO } from '../../ffi/errors.js';
import { commandNumber, requestCode } from '../../codec/index.js';

const linux = process.platform === 'linux';
const onLinux = linux ? describe : describe.skip;

/**
 * The fake kernel, run in the worker: byte 0 says what to do. 1 = reply: add 1 to every
 * byte and return the request code as ret; 2 = fail with errno buf[1]; 3 = sleep buf[1] × 10 milliseconds
 * then reply as 1; 0xEE = crash the worker.
 */
const FAKE = `
  const op = buf[0];
  if (op === 0xEE) process.exit(3);
  if (op === 2) return [-1, buf[1]];
  if (op === 3) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, buf[1] * 10);
  for (let i = 1; i < buf.length; i++) buf[i] = (buf[i] + 1) & 255;
  return [request & 0x7fffffff, 0];
`;

function devNull(): number {
  return fs.openSync('/dev/null', 'r');
}

function fdOpen(fd: number): boolean {
  try { fs.fstatSync(fd); return true; } catch { return false; }
}

function engine(slots = 8): IoctlEngine {
  return IoctlEngine.start({ fd: devNull(), libc: '', slots, slotSize: 256, fakeIoctl: FAKE });
}

describe('IoctlEngine ring', () => {
  test('ready: false at start, true once the worker has bound its ioctl; calls made before wait for it', async () => {
    const e = engine();
    try {
      expect(e.ready).toBe(false);
      const buf = new Uint8Array([1, 5]);
      expect(await e.ioctl(7, buf)).toEqual({ ret: 7, errno: 0 });
      expect(e.ready).toBe(true);
    } finally {
      e.close();
    }
  });

  test('many concurrent callers each get their own reply (more callers than slots)', async () => {
    const e = engine(4);
    try {
      const bufs = Array.from({ length: 300 }, (_, i) => {
        const b = new Uint8Array(1 + (i % 200));
        b[0] = 1;
        b.fill(i & 255, 1);
        return b;
      });
      const rs = await Promise.all(bufs.map((b, i) => e.ioctl(1000 + i, b)));
      rs.forEach((r, i) => expect(r).toEqual({ ret: 1000 + i, errno: 0 }));
      bufs.forEach((b, i) => { for (let j = 1; j < b.length; j++) expect(b[j]).toBe((i + 1) & 255); });
      expect(e.completed).toBe(300);
      // Completions are reaped in groups: fewer wake-ups than calls.
      expect(e.wakeups).toBeLessThan(300);
    } finally {
      e.close();
    }
  });

  test('errno comes back per call, mixed with successes', async () => {
    const e = engine();
    try {
      const rs = await Promise.all([
        e.ioctl(7, Uint8Array.of(2, ERRNO.EBUSY)),
        e.ioctl(8, Uint8Array.of(1, 0)),
        e.ioctl(9, Uint8Array.of(2, ERRNO.ENXIO)),
      ]);
      expect(rs).toEqual([{ ret: -1, errno: ERRNO.EBUSY }, { ret: 8, errno: 0 }, { ret: -1, errno: ERRNO.ENXIO }]);
    } finally {
      e.close();
    }
  });

  test('a slow ioctl does not block the event loop, and later calls complete after it', async () => {
    const e = engine();
    try {
      const order: string[] = [];
      const slow = e.ioctl(1, Uint8Array.of(3, 30)).then(() => order.push('slow'));
      const fast = e.ioctl(2, Uint8Array.of(1, 0)).then(() => order.push('fast'));
      await new Promise((r) => setImmediate(r));
      order.push('event loop');
      await Promise.all([slow, fast]);
      expect(order).toEqual(['event loop', 'slow', 'fast']);
    } finally {
      e.close();
    }
  });

  test('each completion is published as it finishes: fast calls submitted with a slow one do not wait for it', async () => {
    const e = engine();
    try {
      // Warm: the worker is started, so the three calls below are in its ring together.
      await e.ioctl(1, Uint8Array.of(1, 0));
      const t0 = performance.now();
      const done: Record<string, number> = {};
      const a = e.ioctl(2, Uint8Array.of(1, 0)).then(() => { done.a = performance.now() - t0; });
      const b = e.ioctl(3, Uint8Array.of(1, 0)).then(() => { done.b = performance.now() - t0; });
      const slow = e.ioctl(4, Uint8Array.of(3, 200)).then(() => { done.slow = performance.now() - t0; }); // 2 s in the fake kernel
      await Promise.all([a, b]);
      expect(done.slow).toBeUndefined();
      expect(done.a!).toBeLessThan(1000);
      expect(done.b!).toBeLessThan(1000);
      await slow;
      expect(done.slow!).toBeGreaterThanOrEqual(1900);
    } finally {
      e.close();
    }
  });

  test('close() mid-call drains the calls in it, then refuses new ones and closes the fd', async () => {
    const fd = devNull();
    const e = IoctlEngine.start({ fd, libc: '', slots: 2, slotSize: 64, fakeIoctl: FAKE });
    const calls = Array.from({ length: 5 }, (_, i) => e.ioctl(i, Uint8Array.of(3, 2)));
    e.close();
    expect(e.alive).toBe(false);
    await expect(e.ioctl(9, Uint8Array.of(1))).rejects.toBeInstanceOf(DmEngineError);
    expect(fdOpen(fd)).toBe(true); // calls still in the worker: the fd stays open
    const rs = await Promise.all(calls);
    rs.forEach((r, i) => expect(r).toEqual({ ret: i, errno: 0 }));
    expect(fdOpen(fd)).toBe(false);
  });

  test('a worker crash rejects the calls in it with DmEngineError, and every later call', async () => {
    const e = engine();
    const before = e.ioctl(1, Uint8Array.of(3, 5));
    const crash = e.ioctl(2, Uint8Array.of(0xee));
    const after = e.ioctl(3, Uint8Array.of(1));
    const settled = await Promise.allSettled([before, crash, after]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: { ret: 1, errno: 0 } });
    for (const s of settled.slice(1)) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(DmEngineError);
      expect((s as PromiseRejectedResult).reason.code).toBe('DM_ENGINE');
    }
    // The crashing call had been taken by the worker (it may have reached the kernel); the
    // one behind it had not (the transport may send it on the pool path).
    expect((settled[1] as PromiseRejectedResult).reason.sent).toBe(true);
    expect((settled[2] as PromiseRejectedResult).reason.sent).toBe(false);
    expect(e.alive).toBe(false);
    await expect(e.ioctl(4, Uint8Array.of(1))).rejects.toBeInstanceOf(DmEngineError);
  });

  test('a worker that fails to start rejects its calls as not sent', async () => {
    const e = IoctlEngine.start({ fd: devNull(), libc: '', slots: 2, slotSize: 64, fakeIoctl: 'this is not JavaScript (' });
    const calls = [e.ioctl(1, Uint8Array.of(1)), e.ioctl(2, Uint8Array.of(1)), e.ioctl(3, Uint8Array.of(1))];
    for (const c of calls) {
      const err = await c.catch((x: unknown) => x);
      expect(err).toBeInstanceOf(DmEngineError);
      expect((err as DmEngineError).sent).toBe(false);
    }
  });

  test('shared memory holds no byte of a request or reply once the call settled (keys: docs/secrets.md)', async () => {
    const e = engine(2);
    try {
      const key = new Uint8Array(200).fill(0xab);
      key[0] = 1;
      const fail = new Uint8Array(200).fill(0xcd);
      fail[0] = 2;
      fail[1] = ERRNO.EINVAL;
      await Promise.all([e.ioctl(1, key), e.ioctl(2, fail), e.ioctl(3, key.slice())]);
      expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
      expect(key[5]).toBe(0xac); // the reply did come back into the caller's buffer
    } finally {
      e.close();
    }
  });

  test('a crash with a key in a slot leaves no byte of it in shared memory', async () => {
    const e = engine(2);
    const key = new Uint8Array(100).fill(0xab);
    key[0] = 3;
    key[1] = 20;
    const inFlight = e.ioctl(1, key);
    const crash = e.ioctl(2, Uint8Array.of(0xee));
    await Promise.allSettled([inFlight, crash]);
    await expect(crash).rejects.toBeInstanceOf(DmEngineError);
    expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
  });

  test('a buffer larger than a slot is refused (the transport sends it on the pool path)', async () => {
    const e = engine();
    try {
      await expect(e.ioctl(1, new Uint8Array(257))).rejects.toBeInstanceOf(RangeError);
    } finally {
      e.close();
    }
  });
});

onLinux('transport: engine path, pool fallback (koffi in the worker, /dev/null answers ENOTTY)', () => {
  /** A transport of `path` and the engine it reported (undefined until it routed a call to one). */
  async function open(path: string, asyncPath?: 'engine' | 'pool') {
    const seen: { engine?: IoctlEngine } = {};
    const t = await openControl(path, { asyncPath, onEngine: (e) => { seen.engine = e; } });
    return { t, engineOf: () => seen.engine };
  }

  test("asyncPath 'engine': ioctlAsync goes through the engine; after the worker dies, through the pool, same errno", async () => {
    const { t, engineOf } = await open('/dev/null', 'engine');
    try {
      const buf = new Uint8Array(312);
      expect(await t.ioctlAsync(0xc138fd00, buf)).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      const e = engineOf()!;
      expect(e).toBeDefined();
      expect(e.completed).toBe(1);
      await e.kill();
      await new Promise((r) => setImmediate(r));
      expect(e.alive).toBe(false);
      expect(await t.ioctlAsync(0xc138fd00, buf)).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(e.completed).toBe(1); // that one went through the pool
    } finally {
      t.close();
    }
  });

  test("asyncPath 'auto' (the default): single calls and waits on the pool, batches on the engine; batches take the pool until the engine is ready", async () => {
    const { t, engineOf } = await open('/dev/full');
    try {
      const buf = new Uint8Array(312);
      expect(await t.ioctlAsync(0xc138fd00, buf)).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(await t.ioctlAsync(0xc138fd00, buf, 'single')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(engineOf()).toBeUndefined(); // singles never started it
      // The first batch call starts the engine and, while its worker loads koffi, takes the pool.
      expect(await t.ioctlAsync(0xc138fd00, buf, 'batch')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      const e = engineOf()!;
      expect(e).toBeDefined();
      expect(e.completed).toBe(0);
      for (let i = 0; i < 1000 && !e.ready; i++) await new Promise((r) => setTimeout(r, 10)); // hang guard: 10 s
      expect(e.ready).toBe(true);
      expect(await t.ioctlAsync(0xc138fd00, buf, 'batch')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(e.completed).toBe(1);
      expect(await t.ioctlAsync(0xc138fd00, buf, 'wait')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(e.completed).toBe(1);
      expect(await t.ioctlAsync(0xc138fd00, buf)).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(e.completed).toBe(1);
    } finally {
      t.close();
      await engineOf()?.kill();
    }
  });

  test("asyncPath 'auto': a wait never starts the engine (it may sleep in the kernel: the pool path)", async () => {
    const { t, engineOf } = await open('/dev/random');
    try {
      expect((await t.ioctlAsync(0xc138fd00, new Uint8Array(312), 'wait')).ret).toBe(-1);
      expect(engineOf()).toBeUndefined();
    } finally {
      t.close();
      await engineOf()?.kill();
    }
  });

  test('a wait that sleeps in the kernel never holds the engine: a batch behind it completes (auto and engine)', async () => {
    // The engine's fake kernel parks DM_DEV_WAIT for 5 s (as a wait on a device replaced on the
    // same minor would, indefinitely) and answers every other call at once with ret 0.
    const fake = `if ((request & 0xff) === ${commandNumber('wait')}) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000); return [0, 0];`;
    const ran: string[] = [];
    for (const [path, asyncPath] of [['/dev/urandom', 'engine'], ['/dev/ptmx', 'auto']] as const) {
      if (!fs.existsSync(path)) continue;
      const seen: { engine?: IoctlEngine } = {};
      let t;
      try {
        t = await openControl(path, { asyncPath, engineFake: fake, onEngine: (e) => { seen.engine = e; } });
      } catch {
        continue; // no such node to open read-write here
      }
      try {
        // Started and ready first, so that under 'auto' the batch below runs on the engine.
        await t.ioctlAsync(requestCode('status'), new Uint8Array(312), 'batch');
        for (let i = 0; i < 1000 && !seen.engine!.ready; i++) await new Promise((r) => setTimeout(r, 10));
        const wait = t.ioctlAsync(requestCode('wait'), new Uint8Array(312), 'wait');
        const t0 = performance.now();
        const batch = await Promise.all(Array.from({ length: 8 }, () => t.ioctlAsync(requestCode('status'), new Uint8Array(312), 'batch')));
        expect(performance.now() - t0).toBeLessThan(2500);
        for (const r of batch) expect(r).toEqual({ ret: 0, errno: 0 });
        // The wait went to the real pool path (this node refuses the dm ioctl at once).
        expect((await wait).ret).toBe(-1);
        ran.push(asyncPath);
      } finally {
        t.close();
        await seen.engine?.kill();
      }
    }
    expect(ran).toContain('engine');
  });

  test("asyncPath 'pool' never starts an engine, not for a batch either", async () => {
    const { t, engineOf } = await open('/dev/zero', 'pool');
    try {
      expect(await t.ioctlAsync(0xc138fd00, new Uint8Array(312))).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(await t.ioctlAsync(0xc138fd00, new Uint8Array(312), 'batch')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(engineOf()).toBeUndefined();
    } finally {
      t.close();
    }
  });
});
