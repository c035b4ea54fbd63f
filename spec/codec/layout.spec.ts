/**
 * The layout language itself: C layout rules, every scalar's range checks, char fields,
 * byte order, and generated vs interpreted code producing identical bytes and values.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  array, char, compile, DmCodecError, flex, flexOf, HOST_ENDIANNESS, pad, s32, struct, u16, u32, u64, u8, viewOf,
  type FieldType, type Layout, type StructCodec,
} from '../../codec/index.js';

const MODES = ['auto', 'interpret'] as const;
const ENDIANS = ['little', 'big'] as const;

function codecError(fn: () => unknown): DmCodecError {
  try { fn(); } catch (e) {
    expect(e).toBeInstanceOf(DmCodecError);
    return e as DmCodecError;
  }
  throw new Error('expected a DmCodecError, nothing was thrown');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function encodeFresh(c: StructCodec<any>, value: unknown, fill = 0xaa, extra = 8): Uint8Array {
  const b = new Uint8Array(c.size + extra).fill(fill);
  c.encode(viewOf(b), b, 0, value as never);
  return b;
}

describe('layout derivation (C rules)', () => {
  test('fields are aligned to their natural alignment; size is tail-padded to the struct alignment', () => {
    const l = struct('t', { a: u8, b: u32, c: u8 });
    expect(l.offsetOf).toEqual({ a: 0, b: 4, c: 8 });
    expect(l.size).toBe(12);
    expect(l.align).toBe(4);
    const m = struct('m', { a: u8, b: u64, c: u16 });
    expect(m.offsetOf).toEqual({ a: 0, b: 8, c: 16 });
    expect([m.size, m.align]).toEqual([24, 8]);
  });

  test('char and pad have alignment 1; arrays align like their element', () => {
    const l = struct('t', { a: char(3), b: u16, c: pad(1), d: array(u16, 3), e: u8 });
    expect(l.offsetOf).toEqual({ a: 0, b: 4, c: 6, d: 8, e: 14 });
    expect([l.size, l.align]).toEqual([16, 2]);
    const fields = l.fields.map((f) => [f.name, f.offset, f.size, f.align]);
    expect(fields).toEqual([['a', 0, 3, 1], ['b', 4, 2, 2], ['c', 6, 1, 1], ['d', 8, 6, 2], ['e', 14, 1, 1]]);
    const chars = struct('c', { a: char(5), b: u8 });
    expect([chars.size, chars.align]).toEqual([6, 1]);
  });

  test('flexible array members: size 0, aligned like the element, tail padding still counts', () => {
    const nl = struct('nl', { dev: u64, next: u32, name: flex });
    expect(nl.offsetOf.name).toBe(12);
    expect(nl.size).toBe(16);
    const deps = struct('deps', { count: u32, devs: flexOf(u64) });
    expect(deps.offsetOf.devs).toBe(8);
    expect([deps.size, deps.align]).toEqual([8, 8]);
    const tv = struct('tv', { next: u32, version: array(u32, 3), name: flex });
    expect([tv.offsetOf.name, tv.size]).toEqual([16, 16]);
  });

  test('a flexible array member must be the last field', () => {
    const e = codecError(() => struct('bad', { name: flex, n: u32 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
  });

  test('options.align raises the alignment (and so the size)', () => {
    const l = struct('a', { x: u8 }, { align: 8 });
    expect([l.size, l.align]).toEqual([8, 8]);
    expect(struct('e', {}).size).toBe(0);
  });

  test('lengths must be positive integers', () => {
    for (const bad of [0, -1, 1.5, NaN]) {
      expect(codecError(() => char(bad)).code).toBe('INVALID_ARGUMENT');
      expect(codecError(() => pad(bad)).code).toBe('INVALID_ARGUMENT');
      expect(codecError(() => array(u8, bad)).code).toBe('INVALID_ARGUMENT');
    }
  });

  test.each(MODES)('gaps, tail padding and pad fields are zeroed; bytes outside the struct are untouched (%s)', (mode) => {
    const l = struct('g', { a: u8, b: u32, p: pad(2), c: u64, d: u8 });
    expect(l.offsetOf).toEqual({ a: 0, b: 4, p: 8, c: 16, d: 24 });
    expect(l.size).toBe(32);
    const c = compile(l, { endian: 'little', mode });
    const b = new Uint8Array(48).fill(0xaa);
    c.encode(viewOf(b), b, 8, { a: 1, b: 2, c: 3n, d: 4 });
    const expected = new Uint8Array(48).fill(0xaa);
    expected.fill(0, 8, 40);
    expected[8] = 1; expected[12] = 2; expected[24] = 3; expected[32] = 4;
    expect(Array.from(b)).toEqual(Array.from(expected));
  });
});

describe.each(MODES)('scalar range checks (%s)', (mode) => {
  const cases: [string, FieldType, unknown[], unknown[]][] = [
    ['u8', u8, [0, 1, 255, -0], [256, -1, 1.5, NaN, Infinity, '1', 1n, null, undefined]],
    ['u16', u16, [0, 65535], [65536, -1, 0.5, '7', 7n]],
    ['u32', u32, [0, 0xffffffff], [2 ** 32, -1, 2 ** 53, 1e-9, '1', 1n]],
    ['s32', s32, [-(2 ** 31), 2 ** 31 - 1, 0, -1], [2 ** 31, -(2 ** 31) - 1, 0.25, '1', 1n]],
    ['u64', u64, [0, Number.MAX_SAFE_INTEGER, 0n, 2n ** 64n - 1n, 2n ** 63n], [2 ** 53, -1, -1n, 2n ** 64n, 1.5, NaN, '1', null]],
  ];
  test.each(cases)('%s', (name, type, good, bad) => {
    const c = compile(struct('s', { x: type }), { mode, endian: 'little' });
    for (const v of good) expect(() => encodeFresh(c, { x: v })).not.toThrow();
    for (const v of bad) {
      const e = codecError(() => encodeFresh(c, { x: v }));
      expect(e.code).toBe('INVALID_INTEGER');
      expect(e.field).toBe('s.x');
    }
    void name;
  });

  test('array elements are checked one by one and named; wrong lengths are rejected', () => {
    const c = compile(struct('s', { v: array(u32, 3) }), { mode, endian: 'little' });
    const e = codecError(() => encodeFresh(c, { v: [1, -2, 3] }));
    expect([e.code, e.field]).toEqual(['INVALID_INTEGER', 's.v[1]']);
    expect(codecError(() => encodeFresh(c, { v: [1, 2] })).code).toBe('INVALID_ARGUMENT');
    expect(codecError(() => encodeFresh(c, { v: 'abc' })).code).toBe('INVALID_ARGUMENT');
    const w = compile(struct('w', { v: array(u64, 2) }), { mode, endian: 'little' });
    expect(codecError(() => encodeFresh(w, { v: [1n, 2n ** 64n] })).field).toBe('w.v[1]');
  });

  test('u64 numbers and bigints encode identically; decode gives bigint', () => {
    const c = compile(struct('s', { x: u64 }), { mode, endian: 'little' });
    for (const n of [0, 1, 0xffffffff, 2 ** 32, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER]) {
      const a = encodeFresh(c, { x: n });
      expect(Array.from(a)).toEqual(Array.from(encodeFresh(c, { x: BigInt(n) })));
      expect(c.decode(viewOf(a), a, 0)).toEqual({ x: BigInt(n) });
    }
  });
});

describe.each(MODES)('char fields (%s)', (mode) => {
  const c = compile(struct('s', { s: char(8), t: u8 }), { mode, endian: 'little' });

  test('NUL-padded to the field length, over dirty bytes', () => {
    const b = encodeFresh(c, { s: 'ab', t: 9 }, 0xff);
    expect(Array.from(b.subarray(0, 9))).toEqual([0x61, 0x62, 0, 0, 0, 0, 0, 0, 9]);
    expect(c.decode(viewOf(b), b, 0)).toEqual({ s: 'ab', t: 9 });
    const e = encodeFresh(c, { s: '', t: 0 }, 0xff);
    expect(Array.from(e.subarray(0, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('at most N-1 bytes: room for the NUL', () => {
    expect(() => encodeFresh(c, { s: '1234567', t: 0 })).not.toThrow();
    const e = codecError(() => encodeFresh(c, { s: '12345678', t: 0 }));
    expect([e.code, e.field]).toEqual(['STRING_TOO_LONG', 's.s']);
  });

  test('the limit is in UTF-8 bytes, not UTF-16 units', () => {
    // 'é€😀' is 4 UTF-16 units but 2 + 3 + 4 = 9 bytes: too long for char(8).
    expect(codecError(() => encodeFresh(c, { s: 'é€😀', t: 0 })).code).toBe('STRING_TOO_LONG');
    // 'ééé' is 6 bytes: fits, even though 'ééé' + 1 more 2-byte char (8 bytes) does not.
    expect(() => encodeFresh(c, { s: 'ééé', t: 0 })).not.toThrow();
    expect(codecError(() => encodeFresh(c, { s: 'éééé', t: 0 })).code).toBe('STRING_TOO_LONG');
    // A lone surrogate is encoded as U+FFFD (3 bytes) and counted as such.
    expect(() => encodeFresh(c, { s: 'ab\ud800ab', t: 0 })).not.toThrow();
    expect(codecError(() => encodeFresh(c, { s: 'abc\ud800ab', t: 0 })).code).toBe('STRING_TOO_LONG');
  });

  test('UTF-8 encoding and decoding', () => {
    const b = encodeFresh(c, { s: 'é€', t: 0 });
    expect(Array.from(b.subarray(0, 8))).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0, 0, 0]);
    expect(c.decode(viewOf(b), b, 0).s).toBe('é€');
    expect(codecError(() => encodeFresh(c, { s: 'ab😀€', t: 0 })).code).toBe('STRING_TOO_LONG'); // 2+4+3 = 9
    const ok = encodeFresh(c, { s: 'a😀€'.slice(0, 3), t: 0 }); // 'a' + 4 bytes
    expect(c.decode(viewOf(ok), ok, 0).s).toBe('a😀');
  });

  test('a leading U+FEFF (byte order mark) survives the round trip', () => {
    const b = encodeFresh(c, { s: '\ufeffab', t: 0 });
    expect(Array.from(b.subarray(0, 5))).toEqual([0xef, 0xbb, 0xbf, 0x61, 0x62]);
    expect(c.decode(viewOf(b), b, 0).s).toBe('\ufeffab');
  });

  test('NUL inside the string is rejected; non-strings are rejected', () => {
    expect(codecError(() => encodeFresh(c, { s: 'a\0b', t: 0 })).code).toBe('STRING_HAS_NUL');
    expect(codecError(() => encodeFresh(c, { s: 5, t: 0 })).code).toBe('INVALID_ARGUMENT');
  });

  test('decode stops at the first NUL; an unterminated field decodes N-1 bytes (byte N-1 is never read); bad UTF-8 gives U+FFFD', () => {
    const b = new Uint8Array(9);
    b.set([0x61, 0, 0x62, 0x63], 0);
    expect(c.decode(viewOf(b), b, 0).s).toBe('a');
    // The kernel's strncpy(…, N-1) leaves byte N-1 as the caller's buffer had it (docs/kernel-facts.md).
    b.set([0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69]);
    expect(c.decode(viewOf(b), b, 0)).toEqual({ s: 'abcdefg', t: 0x69 });
    b.set([0xff, 0x61, 0, 0, 0, 0, 0, 0]);
    expect(c.decode(viewOf(b), b, 0).s).toBe('\ufffda');
    const long = compile(struct('l', { s: char(200) }), { mode, endian: 'little' });
    const s = 'x'.repeat(150);
    const lb = encodeFresh(long, { s });
    expect(long.decode(viewOf(lb), lb, 0).s).toBe(s);
  });
});

describe.each(MODES)('byte order (%s)', (mode) => {
  const l = struct('e', { a: u16, b: u32, c: s32, d: u64, e: array(u16, 2) });
  const v = { a: 0x0102, b: 0x03040506, c: -2, d: 0x0708090a0b0c0d0en, e: [0x1112, 0x1314] };
  test('little endian', () => {
    const c = compile(l, { mode, endian: 'little' });
    const b = encodeFresh(c, v, 0, 0);
    expect(Array.from(b)).toEqual([2, 1, 0, 0, 6, 5, 4, 3, 0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0,
      0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07, 0x12, 0x11, 0x14, 0x13, 0, 0, 0, 0]);
    expect(c.decode(viewOf(b), b, 0)).toEqual(v);
  });
  test('big endian', () => {
    const c = compile(l, { mode, endian: 'big' });
    const b = encodeFresh(c, v, 0, 0);
    expect(Array.from(b)).toEqual([1, 2, 0, 0, 3, 4, 5, 6, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0,
      0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x11, 0x12, 0x13, 0x14, 0, 0, 0, 0]);
    expect(c.decode(viewOf(b), b, 0)).toEqual(v);
  });
  test('u64 given as a number splits into the right halves in both orders', () => {
    for (const endian of ENDIANS) {
      const c = compile(struct('n', { d: u64 }), { mode, endian });
      const n = 0x0012345678abcdef % Number.MAX_SAFE_INTEGER;
      const b = encodeFresh(c, { d: n }, 0, 0);
      const dv = new DataView(b.buffer);
      expect(dv.getBigUint64(0, endian === 'little')).toBe(BigInt(n));
    }
  });
  test("'host' and the default are the host byte order", () => {
    expect(compile(l, { mode }).endian).toBe(HOST_ENDIANNESS);
    expect(compile(l, { mode, endian: 'host' }).endian).toBe(HOST_ENDIANNESS);
  });
});

describe('generated vs interpreted code', () => {
  test("'auto' really generates code here, 'interpret' does not", () => {
    const l = struct('probe', { a: u32 });
    expect(compile(l, { mode: 'auto' }).decode.name).toBe('decode_probe');
    expect(compile(l, { mode: 'interpret' }).decode.name).not.toBe('decode_probe');
  });

  // A random struct: a list of field types.
  const fieldType: fc.Arbitrary<FieldType> = fc.oneof(
    fc.constantFrom<FieldType>(u8, u16, u32, s32, u64),
    fc.integer({ min: 1, max: 24 }).map((n) => char(n)),
    fc.integer({ min: 1, max: 9 }).map((n) => pad(n)),
    fc.tuple(fc.constantFrom(u8, u16, u32, s32, u64), fc.integer({ min: 1, max: 4 })).map(([t, n]) => array(t, n) as FieldType),
  );
  const layoutArb = fc.tuple(
    fc.array(fieldType, { minLength: 0, maxLength: 10 }),
    fc.constantFrom<FieldType | null>(null, flex, flexOf(u64), flexOf(u16)),
    fc.constantFrom(1, 2, 4, 8, 16),
  ).map(([types, tail, align]) => {
    const fields: Record<string, FieldType> = {};
    types.forEach((t, i) => { fields[`f${i}`] = t; });
    if (tail) fields.tail = tail;
    return struct('r', fields, { align });
  });

  function scalarValue(s: string): fc.Arbitrary<unknown> {
    switch (s) {
      case 'u8': return fc.integer({ min: 0, max: 0xff });
      case 'u16': return fc.integer({ min: 0, max: 0xffff });
      case 'u32': return fc.integer({ min: 0, max: 0xffffffff });
      case 's32': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
      default: return fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.maxSafeNat());
    }
  }
  // Values that are sometimes invalid, to compare the errors too.
  function anyValue(s: string): fc.Arbitrary<unknown> {
    return fc.oneof({ weight: 8, arbitrary: scalarValue(s) }, { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.bigInt(), fc.string()) });
  }
  function valueArb(l: Layout, sometimesBad: boolean): fc.Arbitrary<Record<string, unknown>> {
    const rec: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of l.fields) {
      const t = f.type;
      const sv = sometimesBad ? anyValue : scalarValue;
      if (t.kind === 'scalar') rec[f.name] = sv(t.scalar);
      else if (t.kind === 'array') rec[f.name] = fc.array(sv(t.of.scalar), { minLength: t.length, maxLength: sometimesBad ? t.length + 1 : t.length });
      else if (t.kind === 'char') {
        const ok = fc.string({ unit: 'grapheme', maxLength: t.length }).filter((s) => !s.includes('\0') && new TextEncoder().encode(s).length < t.length);
        rec[f.name] = sometimesBad ? fc.oneof(ok, fc.string({ maxLength: t.length + 2 })) : ok;
      }
    }
    return fc.record(rec);
  }

  test('identical bytes, values and errors for random layouts and values (property)', () => {
    const arb = layoutArb.chain((l) => fc.tuple(
      fc.constant(l), valueArb(l, false), valueArb(l, true),
      fc.uint8Array({ minLength: l.size, maxLength: l.size }), fc.constantFrom(...ENDIANS),
      fc.integer({ min: 0, max: 7 }),
    ));
    fc.assert(fc.property(arb, ([l, value, maybeBad, random, endian, at]) => {
      const gen = compile(l, { endian, mode: 'auto' });
      const int = compile(l, { endian, mode: 'interpret' });
      // Encode valid values over dirty buffers: identical bytes, and they decode back.
      const bg = new Uint8Array(l.size + 16).fill(0x5a);
      const bi = new Uint8Array(l.size + 16).fill(0x5a);
      gen.encode(viewOf(bg), bg, at, value as never);
      int.encode(viewOf(bi), bi, at, value as never);
      expect(bg).toEqual(bi);
      const dg = gen.decode(viewOf(bg), bg, at);
      expect(int.decode(viewOf(bi), bi, at)).toEqual(dg);
      const normalized = Object.fromEntries(Object.entries(value).map(([k, v]) => [k,
        typeof v === 'number' && (l.declared[k] as FieldType).kind === 'scalar' && (l.declared[k] as { scalar: string }).scalar === 'u64' ? BigInt(v)
          : Array.isArray(v) ? v.map((x) => (typeof x === 'number' && (l.declared[k] as { of: { scalar: string } }).of.scalar === 'u64' ? BigInt(x) : x)) : v]));
      expect(dg).toEqual(normalized);
      // Decode random bytes: identical values.
      expect(int.decode(viewOf(random), random, 0)).toEqual(gen.decode(viewOf(random), random, 0));
      // Possibly-invalid values: both succeed with identical bytes, or both throw the same code and field.
      const eg = new Uint8Array(l.size).fill(1);
      const ei = new Uint8Array(l.size).fill(1);
      let errG: unknown;
      let errI: unknown;
      try { gen.encode(viewOf(eg), eg, 0, maybeBad as never); } catch (e) { errG = e; }
      try { int.encode(viewOf(ei), ei, 0, maybeBad as never); } catch (e) { errI = e; }
      if (errG === undefined) {
        expect(errI).toBeUndefined();
        expect(eg).toEqual(ei);
      } else {
        expect(errG).toBeInstanceOf(DmCodecError);
        expect(errI).toBeInstanceOf(DmCodecError);
        expect([(errI as DmCodecError).code, (errI as DmCodecError).field]).toEqual([(errG as DmCodecError).code, (errG as DmCodecError).field]);
      }
    }), { numRuns: 400 });
  });
});
