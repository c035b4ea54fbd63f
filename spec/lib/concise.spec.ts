// The concise device list (lib/tables/concise.ts): dmsetup's --concise text and the kernel's
// dm-mod.create= argument, their quoting, limits and key masking.
import { describe, expect, test } from '@jest/globals';
import {
  DmArgumentError, dmInitLimits, dmModCreate, formatConcise, parseConcise, parseDmModCreate,
  parseVerityHashes, quoteConcise, verityHashArgument, type ConciseDevice,
} from '../../lib/index.js';

const { maxDevices: DM_INIT_MAX_DEVICES, maxTargetsPerDevice: DM_INIT_MAX_TARGETS, maxValueBytes: DM_INIT_MAX_STR_SIZE } = dmInitLimits;
const KEY = 'babebabebabebabebabebabebabebabebabebabebabebabebabebabebabebabe';
const catching = (f: () => unknown): DmArgumentError => {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(DmArgumentError); return e as DmArgumentError; }
  throw new Error('no error was thrown');
};

describe('formatConcise / parseConcise (dmsetup --concise)', () => {
  test('dmsetup table --concise form: fields, ro/rw, one comma per table line, ; between devices', () => {
    const text = formatConcise([
      { name: 'lin', uuid: 'U-1', minor: 3, readOnly: false, table: [{ start: 0, length: 8, type: 'linear', params: '7:0 0' }, { start: 8, length: 8n, type: 'zero', params: '' }] },
      { name: 'v', table: [{ start: 0, length: 16, type: 'error', params: '' }], readOnly: true },
    ]);
    expect(text).toBe('lin,U-1,3,rw,0 8 linear 7:0 0,8 8 zero ;v,,,ro,0 16 error ');
    expect(parseConcise(text)).toEqual([
      { name: 'lin', uuid: 'U-1', minor: 3, readOnly: false, table: [{ start: 0n, length: 8n, type: 'linear', params: '7:0 0' }, { start: 8n, length: 8n, type: 'zero', params: '' }] },
      { name: 'v', uuid: undefined, minor: undefined, readOnly: true, table: [{ start: 0n, length: 16n, type: 'error', params: '' }] },
    ]);
  });

  test('commas, semicolons and backslashes are quoted as dmsetup quotes them, and read back', () => {
    expect(quoteConcise('a,b;c\\d')).toBe('a\\,b\\;c\\\\d');
    const devices: ConciseDevice[] = [{ name: 'n,;\\x', uuid: 'u;1', table: [{ start: 0, length: 8, type: 'delay', params: 'a,b;c\\ 0' }] }];
    const text = formatConcise(devices);
    expect(text).toBe('n\\,\\;\\\\x,u\\;1,,rw,0 8 delay a\\,b\\;c\\\\ 0');
    expect(parseConcise(text)[0]).toMatchObject({ name: 'n,;\\x', uuid: 'u;1', table: [{ params: 'a,b;c\\ 0' }] });
  });

  test('whitespace after field commas and semicolons is skipped, table lines trimmed, # starts a comment, empty flags mean rw', () => {
    expect(parseConcise('a, u, 7, ro,  0 8 linear 7:0 0 # c ,8 8 zero;\n b,,,,0 1 error\n')).toEqual([
      { name: 'a', uuid: 'u', minor: 7, readOnly: true, table: [{ start: 0n, length: 8n, type: 'linear', params: '7:0 0 ' }, { start: 8n, length: 8n, type: 'zero', params: '' }] },
      { name: 'b', uuid: undefined, minor: undefined, readOnly: false, table: [{ start: 0n, length: 1n, type: 'error', params: '' }] },
    ]);
    expect(parseConcise('')).toEqual([]);
  });

  // The inputs below were run through dmsetup 1.02.185 (create --concise without device-mapper:
  // these fail in its scan, before any ioctl; spec/cli/concise-oracle.spec.ts repeats it where dmsetup exists).
  test.each([
    ['a,b', /five comma-separated fields/],
    ['a,,,,0 8 zero\\', /backslash followed by another character/],
    ['a,,,xx,0 8 zero', /'ro' or 'rw' or empty/],
    ['a,,,,0 8 zero,', /incomplete/],
    ['a,,,,', /incomplete/],
    ['a', /five comma-separated fields/],
  ])('refused as dmsetup refuses it: %j', (text, message) => {
    expect(catching(() => parseConcise(text)).message).toMatch(message);
  });

  test('a table line that is not "<start> <length> <type>" is refused, a crypt key in it masked', () => {
    const e = catching(() => parseConcise(`a,,,,x 8 crypt aes-xts-plain64 ${KEY} 0 7:0 0`));
    expect(e.code).toBe('INVALID_TABLE');
    expect(e.message).not.toContain(KEY);
    expect(e.message).not.toContain('babebabe');
    const f = catching(() => parseConcise(`a,b,c,d,0 8 crypt aes ${KEY} 0 7:0 0;x`));
    expect(f.message).not.toContain('babebabe');
  });

  test('a minor that is not a number is an error (dmsetup would read it as 0)', () => {
    expect(catching(() => parseConcise('a,,x1,,0 8 zero')).message).toMatch(/minor/);
  });

  test('bad device objects are typed errors', () => {
    expect(catching(() => formatConcise([{ name: '', table: [] }])).argument).toBe('devices[0].name');
    expect(catching(() => formatConcise([{ name: 'a', table: [{ start: -1, length: 1, type: 'zero', params: '' }] }])).argument).toBe('devices[0].table[0].start');
    expect(catching(() => formatConcise([{ name: 'a', minor: 1.5, table: [] }])).argument).toBe('devices[0].minor');
    expect(catching(() => formatConcise([{ name: 'a', table: [{ start: 0, length: 1, type: 'crypt', params: new Uint8Array(2) as unknown as string }] }])).argument).toBe('devices[0].table[0].params');
  });
});

describe('dmModCreate / parseDmModCreate (the kernel\'s dm-mod.create=)', () => {
  const verity: ConciseDevice = {
    name: 'dm-verity', minor: 4, readOnly: true,
    table: [{ start: 0, length: 1638400, type: 'verity', params: '1 8:1 8:2 4096 4096 204800 1 sha256 fb1a5a0f00deb908d8b53cb270858975e76cf64105d412ce764225d53b8f3cfd 51934789604d1b92399c52e7cb149d1b3a1b74bbbcb103b2a0aaacbed5c08584' }],
  };

  test('the documented examples, quoted, and read back by the kernel\'s rules', () => {
    const linear: ConciseDevice = { name: 'lroot', table: [{ start: 0, length: 4096, type: 'linear', params: '98:16 0' }, { start: 4096, length: 4096, type: 'linear', params: '98:32 0' }] };
    const arg = dmModCreate([linear, verity]);
    expect(arg).toBe(`dm-mod.create="lroot,,,rw,0 4096 linear 98:16 0,4096 4096 linear 98:32 0;dm-verity,,4,ro,0 1638400 verity ${verity.table[0]!.params}"`);
    expect(parseDmModCreate(`BOOT_IMAGE=/vmlinuz ${arg} root=/dev/dm-0 quiet`)).toEqual([
      { name: 'lroot', uuid: undefined, minor: undefined, readOnly: false, table: [{ start: 0n, length: 4096n, type: 'linear', params: '98:16 0' }, { start: 4096n, length: 4096n, type: 'linear', params: '98:32 0' }] },
      { name: 'dm-verity', uuid: undefined, minor: 4, readOnly: true, table: [{ start: 0n, length: 1638400n, type: 'verity', params: verity.table[0]!.params }] },
    ]);
    // The kernel's own example, with its spaces after commas; dm_mod and 0x minors as the kernel reads them.
    expect(parseDmModCreate('dm_mod.create="lroot,,0x10,rw, 0 4096 linear 98:16 0, 4096 4096 linear 98:32 0" root=/dev/dm-0')![0]).toMatchObject({ minor: 16, table: [{ params: '98:16 0' }, { start: 4096n }] });
    expect(parseDmModCreate('root=/dev/sda1')).toBeUndefined();
    // The same string is dmsetup create --concise input meaning the same devices.
    expect(parseConcise(arg.slice('dm-mod.create="'.length, -1))).toEqual(parseDmModCreate(arg));
  });

  test('the kernel\'s limits: 256 devices, 256 lines, a value under 4096 bytes', () => {
    const dev = (i: number): ConciseDevice => ({ name: `d${i}`, table: [{ start: 0, length: 8, type: 'linear', params: '7:0 0' }] });
    expect(catching(() => dmModCreate(Array.from({ length: DM_INIT_MAX_DEVICES + 1 }, (_, i) => dev(i)))).message).toMatch(/at most 256 devices/);
    const many = Array.from({ length: DM_INIT_MAX_TARGETS + 1 }, (_, i) => ({ start: i, length: 1, type: 'linear', params: '7:0 0' }));
    expect(catching(() => dmModCreate([{ name: 'a', table: many }])).message).toMatch(/at most 256 lines/);
    const long = catching(() => dmModCreate(Array.from({ length: 200 }, (_, i) => dev(i))));
    expect(long.code).toBe('STRING_TOO_LONG');
    // Exactly at the edge: a value of 4095 bytes passes, 4096 fails.
    const base = 'a,,,rw,0 8 linear 7:0 ';
    const fits = `${base}${'0'.repeat(DM_INIT_MAX_STR_SIZE - 1 - base.length)}`;
    expect(parseDmModCreate(`dm-mod.create="${fits}"`)).toHaveLength(1);
    expect(catching(() => parseDmModCreate(`dm-mod.create="${fits}0"`)).code).toBe('STRING_TOO_LONG');
    expect(dmModCreate([{ name: 'a', table: [{ start: 0, length: 8, type: 'linear', params: `7:0 ${'0'.repeat(DM_INIT_MAX_STR_SIZE - 1 - base.length)}` }] }])).toHaveLength(DM_INIT_MAX_STR_SIZE - 1 + 'dm-mod.create=""'.length);
  });

  test('what the kernel cannot carry or create is refused before anything is written', () => {
    const one = (t: Partial<ConciseDevice['table'][number]>, d: Partial<ConciseDevice> = {}) => () => dmModCreate([{ name: 'a', table: [{ start: 0, length: 8, type: 'linear', params: '7:0 0', ...t }], ...d }]);
    expect(catching(one({ type: 'zero' })).message).toMatch(/crypt, delay, linear, snapshot-origin, striped, verity/);
    expect(catching(one({ params: '7:0,0' })).message).toMatch(/no escapes/);
    expect(catching(one({ params: '7:0 0\\' })).message).toMatch(/"\\\\"/);
    expect(catching(one({}, { name: 'a;b' })).argument).toBe('devices[0].name');
    expect(catching(one({}, { name: ' a' })).message).toMatch(/trims/);
    expect(catching(one({}, { uuid: 'x"y' })).argument).toBe('devices[0].uuid');
    expect(catching(one({}, { name: 'n'.repeat(128) })).code).toBe('NAME_TOO_LONG');
    expect(catching(one({}, { table: [] })).code).toBe('INVALID_TABLE');
    expect(catching(() => dmModCreate([])).argument).toBe('devices');
    expect(catching(() => parseDmModCreate('dm-mod.create="a,,,,0 8 linear 7:0 0"')).message).toMatch(/'ro' or 'rw'/);
    expect(catching(() => parseDmModCreate('dm-mod.create="a,,,rw,0 8 zero "')).code).toBe('INVALID_TABLE');
    expect(catching(() => parseDmModCreate('dm-mod.create="a,,,rw,0 8 linear"')).message).toMatch(/a space after the type/);
  });

  test('a crypt key never appears in an error', () => {
    const crypt = (params: string, name = 'c') => () => dmModCreate([{ name, table: [{ start: 0, length: 8, type: 'crypt', params }] }]);
    for (const f of [crypt(`aes-xts-plain64 ${KEY} 0 /dev/sda,x 0`), crypt(`aes-xts-plain64 ${KEY} 0 /dev/sda 0\\`), crypt(` aes ${KEY}`)]) {
      const e = catching(f);
      expect(e.message).not.toContain('babebabe');
    }
    // The key is in the argument itself: it is the point.
    expect(dmModCreate([{ name: 'c', readOnly: true, table: [{ start: 0, length: 8, type: 'crypt', params: `aes-xts-plain64 ${KEY} 0 8:0 0` }] }])).toContain(KEY);
    for (const cmd of [`dm-mod.create="c,,,rw,x 8 crypt aes ${KEY} 0 8:0 0"`, `dm-mod.create="c,,,rw,0 8 crypt-x aes ${KEY} 0 8:0 0"`]) {
      expect(catching(() => parseDmModCreate(cmd)).message).not.toContain('babebabe');
    }
  });
});

describe('roothash= / usrhash= (systemd-veritysetup-generator)', () => {
  test('formatted lower-case from hex or bytes, read back from a command line', () => {
    expect(verityHashArgument('AC87DB56')).toBe('roothash=ac87db56');
    expect(verityHashArgument(new Uint8Array([0, 0xff, 0x10]), 'usr')).toBe('usrhash=00ff10');
    expect(parseVerityHashes('quiet roothash=ab12 usrhash=CD34 roothash=ef56')).toEqual({ root: 'ef56', usr: 'cd34' });
    expect(parseVerityHashes('quiet')).toEqual({});
  });
  test('a value that is not a hash is an error', () => {
    expect(catching(() => verityHashArgument('abc')).argument).toBe('hash');
    expect(catching(() => verityHashArgument('')).argument).toBe('hash');
    expect(catching(() => parseVerityHashes('roothash=xyz')).argument).toBe('roothash');
    expect(catching(() => verityHashArgument('ab', 'boot' as 'root')).argument).toBe('kind');
  });
});
