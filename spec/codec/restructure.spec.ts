/**
 * Differential test against `restructure` (an independent struct library, used only as an
 * oracle): for every fixed-size record, in both byte orders, our encode equals restructure's
 * encode byte for byte, and our decode of random bytes equals restructure's decode.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { createCodec, viewOf, type StructCodec } from '../../codec/index.js';
import { charBytes, charString, oracle, type Endian } from '../../bench/restructure-records.js';

const RUNS = 300;
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const s32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const enc = new TextEncoder();
/** A string that fits char[n]: ≤ n-1 UTF-8 bytes, no NUL. */
const cstr = (n: number) => fc.string({ unit: fc.oneof(fc.constantFrom('a', 'é', '€', '😀'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: n - 1 })
  .map((s) => {
    let t = [...s.replace(/\0/g, '')];
    while (enc.encode(t.join('')).length > n - 1) t = t.slice(0, -1);
    return t.join('');
  });

interface Case {
  name: string;
  arb: fc.Arbitrary<Record<string, unknown>>;
  /** Char fields and their lengths: strings for us, NUL-padded buffers for restructure. */
  chars: Record<string, number>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ours: (c: ReturnType<typeof createCodec>) => StructCodec<any>;
  /** Fields restructure has that ours does not (named pads). */
  extra?: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    name: 'dm_ioctl',
    arb: fc.record({
      version: fc.tuple(u32, u32, u32), data_size: u32, data_start: u32, target_count: u32, open_count: s32,
      flags: u32, event_nr: u32, padding: u32, dev: u64, name: cstr(128), uuid: cstr(129),
    }),
    chars: { name: 128, uuid: 129 },
    ours: (c) => c.header,
  },
  {
    name: 'dm_target_spec',
    arb: fc.record({ sector_start: u64, length: u64, status: s32, next: u32, target_type: cstr(16) }),
    chars: { target_type: 16 },
    ours: (c) => c.records.spec,
  },
  { name: 'dm_name_list', arb: fc.record({ dev: u64, next: u32 }), chars: {}, ours: (c) => c.records.nameList },
  { name: 'dm_target_versions', arb: fc.record({ next: u32, version: fc.tuple(u32, u32, u32) }), chars: {}, ours: (c) => c.records.versions },
  { name: 'dm_target_deps', arb: fc.record({ count: u32, padding: u32 }), chars: {}, ours: (c) => c.records.deps },
  { name: 'dm_target_msg', arb: fc.record({ sector: u64 }), chars: {}, ours: (c) => c.records.msg },
];

describe.each(['little', 'big'] as Endian[])('%s endian', (endian) => {
  const codec = createCodec({ endian });
  const rs = oracle(endian);

  test.each(CASES.map((c) => [c.name, c] as const))('%s: sizes agree', (name, c) => {
    const o = rs[name as keyof typeof rs];
    expect(c.ours(codec).size).toBe(o.size());
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s: encode is byte-identical', (name, c) => {
    const ours = c.ours(codec);
    const o = rs[name as keyof typeof rs];
    fc.assert(fc.property(c.arb, fc.integer({ min: 0, max: 255 }), (value, dirt) => {
      const mine = new Uint8Array(ours.size).fill(dirt); // dirty: every byte must be written
      ours.encode(viewOf(mine), mine, 0, value as never);
      const theirsValue: Record<string, unknown> = { ...value };
      for (const [k, n] of Object.entries(c.chars)) theirsValue[k] = charBytes(value[k] as string, n);
      const theirs = o.toBuffer(theirsValue);
      expect(Buffer.from(mine).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
    }), { numRuns: RUNS });
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s: decode of random bytes agrees', (name, c) => {
    const ours = c.ours(codec);
    const o = rs[name as keyof typeof rs];
    // Bias towards bytes that make valid / invalid UTF-8 and NULs in char fields.
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0x41, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x80));
    fc.assert(fc.property(fc.array(byte, { minLength: ours.size, maxLength: ours.size }), fc.integer({ min: 0, max: 16 }), (arr, at) => {
      const bytes = new Uint8Array(at + ours.size);
      bytes.set(arr, at);
      const mine = ours.decode(viewOf(bytes), bytes, at);
      const theirs = o.fromBuffer(Uint8Array.from(arr)) as Record<string, unknown>;
      const expected: Record<string, unknown> = {};
      for (const k of Object.keys(theirs)) {
        // A char[N] field's last byte is never read (docs/kernel-facts.md, "Stale bytes").
        expected[k] = k in c.chars ? charString((theirs[k] as Uint8Array).subarray(0, c.chars[k]! - 1)) : theirs[k];
      }
      expect(mine).toEqual(expected);
    }), { numRuns: RUNS });
  });
});

describe('the oracle is not trivially agreeing', () => {
  test('the two byte orders differ for a dm_ioctl', () => {
    const v = { version: [4, 0, 0], data_size: 312, data_start: 312, target_count: 0, open_count: 0, flags: 0, event_nr: 0, padding: 0, dev: 1n, name: 'a', uuid: '' };
    const le = oracle('little').dm_ioctl.toBuffer({ ...v, name: charBytes('a', 128), uuid: charBytes('', 129) });
    const c = createCodec({ endian: 'big' });
    const be = new Uint8Array(312);
    c.header.encode(viewOf(be), be, 0, v as never);
    expect(Buffer.from(le).equals(Buffer.from(be))).toBe(false);
  });
});
