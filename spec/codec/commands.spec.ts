/**
 * The 18 commands: request headers and payloads, every validation rule (checked before a
 * byte is written), and a property round trip request → kernel-style reply → decodeReply.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  COMMANDS, createCodec, DmCodecError, COMMAND_TABLE, viewOf,
  type CommandName, type CommandReplies, type CommandRequests, type DeviceId, type DeviceInfo, type DevNo, type DmCodec, type Version,
} from '../../codec/index.js';
import { buildReply, flagsOf, mkdev, writeHeader } from './reply-builder.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const GiB = 1 << 30;

function codecError(fn: () => unknown): DmCodecError {
  try { fn(); } catch (e) {
    if (!(e instanceof DmCodecError)) throw e;
    return e;
  }
  throw new Error('expected a DmCodecError, nothing was thrown');
}

/** A C string at bytes[off]: the text up to the NUL. */
function cstrAt(b: Uint8Array, off: number): string {
  const nul = b.indexOf(0, off);
  expect(nul).toBeGreaterThanOrEqual(off);
  return dec.decode(b.subarray(off, nul));
}

describe.each(['little', 'big'] as const)('%s endian', (endian) => {
  const c = createCodec({ endian });
  const le = endian === 'little';
  const enc1 = <C extends CommandName>(cmd: C, p?: CommandRequests[C], o?: Parameters<DmCodec['encodeRequest']>[2]) =>
    (c.encodeRequest as (cmd: CommandName, p?: unknown, o?: unknown) => Uint8Array)(cmd, p, o);
  const view = (b: Uint8Array) => viewOf(b);

  // One minimal valid request per command, with the flags it should produce.
  const BASIC: { [C in CommandName]: [CommandRequests[C], number] } = {
    version: [{}, 0],
    removeAll: [{ deferred: true }, 1 << 17],
    listDevices: [{ withUuid: true }, 1 << 14],
    create: [{ name: 'vol', uuid: 'LVM-x' }, 0],
    remove: [{ id: { name: 'vol' }, deferred: true, cookie: 0x0d4d1234 }, 1 << 17],
    rename: [{ name: 'vol', newName: 'vol2' }, 0],
    suspend: [{ id: { name: 'vol' }, action: 'suspend', noflush: true, skipLockfs: true }, 2 | 1 << 11 | 1 << 10],
    info: [{ id: { name: 'vol' }, inactive: true }, 1 << 12],
    wait: [{ id: { name: 'vol' }, eventNr: 7, table: true, inactive: true, noflush: true }, 1 << 4 | 1 << 12 | 1 << 11],
    load: [{ id: { name: 'vol' }, targets: [{ start: 0, length: 8, type: 'zero', params: '' }], readOnly: true, secure: true }, 1 | 1 << 15],
    clear: [{ id: { name: 'vol' } }, 0],
    deps: [{ id: { name: 'vol' }, inactive: true }, 1 << 12],
    status: [{ id: { name: 'vol' }, table: true, inactive: true, noflush: true, ima: true, secure: true }, 1 << 4 | 1 << 12 | 1 << 11 | 1 << 19 | 1 << 15],
    listVersions: [{}, 0],
    message: [{ id: { name: 'vol' }, sector: 0, message: '@stats_list' }, 0],
    setGeometry: [{ id: { name: 'vol' }, cylinders: 1, heads: 2, sectorsPerTrack: 3, startSectors: 4 }, 0],
    armPoll: [{}, 0],
    getTargetVersion: [{ target: 'linear' }, 0],
  };

  describe('request headers', () => {
    test.each([...COMMANDS])('%s: version, data_size, data_start, flags, padding', (cmd) => {
      const [params, flags] = BASIC[cmd];
      const req = enc1(cmd, params as never);
      const h = c.decodeHeader(req);
      expect(h.version).toEqual([...COMMAND_TABLE[cmd].minVersion]);
      expect(h.data_start).toBe(312);
      expect(h.data_size).toBe(req.length);
      if (COMMAND_TABLE[cmd].payload) expect(h.data_size).toBe(16 * 1024);
      else if (!['rename', 'load', 'setGeometry'].includes(cmd)) expect(h.data_size).toBe(312);
      expect(h.flags).toBe(flags);
      expect([h.open_count, h.padding]).toEqual([0, 0]);
      expect(Array.from(req.subarray(305, 312))).toEqual([0, 0, 0, 0, 0, 0, 0]);
      // the raw bytes agree with the decoded view
      expect(view(req).getUint32(12, le)).toBe(req.length);
      expect(view(req).getUint32(28, le)).toBe(flags);
    });

    test('boolean options off give no flags', () => {
      expect(c.decodeHeader(enc1('removeAll', {})).flags).toBe(0);
      expect(c.decodeHeader(enc1('status', { id: { name: 'a' } })).flags).toBe(0);
      expect(c.decodeHeader(enc1('suspend', { id: { name: 'a' }, action: 'resume' })).flags).toBe(0);
      expect(c.decodeHeader(enc1('rename', { name: 'a', newUuid: 'U' })).flags).toBe(1 << 14);
    });

    test('a device id goes into exactly one of name, uuid, dev', () => {
      const byName = c.decodeHeader(enc1('info', { id: { name: 'n1' } }));
      expect([byName.name, byName.uuid, byName.dev]).toEqual(['n1', '', 0n]);
      const byUuid = c.decodeHeader(enc1('info', { id: { uuid: 'U-1' } }));
      expect([byUuid.name, byUuid.uuid, byUuid.dev]).toEqual(['', 'U-1', 0n]);
      const byDev = enc1('info', { id: { dev: { major: 253, minor: 0x12345 } } });
      const h = c.decodeHeader(byDev);
      expect([h.name, h.uuid, h.dev]).toEqual(['', '', mkdev(253, 0x12345)]);
      expect(view(byDev).getBigUint64(40, le)).toBe(0x1230fd45n);
      // name at 48, uuid at 176, NUL-padded
      const r = enc1('create', { name: 'abc', uuid: 'xyz' });
      expect(cstrAt(r, 48)).toBe('abc');
      expect(cstrAt(r, 176)).toBe('xyz');
      expect(r.subarray(51, 176).every((x) => x === 0)).toBe(true);
      expect(r.subarray(179, 312).every((x) => x === 0)).toBe(true);
    });

    test('create: minor → DM_PERSISTENT_DEV_FLAG and dev', () => {
      const h = c.decodeHeader(enc1('create', { name: 'a', minor: 300, major: 253 }));
      expect(h.flags).toBe(1 << 3);
      expect(h.dev).toBe(mkdev(253, 300));
      expect(c.decodeHeader(enc1('create', { name: 'a', minor: 5 })).dev).toBe(5n);
      expect(codecError(() => enc1('create', { name: 'a', major: 253 })).code).toBe('INVALID_ARGUMENT');
      expect(codecError(() => enc1('create', { name: 'a', minor: 0x100000 })).code).toBe('INVALID_INTEGER');
    });

    test('cookies and event numbers go into event_nr', () => {
      expect(c.decodeHeader(enc1('remove', { id: { name: 'a' }, cookie: 0xffffffff })).event_nr).toBe(0xffffffff);
      expect(c.decodeHeader(enc1('suspend', { id: { name: 'a' }, action: 'resume', cookie: 9 })).event_nr).toBe(9);
      expect(c.decodeHeader(enc1('rename', { name: 'a', newName: 'b', cookie: 3 })).event_nr).toBe(3);
      expect(c.decodeHeader(enc1('wait', { id: { name: 'a' }, eventNr: 42 })).event_nr).toBe(42);
    });

    test('listDevices: prefix filters in name/uuid; empty by default', () => {
      const all = c.decodeHeader(enc1('listDevices', {}));
      expect([all.name, all.uuid]).toEqual(['', '']);
      const f = c.decodeHeader(enc1('listDevices', { namePrefix: 'vg-', uuidPrefix: 'LVM-' }));
      expect([f.name, f.uuid]).toEqual(['vg-', 'LVM-']);
    });

    test('getTargetVersion: the target type in name', () => {
      expect(c.decodeHeader(enc1('getTargetVersion', { target: 'thin-pool' })).name).toBe('thin-pool');
      expect(codecError(() => enc1('getTargetVersion', { target: '' })).code).toBe('INVALID_ARGUMENT');
    });

    test('bufferBytes sets data_size of payload commands only; version overrides the minVersion of its row', () => {
      expect(enc1('status', { id: { name: 'a' } }, { bufferBytes: 4096 }).length).toBe(4096);
      expect(c.decodeHeader(enc1('listDevices', {}, { bufferBytes: 305 })).data_size).toBe(312);
      expect(enc1('info', { id: { name: 'a' } }, { bufferBytes: 4096 }).length).toBe(312);
      expect(c.decodeHeader(enc1('info', { id: { name: 'a' } }, { version: [4, 48, 0] })).version).toEqual([4, 48, 0]);
      // a message larger than bufferBytes grows data_size to fit
      const m = enc1('message', { id: { name: 'a' }, message: 'x'.repeat(600) }, { bufferBytes: 512 });
      expect(m.length).toBe(312 + 8 + 601);
    });

    test('into: encodes into the given buffer, and refuses one that is too small', () => {
      const buf = new Uint8Array(1000);
      const out = enc1('info', { id: { name: 'a' } }, { into: buf });
      expect(out.buffer).toBe(buf.buffer);
      expect(out.length).toBe(312);
      expect(Buffer.from(out).equals(Buffer.from(enc1('info', { id: { name: 'a' } })))).toBe(true);
      expect(codecError(() => enc1('status', { id: { name: 'a' } }, { into: new Uint8Array(1000) })).code).toBe('BUFFER_TOO_SMALL');
    });
  });

  describe('request payloads', () => {
    test('rename: the new name (or uuid) NUL-terminated at data_start', () => {
      const r = enc1('rename', { name: 'old', newName: 'néw' });
      expect(c.decodeHeader(r).name).toBe('old');
      expect(r.length).toBe(312 + 4 + 1);
      expect(cstrAt(r, 312)).toBe('néw');
      const u = enc1('rename', { name: 'old', newUuid: 'LVM-abc' });
      expect(cstrAt(u, 312)).toBe('LVM-abc');
    });

    test('message: sector (u64) at data_start, text at data_start + 8', () => {
      const r = enc1('message', { id: { uuid: 'U' }, sector: 2n ** 40n + 5n, message: 'set_transaction_id 0 1' });
      expect(view(r).getBigUint64(312, le)).toBe(2n ** 40n + 5n);
      expect(cstrAt(r, 320)).toBe('set_transaction_id 0 1');
      expect(view(enc1('message', { id: { uuid: 'U' }, message: 'm' })).getBigUint64(312, le)).toBe(0n);
    });

    test('setGeometry: "cyl heads sectors start" at data_start', () => {
      const r = enc1('setGeometry', { id: { name: 'a' }, cylinders: 65535, heads: 255, sectorsPerTrack: 63, startSectors: 2n ** 33n });
      expect(cstrAt(r, 312)).toBe(`65535 255 63 ${2n ** 33n}`);
      expect(r.length).toBe(312 + `65535 255 63 ${2n ** 33n}`.length + 1);
    });

    test('load: spec chain from data_start, 8-aligned, next relative to the current spec, params NUL-padded', () => {
      const targets = [
        { start: 0, length: 100, type: 'linear', params: '8:16 2048' },
        { start: 100, length: 2n ** 40n, type: 'zero', params: '' },
        { start: 2n ** 40n + 100n, length: 1, type: 'crypt', params: 'a\\b c' },
      ];
      const r = enc1('load', { id: { name: 'v' }, targets });
      const h = c.decodeHeader(r);
      expect(h.target_count).toBe(3);
      const expectParams = ['8:16 2048', '', 'a\\\\b c'];
      let off = 312;
      targets.forEach((t, i) => {
        expect(off % 8).toBe(0);
        const spec = c.records.spec.decode(view(r), r, off);
        expect(spec.sector_start).toBe(BigInt(t.start));
        expect(spec.length).toBe(BigInt(t.length));
        expect(spec.status).toBe(0);
        expect(spec.target_type).toBe(t.type);
        expect(cstrAt(r, off + 40)).toBe(expectParams[i]);
        const p = enc.encode(expectParams[i]!).length;
        expect(spec.next).toBe(Math.ceil((40 + p + 1) / 8) * 8);
        expect(r.subarray(off + 40 + p, off + spec.next).every((x) => x === 0)).toBe(true);
        off += spec.next;
      });
      expect(off).toBe(h.data_size);
    });

    test('load: params as bytes (key material) are sent verbatim (backslashes doubled)', () => {
      const key = Uint8Array.from([0x61, 0x5c, 0xff, 0x20]);
      const r = enc1('load', { id: { name: 'v' }, targets: [{ start: 0, length: 1, type: 'crypt', params: key }] });
      expect(Array.from(r.subarray(352, 358))).toEqual([0x61, 0x5c, 0x5c, 0xff, 0x20, 0]);
    });
  });

  describe('validation (before anything is encoded)', () => {
    /** Runs an encode into a dirty buffer; it must throw `code` and leave every byte untouched. */
    function rejects(cmd: CommandName, params: unknown, code: string, opts: Record<string, unknown> = {}): DmCodecError {
      const into = new Uint8Array(64 * 1024).fill(0xee);
      const e = codecError(() => enc1(cmd, params as never, { ...opts, into }));
      expect(e.code).toBe(code);
      expect(into.every((x) => x === 0xee)).toBe(true);
      return e;
    }
    const id = { name: 'ok' };
    const T = (start: number | bigint, length: number | bigint, type = 'zero', params: string | Uint8Array = '') => ({ start, length, type, params });

    test('name: 1…127 UTF-8 bytes, no NUL, no "/", not control . ..', () => {
      expect(() => enc1('create', { name: 'x'.repeat(127) })).not.toThrow();
      rejects('create', { name: 'x'.repeat(128) }, 'NAME_TOO_LONG');
      rejects('create', { name: 'é'.repeat(64) }, 'NAME_TOO_LONG'); // 64 chars, 128 bytes
      rejects('create', { name: '' }, 'INVALID_NAME');
      rejects('create', { name: 'a\0b' }, 'STRING_HAS_NUL');
      rejects('create', { name: 'a/b' }, 'INVALID_NAME');
      for (const n of ['control', '.', '..']) rejects('create', { name: n }, 'INVALID_NAME');
      expect(() => enc1('create', { name: '...' })).not.toThrow();
      rejects('info', { id: { name: 'x'.repeat(128) } }, 'NAME_TOO_LONG');
      rejects('rename', { name: 'a', newName: 'control' }, 'INVALID_NAME');
      rejects('rename', { name: 'a/', newName: 'b' }, 'INVALID_NAME');
      rejects('create', { name: 5 }, 'INVALID_ARGUMENT');
    });

    test('uuid: 1…128 bytes, no NUL', () => {
      expect(() => enc1('create', { name: 'a', uuid: 'u'.repeat(128) })).not.toThrow();
      const e = rejects('create', { name: 'a', uuid: 'u'.repeat(129) }, 'UUID_TOO_LONG');
      expect(e.field).toBe('uuid');
      rejects('info', { id: { uuid: 'u'.repeat(129) } }, 'UUID_TOO_LONG');
      rejects('info', { id: { uuid: 'a\0' } }, 'STRING_HAS_NUL');
      rejects('rename', { name: 'a', newUuid: '€'.repeat(43) }, 'UUID_TOO_LONG'); // 129 bytes
      rejects('listDevices', { uuidPrefix: 'u'.repeat(129) }, 'UUID_TOO_LONG');
      rejects('listDevices', { namePrefix: 'n'.repeat(128) }, 'NAME_TOO_LONG');
    });

    test('id: exactly one of name, uuid, dev', () => {
      for (const bad of [{}, { name: 'a', uuid: 'b' }, { name: 'a', dev: { major: 1, minor: 1 } }, { uuid: 'u', dev: { major: 1, minor: 1 } }, null, 'a', { dev: 5 }]) {
        rejects('info', { id: bad }, 'INVALID_DEVICE_ID');
      }
      rejects('info', {}, 'INVALID_DEVICE_ID');
      rejects('info', { id: { dev: { major: 4096, minor: 0 } } }, 'INVALID_INTEGER');
      rejects('info', { id: { dev: { major: 1, minor: -1 } } }, 'INVALID_INTEGER');
    });

    test('table: at least one target; sectors non-negative integers', () => {
      rejects('load', { id, targets: [] }, 'INVALID_TABLE');
      rejects('load', { id, targets: 'x' }, 'INVALID_TABLE');
      rejects('load', { id, targets: [T(-1, 8)] }, 'INVALID_SECTOR');
      rejects('load', { id, targets: [T(0, -8)] }, 'INVALID_SECTOR');
      rejects('load', { id, targets: [T(0, 1.5)] }, 'INVALID_SECTOR');
      rejects('load', { id, targets: [T(0, 2 ** 53)] }, 'INVALID_SECTOR');
      rejects('load', { id, targets: [T(0, 2n ** 64n)] }, 'INVALID_SECTOR');
      rejects('load', { id, targets: [T(0, 2n ** 64n - 1n), T(2n ** 64n - 1n, 1)] }, 'INVALID_TABLE');
      expect(() => enc1('load', { id, targets: [T(0, 2n ** 64n - 1n)] })).not.toThrow();
    });

    test('table: contiguous from 0, length > 0, overlaps and gaps named with the line', () => {
      let e = rejects('load', { id, targets: [T(8, 8)] }, 'INVALID_TABLE');
      expect(e.message).toMatch(/line 1/);
      expect(e.message).toMatch(/gap/);
      e = rejects('load', { id, targets: [T(0, 8), T(8, 0)] }, 'INVALID_TABLE');
      expect(e.message).toMatch(/line 2.*length must be greater than 0/);
      expect(e.field).toBe('targets[1]');
      e = rejects('load', { id, targets: [T(0, 8), T(8, 8), T(12, 8, 'linear', '8:0 0')] }, 'INVALID_TABLE');
      expect(e.message).toMatch(/line 3 \(12 8 linear 8:0 0\).*overlaps/);
      expect(e.field).toBe('targets[2]');
      e = rejects('load', { id, targets: [T(0, 8), T(9, 8)] }, 'INVALID_TABLE');
      expect(e.message).toMatch(/line 2.*gap/);
    });

    test('table: type 1…15 bytes, one word, no NUL; params without NUL', () => {
      expect(() => enc1('load', { id, targets: [T(0, 1, 't'.repeat(15))] })).not.toThrow();
      let e = rejects('load', { id, targets: [T(0, 1, 't'.repeat(16))] }, 'INVALID_TABLE');
      expect(e.field).toBe('targets[0].type');
      rejects('load', { id, targets: [T(0, 1, '')] }, 'INVALID_TABLE');
      rejects('load', { id, targets: [T(0, 1, 'a b')] }, 'INVALID_TABLE');
      rejects('load', { id, targets: [T(0, 1, 'a\0')] }, 'INVALID_TABLE');
      e = rejects('load', { id, targets: [T(0, 1, 'zero', 'a\0b')] }, 'INVALID_TABLE');
      expect(e.field).toBe('targets[0].params');
      rejects('load', { id, targets: [T(0, 1, 'zero', Uint8Array.from([1, 0]))] }, 'INVALID_TABLE');
      rejects('load', { id, targets: [T(0, 1, 'zero', 5 as never)] }, 'INVALID_TABLE');
    });

    test('data_size 305…1 GiB', () => {
      rejects('status', { id }, 'DATA_SIZE_OUT_OF_RANGE', { bufferBytes: 304 });
      rejects('status', { id }, 'DATA_SIZE_OUT_OF_RANGE', { bufferBytes: GiB + 1 });
      rejects('listDevices', {}, 'DATA_SIZE_OUT_OF_RANGE', { bufferBytes: 1000.5 });
      expect(() => enc1('status', { id }, { bufferBytes: 305 })).not.toThrow();
    });

    test('message, geometry, cookies, numbers, booleans', () => {
      rejects('message', { id, message: '' }, 'INVALID_ARGUMENT');
      rejects('message', { id, message: '   ' }, 'INVALID_ARGUMENT');
      rejects('message', { id, message: 'a\0' }, 'STRING_HAS_NUL');
      rejects('message', { id, message: 'm', sector: -1 }, 'INVALID_SECTOR');
      rejects('setGeometry', { id, cylinders: 65536, heads: 0, sectorsPerTrack: 0, startSectors: 0 }, 'INVALID_INTEGER');
      rejects('setGeometry', { id, cylinders: 0, heads: 256, sectorsPerTrack: 0, startSectors: 0 }, 'INVALID_INTEGER');
      rejects('setGeometry', { id, cylinders: 0, heads: 0, sectorsPerTrack: 256, startSectors: 0 }, 'INVALID_INTEGER');
      rejects('setGeometry', { id, cylinders: 0, heads: 0, sectorsPerTrack: 0, startSectors: -1 }, 'INVALID_SECTOR');
      rejects('remove', { id, cookie: 2 ** 32 }, 'INVALID_INTEGER');
      rejects('wait', { id }, 'INVALID_INTEGER');
      rejects('wait', { id, eventNr: -1 }, 'INVALID_INTEGER');
      rejects('suspend', { id, action: 'pause' }, 'INVALID_ARGUMENT');
      rejects('status', { id, table: 1 }, 'INVALID_ARGUMENT');
      rejects('removeAll', { deferred: 'yes' }, 'INVALID_ARGUMENT');
      rejects('rename', { name: 'a' }, 'INVALID_ARGUMENT');
      rejects('rename', { name: 'a', newName: 'b', newUuid: 'c' }, 'INVALID_ARGUMENT');
      rejects('getTargetVersion', { target: 'x'.repeat(128) }, 'STRING_TOO_LONG');
      rejects('info', null, 'INVALID_ARGUMENT');
      rejects('nope' as CommandName, {}, 'UNKNOWN_COMMAND');
      expect(codecError(() => c.decodeReply('nope' as CommandName, new Uint8Array(312))).code).toBe('UNKNOWN_COMMAND');
    });
  });

  // ------------------------------------------------------------------ round trip ---

  const latin = fc.constantFrom(...'abcxyzABC0189-_+.:=@#é€😀 ~'.split(/(?:)/u));
  const bytesLen = (s: string) => enc.encode(s).length;
  const fit = (max: number) => (s: string) => { let t = [...s]; while (bytesLen(t.join('')) > max) t = t.slice(0, -1); return t.join(''); };
  const text = (max: number) => fc.string({ unit: latin, maxLength: max }).map(fit(max));
  const devName = text(127).filter((s) => s.length > 0 && !['.', '..', 'control'].includes(s));
  const uuid = text(128).filter((s) => s.length > 0);
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const version: fc.Arbitrary<Version> = fc.tuple(u32, u32, u32);
  const devNo = (minMajor = 0): fc.Arbitrary<DevNo> => fc.tuple(fc.integer({ min: minMajor, max: 0xfff }), fc.integer({ min: 0, max: 0xfffff }))
    .map(([major, minor]) => ({ major, minor, raw: mkdev(major, minor) }));
  const deviceId: fc.Arbitrary<DeviceId> = fc.oneof<fc.Arbitrary<DeviceId>[]>(devName.map((name) => ({ name })), uuid.map((u) => ({ uuid: u })), devNo().map(({ major, minor }) => ({ dev: { major, minor } })));
  const device = (rawFlags: fc.Arbitrary<number> = u32): fc.Arbitrary<DeviceInfo> => fc.record({
    name: text(127), uuid: text(128), dev: devNo(), openCount: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    eventNr: u32, targetCount: u32, rawFlags,
  }).map((d) => ({ ...d, uuid: d.uuid === '' ? null : d.uuid, flags: flagsOf(d.rawFlags) }));
  const sectors = fc.oneof(fc.integer({ min: 1, max: 1 << 30 }), fc.bigInt({ min: 1n, max: 2n ** 50n }));
  const ttype = text(15).filter((s) => s.length > 0 && !/\s/.test(s));
  const params = text(300);
  const bool = fc.option(fc.boolean(), { nil: undefined });
  const cookie = fc.option(u32, { nil: undefined });
  const targetsIn = fc.array(fc.tuple(sectors, ttype, fc.oneof(params, fc.uint8Array({ maxLength: 64 }).map((b) => b.map((x) => x || 1)))), { minLength: 1, maxLength: 12 })
    .map((ts) => {
      let start = 0n;
      return ts.map(([len, type, p]) => { const t = { start: start <= BigInt(Number.MAX_SAFE_INTEGER) && start % 2n === 0n ? Number(start) : start, length: len, type, params: p }; start += BigInt(len); return t; });
    });
  const statusLine = fc.record({ start: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), length: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), type: text(15), params: text(200) });

  const REQUESTS: { [C in CommandName]: fc.Arbitrary<CommandRequests[C]> } = {
    version: fc.constant({}),
    armPoll: fc.constant({}),
    listVersions: fc.constant({}),
    removeAll: fc.record({ deferred: bool }),
    listDevices: fc.record({ withUuid: bool, namePrefix: fc.option(text(127), { nil: undefined }), uuidPrefix: fc.option(text(128), { nil: undefined }) }),
    create: fc.record({ name: devName, uuid: fc.option(uuid, { nil: undefined }), minor: fc.option(fc.integer({ min: 0, max: 0xfffff }), { nil: undefined }) }),
    remove: fc.record({ id: deviceId, deferred: bool, cookie }),
    rename: fc.tuple(devName, fc.boolean(), devName, uuid, cookie).map(([name, toUuid, nn, nu, ck]) => (toUuid ? { name, newUuid: nu, cookie: ck } : { name, newName: nn, cookie: ck })),
    suspend: fc.record({ id: deviceId, action: fc.constantFrom('suspend' as const, 'resume' as const), noflush: bool, skipLockfs: bool, cookie }),
    info: fc.record({ id: deviceId, inactive: bool }),
    wait: fc.record({ id: deviceId, eventNr: u32, table: bool, inactive: bool, noflush: bool }),
    load: fc.record({ id: deviceId, targets: targetsIn, readOnly: bool, secure: bool }),
    clear: fc.record({ id: deviceId }),
    deps: fc.record({ id: deviceId, inactive: bool }),
    status: fc.record({ id: deviceId, table: bool, inactive: bool, noflush: bool, ima: bool, secure: bool }),
    message: fc.record({ id: deviceId, sector: fc.option(sectors, { nil: undefined }), message: text(200).filter((s) => s.trim().length > 0) }),
    setGeometry: fc.record({ id: deviceId, cylinders: fc.integer({ min: 0, max: 65535 }), heads: fc.integer({ min: 0, max: 255 }), sectorsPerTrack: fc.integer({ min: 0, max: 255 }), startSectors: sectors }),
    getTargetVersion: fc.record({ target: text(127).filter((s) => s.length > 0) }),
  };

  const listedDevices = (v: Version) => {
    const trailer = v[0] > 4 || (v[0] === 4 && v[1] >= 37);
    const flags = v[0] > 4 || (v[0] === 4 && v[1] >= 45); // uuids in LIST: 4.45+
    return fc.array(fc.record({
      name: text(127), dev: devNo(1),
      eventNr: trailer ? u32 : fc.constant(undefined),
      uuid: flags ? fc.oneof(fc.constant(undefined), fc.constant(null), text(128)) : fc.constant(undefined),
    }), { maxLength: 20 });
  };
  /** A reply value, plus what decodeReply should return for it (they differ only for partial status). */
  type Pair = { reply: unknown; expected: unknown; written?: number };
  const same = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Pair> => a.map((r) => ({ reply: r, expected: r }));
  const withDevice = same(fc.record({ version, device: device() }));
  const payloadStatus: fc.Arbitrary<Pair> = fc.tuple(version, device(u32.map((f) => (f & ~0x100) >>> 0)), fc.array(statusLine, { maxLength: 12 }), fc.boolean(), fc.nat())
    .map(([v, d, targets, full, w]) => {
      const written = full ? w % (targets.length + 1) : targets.length;
      const rawFlags = full ? (d.rawFlags | 0x100) >>> 0 : d.rawFlags;
      const dev = { ...d, rawFlags, flags: flagsOf(rawFlags), targetCount: targets.length };
      return { reply: { version: v, device: dev, bufferFull: full, targets }, expected: { version: v, device: dev, bufferFull: full, targets: targets.slice(0, written) }, written };
    });
  const versionsReply = same(fc.record({ version, bufferFull: fc.boolean(), targets: fc.array(fc.record({ name: text(60), version }), { maxLength: 20 }) })
    .map((r) => (r.bufferFull ? { ...r, targets: [] } : r)));
  const REPLIES: { [C in CommandName]: fc.Arbitrary<Pair> } = {
    version: same(fc.record({ version })), armPoll: same(fc.record({ version })),
    removeAll: same(fc.record({ version })), setGeometry: same(fc.record({ version })),
    create: withDevice,
    remove: same(fc.record({ version, name: text(127), uuid: text(128).map((u) => (u === '' ? null : u)), deferred: fc.boolean(), ueventGenerated: fc.boolean() })), rename: withDevice, suspend: withDevice, info: withDevice, load: withDevice, clear: withDevice,
    status: payloadStatus, wait: payloadStatus,
    deps: same(fc.tuple(version, device(u32.map((f) => (f & ~0x100) >>> 0)), fc.array(devNo(), { maxLength: 40 }), fc.boolean()).map(([v, d, deps, full]) => {
      const rawFlags = full ? (d.rawFlags | 0x100) >>> 0 : d.rawFlags;
      return { version: v, device: { ...d, rawFlags, flags: flagsOf(rawFlags) }, bufferFull: full, deps: full ? [] : deps };
    })),
    listDevices: same(fc.tuple(fc.integer({ min: 0, max: 60 }), u32, fc.boolean()).chain(([minor, patch, full]) => {
      const v: Version = [4, minor, patch];
      return listedDevices(v).map((devices) => ({ version: v, bufferFull: full, devices: full ? [] : devices }));
    })),
    listVersions: versionsReply, getTargetVersion: versionsReply,
    message: same(fc.tuple(version, fc.boolean(), fc.boolean(), text(500)).map(([v, dataOut, full, out]) => ({ version: v, bufferFull: full, dataOut, output: dataOut && !full ? out : undefined }))),
  };

  describe('round trip: request encodes, the kernel-style reply decodes to exactly what was put in', () => {
    test.each([...COMMANDS])('%s', (cmd) => {
      fc.assert(fc.property(REQUESTS[cmd] as fc.Arbitrary<unknown>, REPLIES[cmd], fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: 255 }), (params, pair, slack, fill) => {
        const req = enc1(cmd, params as never);
        const h = c.decodeHeader(req);
        expect(h.version).toEqual([...COMMAND_TABLE[cmd].minVersion]);
        expect(h.data_start).toBe(312);
        expect(h.data_size).toBe(req.length);
        if (cmd === 'load') checkTable(req, params as CommandRequests['load']);
        // The reply comes from a different "kernel": its fields have nothing to do with the request.
        const reply = buildReply(c, cmd, pair.reply as CommandReplies[typeof cmd], { bufferBytes: h.data_size + slack, fill, ...(pair.written !== undefined ? { written: pair.written } : {}) });
        const got = c.decodeReply(cmd, reply);
        expect(got).toEqual(pair.expected);
      }), { numRuns: 60 });
    });
  });

  /** An independent walk of a TABLE_LOAD payload. */
  function checkTable(req: Uint8Array, p: CommandRequests['load']): void {
    const h = c.decodeHeader(req);
    expect(h.target_count).toBe(p.targets.length);
    let off = 312;
    for (const t of p.targets) {
      expect(off % 8).toBe(0);
      const dv = view(req);
      expect(dv.getBigUint64(off, le)).toBe(BigInt(t.start));
      expect(dv.getBigUint64(off + 8, le)).toBe(BigInt(t.length));
      const next = dv.getUint32(off + 20, le);
      expect(next % 8).toBe(0);
      expect(cstrAt(req, off + 24)).toBe(t.type);
      const raw = typeof t.params === 'string' ? enc.encode(t.params) : t.params;
      const doubled = Buffer.from(Buffer.from(raw).toString('latin1').replace(/\\/g, '\\\\'), 'latin1');
      const end = req.indexOf(0, off + 40);
      expect(Buffer.from(req.subarray(off + 40, end)).equals(doubled)).toBe(true);
      expect(next).toBe(Math.ceil((40 + doubled.length + 1) / 8) * 8);
      off += next;
    }
    expect(off).toBe(h.data_size);
  }

  describe('decoders read the reply, never the request', () => {
    test('header fields come from the reply bytes', () => {
      const req = enc1('info', { id: { name: 'asked' } });
      const dev: DeviceInfo = { name: 'answered', uuid: 'U', dev: { major: 253, minor: 3, raw: mkdev(253, 3) }, openCount: 2, eventNr: 5, targetCount: 1, rawFlags: 0x21, flags: flagsOf(0x21) };
      const reply = buildReply(c, 'info', { version: [4, 48, 0], device: dev });
      expect(c.decodeReply('info', reply)).toEqual({ version: [4, 48, 0], device: dev });
      expect(c.decodeReply('info', req).device.name).toBe('asked'); // the same decoder on other bytes
    });
    test('status: target_count and the spec chain come from the reply', () => {
      const req = enc1('status', { id: { name: 'a' } });
      expect(c.decodeReply('status', req).targets).toEqual([]);
      const dev: DeviceInfo = { name: 'a', uuid: null, dev: { major: 1, minor: 1, raw: mkdev(1, 1) }, openCount: 0, eventNr: 0, targetCount: 2, rawFlags: 0, flags: flagsOf(0) };
      const targets = [{ start: 0n, length: 8n, type: 'linear', params: '8:0 0' }, { start: 8n, length: 8n, type: 'error', params: '' }];
      expect(c.decodeReply('status', buildReply(c, 'status', { version: [4, 47, 0], device: dev, bufferFull: false, targets })).targets).toEqual(targets);
    });
    test('removeAll/setGeometry replies (data_size 0) give the version only', () => {
      const r = buildReply(c, 'removeAll', { version: [4, 50, 0] });
      expect(view(r).getUint32(12, le)).toBe(0);
      expect(c.decodeReply('removeAll', r)).toEqual({ version: [4, 50, 0] });
      expect(c.readVersion(r)).toEqual([4, 50, 0]);
    });
    test('a device list payload of 8…11 bytes ending the buffer: a DmCodecError or [], never a RangeError', () => {
      for (const size of [8, 9, 10, 11]) {
        for (const dev of [0n, 5n]) {
          const r = new Uint8Array(312 + size);
          writeHeader(c, r, { version: [4, 48, 0], data_size: 312 + size });
          view(r).setBigUint64(312, dev, le);
          if (dev === 0n) expect(c.decodeReply('listDevices', r).devices).toEqual([]);
          else expect(codecError(() => c.decodeReply('listDevices', r)).code).toBe('MALFORMED_REPLY');
        }
      }
    });
    test('an empty device list: dev = 0 and data_size = data_start', () => {
      const r = buildReply(c, 'listDevices', { version: [4, 48, 0], bufferFull: false, devices: [] });
      expect(view(r).getUint32(12, le)).toBe(312);
      expect(c.decodeReply('listDevices', r).devices).toEqual([]);
    });
  });
});
