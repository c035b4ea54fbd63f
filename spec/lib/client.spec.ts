// Client behaviour that needs a controllable backend: version gates, secure wiping,
// positive returns, buffer caps, EACCES at open, old kernels' list format.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmError, DmPermissionError, DmUnsupportedError, DmCodecError, ERRNO, type Backend } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import type { ControlTransport } from '../../ffi/types.js';
import { codec, requestCode } from '../../codec/index.js';

/** A backend over the simulator whose transport records every buffer it was handed. */
function spying(kernel: SimulatedKernel, tweak?: (request: number, buf: Uint8Array) => { ret: number; errno: number } | undefined) {
  const buffers: Uint8Array[] = [];
  const base = kernel.backend();
  const backend: Backend = {
    ...base,
    async openControl(): Promise<ControlTransport> {
      const t = await base.openControl();
      return {
        get fd() { return t.fd; },
        ioctl(request, buf) { buffers.push(buf); return tweak?.(request, buf) ?? t.ioctl(request, buf); },
        async ioctlAsync(request, buf) { buffers.push(buf); return tweak?.(request, buf) ?? t.ioctlAsync(request, buf); },
        close() { t.close(); },
      };
    },
  };
  return { backend, buffers };
}

describe('version gates: typed "unsupported" errors instead of silent misparses', () => {
  test('4.36: no ARM_POLL → wait/events unsupported; no GET_TARGET_VERSION; no uuid filter', async () => {
    const kernel = new SimulatedKernel({ version: [4, 36, 0] });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'a', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await expect(dm.wait('a')).rejects.toBeInstanceOf(DmUnsupportedError);
    expect(() => dm.events()).toThrow(/unsupported by kernel device-mapper 4\.36\.0 \(needs 4\.37\.0/);
    expect(() => dm.getTargetVersionSync('zero')).toThrow(DmUnsupportedError);
    await expect(dm.list({ uuidPrefix: 'x' })).rejects.toBeInstanceOf(DmUnsupportedError);
    // Before 4.37 the list has no event_nr trailer: decoded as unknown, not misread.
    expect(await dm.list()).toEqual([expect.objectContaining({ name: 'a', eventNr: undefined, uuid: undefined })]);
    dm.close();
  });

  test('4.44: name prefix filtered here, since the kernel would ignore it', async () => {
    const kernel = new SimulatedKernel({ version: [4, 44, 0] });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    for (const n of ['pa', 'pb', 'q']) await dm.create({ name: n });
    expect((await dm.list({ namePrefix: 'p' })).map((d) => d.name).sort()).toEqual(['pa', 'pb']);
    expect((await dm.list()).every((d) => d.uuid === undefined && d.eventNr === 0)).toBe(true);
    dm.close();
  });

  test('4.43 (Debian 11, 5.10): the unwritten flags word after event_nr is never read', async () => {
    const kernel = new SimulatedKernel({ version: [4, 43, 0] });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.create({ name: 'a', uuid: 'ua' });
    await dm.create({ name: 'b' });
    dm.close();
    // The request as the client sends it, but over a buffer that held other bytes (a reused
    // buffer): the kernel writes no flags before 4.45, so 0xA5 stays there.
    const req = codec.encodeRequest('listDevices', { withUuid: true }, { bufferBytes: 4096 });
    req.fill(0xa5, 312);
    expect(kernel.ioctl(requestCode('listDevices'), req).ret).toBe(0);
    const { devices } = codec.decodeReply('listDevices', req);
    expect(devices.map((d) => [d.name, d.eventNr, d.uuid])).toEqual(expect.arrayContaining([['a', 0, undefined], ['b', 0, undefined]]));
  });

  test('before 4.45 the kernel lists in hash order; list() gives name order on every kernel', async () => {
    for (const version of [[4, 43, 0], [4, 44, 0], [4, 48, 0]] as const) {
      const kernel = new SimulatedKernel({ version });
      const dm = await DeviceMapper.open({ backend: kernel.backend() });
      const names = Array.from({ length: 40 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
      for (const n of names) await dm.create({ name: n });
      const raw = codec.decodeReply('listDevices', (() => {
        const req = codec.encodeRequest('listDevices', {}, { bufferBytes: 16384 });
        kernel.ioctl(requestCode('listDevices'), req);
        return req;
      })()).devices.map((d) => d.name);
      if (version[1] < 45) expect(raw).not.toEqual(names); // the simulated hash walk is not sorted
      expect((await dm.list()).map((d) => d.name)).toEqual(names);
      expect((await dm.list({ namePrefix: 'dev-1' })).map((d) => d.name)).toEqual(names.filter((n) => n.startsWith('dev-1')));
      dm.close();
    }
  });

  test('the version is learnt from replies, including failed ones (not EACCES)', async () => {
    const kernel = new SimulatedKernel({ version: [4, 47, 0] });
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    expect(dm.kernelVersion).toEqual([4, 47, 0]);
    await expect(dm.remove('missing')).rejects.toMatchObject({ code: 'ENXIO' });
    expect(dm.kernelVersion).toEqual([4, 47, 0]);
    dm.close();
  });
});

describe('errors', () => {
  test('not root: open fails with DmPermissionError, as the real 0600 control node does', async () => {
    const kernel = new SimulatedKernel({ privileged: false });
    const e = await DeviceMapper.open({ backend: kernel.backend() }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmPermissionError);
    expect((e as DmPermissionError).errno).toBe(ERRNO.EACCES);
    expect((e as DmPermissionError).message).toMatch(/CAP_SYS_ADMIN/);
    expect(kernel.openFds).toBe(0);
    expect(kernel.calls.size).toBe(0); // nothing reached the kernel
  });

  test('EACCES at ioctl: a client that lost CAP_SYS_ADMIN gets DmError EACCES (the version is not written back)', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    kernel.privileged = false;
    const e = await dm.info('x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmError);
    expect((e as DmError).code).toBe('EACCES');
    expect((e as DmError).message).toMatch(/CAP_SYS_ADMIN/);
    dm.close();
    expect(kernel.openFds).toBe(0);
  });

  test('a positive ioctl return is an error too', async () => {
    const kernel = new SimulatedKernel();
    const { backend } = spying(kernel, (request) => (request === requestCode('message') ? { ret: 2, errno: 0 } : undefined));
    const dm = await DeviceMapper.open({ backend });
    await dm.createDevice({ name: 'm', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    const e = (await dm.message('m', 0, 'x').catch((x: unknown) => x)) as DmError;
    expect(e).toBeInstanceOf(DmError);
    expect(e.ret).toBe(2);
    expect(e.code).toBe('RETURNED_2');
    dm.close();
  });

  test('DmError carries command, device, request header and the kernel log', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.create({ name: 'x' });
    const e = (await dm.load('x', [{ start: 0, length: 8, type: 'linear', params: '/dev/nope 0' }]).catch((x: unknown) => x)) as DmError;
    expect(e).toMatchObject({ command: 'load', device: { name: 'x' }, code: 'ENOENT' });
    expect(e.request).toMatchObject({ name: 'x', target_count: 1, version: [4, 0, 0] });
    expect(e.kernelLog).toEqual(['device-mapper: table: 254:0: linear: Device lookup failed']);
    expect(e.unattributedKernelLog).toEqual(['device-mapper: ioctl: error adding target to table']); // names no device
    expect(e.message).toContain('kernel: device-mapper: table');
    dm.close();
  });

  test('bad input is rejected before any ioctl', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const before = kernel.calls.get('load') ?? 0;
    for (const bad of [
      () => dm.load('x', []),
      () => dm.load('x', [{ start: 1, length: 8, type: 'zero', params: '' }]),
      () => dm.load('x', [{ start: 0, length: 0, type: 'zero', params: '' }]),
      () => dm.load('x', [{ start: 0, length: 8, type: 'a-very-long-type-name', params: '' }]),
      () => dm.load('x', [{ start: 0, length: -1, type: 'zero', params: '' }]),
      () => dm.load({ name: 'x', uuid: 'y' } as never, [{ start: 0, length: 8, type: 'zero', params: '' }]),
      () => dm.load({} as never, [{ start: 0, length: 8, type: 'zero', params: '' }]),
    ]) {
      await expect(bad()).rejects.toBeInstanceOf(DmCodecError);
    }
    expect(kernel.calls.get('load') ?? 0).toBe(before);
    await expect(DeviceMapper.open({ backend: kernel.backend(), initialBufferBytes: 100 })).rejects.toBeInstanceOf(DmCodecError);
    dm.close();
  });
});

describe('buffers', () => {
  test('secure loads: every request buffer is zeroed after the call, the caller\'s key is not copied around', async () => {
    const kernel = new SimulatedKernel();
    const { backend, buffers } = spying(kernel);
    const dm = await DeviceMapper.open({ backend });
    await dm.create({ name: 's' });
    const key = new TextEncoder().encode('0 8 zero-key-material');
    buffers.length = 0;
    await dm.load('s', [{ start: 0, length: 8, type: 'zero', params: new Uint8Array(0) }, { start: 8, length: 8, type: 'error', params: key.subarray(0, 0) }], { secure: true });
    expect(buffers.length).toBe(1);
    expect(buffers[0]!.every((b) => b === 0)).toBe(true);
    // a failing secure load is wiped too
    buffers.length = 0;
    const secret = new TextEncoder().encode('/dev/secret-path 0');
    await dm.load('s', [{ start: 0, length: 8, type: 'linear', params: secret }], { secure: true }).catch(() => undefined);
    expect(buffers[0]!.every((b) => b === 0)).toBe(true);
    expect(new TextDecoder().decode(secret)).toBe('/dev/secret-path 0'); // the caller's bytes are the caller's to wipe
    dm.close();
  });

  test('the buffer doubles from the initial size and the size that worked is remembered', async () => {
    const kernel = new SimulatedKernel();
    const { backend, buffers } = spying(kernel);
    const dm = await DeviceMapper.open({ backend, initialBufferBytes: 512 });
    for (let i = 0; i < 40; i++) await dm.create({ name: `dev-${String(i).padStart(2, '0')}-${'n'.repeat(40)}` });
    buffers.length = 0;
    await dm.list();
    expect(buffers.map((b) => b.length)).toEqual([512, 1024, 2048, 4096]);
    buffers.length = 0;
    await dm.list();
    expect(buffers.map((b) => b.length)).toEqual([4096]);
    dm.close();
  });

  test('data_size is set fresh on every call', async () => {
    const kernel = new SimulatedKernel();
    const { backend, buffers } = spying(kernel);
    const dm = await DeviceMapper.open({ backend });
    await dm.create({ name: 'a' });
    buffers.length = 0;
    await dm.list();
    await dm.info('a');
    const sent = buffers.map((b) => b.length);
    expect(sent).toEqual([16384, 312]);
    dm.close();
  });
});

describe('high level', () => {
  test('createDevice removes the device when resume fails', async () => {
    const kernel = new SimulatedKernel();
    const { backend } = spying(kernel, (request, buf) => {
      if (request === requestCode('suspend') && (codec.decodeHeader(buf).flags & 2) === 0) return { ret: -1, errno: 5 };
      return undefined;
    });
    const dm = await DeviceMapper.open({ backend });
    await expect(dm.createDevice({ name: 'r', table: [{ start: 0, length: 8, type: 'zero', params: '' }] })).rejects.toMatchObject({ code: 'EIO' });
    expect(await dm.info('r')).toEqual({ exists: false });
    dm.close();
  });

  test('rename by dev resolves the name first', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const d = await dm.create({ name: 'old' });
    await dm.rename({ dev: d.dev }, { newName: 'new' });
    expect(await dm.info('new')).toMatchObject({ exists: true, dev: d.dev });
    dm.close();
  });

  test('close releases every fd, also with a wait pending', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'w', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    const w = dm.wait('w').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    expect(kernel.openFds).toBe(2);
    dm.close();
    expect(await w).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 10));
    expect(kernel.openFds).toBe(0);
  });
});

describe('blocking clients', () => {
  test('blocking: true sends every command through the sync path (no async ioctl at all)', async () => {
    const kernel = new SimulatedKernel();
    let asyncCalls = 0;
    const base = kernel.backend();
    const backend: Backend = {
      ...base,
      async openControl() {
        const t = await base.openControl();
        return { get fd() { return t.fd; }, ioctl: (r, b) => t.ioctl(r, b), ioctlAsync: (r, b) => { asyncCalls++; return t.ioctlAsync(r, b); }, close: () => t.close() };
      },
    };
    const dm = await DeviceMapper.open({ backend, blocking: true });
    await dm.createDevice({ name: 'b', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await dm.suspend('b');
    await dm.resume('b');
    await dm.status('b');
    await dm.removeDevice('b');
    expect(asyncCalls).toBe(0);
    dm.close();
    const normal = await DeviceMapper.open({ backend });
    await normal.create({ name: 'n' });
    expect(asyncCalls).toBe(1);
    normal.close();
  });
});
