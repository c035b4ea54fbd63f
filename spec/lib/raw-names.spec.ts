// Names as the kernel has them (docs/kernel-facts.md, "Names as the kernel has them"): the
// kernel allows any bytes but NUL (and '/' in names). A name that is not UTF-8 used to list
// as "\uFFFD\uFFFD", could not be addressed, and made `dmctl table`/`status` of all devices
// exit 1 with nothing printed.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { codec, DmCodecError } from '../../codec/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { keyBytes, simKey, SimulatedKernel } from '../../testing/index.js';
import { cliEnv } from '../cli/harness.js';

const ODD = Uint8Array.from([0x6f, 0x64, 0x64, 0xff, 0xfe, 0x4e]); // "odd" FF FE "N": not UTF-8
const ODD_UUID = Uint8Array.from([0x75, 0x2d, 0xc3, 0x28]); // "u-" C3 28: a broken 2-byte sequence
const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

function codecError(f: () => unknown): DmCodecError {
  try { f(); } catch (e) { if (e instanceof DmCodecError) return e; throw e; }
  throw new Error('no error');
}

describe('the codec sends raw names exactly and checks them like strings', () => {
  test('a Uint8Array name and uuid are written byte for byte', () => {
    const req = codec.encodeRequest('create', { name: ODD, uuid: ODD_UUID });
    expect(Array.from(req.subarray(48, 48 + ODD.length + 1))).toEqual([...ODD, 0]);
    expect(Array.from(req.subarray(176, 176 + ODD_UUID.length + 1))).toEqual([...ODD_UUID, 0]);
    const ren = codec.encodeRequest('rename', { name: ODD, newName: Uint8Array.from([0x80]) });
    expect(Array.from(ren.subarray(312, 314))).toEqual([0x80, 0]);
    const info = codec.encodeRequest('info', { id: { name: ODD } });
    expect(Array.from(info.subarray(48, 48 + ODD.length))).toEqual([...ODD]);
  });

  test.each([
    ['empty', new Uint8Array(0), 'INVALID_NAME'],
    ['NUL', Uint8Array.from([0x61, 0, 0x62]), 'STRING_HAS_NUL'],
    ['slash', Uint8Array.from([0x61, 0x2f, 0xff]), 'INVALID_NAME'],
    ['"."', Uint8Array.from([0x2e]), 'INVALID_NAME'],
    ['".."', Uint8Array.from([0x2e, 0x2e]), 'INVALID_NAME'],
    ['"control"', new TextEncoder().encode('control'), 'INVALID_NAME'],
    ['128 bytes', new Uint8Array(128).fill(0xff), 'NAME_TOO_LONG'],
  ])('a raw name that is %s is refused before any syscall', (_what, name, code) => {
    expect(codecError(() => codec.encodeRequest('create', { name })).code).toBe(code);
    expect(codecError(() => codec.encodeRequest('info', { id: { name } })).code).toBe(code);
  });

  test('127 raw bytes fit; a 129-byte uuid does not', () => {
    expect(() => codec.encodeRequest('create', { name: new Uint8Array(127).fill(0xff) })).not.toThrow();
    expect(codecError(() => codec.encodeRequest('create', { name: 'a', uuid: new Uint8Array(129).fill(0xff) })).code).toBe('UUID_TOO_LONG');
  });
});

describe('the client: decoded records carry the kernel\'s bytes when they are not UTF-8', () => {
  let k: SimulatedKernel;
  let dm: DeviceMapper;
  beforeEach(async () => { k = new SimulatedKernel(); dm = await DeviceMapper.open({ backend: k.backend() }); });
  afterEach(() => dm.close());

  test('create with raw bytes, list, address by nameBytes / uuidBytes, rename, remove', async () => {
    const created = await dm.create({ name: ODD, uuid: ODD_UUID });
    expect(created.name).toBe('odd\ufffd\ufffdN');
    expect(Array.from(created.nameBytes!)).toEqual([...ODD]);
    expect(Array.from(created.uuidBytes!)).toEqual([...ODD_UUID]);
    await dm.create({ name: 'plain' });
    // The simulator holds the bytes, not a lossy string.
    expect(Array.from(keyBytes([...k.devices.keys()].find((x) => x !== 'plain')!))).toEqual([...ODD]);

    const list = await dm.list();
    const odd = list.find((d) => d.name !== 'plain')!;
    expect(Array.from(odd.nameBytes!)).toEqual([...ODD]);
    expect(Array.from(odd.uuidBytes!)).toEqual([...ODD_UUID]);
    const plain = list.find((d) => d.name === 'plain')!;
    expect(plain.nameBytes).toBeUndefined(); // UTF-8 names: the string is exact
    expect('nameBytes' in plain).toBe(false);

    await dm.load({ name: odd.nameBytes! }, zero);
    await dm.resume({ name: odd.nameBytes! });
    const byName = await dm.info({ name: odd.nameBytes! });
    expect(byName.exists && byName.targetCount).toBe(1);
    const byUuid = await dm.status({ uuid: odd.uuidBytes! });
    expect(Array.from(byUuid.device.nameBytes!)).toEqual([...ODD]);
    expect(byUuid.targets.map((t) => t.type)).toEqual(['zero']);
    // Two different invalid names decode to the same string but stay apart as bytes.
    const other = Uint8Array.from([0x6f, 0x64, 0x64, 0xfe, 0xff, 0x4e]);
    await dm.create({ name: other });
    expect((await dm.list()).filter((d) => d.name === 'odd\ufffd\ufffdN').map((d) => Array.from(d.nameBytes!))).toEqual([[...other], [...ODD]]); // in byte order
    // A lossy string addresses nothing.
    expect(await dm.info('odd\ufffd\ufffdN')).toEqual({ exists: false });

    const renamed = Uint8Array.from([0x72, 0xe9]); // "r" E9: Latin-1, not UTF-8
    await dm.rename({ name: ODD }, { newName: renamed });
    const after = await dm.info({ name: renamed });
    expect(after.exists && Array.from(after.nameBytes!)).toEqual([...renamed]);
    expect(k.devices.has(simKey(renamed))).toBe(true);
    const removed = await dm.remove({ name: renamed });
    expect(Array.from(removed.nameBytes!)).toEqual([...renamed]); // the reply keeps the bytes
    expect(Array.from(removed.uuidBytes!)).toEqual([...ODD_UUID]);
    // rename and removeDevice by uuid: every step reaches the device by its bytes.
    await dm.create({ name: ODD, uuid: Uint8Array.from([0x75, 0xff]) });
    await dm.rename({ uuid: Uint8Array.from([0x75, 0xff]) }, { newName: renamed });
    const gone = await dm.removeDevice({ uuid: Uint8Array.from([0x75, 0xff]) });
    expect(Array.from(gone.nameBytes!)).toEqual([...renamed]);
    await dm.removeDevice({ name: other }); // identified first (info), then verified by bytes before the remove
    expect((await dm.list()).map((d) => d.name)).toEqual(['plain']);
  });

  test('a genuine U+FFFD in a UTF-8 name is not mistaken for lost bytes', async () => {
    const d = await dm.create({ name: 'a\ufffdb' });
    expect(d.name).toBe('a\ufffdb');
    expect(d.nameBytes).toBeUndefined();
    expect((await dm.info('a\ufffdb')).exists).toBe(true);
  });
});

describe('dmctl: odd names print, are accepted back, and never break the listing of others', () => {
  let env: ReturnType<typeof cliEnv>;
  let dm: DeviceMapper;
  beforeEach(async () => {
    env = cliEnv();
    dm = await DeviceMapper.open({ backend: env.kernel.backend() });
    await dm.createDevice({ name: 'healthy', table: zero });
    await dm.create({ name: ODD });
    await dm.load({ name: ODD }, zero);
    await dm.resume({ name: ODD });
  });
  afterEach(() => { dm.close(); env.cleanup(); });

  test('ls, table, status, info, deps over all devices print every device and succeed', async () => {
    const ls = await env.dmctl(['ls']);
    expect(ls).toEqual({ code: 0, stdout: 'healthy\t(254:0)\nodd\\xff\\xfeN\t(254:1)\n', stderr: '' });
    const table = await env.dmctl(['table']);
    expect(table).toEqual({ code: 0, stdout: 'healthy: 0 8 zero \nodd\\xff\\xfeN: 0 8 zero \n', stderr: '' });
    const status = await env.dmctl(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toBe('healthy: 0 8 zero \nodd\\xff\\xfeN: 0 8 zero \n');
    const info = await env.dmctl(['info', '-c', '--noheadings', '-o', 'name,mangled_name']);
    expect(info).toEqual({ code: 0, stdout: 'healthy:healthy\nodd\\xff\\xfeN:odd\\xff\\xfeN\n', stderr: '' });
    const json = JSON.parse((await env.dmctl(['ls', '--json'])).stdout) as { devices: { name: string }[] };
    expect(json.devices.map((d) => d.name)).toEqual(['healthy', 'odd\\xff\\xfeN']);
    expect((await env.dmctl(['deps'])).code).toBe(0);
  });

  test('the printed form addresses the device (auto mode)', async () => {
    const info = await env.dmctl(['info', '-c', '--noheadings', '-o', 'name,minor', 'odd\\xff\\xfeN']);
    expect(info).toEqual({ code: 0, stdout: 'odd\\xff\\xfeN:1\n', stderr: '' });
    expect((await env.dmctl(['table', 'odd\\xff\\xfeN'])).stdout).toBe('0 8 zero \n');
    expect((await env.dmctl(['suspend', 'odd\\xff\\xfeN'])).code).toBe(0);
    expect((await env.dmctl(['resume', 'odd\\xff\\xfeN'])).code).toBe(0);
    expect((await env.dmctl(['remove', 'odd\\xff\\xfeN'])).code).toBe(0);
    expect((await dm.list()).map((d) => d.name)).toEqual(['healthy']);
  });

  test('dmsetup\'s reading wins: when the ASCII name "odd\\xff\\xfeN" exists, the argument means that device', async () => {
    await dm.createDevice({ name: 'odd\\xff\\xfeN', table: zero }); // what `dmsetup create` of the raw bytes makes
    const r = await env.dmctl(['info', '-c', '--noheadings', '-o', 'minor', 'odd\\xff\\xfeN']);
    expect(r.stdout).toBe('2\n');
  });

  test('a device that fails mid-listing is reported; the others are printed; exit status 1', async () => {
    // A device that vanishes between the listing and its own status call.
    const backend = env.kernel.backend();
    let removed = false;
    const racing = {
      ...backend,
      openControl: async () => {
        const t = await backend.openControl();
        return {
          get fd() { return t.fd; },
          ioctl: (req: number, buf: Uint8Array) => {
            if (!removed && (req & 0xff) === 12) { removed = true; env.kernel.devices.delete('healthy'); }
            return t.ioctl(req, buf);
          },
          ioctlAsync: (req: number, buf: Uint8Array) => {
            if (!removed && (req & 0xff) === 12) { removed = true; env.kernel.devices.delete('healthy'); }
            return t.ioctlAsync(req, buf);
          },
          close: () => t.close(),
        };
      },
    };
    const { run } = await import('../../cli/index.js');
    let stdout = '';
    let stderr = '';
    const code = await run(['status'], {
      stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, readStdin: async () => '', stdinIsTTY: true, env: {},
      open: () => DeviceMapper.open({ backend: racing }), sysfs: env.sysfs, nodes: false,
    });
    expect(code).toBe(1);
    expect(stdout).toBe('odd\\xff\\xfeN: 0 8 zero \n');
    expect(stderr).toMatch(/ENXIO/);
  });
});
