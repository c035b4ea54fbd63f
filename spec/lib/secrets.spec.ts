// The findings of "keys never leak", one test each (the canary in secrets-canary.spec.ts
// covers the whole matrix): codec errors of a secure load, copies left by a failed encode or
// a later invalid line, requests left by a throwing transport, dmctl's secure flag, and the
// one redaction rule (codec/secrets.ts) on its own.
import { describe, expect, test } from '@jest/globals';
import { codec, DmCodecError, DM_SECURE_DATA_FLAG, type TargetSpecInput } from '../../codec/index.js';
import { describeParams, describeTableLine, redactTableParams, scrubLogLines } from '../../codec/secrets.js';
import { DeviceMapper, type Backend } from '../../lib/index.js';
import { SimulatedKernel, SimError } from '../../testing/index.js';
import { cliEnv } from '../cli/harness.js';

const HEX = '0123456789abcdef00112233445566778899aabbccddeeff0123456789abcdef';
const cryptParams = `aes-xts-plain64 ${HEX} 0 /dev/loop0 0`;
const hasKey = (s: string) => s.includes(HEX.slice(0, 16)) || s.toLowerCase().includes(HEX.slice(20, 36));

/**
 * Every Uint8Array constructed while `fn` runs, caught by the global constructor itself, so
 * no hook in the code under test is needed. Instances stay plain Uint8Arrays.
 */
function madeDuring<T>(fn: () => T): { made: Uint8Array[]; result?: T; error?: unknown } {
  const made: Uint8Array[] = [];
  // TextEncoder makes its arrays natively: catch those at encode().
  const encode = TextEncoder.prototype.encode;
  TextEncoder.prototype.encode = function (this: InstanceType<typeof TextEncoder>, input?: string) {
    const b = encode.call(this, input);
    made.push(b);
    return b;
  };
  const Original = globalThis.Uint8Array;
  globalThis.Uint8Array = new Proxy(Original, {
    construct(target, args, newTarget) {
      const b = Reflect.construct(target, args, newTarget) as Uint8Array;
      made.push(b);
      return b;
    },
  });
  try {
    return { made, result: fn() };
  } catch (error) {
    return { made, error };
  } finally {
    globalThis.Uint8Array = Original;
    TextEncoder.prototype.encode = encode;
  }
}

const dirty = (bs: Uint8Array[]) => bs.filter((b) => !b.every((x) => x === 0)).length;

describe('codec errors of a secure load never quote a key', () => {
  const cases: [string, TargetSpecInput[]][] = [
    ['length 0', [{ start: 0, length: 0, type: 'crypt', params: cryptParams }]],
    ['gap', [{ start: 0, length: 8, type: 'zero', params: '' }, { start: 16, length: 8, type: 'crypt', params: cryptParams }]],
    ['NUL', [{ start: 0, length: 8, type: 'crypt', params: cryptParams + '\0' }]],
    ['overlap', [{ start: 0, length: 8, type: 'zero', params: '' }, { start: 4, length: 8, type: 'integrity', params: `/dev/loop0 0 32 J 1 internal_hash:hmac(sha256):${HEX}` }]],
  ];
  test.each(cases)('%s', (_n, targets) => {
    let err: unknown;
    try { codec.encodeRequest('load', { id: { name: 'x' }, targets, secure: true }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DmCodecError);
    const e = err as DmCodecError;
    expect(hasKey(e.message) || hasKey(e.stack ?? '')).toBe(false);
    // The line is still named, its key shown as dmsetup shows it.
    expect(e.message).toMatch(/line \d \(.*(crypt aes-xts-plain64 0000000000|internal_hash:hmac\(sha256\):0000)/);
  });

  test('another target type of a secure load: params not shown at all', () => {
    expect(() => codec.encodeRequest('load', { id: { name: 'x' }, targets: [{ start: 0, length: 0, type: 'vault', params: 'hunter2-is-my-password' }], secure: true }))
      .toThrow(/line 1 \(0 0 vault <redacted>\)/);
  });
});

describe('no copy of params is left behind', () => {
  const big: TargetSpecInput[] = [
    { start: 0, length: 8, type: 'crypt', params: cryptParams },
    ...Array.from({ length: 400 }, (_, i) => ({ start: 8 + i * 8, length: 8, type: 'zero', params: '' })),
  ];

  test('an encode into a buffer too small (a blocking client\'s scratch buffer) wipes the escaped copies', () => {
    const into = new Uint8Array(16384);
    const r = madeDuring(() => codec.encodeRequest('load', { id: { name: 'x' }, targets: big, secure: true }, { into }));
    expect((r.error as DmCodecError).code).toBe('BUFFER_TOO_SMALL');
    expect(r.made.length).toBeGreaterThan(0);
    expect(dirty(r.made)).toBe(0);
  });

  test('a later invalid line wipes the copies made for earlier lines', () => {
    const targets: TargetSpecInput[] = [{ start: 0, length: 8, type: 'crypt', params: cryptParams }, { start: 4, length: 8, type: 'zero', params: '' }];
    const r = madeDuring(() => codec.encodeRequest('load', { id: { name: 'x' }, targets, secure: true }));
    expect((r.error as DmCodecError).code).toBe('INVALID_TABLE');
    expect(r.made.length).toBeGreaterThan(0);
    expect(dirty(r.made)).toBe(0);
  });

  test('non-ASCII params with a backslash: the UTF-8 intermediate copy is wiped too', () => {
    const r = madeDuring(() => codec.encodeRequest('load', { id: { name: 'x' }, targets: [{ start: 0, length: 8, type: 'crypt', params: `${cryptParams} é\\` }], secure: true }));
    const req = r.result!;
    expect(dirty(r.made.filter((b) => b.buffer !== req.buffer))).toBe(0);
  });

  test.each([['async', false], ['blocking', true]] as const)('a transport that throws: the request buffer is wiped (%s client)', async (_m, blocking) => {
    const kernel = new SimulatedKernel();
    const inner = kernel.backend();
    const handed: Uint8Array[] = [];
    let fail = false;
    const backend: Backend = {
      ...inner,
      openControl: async () => {
        const t = await inner.openControl();
        const spy = (buf: Uint8Array) => {
          handed.push(buf);
          if (fail) throw new Error('transport failure');
        };
        return {
          get fd() { return t.fd; },
          ioctl: (r, b) => { spy(b); return t.ioctl(r, b); },
          ioctlAsync: async (r, b) => { spy(b); return t.ioctlAsync(r, b); },
          close: () => t.close(),
        };
      },
    };
    const dm = await DeviceMapper.open({ backend, blocking });
    await dm.create({ name: 'x' });
    fail = true;
    await expect(dm.load('x', [{ start: 0, length: 8, type: 'crypt', params: cryptParams }], { secure: true })).rejects.toThrow('transport failure');
    const req = handed.at(-1)!;
    expect(new Uint8Array(req.buffer).every((x) => x === 0)).toBe(true);
    dm.close();
  });
});

describe('dmctl', () => {
  test('a crypt table is loaded with DM_SECURE_DATA_FLAG; its rejection shows no key (text, --json, stdin)', async () => {
    const kernel = new SimulatedKernel();
    let flags = -1;
    kernel.registerTarget({
      name: 'crypt', version: [1, 0, 0],
      construct(argv) { throw new SimError('EINVAL', `crypt: Error decoding and setting key (${argv.length} args)`); },
    });
    const original = kernel.ioctl.bind(kernel);
    kernel.ioctl = (request, buf, fd) => {
      if ((request & 0xff) === 9) flags = codec.decodeHeader(buf).flags;
      return original(request, buf, fd);
    };
    const env = cliEnv(kernel);
    try {
      const table = `0 8 crypt ${cryptParams}`;
      for (const [argv, stdin] of [[['create', 'c', '--table', table]], [['create', 'c', '--table', table, '--json']], [['create', 'c'], table]] as const) {
        flags = -1;
        const r = await env.dmctl([...argv], stdin === undefined ? {} : { stdin });
        expect(r.code).toBe(1);
        expect(hasKey(r.stderr) || hasKey(r.stdout)).toBe(false);
        expect(r.stderr).toContain('crypt aes-xts-plain64 0000000000');
        expect(flags & DM_SECURE_DATA_FLAG).toBe(DM_SECURE_DATA_FLAG);
      }
      await env.dmctl(['create', 'c', '--notable']);
      flags = -1;
      const r = await env.dmctl(['load', 'c'], { stdin: table });
      expect(hasKey(r.stderr)).toBe(false);
      expect(flags & DM_SECURE_DATA_FLAG).toBe(DM_SECURE_DATA_FLAG);
      // A line that does not parse is quoted with its key masked.
      const bad = await env.dmctl(['load', 'c', '--table', `0 eight crypt ${cryptParams}`]);
      expect(bad.code).toBe(1);
      expect(hasKey(bad.stderr)).toBe(false);
      expect(bad.stderr).toContain('Invalid format on line 1');
    } finally {
      env.cleanup();
    }
  });
});

describe('the rule (codec/secrets.ts)', () => {
  test('redactTableParams is dmsetup\'s masking, nothing more', () => {
    expect(redactTableParams('crypt', cryptParams)).toBe(`aes-xts-plain64 ${'0'.repeat(64)} 0 /dev/loop0 0`);
    expect(redactTableParams('crypt', 'aes-xts-plain64 :32:logon:my:key 0 /dev/loop0 0')).toBe('aes-xts-plain64 :32:logon:my:key 0 /dev/loop0 0');
    expect(redactTableParams('crypt', `aes-xts-plain64 - 0 /dev/disk/by-id/wwn-0x${HEX.slice(0, 16)} 0`)).toBe(`aes-xts-plain64 0 0 /dev/disk/by-id/wwn-0x${HEX.slice(0, 16)} 0`);
    expect(redactTableParams('linear', `/dev/loop0 ${HEX}`)).toBe(`/dev/loop0 ${HEX}`);
  });

  test('describeParams also masks a key out of its place in a key-carrying line, and hides secure lines of other types', () => {
    expect(describeParams('crypt', `${HEX} 0 /dev/loop0 0`, false)).toBe(`${'0'.repeat(64)} 0 /dev/loop0 0`);
    expect(describeParams('integrity', `/dev/loop0 0 32 J 1 internal_hash:hmac(sha256)${HEX}`, false)).not.toContain(HEX.slice(0, 16));
    expect(describeParams('vault', 'secret words', true)).toBe('<redacted>');
    expect(describeParams('linear', '/dev/loop0 0', true)).toBe('<redacted>');
    expect(describeParams('linear', '/dev/loop0 0', false)).toBe('/dev/loop0 0');
    expect(describeParams('crypt', new Uint8Array(4), false)).toBe('<bytes>');
  });

  test('describeTableLine masks a line that did not parse', () => {
    expect(describeTableLine(`0 eight crypt ${cryptParams}`)).toBe(`0 eight crypt aes-xts-plain64 ${'0'.repeat(64)} 0 /dev/loop0 0`);
    expect(describeTableLine(`garbage ${HEX.toUpperCase()}`)).toBe(`garbage ${'0'.repeat(64)}`);
  });

  test('scrubLogLines masks what a target logged of the secrets, from strings and bytes alike', () => {
    const line = `device-mapper: table: 254:0: crypt: bad key ${HEX}`;
    expect(scrubLogLines([line], [{ type: 'crypt', params: cryptParams }], false)).toEqual([`device-mapper: table: 254:0: crypt: bad key ${'0'.repeat(64)}`]);
    expect(scrubLogLines([line], [{ type: 'crypt', params: new TextEncoder().encode(cryptParams) }], false)[0]).not.toContain(HEX);
    expect(scrubLogLines(['vault: rejected hunter2-is-my-password'], [{ type: 'vault', params: 'hunter2-is-my-password /dev/x' }], true)).toEqual(['vault: rejected 0000000000000000000000']);
    expect(scrubLogLines(['linear: bad /dev/loop0'], [{ type: 'linear', params: '/dev/loop0 0' }], false)).toEqual(['linear: bad /dev/loop0']);
  });
});
