// openVerity of plain files (veritysetup's loop devices) on the simulator, whose loop devices
// model the kernel's autoclear: detached at the last close, where a dm table holding the loop
// is an opener. A loop attached with autoclear whose fd is closed before the table holds it
// is gone at once (live on 6.1 that gave both files the same /dev/loopN); openVerity keeps
// the attach's fd until the device exists. Every step of the open is failed in turn: no
// loop, no fd and no device is left.
import { describe, expect, test } from '@jest/globals';
import { closeVerity, DeviceMapper, openVerity, type OpenVerityOptions } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';

const ROOT = Uint8Array.from({ length: 32 }, (_, i) => i + 0xa0);
const SALT = Uint8Array.from({ length: 32 }, (_, i) => i);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const LO_FLAGS_READ_ONLY = 1;
const LO_FLAGS_AUTOCLEAR = 4;
const ERRNO_EIO = 5;

async function rig() {
  const kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/vdd', 254, 48, 2048);
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  const io = simBlockIo(kernel);
  await io.ensureFile('/img/data', 1024n * 1024n);
  await io.ensureFile('/img/hash', 64n * 1024n);
  return { kernel, dm, io };
}

const files = (extra: Partial<OpenVerityOptions> = {}): OpenVerityOptions => ({
  name: 'vroot', dataDevice: '/img/data', hashDevice: '/img/hash', rootHash: ROOT,
  params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 256, hashOffsetBytes: 0, salt: SALT },
  ...extra,
});

const loopCalls = (calls: readonly string[]) => calls.filter((c) => /^(attach|detach|autoclear|release)/.test(c));

describe('the simulator\'s loop autoclear (the kernel\'s lo_release)', () => {
  const request = { readOnly: true, flags: LO_FLAGS_AUTOCLEAR, offsetBytes: 0n, sizeLimitBytes: 0n, blockSizeBytes: 0, retries: 16 };

  test('an autoclear attach that does not keep its fd is detached at its own close: the next attach gets the same loop', async () => {
    const { dm, io } = await rig();
    const a = await io.attachLoop('/img/data', request);
    const b = await io.attachLoop('/img/hash', request);
    expect([a.path, b.path]).toEqual(['/dev/loop0', '/dev/loop0']);
    expect(io.loops.size).toBe(0);
    expect(loopCalls(io.calls)).toEqual(['attach /img/data /dev/loop0', 'autoclear /dev/loop0', 'attach /img/hash /dev/loop0', 'autoclear /dev/loop0']);
    dm.close();
  });

  test('a kept fd, a table and an openFile each hold it; the last of them detaches it; LOOP_CLR_FD of a held loop only sets autoclear', async () => {
    const { kernel, dm, io } = await rig();
    const a = await io.attachLoop('/img/data', { ...request, keepOpen: true });
    expect(io.loopFds.get(a.path)).toBe(1);
    await dm.createDevice({ name: 'lin', table: [{ start: 0n, length: 8n, type: 'linear', params: `${a.path} 0` }] });
    await a.release!();
    await a.release!(); // twice: harmless
    expect(io.loops.has(a.path)).toBe(true); // the table holds it
    const f = await io.openFile(a.path, 'read');
    await dm.removeDevice('lin');
    expect(io.loops.has(a.path)).toBe(true); // the open file holds it
    await f.close();
    expect(io.loops.has(a.path)).toBe(false);
    // Without autoclear: LOOP_CLR_FD while a table holds it makes it autoclear (the kernel's loop_clr_fd).
    const plain = await io.attachLoop('/img/hash', { ...request, flags: 0 });
    await dm.createDevice({ name: 'lin', table: [{ start: 0n, length: 8n, type: 'linear', params: `${plain.path} 0` }] });
    await io.detachLoop(plain.path);
    expect(io.loops.get(plain.path)?.flags).toBe(LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR);
    await dm.removeDevice('lin');
    expect(io.loops.size).toBe(0);
    expect(kernel.blockDevices.map((b) => b.path)).toEqual(['/dev/vdd']);
    dm.close();
  });
});

describe('openVerity of files', () => {
  test('each file gets its own read-only autoclear loop, held until the table holds it; the table names them; close → no loop', async () => {
    const { kernel, dm, io } = await rig();
    const v = await openVerity(dm, files());
    expect([...io.loops.entries()].map(([p, l]) => [p, l.file, l.flags])).toEqual([
      ['/dev/loop0', '/img/data', LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR], ['/dev/loop1', '/img/hash', LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR]]);
    expect(io.loopFds.size).toBe(0); // the fds were released: only the table holds the loops
    expect((await dm.table('vroot')).targets[0]!.params).toBe(`1 7:0 7:1 4096 4096 256 1 sha256 ${hex(ROOT)} ${hex(SALT)}`);
    await v.close();
    expect(kernel.devices.has('vroot')).toBe(false);
    expect(io.loops.size).toBe(0);
    expect(loopCalls(io.calls)).toEqual([
      'attach /img/data /dev/loop0', 'attach /img/hash /dev/loop1', 'release /dev/loop0', 'release /dev/loop1', 'autoclear /dev/loop0', 'autoclear /dev/loop1']);
    dm.close();
  });

  test('the same file as data, hash and FEC device: one loop', async () => {
    const { dm, io } = await rig();
    const v = await openVerity(dm, files({ hashDevice: '/img/data', fec: { device: '/img/data', roots: 2, startBlocks: 300, encodingBlocks: 260 } }));
    expect([...io.loops.keys()]).toEqual(['/dev/loop0']);
    expect((await dm.table('vroot')).targets[0]!.params).toMatch(/^1 7:0 7:0 .* use_fec_from_device 7:0 /);
    await v.close();
    expect(io.loops.size).toBe(0);
    dm.close();
  });

  test('a block device and a file: only the file gets a loop', async () => {
    const { dm, io } = await rig();
    const v = await openVerity(dm, files({ dataDevice: '/dev/vdd' }));
    expect([...io.loops.keys()]).toEqual(['/dev/loop0']);
    expect((await dm.table('vroot')).targets[0]!.params).toMatch(/^1 254:48 7:0 /);
    await v.close();
    expect(io.loops.size).toBe(0);
    dm.close();
  });

  test('attachFiles: false puts the path into the table (no loop; the simulated kernel refuses the file)', async () => {
    const { kernel, dm, io } = await rig();
    await expect(openVerity(dm, files({ attachFiles: false }))).rejects.toThrow();
    expect(io.loops.size).toBe(0);
    expect(kernel.devices.has('vroot')).toBe(false);
    dm.close();
  });

  test('closeVerity deferred: an open device stays until its last close, then it and its loops go', async () => {
    const { kernel, dm, io } = await rig();
    await openVerity(dm, files());
    kernel.openDevice('vroot');
    await expect(closeVerity(dm, 'vroot')).rejects.toMatchObject({ code: 'EBUSY' });
    await closeVerity(dm, 'vroot', { deferred: true, retries: 0 });
    expect(kernel.devices.get('vroot')?.deferredRemove).toBe(true);
    expect(io.loops.size).toBe(2);
    kernel.closeDevice('vroot');
    await new Promise((r) => setImmediate(r));
    expect(kernel.devices.has('vroot')).toBe(false);
    expect(io.loops.size).toBe(0);
    await expect(closeVerity(dm, 'vroot', { deferred: 'yes' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    dm.close();
  });

  // Every step after the first attach, failed in turn (errno, abort, timeout): no loop, fd or device is left.
  type Fault = (k: SimulatedKernel, io: ReturnType<typeof simBlockIo>, ac: AbortController) => { options?: Partial<OpenVerityOptions>; code: string };
  const failAttach = (nth: number, how: 'errno' | 'late'): Fault => (_k, io, ac) => {
    const real = io.attachLoop.bind(io);
    let n = 0;
    io.attachLoop = async (f, r) => {
      if (++n !== nth) return real(f, r);
      if (how === 'errno') throw Object.assign(new Error('EIO'), { code: 'EIO' });
      // The attach lands after the operation gave up: the late result is released (and autoclears).
      ac.abort();
      await new Promise((res) => setTimeout(res, 30));
      return real(f, r);
    };
    return { code: how === 'errno' ? 'EIO' : 'ABORT_ERR' };
  };
  const ioctl = (command: string, how: 'errno' | 'abort' | 'timeout'): Fault => (k, _io, ac) => {
    k.intercept({
      fault: (e) => (e.command !== command ? undefined : how === 'errno' ? { errno: ERRNO_EIO } : how === 'timeout' ? { delayMs: 200 } : undefined),
      before: (e) => { if (how === 'abort' && e.command === command) ac.abort(); },
    });
    return { options: how === 'timeout' ? { timeoutMs: 50 } : {}, code: how === 'errno' ? 'EIO' : how === 'abort' ? 'ABORT_ERR' : 'TIMEOUT' };
  };
  test.each([
    ['the first attach fails', failAttach(1, 'errno')],
    ['the second attach fails', failAttach(2, 'errno')],
    ['the second attach lands after an abort', failAttach(2, 'late')],
    ['create fails', ioctl('create', 'errno')],
    ['create is aborted', ioctl('create', 'abort')],
    ['load fails', ioctl('load', 'errno')],
    ['load times out', ioctl('load', 'timeout')],
    ['resume (DM_DEV_SUSPEND) fails', ioctl('suspend', 'errno')],
    ['resume (DM_DEV_SUSPEND) is aborted', ioctl('suspend', 'abort')],
  ] as const)('%s: every loop attached is detached, no fd and no device is left', async (_what, fault) => {
    const { kernel, dm, io } = await rig();
    const ac = new AbortController();
    const { options, code } = fault(kernel, io, ac);
    await expect(openVerity(dm, files({ signal: ac.signal, ...options }))).rejects.toMatchObject({ code });
    await new Promise((r) => setTimeout(r, 300));
    expect(io.loops.size).toBe(0);
    expect(io.loopFds.size).toBe(0);
    expect(kernel.devices.has('vroot')).toBe(false);
    expect(kernel.blockDevices.map((b) => b.path)).toEqual(['/dev/vdd']);
    expect(loopCalls(io.calls).filter((c) => c.startsWith('attach')).length).toBe(loopCalls(io.calls).filter((c) => c.startsWith('autoclear')).length);
    dm.close();
  });

  test('the name taken: the create fails with EBUSY, the other device is untouched, no loop is left', async () => {
    const { kernel, dm, io } = await rig();
    await dm.createDevice({ name: 'vroot', table: [{ start: 0n, length: 8n, type: 'zero', params: '' }] });
    await expect(openVerity(dm, files())).rejects.toMatchObject({ code: 'EBUSY' });
    expect(io.loops.size).toBe(0);
    expect(kernel.devices.get('vroot')?.live?.lines[0]?.type).toBe('zero');
    dm.close();
  });
});
