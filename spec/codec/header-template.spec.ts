// The template encoder of the layout compiler (StructCodec.template, codec/layout.ts) and the
// path that uses it (encodeRequest with a kept `intoView`: header-only requests from a template)
// against the general encoder: same bytes, or the same error, for every header-only command
// over random and hostile parameters, in both byte orders, generated and interpreted. The
// kept-view path writes into a buffer full of old bytes, as the runner's reused scratch is.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  array, char, COMMANDS, commandSpec, compile, createCodec, DmCodecError, DM_DATA_START, DM_IOCTL_SIZE, s32, struct, u16, u32, u64, u8,
  type CommandName, type DmCodec,
} from '../../codec/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const codecs: [string, DmCodec][] = [
  ['little', createCodec({ endian: 'little' })], ['big', createCodec({ endian: 'big' })],
  ['little, interpreted', createCodec({ endian: 'little', mode: 'interpret' })], ['big, interpreted', createCodec({ endian: 'big', mode: 'interpret' })],
];
const HEADER_ONLY = COMMANDS.filter((c) => commandSpec(c).request === 'none' && !commandSpec(c).payload);

type Outcome = { bytes: number[] } | { error: { code: string; field: string | undefined; message: string } };

function outcome(f: () => Uint8Array): Outcome {
  try {
    return { bytes: Array.from(f()) };
  } catch (e) {
    if (!(e instanceof DmCodecError)) throw e;
    return { error: { code: e.code, field: e.field, message: e.message } };
  }
}

/** A buffer as the runner's scratch is between calls: full of an earlier call's bytes. */
function stale(fill: number): [Uint8Array, DataView] {
  const b = new Uint8Array(DM_IOCTL_SIZE).fill(fill);
  return [b, new DataView(b.buffer)];
}

// Names and uuids: ASCII, any Unicode (lone surrogates too), NUL, '/', too long, raw bytes
// (invalid UTF-8 among them), and values of the wrong type.
const text = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.string({ unit: 'grapheme', maxLength: 70 }),
  fc.string({ unit: 'binary', maxLength: 140 }),
  fc.constantFrom('', 'a', 'control', '.', '..', 'a/b', 'a\0b', 'é'.repeat(64), 'x'.repeat(127), 'x'.repeat(128), 'u'.repeat(128), 'u'.repeat(129)),
);
const rawBytes = fc.uint8Array({ maxLength: 140 });
const kernelString = fc.oneof(text, rawBytes, fc.constantFrom<unknown>(null, 5, {}, [], Symbol('s')));
const int = fc.oneof(
  fc.integer({ min: 0, max: 0xfffff }),
  fc.constantFrom<unknown>(-1, 0xfff, 0x1000, 0x100000, 0xffffffff, 2 ** 32, 1.5, NaN, '1', 1n, null),
);
const id = fc.oneof(
  fc.record({ name: kernelString }),
  fc.record({ uuid: kernelString }),
  fc.record({ dev: fc.oneof(fc.record({ major: int, minor: int }), fc.constantFrom<unknown>(null, 3)) }),
  fc.record({ name: kernelString, uuid: kernelString }, { requiredKeys: [] }),
  fc.constantFrom<unknown>(null, undefined, 'name', 7),
);
const bool = fc.oneof(fc.boolean(), fc.constantFrom<unknown>(undefined, undefined, 1, 'yes', null));
const cookie = fc.oneof(fc.constantFrom<unknown>(undefined, 0, 1, 2, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }), int);
const params = fc.record({
  id, name: kernelString, uuid: kernelString, major: int, minor: int, deferred: bool, inactive: bool, noflush: bool,
  skipLockfs: bool, cookie, action: fc.constantFrom<unknown>('suspend', 'resume', 'other', undefined),
}, { requiredKeys: [] });

describe.each(codecs)('header-only requests (%s): with a kept view, encodeRequest writes what it writes without one', (_endian, codec) => {
  const encodeInto = (command: CommandName, p: unknown, into: Uint8Array, intoView: DataView) =>
    (codec.encodeRequest as (c: CommandName, p: unknown, o: object) => Uint8Array)(command, p, { into, intoView });

  test('the header-only commands are the ones expected (the writer covers them)', () => {
    expect(HEADER_ONLY).toEqual(['version', 'removeAll', 'create', 'remove', 'suspend', 'info', 'clear', 'armPoll'] satisfies CommandName[]);
  });

  test.each(HEADER_ONLY)('%s: random and hostile parameters', (command) => {
    fc.assert(fc.property(params, fc.integer({ min: 0, max: 255 }), (p, fill) => {
      const [into, view] = stale(fill);
      const fast = outcome(() => encodeInto(command, p, into, view));
      const general = outcome(() => codec.encodeRequest(command as 'info', p as never));
      expect(fast).toEqual(general);
      if ('bytes' in fast) expect(encodeInto(command, p, into, view)).toBe(into); // no copy, no subarray
    }), { numRuns: RUNS });
  });

  test('every flag combination of info and suspend, by name, uuid and dev', () => {
    const ids = [{ name: 'vg0-lv' }, { name: Uint8Array.from([0x6f, 0xff, 0xfe]) }, { uuid: 'LVM-é' }, { dev: { major: 253, minor: 0x12345 } }];
    for (const i of ids) {
      for (const inactive of [undefined, false, true]) {
        const [into, view] = stale(0xa5);
        expect(Array.from(encodeInto('info', { id: i, inactive }, into, view))).toEqual(Array.from(codec.encodeRequest('info', { id: i, inactive })));
      }
      for (let bits = 0; bits < 8; bits++) {
        for (const action of ['suspend', 'resume'] as const) {
          const p = { id: i, action, noflush: (bits & 1) !== 0, skipLockfs: (bits & 2) !== 0, cookie: bits & 4 ? 0x0d4d0001 : undefined };
          const [into, view] = stale(0x5a);
          expect(Array.from(encodeInto('suspend', p, into, view))).toEqual(Array.from(codec.encodeRequest('suspend', p)));
        }
      }
    }
  });
});

describe.each(codecs)('the dm_ioctl template encoder (%s) against the compiled header encoder', (_endian, codec) => {
  const u32ish = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom<unknown>(0, 0, -0, 1, 0xffffffff, -1, 2 ** 32, 0.5, NaN, '3', 1n, undefined));
  const dev = fc.oneof(
    fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
    fc.constantFrom<unknown>(0n, 0n, -1n, 2n ** 64n, 0, 5, 2 ** 53 - 1, 2 ** 53, -1, 0.5, 'x', undefined),
  );
  const version = fc.constantFrom(...new Set(COMMANDS.map((c) => commandSpec(c).minVersion)));
  const fields = fc.record({ flags: u32ish, event_nr: u32ish, target_count: u32ish, dev, name: kernelString, uuid: kernelString });
  const templates = new Map<unknown, ReturnType<typeof templateOf>>();
  const templateOf = (v: readonly [number, number, number]) =>
    codec.header.template({ version: [v[0], v[1], v[2]], data_size: DM_DATA_START, data_start: DM_DATA_START, open_count: 0, padding: 0 });

  const isU32 = (x: unknown) => typeof x === 'number' && x >>> 0 === x;
  test('any fields, valid or not: the same bytes or the same error (the general encoder where the template declines, having written nothing)', () => {
    fc.assert(fc.property(version, fields, fc.integer({ min: 0, max: 255 }), (v, p, fill) => {
      let t = templates.get(v);
      if (!t) templates.set(v, t = templateOf(v));
      const value = p as never;
      const generalInto = (bytes: Uint8Array, view: DataView) => codec.header.encode(view, bytes, 0, {
        version: [v[0], v[1], v[2]], data_size: DM_DATA_START, data_start: DM_DATA_START, open_count: 0, padding: 0, ...(p as object),
      } as never);
      const [a, av] = stale(fill);
      // What codec/commands.ts does: the template, else (it declined) the general encoder.
      const fast = outcome(() => {
        if (!t.encode(av, a, 0, value)) {
          expect(a.every((x) => x === fill)).toBe(true); // declined before writing anything
          generalInto(a, av);
        }
        return a;
      });
      const [b, bv] = stale(fill);
      const general = outcome(() => { generalInto(b, bv); return b; });
      expect(fast).toEqual(general);
      // Scalars it can write are never declined (else the template path would never run).
      const d = p.dev;
      const sure = isU32(p.flags) && isU32(p.event_nr) && isU32(p.target_count)
        && (typeof d === 'bigint' ? d >= 0n && d < 2n ** 64n : Number.isSafeInteger(d) && (d as number) >= 0);
      if (sure) {
        const [c, cv] = stale(fill);
        let wrote: boolean | undefined;
        try { wrote = t.encode(cv, c, 0, value); } catch { wrote = true; }
        expect(wrote).toBe(true);
      }
    }), { numRuns: RUNS });
  });
});

// The compiler's template for a struct of every scalar type, a char array and a fixed array,
// at an offset into a larger buffer: the same differential as above.
describe.each(['little', 'big'] as const)('StructCodec.template over every field type (%s-endian)', (endian) => {
  const layout = struct('every', { a: u8, b: u16, fixed: array(u32, 2), c: s32, d: u64, e: char(8), f: u32 });
  const any = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 }), fc.bigInt({ min: -1n, max: 2n ** 64n }),
    fc.constantFrom<unknown>(0, -0, 0n, 255, 256, 65535, 65536, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 0.5, NaN, null, '1', ''),
  );
  // Each field mostly valid (else nearly every run would decline at the first field), sometimes anything.
  const or = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: any, weight: 1 });
  const value = fc.record({
    a: or(fc.integer({ min: 0, max: 255 })), b: or(fc.integer({ min: 0, max: 65535 })), c: or(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
    d: or(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.maxSafeNat())), e: fc.oneof(fc.string({ maxLength: 7 }), kernelString),
    f: or(fc.integer({ min: 0, max: 0xffffffff })),
  });
  test.each(['auto', 'interpret'] as const)('%s: same bytes or the same error, nothing written on a decline', (mode) => {
    const sc = compile(layout, { endian, mode });
    const t = sc.template({ fixed: [7, 0xfffffffe] });
    fc.assert(fc.property(value, fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 16 }), (p, fill, at) => {
      const mk = () => { const b = new Uint8Array(at + sc.size + 5).fill(fill); return [b, new DataView(b.buffer)] as const; };
      const general = (b: Uint8Array, v: DataView) => sc.encode(v, b, at, { fixed: [7, 0xfffffffe], ...(p as object) } as never);
      const [a, av] = mk();
      const fast = outcome(() => {
        if (!t.encode(av, a, at, p as never)) {
          expect(a.every((x) => x === fill)).toBe(true);
          general(a, av);
        }
        return a;
      });
      const [b, bv] = mk();
      expect(fast).toEqual(outcome(() => { general(b, bv); return b; }));
    }), { numRuns: RUNS });
  });

  test('an array field must be fixed', () => {
    expect(() => compile(layout, { endian }).template({ a: 1 } as never)).toThrow(/every.fixed: a template patches scalars and char arrays; an array must be fixed/);
  });
});
