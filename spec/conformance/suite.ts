/**
 * The conformance suite, written once: every command's success and error paths and the
 * ten design points of the interface, run against the simulator (`npm test`) and the real
 * kernels in the VM (`npm run test:live`). Where they differ, the kernel wins.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  DmCodecError, DmError, DeviceMapper, type DeviceInfo,
} from '../../lib/index.js';
import { codec, COMMANDS, requestCode, DM_BUFFER_FULL_FLAG } from '../../codec/index.js';
import type { BlockDev, ConformanceEnv } from './env.js';
import { eventSuite } from './events-suite.js';

const zero = (length: number | bigint = 2048) => [{ start: 0, length, type: 'zero', params: '' }];

/** A table naming a missing device: ENODEV on 4.47 (Linux 6.1), ENOENT on 4.48 (Linux 6.12), measured. */
const MISSING_TABLE_DEVICE = ['ENODEV', 'ENOENT'];

/** Polls `cond` for up to `ms` (for effects the kernel applies asynchronously). */
async function eventually(cond: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function openWithBuffer(env: ConformanceEnv, initialBufferBytes: number): Promise<DeviceMapper> {
  return env.open({ initialBufferBytes });
}

export function conformance(env: ConformanceEnv): void {
  const P = `${env.prefix}${process.pid % 10000}-`;
  let dm: DeviceMapper;
  let n = 0;
  const name = (what: string) => `${P}${what}-${n++}`;

  async function cleanup(): Promise<void> {
    for (const d of await dm.list({ namePrefix: P })) {
      try { await dm.remove(d.name); } catch { /* still open: left to the test that opened it */ }
    }
  }

  beforeAll(async () => { dm = await env.open(); });
  afterAll(async () => { await cleanup(); dm.close(); });

  describe(`design points [${env.label}]`, () => {
    test('1. fixed layout: a 312-byte header, payload at data_start 312, version written back', async () => {
      const t = await env.transport();
      try {
        const req = codec.encodeRequest('listVersions', {}, { bufferBytes: 16384 });
        expect(t.ioctl(requestCode('listVersions'), req).ret).toBe(0);
        const h = codec.decodeHeader(req);
        expect(h.version[0]).toBe(4);
        expect(h.version[1]).toBeGreaterThanOrEqual(43); // the oldest kernel of the matrix: Debian 11's 5.10
        expect(h.version).toEqual(dm.kernelVersion); // written back: what the client learnt at open
        expect(h.data_start).toBe(312);
        expect(h.data_size).toBeGreaterThan(312);
        expect(h.data_size).toBeLessThan(16384);
        expect(new DataView(req.buffer).getUint32(312 + 0, true) % 8).toBe(0); // next of the first record is 8-aligned
      } finally { t.close(); }
    });

    test('2. ENXIO for a missing device (info gives { exists: false })', async () => {
      const missing = name('missing');
      expect(await dm.info(missing)).toEqual({ exists: false });
      for (const call of [() => dm.status(missing), () => dm.suspend(missing), () => dm.remove(missing), () => dm.clear(missing), () => dm.deps(missing)]) {
        const e = await call().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(DmError);
        expect((e as DmError).code).toBe('ENXIO');
        expect((e as DmError).message).toMatch(/no such device/);
      }
    });

    test('3. output fields are filled on success', async () => {
      const nm = name('out');
      const created = await dm.create({ name: nm, uuid: `${nm}-uuid` });
      expect(created.name).toBe(nm);
      expect(created.uuid).toBe(`${nm}-uuid`);
      expect(created.dev.major).toBeGreaterThan(0);
      expect(created.eventNr).toBe(0);
      expect(created.targetCount).toBe(0);
      expect(created.flags.activePresent).toBe(false);
      const loaded = await dm.load(nm, zero());
      expect(loaded.flags.inactivePresent).toBe(true);
      const resumed = await dm.resume(nm);
      expect(resumed.flags.activePresent).toBe(true);
      expect(resumed.targetCount).toBe(1);
      expect(resumed.dev).toEqual(created.dev);
      await dm.remove(nm);
    });

    test('4. suspend and resume are idempotent', async () => {
      const nm = name('idem');
      await dm.createDevice({ name: nm, table: zero() });
      expect((await dm.suspend(nm)).flags.suspended).toBe(true);
      expect((await dm.suspend(nm)).flags.suspended).toBe(true);
      expect((await dm.resume(nm)).flags.suspended).toBe(false);
      expect((await dm.resume(nm)).flags.suspended).toBe(false);
      await dm.remove(nm);
    });

    test('5. BUFFER_FULL: the ioctl returns 0 with the flag; the client grows and remembers the size', async () => {
      const names = Array.from({ length: 200 }, (_, i) => `${P}buf-${String(i).padStart(3, '0')}-${'x'.repeat(60)}`);
      for (const nm of names) await dm.create({ name: nm, uuid: `${nm}-u` });
      try {
        const t = await env.transport();
        try {
          const req = codec.encodeRequest('listDevices', { withUuid: true }, { bufferBytes: 312 + 64 });
          expect(t.ioctl(requestCode('listDevices'), req)).toEqual({ ret: 0, errno: 0 });
          expect(codec.decodeHeader(req).flags & DM_BUFFER_FULL_FLAG).toBe(DM_BUFFER_FULL_FLAG);
          expect(codec.decodeReply('listDevices', req).bufferFull).toBe(true);
        } finally { t.close(); }
        const fresh = await env.open();
        try {
          const listed = await fresh.list({ namePrefix: `${P}buf-` });
          expect(listed.map((d) => d.name)).toEqual(names);
          const grown = fresh.ioctlCounts.get('listDevices')!;
          expect(grown).toBeGreaterThan(1); // 200 × ~100-byte records do not fit in 16 KiB
          await fresh.list({ namePrefix: `${P}buf-` });
          expect(fresh.ioctlCounts.get('listDevices')).toBe(grown + 1); // the size that worked is remembered
        } finally { fresh.close(); }
      } finally {
        for (const nm of names) await dm.remove(nm);
      }
    });

    test('5b. every payload command grows a too-small buffer and gets the same answer', async () => {
      const nm = name('grow');
      const bd = await env.blockDevice(8192);
      try {
        await dm.create({ name: nm, uuid: `${nm}-${'u'.repeat(100)}` });
        const lines = Array.from({ length: 12 }, (_, i) => ({ start: i * 256, length: 256, type: 'linear', params: `${bd.major}:${bd.minor} ${i * 256}` }));
        await dm.load(nm, lines);
        await dm.resume(nm);
        const small = await env.open();
        const tiny = await openWithBuffer(env, 320);
        try {
          for (const [what, run] of [
            ['list', (c: DeviceMapper) => c.list({ namePrefix: nm })],
            ['table', (c: DeviceMapper) => c.table(nm)],
            ['status', (c: DeviceMapper) => c.status(nm)],
            ['deps', (c: DeviceMapper) => c.deps(nm)],
            ['listVersions', (c: DeviceMapper) => c.listVersions()],
            ['wait', (c: DeviceMapper) => c.wait(nm, { eventNr: 12345, table: true })],
          ] as const) {
            const expected = await run(small);
            const got = await run(tiny);
            expect([what, got]).toEqual([what, expected]);
          }
          for (const cmd of ['listDevices', 'status', 'listVersions', 'wait']) {
            expect([cmd, tiny.ioctlCounts.get(cmd)! > (cmd === 'status' ? 2 : 1)]).toEqual([cmd, true]);
          }
        } finally {
          small.close();
          tiny.close();
        }
        await dm.remove(nm);
      } finally {
        await bd.release();
      }
    });

    test('6. data_size is the bytes returned, set afresh by every call', async () => {
      const nm = name('ds');
      await dm.createDevice({ name: nm, table: zero() });
      const t = await env.transport();
      try {
        const buf = new Uint8Array(16384);
        const status = codec.encodeRequest('status', { id: { name: nm }, table: true }, { into: buf });
        expect(t.ioctl(requestCode('status'), status).ret).toBe(0);
        const first = codec.decodeHeader(buf).data_size;
        expect(first).toBeGreaterThan(312 + 40);
        expect(first).toBeLessThan(400);
        // The same buffer again, for a header-only command: data_size is what that call returned.
        const info = codec.encodeRequest('info', { id: { name: nm } }, { into: buf });
        expect(t.ioctl(requestCode('info'), info).ret).toBe(0);
        expect(codec.decodeHeader(buf).data_size).toBe(305);
      } finally { t.close(); }
      await dm.remove(nm);
    });

    test('7. wait on event_nr is race-free: a past event returns at once, the current one blocks', async () => {
      const nm = name('race');
      await dm.createDevice({ name: nm, table: zero() });
      const before = (await dm.info(nm)) as DeviceInfo;
      await dm.rename(nm, { newName: `${nm}r` }); // a rename is a device event
      const after = (await dm.info(`${nm}r`)) as DeviceInfo;
      expect(after.eventNr).toBe(before.eventNr + 1);
      const late = await dm.wait(`${nm}r`, { eventNr: before.eventNr }); // the event already happened
      expect(late.device.eventNr).toBe(after.eventNr);
      let done = false;
      const pending = dm.wait(`${nm}r`, { eventNr: after.eventNr }).then((r) => { done = true; return r; });
      await new Promise((r) => setTimeout(r, 50));
      expect(done).toBe(false);
      await dm.rename(`${nm}r`, { newName: nm });
      const woke = await pending;
      expect(woke.device.eventNr).toBe(after.eventNr + 1);
      expect(woke.device.name).toBe(nm);
      await dm.remove(nm);
    });

    test('8. wait returns status, or the table with table: true', async () => {
      const nm = name('wst');
      await dm.createDevice({ name: nm, table: zero(4096) });
      const r = await dm.wait(nm, { eventNr: 99, table: true });
      expect(r.targets).toEqual([{ start: 0n, length: 4096n, type: 'zero', params: '' }]);
      const s = await dm.wait(nm, { eventNr: 99 });
      expect(s.targets.map((t) => t.type)).toEqual(['zero']);
      await dm.remove(nm);
    });

    test('9. 64-bit dev: a minor above 255 survives huge_encode_dev both ways', async () => {
      const nm = name('dev64');
      const minor = 4000 + (process.pid % 1000);
      const d = await dm.create({ name: nm, minor });
      expect(d.dev.minor).toBe(minor);
      expect(d.dev.raw).toBe(BigInt((minor & 0xff) | (d.dev.major << 8) | ((minor & ~0xff) << 12)));
      const byDev = await dm.info({ dev: { major: d.dev.major, minor } });
      expect(byDev.exists && byDev.name).toBe(nm);
      const listed = (await dm.list({ namePrefix: nm }))[0]!;
      expect(listed.dev).toEqual(d.dev);
      await dm.remove({ dev: d.dev });
    });

    test('10. DM_PERSISTENT_DEV_FLAG: the minor asked for; a taken minor fails (ENXIO, measured on 4.47)', async () => {
      const a = name('pa');
      const b = name('pb');
      const minor = 5000 + (process.pid % 1000);
      expect((await dm.create({ name: a, minor })).dev.minor).toBe(minor);
      const e = await dm.create({ name: b, minor }).catch((x: unknown) => x);
      expect((e as DmError).code).toBe('ENXIO');
      expect((e as DmError).message).toMatch(/minor is in use/);
      expect(await dm.info(b)).toEqual({ exists: false });
      await dm.remove(a);
    });
  });

  describe(`commands [${env.label}]`, () => {
    test('version and listVersions / getTargetVersion (zero autoloads)', async () => {
      const v = await dm.version();
      expect(v[0]).toBe(4);
      expect(dm.kernelVersion).toEqual(v);
      const names = (await dm.listVersions()).map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['linear', 'striped', 'error']));
      const zv = await dm.getTargetVersion('zero');
      expect(zv[0]).toBe(1);
      expect((await dm.listVersions()).map((t) => t.name)).toContain('zero');
      const e = await dm.getTargetVersion('no-such-target').catch((x: unknown) => x);
      expect((e as DmError).code).toBe('EINVAL');
    });

    test('create: duplicate name or uuid → EBUSY; bad names → typed error before any syscall', async () => {
      const nm = name('dup');
      await dm.create({ name: nm, uuid: `${nm}-u` });
      for (const again of [{ name: nm }, { name: `${nm}x`, uuid: `${nm}-u` }]) {
        const e = await dm.create(again).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(DmError);
        expect((e as DmError).code).toBe('EBUSY');
      }
      const calls = dm.ioctlCounts.get('create');
      for (const bad of ['', 'a/b', 'control', '.', '..', 'x'.repeat(128), 'nul\0byte']) {
        const e = await dm.create({ name: bad }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(DmCodecError);
      }
      expect((await dm.create({ name: 'u', uuid: 'x'.repeat(129) }).catch((x: unknown) => x))).toBeInstanceOf(DmCodecError);
      expect(dm.ioctlCounts.get('create')).toBe(calls);
      expect(await dm.info(nm)).toMatchObject({ exists: true, name: nm });
      await dm.remove(nm);
    });

    test('list: uuids and event numbers; name and uuid prefix filters', async () => {
      const a = name('lista');
      const b = name('listb');
      await dm.create({ name: a, uuid: `${P}UA` });
      await dm.create({ name: b });
      const all = await dm.list({ namePrefix: P });
      const ra = all.find((d) => d.name === a)!;
      const rb = all.find((d) => d.name === b)!;
      expect(ra.eventNr).toBe(0);
      expect((await dm.list({ namePrefix: a })).map((d) => d.name)).toEqual([a]);
      if (dm.kernelVersion[1] >= 45) {
        expect(ra.uuid).toBe(`${P}UA`);
        expect(rb.uuid).toBeNull();
        expect((await dm.list({ uuidPrefix: `${P}UA` })).map((d) => d.name)).toEqual([a]);
      } else {
        // No uuids in LIST before 4.45: unknown, never guessed (nor read from stale bytes).
        expect([ra.uuid, rb.uuid]).toEqual([undefined, undefined]);
        await expect(dm.list({ uuidPrefix: `${P}UA` })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      }
      await dm.remove(a);
      await dm.remove(b);
    });

    test('remove: EBUSY while open; deferred remove, cancelled, then done on close', async () => {
      const nm = name('busy');
      const d = await dm.createDevice({ name: nm, table: zero() });
      const release = await env.holdOpen(nm, d.dev);
      try {
        expect(((await dm.info(nm)) as DeviceInfo).openCount).toBe(1);
        const e = await dm.remove(nm).catch((x: unknown) => x);
        expect((e as DmError).code).toBe('EBUSY');
        expect((e as DmError).message).toMatch(/in use/);
        const r = await dm.remove(nm, { deferred: true });
        expect(r.deferred).toBe(true);
        expect(((await dm.info(nm)) as DeviceInfo).flags.deferredRemove).toBe(true);
        await dm.cancelDeferredRemove(nm);
        expect(((await dm.info(nm)) as DeviceInfo).flags.deferredRemove).toBe(false);
        await dm.cancelDeferredRemove(nm); // nothing scheduled: a no-op, not an error
        await dm.remove(nm, { deferred: true });
      } finally {
        await release();
      }
      // The last close queues the deferred removal on a kernel workqueue: it happens soon, not at once.
      expect(await eventually(async () => (await dm.info(nm)).exists === false)).toBe(true);
    });

    test('removeDevice retries EBUSY until the holder lets go, and honours AbortSignal', async () => {
      const nm = name('retry');
      const d = await dm.createDevice({ name: nm, table: zero() });
      const release = await env.holdOpen(nm, d.dev);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 120);
      const aborted = await dm.removeDevice(nm, { delayMs: 20, signal: ac.signal }).catch((x: unknown) => x);
      expect((aborted as Error).name).toBe('AbortError');
      setTimeout(() => void release(), 100);
      const r = await dm.removeDevice(nm, { delayMs: 20 });
      expect(r.deferred).toBe(false);
      expect(await dm.info(nm)).toEqual({ exists: false });
    });

    test('rename: new name, set uuid once, EBUSY on a taken name, ENXIO for a missing source, by uuid', async () => {
      const a = name('rna');
      const b = name('rnb');
      await dm.create({ name: a });
      await dm.create({ name: b });
      expect(((await dm.rename(a, { newName: `${a}2` })) as DeviceInfo).name).toBe(`${a}2`); // resolves with the new name (the kernel's reply echoes the old one)
      expect(await dm.info(`${a}2`)).toMatchObject({ exists: true });
      expect(((await dm.rename(b, { newName: `${a}2` }).catch((x: unknown) => x)) as DmError).code).toBe('EBUSY');
      expect(((await dm.rename(name('nope'), { newName: name('x') }).catch((x: unknown) => x)) as DmError).code).toBe('ENXIO');
      await dm.rename(b, { newUuid: `${b}-uuid` });
      expect(await dm.info(b)).toMatchObject({ uuid: `${b}-uuid` });
      expect(((await dm.rename(b, { newUuid: `${b}-other` }).catch((x: unknown) => x)) as DmError).code).toBe('EINVAL');
      await dm.rename({ uuid: `${b}-uuid` }, { newName: `${b}2` }); // resolved to the name first
      expect(await dm.info({ uuid: `${b}-uuid` })).toMatchObject({ name: `${b}2` });
      await dm.remove(`${a}2`);
      await dm.remove(`${b}2`);
    });

    test('load / resume / clear / inactive queries / read-only belongs to the table', async () => {
      const nm = name('tbl');
      await dm.create({ name: nm });
      await dm.load(nm, zero(1024), { readOnly: true });
      const inactive = await dm.table(nm, { inactive: true });
      expect(inactive.targets).toEqual([{ start: 0n, length: 1024n, type: 'zero', params: '' }]);
      expect(((await dm.info(nm, { inactive: true })) as DeviceInfo).flags.readOnly).toBe(true);
      await dm.clear(nm);
      expect(((await dm.info(nm)) as DeviceInfo).flags.inactivePresent).toBe(false);
      await dm.load(nm, zero(1024), { readOnly: true });
      const live = await dm.resume(nm);
      expect(live.flags.readOnly).toBe(true);
      expect(live.flags.activePresent).toBe(true);
      await dm.load(nm, [{ start: 0, length: 512, type: 'error', params: '' }, { start: 512, length: 512, type: 'zero', params: '' }]);
      expect((await dm.table(nm)).targets.map((t) => t.type)).toEqual(['zero']);
      expect((await dm.table(nm, { inactive: true })).targets.map((t) => t.type)).toEqual(['error', 'zero']);
      await dm.resume(nm);
      expect((await dm.status(nm)).targets.map((t) => [t.start, t.type])).toEqual([[0n, 'error'], [512n, 'zero']]);
      await dm.remove(nm);
    });

    test('load: a missing device → ENODEV/ENOENT, an unknown target → EINVAL, naming the table, with the kernel log', async () => {
      const nm = name('bad');
      await dm.create({ name: nm });
      const e = (await dm.load(nm, [{ start: 0, length: 8, type: 'linear', params: '/dev/nonexistent-dmts 0' }]).catch((x: unknown) => x)) as DmError;
      expect(e).toBeInstanceOf(DmError);
      expect(MISSING_TABLE_DEVICE).toContain(e.code);
      expect(e.message).toMatch(/does not exist/);
      expect(e.message).toContain('/dev/nonexistent-dmts');
      expect(e.request?.name).toBe(nm);
      expect(e.kernelLog.join('\n')).toMatch(/device-mapper: table: .*linear/);
      const unknown = (await dm.load(nm, [{ start: 0, length: 8, type: 'no-such-tgt', params: '' }]).catch((x: unknown) => x)) as DmError;
      expect(unknown.code).toBe('EINVAL');
      expect(unknown.message).toMatch(/rejected the table/);
      // Gaps, overlaps, zero lengths are caught before any syscall, naming the line.
      const gap = await dm.load(nm, [{ start: 0, length: 8, type: 'zero', params: '' }, { start: 16, length: 8, type: 'zero', params: '' }]).catch((x: unknown) => x);
      expect(gap).toBeInstanceOf(DmCodecError);
      expect((gap as DmCodecError).message).toMatch(/line 2/);
      await dm.remove(nm);
    });

    test('secure load: errors never carry the params', async () => {
      const nm = name('sec');
      await dm.create({ name: nm });
      const secret = new TextEncoder().encode('/dev/nonexistent-secret 0');
      const e = (await dm.load(nm, [{ start: 0, length: 8, type: 'linear', params: secret }], { secure: true }).catch((x: unknown) => x)) as DmError;
      expect(MISSING_TABLE_DEVICE).toContain(e.code);
      expect(JSON.stringify({ m: e.message, r: e.request, k: e.kernelLog }, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('nonexistent-secret');
      await dm.load(nm, zero(), { secure: true });
      await dm.remove(nm);
    });

    test('linear on a block device: table prints major:minor; deps; striped status', async () => {
      const bd: BlockDev = await env.blockDevice(8192);
      const nm = name('lin');
      try {
        await dm.createDevice({ name: nm, table: [{ start: 0, length: 4096, type: 'linear', params: `${bd.path} 128` }] });
        expect((await dm.table(nm)).targets[0]!.params).toBe(`${bd.major}:${bd.minor} 128`);
        expect((await dm.deps(nm)).map((d) => [d.major, d.minor])).toEqual([[bd.major, bd.minor]]);
        expect((await dm.status(nm)).targets[0]!.params).toBe('');
        await dm.load(nm, [{ start: 0, length: 4096, type: 'striped', params: `1 128 ${bd.major}:${bd.minor} 0` }]);
        await dm.resume(nm);
        expect((await dm.status(nm)).targets[0]!.params).toBe(`1 ${bd.major}:${bd.minor} 1 A`);
        await dm.remove(nm);
      } finally {
        await bd.release();
      }
    });

    test('message: EINVAL without a table; @stats_list answers; setGeometry', async () => {
      const nm = name('msg');
      await dm.create({ name: nm });
      expect(((await dm.message(nm, 0, 'anything').catch((x: unknown) => x)) as DmError).code).toBe('EINVAL');
      await dm.load(nm, zero());
      await dm.resume(nm);
      expect(((await dm.message(nm, 0, 'hello').catch((x: unknown) => x)) as DmError).code).toBe('EINVAL');
      await expect(dm.message(nm, 0, '@stats_list')).resolves.toBeDefined();
      await dm.setGeometry(nm, { cylinders: 100, heads: 16, sectorsPerTrack: 63, startSectors: 0 });
      expect(await dm.setGeometry(nm, { cylinders: 70000, heads: 1, sectorsPerTrack: 1, startSectors: 0 }).catch((x: unknown) => x)).toBeInstanceOf(DmCodecError);
      // The start is a u64 sent exactly (a bigint); the kernel itself requires start ≤ C·H·S.
      await dm.setGeometry(nm, { cylinders: 65535, heads: 255, sectorsPerTrack: 255, startSectors: 65535n * 255n * 255n });
      const beyond = await dm.setGeometry(nm, { cylinders: 65535, heads: 255, sectorsPerTrack: 255, startSectors: 2n ** 60n + 1n }).catch((x: unknown) => x);
      expect(beyond).toBeInstanceOf(DmError);
      expect((beyond as DmError).code).toBe('EINVAL');
      await dm.remove(nm);
    });

    test('armPoll on the client fd and the event poller do not disturb each other', async () => {
      await dm.armPoll();
      const nm = name('arm');
      await dm.createDevice({ name: nm, table: zero() });
      const w = dm.wait(nm, { eventNr: 0 });
      await dm.armPoll();
      await dm.rename(nm, { newName: `${nm}x` });
      expect((await w).device.eventNr).toBe(1);
      await dm.remove(`${nm}x`);
    });

    test('wait is cancellable with AbortSignal; the poller releases its thread', async () => {
      const nm = name('abort');
      await dm.createDevice({ name: nm, table: zero() });
      const ac = new AbortController();
      const p = dm.wait(nm, { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 30));
      expect(dm.pollerActive).toBe(true);
      const t0 = Date.now();
      ac.abort();
      const e = await p.catch((x: unknown) => x);
      expect((e as Error).name).toBe('AbortError');
      expect(Date.now() - t0).toBeLessThan(1000);
      for (let i = 0; i < 100 && dm.pollerActive; i++) await new Promise((r) => setTimeout(r, 10));
      expect(dm.pollerActive).toBe(false);
      await dm.remove(nm);
    });

    test('createDevice rolls back: a failing load leaves no device', async () => {
      const nm = name('rollback');
      const e = await dm.createDevice({ name: nm, table: [{ start: 0, length: 8, type: 'linear', params: '/dev/nonexistent-dmts 0' }] }).catch((x: unknown) => x);
      expect(MISSING_TABLE_DEVICE).toContain((e as DmError).code);
      expect(await dm.info(nm)).toEqual({ exists: false });
    });

    test('non-root: EACCES from the ioctl means CAP_SYS_ADMIN is needed', async () => {
      expect(await env.unprivilegedIoctlError()).toBe('EACCES');
    });

    test('100 concurrent createDevice/removeDevice on one client and on several: all accounted, no fd left', async () => {
      const fdsBefore = env.openFdCount();
      const clients = [dm, await env.open(), await env.open()];
      const names = Array.from({ length: 100 }, (_, i) => `${P}conc-${i}`);
      await Promise.all(names.map((nm, i) => clients[i % 3]!.createDevice({ name: nm, table: zero(8) })));
      expect((await dm.list({ namePrefix: `${P}conc-` })).length).toBe(100);
      await Promise.all(names.map((nm, i) => clients[(i + 1) % 3]!.removeDevice(nm)));
      expect(await dm.list({ namePrefix: `${P}conc-` })).toEqual([]);
      clients[1]!.close();
      clients[2]!.close();
      expect(env.openFdCount()).toBe(fdsBefore);
    });
  });

  eventSuite(env, () => dm);

  describe(`removeAll [${env.label}]`, () => {
    test('removes every device that is not open', async () => {
      const a = name('ra');
      const b = name('rb');
      await dm.createDevice({ name: a, table: zero() });
      const d = await dm.createDevice({ name: b, table: zero() });
      const release = await env.holdOpen(b, d.dev);
      try {
        await dm.removeAll();
        expect(await dm.info(a)).toEqual({ exists: false });
        expect(await dm.info(b)).toMatchObject({ exists: true });
      } finally {
        await release();
      }
      await dm.remove(b);
    });
  });

  describe(`the command table [${env.label}]`, () => {
    // Last: a command of codec/command-table.ts that no test above issues (a row added
    // without its conformance test) fails here, on the simulator and on every kernel.
    test('every command was issued by the tests above', () => {
      expect(COMMANDS.filter((c) => !dm.ioctlCounts.get(c))).toEqual([]);
    });
  });
}
