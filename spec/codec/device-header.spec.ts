/**
 * The device reply's dedicated header decoder (`StructCodec.pick`, used for the 'device'
 * reply kind in codec/commands.ts) against the generic one, over fuzzed headers: the picked
 * fields equal `decode`'s, in generated and interpreted code, with the char memos hit and
 * missed; and `decodeReply('info')` (dedicated) gives the same device, or the same error, as
 * `decodeReply('deps')` of the same bytes (generic header decode, empty payload).
 */
import { describe, expect, test } from '@jest/globals';
import { compile, createCodec, dmIoctl, DM_BUFFER_FULL_FLAG, DM_IOCTL_SIZE, DM_MIN_DATA_SIZE, DmCodecError, viewOf } from '../../codec/index.js';

const FIELDS = ['data_size', 'target_count', 'open_count', 'flags', 'event_nr', 'dev', 'name', 'uuid'] as const;
const D = dmIoctl.offsetOf;

/** xorshift32, seeded: reproducible cases. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const u32 = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>>= 0); };
  return { u32, int: (n: number) => u32() % n, chance: (p: number) => u32() / 0x100000000 < p };
}

/** A header: random bytes, with names/uuids drawn from a small pool (memo hits) or random (misses, non-UTF-8, no NUL). */
function fuzzedHeader(r: ReturnType<typeof rng>, pool: Uint8Array[]): Uint8Array {
  const b = new Uint8Array(DM_IOCTL_SIZE + r.int(64));
  for (let i = 0; i < b.length; i++) b[i] = r.u32() & 0xff;
  for (const [off, n] of [[D.name, 128], [D.uuid, 129]] as const) {
    if (r.chance(0.6)) {
      const s = pool[r.int(pool.length)]!;
      b.set(s.subarray(0, n), off);
      if (s.length < n) b[off + s.length] = 0;
    }
  }
  return b;
}

describe('header.pick: the device fields of dm_ioctl', () => {
  for (const mode of ['auto', 'interpret'] as const) {
    test(`equals header.decode on those fields over 5,000 fuzzed headers (${mode})`, () => {
      const header = compile(dmIoctl, { mode });
      const pick = header.pick([...FIELDS]);
      const r = rng(0xd3c0de + (mode === 'auto' ? 0 : 1));
      const enc = new TextEncoder();
      const pool = [enc.encode('vg0-lv_root'), enc.encode('LVM-' + 'x'.repeat(64)), new Uint8Array([0xff, 0xfe, 0x41]), enc.encode('é名'), new Uint8Array(200).fill(0x61)];
      for (let i = 0; i < 5_000; i++) {
        const b = fuzzedHeader(r, pool);
        const o = b.length - DM_IOCTL_SIZE > 0 ? r.int(b.length - DM_IOCTL_SIZE + 1) : 0;
        const full = header.decode(viewOf(b), b, o);
        const got = pick(viewOf(b), b, o);
        expect(Object.keys(got).sort()).toEqual([...FIELDS].sort());
        for (const f of FIELDS) {
          if (got[f] !== full[f]) throw new Error(`case ${i} (${mode}): ${f} ${String(got[f])} !== ${String(full[f])}`);
        }
      }
    });
  }

  test('refuses a name that is not a value field of the layout', () => {
    const header = compile(dmIoctl);
    expect(() => header.pick(['nope' as 'flags'])).toThrow(DmCodecError);
    expect(() => header.pick(['data' as 'flags'])).toThrow(/no value field "data"/);
  });
});

describe("decodeReply('info') through the picked header equals the generic header's device", () => {
  test('5,000 fuzzed replies: same device, or the same error', () => {
    const codec = createCodec();
    const r = rng(0xfeed);
    const enc = new TextEncoder();
    const pool = [enc.encode('a'), enc.encode('vg1-lv_home'), new Uint8Array([0xc3, 0x28]), enc.encode('CRYPT-LUKS2-' + '0'.repeat(52))];
    let decoded = 0;
    for (let i = 0; i < 5_000; i++) {
      const b = fuzzedHeader(r, pool);
      const v = viewOf(b);
      // A kernel's version, so the decoder goes past its version check.
      const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
      v.setUint32(0, 4, le); v.setUint32(4, 48, le); v.setUint32(8, r.int(3), le);
      // data_size mostly plausible (the 'deps' payload empty: data_size ≤ data_start), sometimes
      // outside [DM_MIN_DATA_SIZE, the buffer] (both must refuse it alike).
      const ds = r.chance(0.85) ? DM_MIN_DATA_SIZE + r.int(DM_IOCTL_SIZE - DM_MIN_DATA_SIZE + 1)
        : r.chance(0.5) ? r.int(DM_MIN_DATA_SIZE) : b.length + 1 + r.int(400);
      v.setUint32(D.data_size, ds, le);
      v.setUint32(D.data_start, DM_IOCTL_SIZE, le);
      if (r.chance(0.2)) v.setUint32(D.flags, v.getUint32(D.flags, le) | DM_BUFFER_FULL_FLAG, le);
      const run = (c: 'info' | 'deps') => { try { return { device: codec.decodeReply(c, b).device }; } catch (e) { return { error: (e as DmCodecError).code + ' ' + (e as Error).message }; } };
      const a = run('info');
      const g = run('deps');
      expect(a).toEqual(g);
      if ('device' in a) decoded++;
    }
    expect(decoded).toBeGreaterThan(2_500); // most cases reach the device, not an early error
  });
});
