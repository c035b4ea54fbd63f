// Char fields remember the last string they decoded (codec/layout.ts, readChar): a decode
// must still give exactly what decoding the bytes gives, whatever came before — the same
// name again, a prefix or extension of it, the same length with one byte changed, invalid
// UTF-8, no NUL at all, a stale byte after the field. Checked against TextDecoder on a
// sequence of decodes that mostly repeat (so the remembered string is hit and missed),
// for the compiled and the interpreted codec, and for the header and the target spec.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { char, compile, dmIoctl, dmTargetSpec, DM_NAME_LEN, DM_UUID_LEN, struct } from '../../codec/index.js';
import { remembersStrings } from '../../codec/char-memo.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** What a char[n] field at `off` holds, by definition: UTF-8 of its bytes up to the first NUL, byte n-1 never read. */
function expected(bytes: Uint8Array, off: number, n: number): string {
  let end = off;
  while (end < off + n - 1 && bytes[end] !== 0) end++;
  return decoder.decode(bytes.subarray(off, end));
}

// A few byte strings, so a sequence repeats them, and mutations of them.
const seedBytes = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 140 }),
  fc.uint8Array({ minLength: 0, maxLength: 12 }).map((b) => b.map((x) => (x % 0x7f) + 1)), // ASCII without NUL
  fc.constantFrom(Uint8Array.from([0x6f, 0xff, 0xfe]), Uint8Array.from([0xef, 0xbf, 0xbd]), new Uint8Array(140).fill(0x61), Uint8Array.from([0xc3])),
);
const step = fc.record({
  pick: fc.nat(),
  mutate: fc.constantFrom('same', 'same', 'flip', 'longer', 'shorter', 'other'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  stale: fc.integer({ min: 0, max: 255 }),
});

function field(seeds: Uint8Array[], s: { pick: number; mutate: string; at: number; byte: number }, prev: Uint8Array): Uint8Array {
  const base = s.mutate === 'other' ? seeds[s.pick % seeds.length]! : prev;
  const b = Uint8Array.from(base);
  switch (s.mutate) {
    case 'flip': if (b.length > 0) b[s.at % b.length] = s.byte; return b;
    case 'longer': return Uint8Array.from([...b, s.byte]);
    case 'shorter': return b.subarray(0, Math.max(0, b.length - 1 - (s.at % 3)));
    default: return b;
  }
}

describe.each([['compiled', 'auto'], ['interpreted', 'interpret']] as const)('char fields (%s)', (_what, mode) => {
  const header = compile(dmIoctl, { mode });
  const spec = compile(dmTargetSpec, { mode });

  test('a sequence of header decodes gives name and uuid exactly as decoding their bytes does', () => {
    fc.assert(fc.property(fc.array(seedBytes, { minLength: 1, maxLength: 4 }), fc.array(step, { minLength: 1, maxLength: 40 }), (seeds, steps) => {
      let name: Uint8Array = seeds[0]!;
      let uuid: Uint8Array = seeds[seeds.length - 1]!;
      for (const s of steps) {
        name = field(seeds, s, name);
        uuid = field(seeds, { ...s, pick: s.pick + 1 }, uuid);
        const b = new Uint8Array(dmIoctl.size).fill(s.stale);
        b.set(name.subarray(0, DM_NAME_LEN), dmIoctl.offsetOf.name);
        b.set(uuid.subarray(0, DM_UUID_LEN), dmIoctl.offsetOf.uuid);
        if (name.length < DM_NAME_LEN) b[dmIoctl.offsetOf.name + name.length] = 0;
        if (uuid.length < DM_UUID_LEN) b[dmIoctl.offsetOf.uuid + uuid.length] = 0;
        const h = header.decode(new DataView(b.buffer), b, 0);
        expect(h.name).toBe(expected(b, dmIoctl.offsetOf.name, DM_NAME_LEN));
        expect(h.uuid).toBe(expected(b, dmIoctl.offsetOf.uuid, DM_UUID_LEN));
      }
    }), { numRuns: RUNS });
  });

  test('target types at different offsets of one buffer, repeated and changed', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 17 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 255 }), (types, stale) => {
      const b = new Uint8Array(dmTargetSpec.size * types.length).fill(stale);
      types.forEach((t, i) => {
        const off = i * dmTargetSpec.size + dmTargetSpec.offsetOf.target_type;
        b.set(t.subarray(0, 16), off);
        if (t.length < 16) b[off + t.length] = 0;
      });
      const view = new DataView(b.buffer);
      for (let round = 0; round < 2; round++) {
        types.forEach((_t, i) => {
          const o = i * dmTargetSpec.size;
          expect(spec.decode(view, b, o).target_type).toBe(expected(b, o + dmTargetSpec.offsetOf.target_type, 16));
        });
      }
    }), { numRuns: RUNS });
  });

  test('the same bytes in another buffer, then one byte changed in place', () => {
    const a = new Uint8Array(dmIoctl.size);
    a.set(new TextEncoder().encode('vg0-lv_root'), dmIoctl.offsetOf.name);
    expect(header.decode(new DataView(a.buffer), a, 0).name).toBe('vg0-lv_root');
    const b = Uint8Array.from(a);
    expect(header.decode(new DataView(b.buffer), b, 0).name).toBe('vg0-lv_root');
    b[dmIoctl.offsetOf.name + 10] = 0x74; // 't': same length, last byte differs
    expect(header.decode(new DataView(b.buffer), b, 0).name).toBe('vg0-lv_roott'.slice(0, 10) + 't');
    b[dmIoctl.offsetOf.name] = 0; // now empty
    expect(header.decode(new DataView(b.buffer), b, 0).name).toBe('');
  });
});

test('only the package\'s name, uuid and target-type records remember strings; a layout compiled by anyone else does not', () => {
  expect(remembersStrings(dmIoctl)).toBe(true);
  expect(remembersStrings(dmTargetSpec)).toBe(true);
  // A caller's struct may hold a passphrase in a char field: no copy of it outlives the call.
  expect(remembersStrings(struct('secret', { key: char(64) }))).toBe(false);
  const secret = compile(struct('secret', { key: char(8) }));
  const b = new TextEncoder().encode('hunter2\0');
  expect(secret.decode(new DataView(b.buffer), b, 0).key).toBe('hunter2');
});
