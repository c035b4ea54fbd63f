// The header-only request writer (codec/header-template.ts) and the runner's internal encode
// (codecInternals().encodeInto) against the general encoder: same bytes, or the same error,
// for every header-only command over random and hostile parameters, in both byte orders.
// The internal path writes into a buffer full of old bytes, as the reused scratch buffer is.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { COMMANDS, commandSpec, createCodec, DmCodecError, DM_IOCTL_SIZE, type CommandName } from '../../codec/index.js';
import { codecInternals, type DmCodec } from '../../codec/commands.js';
import { headerOnlyWriter } from '../../codec/header-template.js';
import type { Plan } from '../../codec/plan.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const codecs: [string, DmCodec][] = [['little', createCodec({ endian: 'little' })], ['big', createCodec({ endian: 'big' })]];
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

describe.each(codecs)('header-only requests (%s-endian): the internal path writes what encodeRequest writes', (_endian, codec) => {
  const internals = codecInternals(codec)!;

  test('the header-only commands are the ones expected (the writer covers them)', () => {
    expect(HEADER_ONLY).toEqual(['version', 'removeAll', 'create', 'remove', 'suspend', 'info', 'clear', 'armPoll'] satisfies CommandName[]);
  });

  test.each(HEADER_ONLY)('%s: random and hostile parameters', (command) => {
    fc.assert(fc.property(params, fc.integer({ min: 0, max: 255 }), (p, fill) => {
      const [into, view] = stale(fill);
      const fast = outcome(() => internals.encodeInto(command, p, undefined, into, view));
      const general = outcome(() => codec.encodeRequest(command as 'info', p as never));
      expect(fast).toEqual(general);
      if ('bytes' in fast) expect(internals.encodeInto(command, p, undefined, into, view)).toBe(into); // no copy, no subarray
    }), { numRuns: RUNS });
  });

  test('every flag combination of info and suspend, by name, uuid and dev', () => {
    const ids = [{ name: 'vg0-lv' }, { name: Uint8Array.from([0x6f, 0xff, 0xfe]) }, { uuid: 'LVM-é' }, { dev: { major: 253, minor: 0x12345 } }];
    for (const i of ids) {
      for (const inactive of [undefined, false, true]) {
        const [into, view] = stale(0xa5);
        expect(Array.from(internals.encodeInto('info', { id: i, inactive }, undefined, into, view))).toEqual(Array.from(codec.encodeRequest('info', { id: i, inactive })));
      }
      for (let bits = 0; bits < 8; bits++) {
        for (const action of ['suspend', 'resume'] as const) {
          const p = { id: i, action, noflush: (bits & 1) !== 0, skipLockfs: (bits & 2) !== 0, cookie: bits & 4 ? 0x0d4d0001 : undefined };
          const [into, view] = stale(0x5a);
          expect(Array.from(internals.encodeInto('suspend', p, undefined, into, view))).toEqual(Array.from(codec.encodeRequest('suspend', p)));
        }
      }
    }
  });
});

describe.each(codecs)('headerOnlyWriter (%s-endian) against the compiled header encoder', (_endian, codec) => {
  const write = headerOnlyWriter(codec.header);
  const u32ish = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom<unknown>(0, 0, 1, 0xffffffff, -1, 2 ** 32, 0.5, NaN, '3', 1n, undefined));
  const dev = fc.oneof(fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }), fc.constantFrom<unknown>(0n, 0n, -1n, 2n ** 64n, 5, 2 ** 53, -1, 'x', undefined));
  const version = fc.constantFrom(...new Set(COMMANDS.map((c) => commandSpec(c).minVersion)));
  const plan = fc.record({ flags: u32ish, eventNr: u32ish, targetCount: u32ish, dev, name: kernelString, uuid: kernelString });

  const isU32 = (x: unknown) => typeof x === 'number' && x >>> 0 === x;
  test('any plan, valid or not: the same bytes or the same error (the general encoder where the writer declines, having written nothing)', () => {
    fc.assert(fc.property(version, plan, fc.integer({ min: 0, max: 255 }), (v, p, fill) => {
      const generalInto = (bytes: Uint8Array, view: DataView) => codec.header.encode(view, bytes, 0, {
        version: [v[0], v[1], v[2]], data_size: DM_IOCTL_SIZE, data_start: DM_IOCTL_SIZE, target_count: p.targetCount as number,
        open_count: 0, flags: p.flags as number, event_nr: p.eventNr as number, padding: 0, dev: p.dev as bigint, name: p.name as string, uuid: p.uuid as string,
      });
      const [a, av] = stale(fill);
      // What codec/commands.ts does: the writer, else (it declined) the general encoder.
      const fast = outcome(() => {
        if (!write(v, { ...p, payloadSize: 0 } as Plan, a, av)) {
          expect(a.every((x) => x === fill)).toBe(true); // declined before writing anything
          generalInto(a, av);
        }
        return a;
      });
      const [b, bv] = stale(fill);
      const general = outcome(() => { generalInto(b, bv); return b; });
      expect(fast).toEqual(general);
      // Scalars it is sure of are never declined (else the template path would never run).
      const sure = isU32(p.flags) && isU32(p.eventNr) && isU32(p.targetCount) && typeof p.dev === 'bigint' && p.dev >= 0n && p.dev < 2n ** 64n;
      if (sure) {
        const [c, cv] = stale(fill);
        let wrote: boolean | undefined;
        try { wrote = write(v, { ...p, payloadSize: 0 } as Plan, c, cv); } catch { wrote = true; }
        expect(wrote).toBe(true);
      }
    }), { numRuns: RUNS });
  });
});
