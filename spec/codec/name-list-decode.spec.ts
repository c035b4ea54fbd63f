/**
 * LIST_DEVICES decoding decodes every name and uuid of a reply with one UTF-8 decode
 * (codec/payload.ts, decodeJoined) instead of one per string. Differential: over random and
 * hostile replies — non-ASCII and invalid UTF-8 names, a BOM, empty names, records that end
 * at the buffer's end, every trailer form, truncated replies, random `next` and flag values,
 * byte flips — the result (or the error) is exactly what the one-decode-per-string decoder
 * the package used before gives. That decoder is kept here, verbatim but for its imports.
 */
import { describe, expect, test } from '@jest/globals';
import { createCodec, DmCodecError, type DmCodec, type ListedDevice, type Version } from '../../codec/index.js';
import { decodeJoined, decodeNameList, type RecordCodecs } from '../../codec/payload.js';
import { dmNameList, dmNameListTrailer } from '../../codec/records.js';
import { findNul, rawIfLossy, utf8Decode } from '../../codec/text.js';
import { alignUp } from '../../codec/layout.js';
import { decodeDev } from '../../codec/dev.js';
import { malformed } from '../../codec/errors.js';
import { DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID, DM_NAME_LIST_FLAG_HAS_UUID } from '../../codec/constants.js';

const NL = dmNameList.offsetOf;

/** The decoder before the one-decode change (one utf8Decode per name and uuid): the oracle. */
function referenceDecodeNameList(rc: RecordCodecs, view: DataView, bytes: Uint8Array, start: number, end: number, kernel: Version): ListedDevice[] {
  const out: ListedDevice[] = [];
  if (end - start < NL.next) return out;
  if (view.getBigUint64(start + NL.dev, rc.nameList.endian === 'little') === 0n) return out;
  const trailerByVersion = kernel[0] > 4 || (kernel[0] === 4 && kernel[1] >= 37);
  const flagsByVersion = kernel[0] > 4 || (kernel[0] === 4 && kernel[1] >= 45);
  let off = start;
  for (;;) {
    if (off + NL.name + 1 > end) throw malformed(`name-list record at ${off} lies outside the returned data`, 'dm_name_list');
    const rec = rc.nameList.decode(view, bytes, off);
    const recEnd = rec.next === 0 ? end : off + rec.next;
    if (rec.next !== 0 && (rec.next < dmNameList.size || recEnd > end)) {
      throw malformed(`name-list record at ${off} has a next offset (${rec.next}) outside the data`, 'dm_name_list.next');
    }
    const nul = findNul(bytes, off + NL.name, recEnd);
    if (nul < 0) throw malformed(`name-list record at ${off}: name is not NUL-terminated`, 'dm_name_list.name');
    const name = utf8Decode(bytes, off + NL.name, nul);
    const nameBytes = rawIfLossy(name, bytes, off + NL.name, nul);
    let uuidBytes: Uint8Array | undefined;
    const tOff = alignUp(nul + 1, 8);
    let eventNr: number | undefined;
    let uuid: string | null | undefined;
    if (trailerByVersion && !flagsByVersion) {
      if (tOff + dmNameListTrailer.offsetOf.flags > recEnd) throw malformed(`name-list record "${name}": no room for the event_nr trailer`, 'dm_name_list');
      eventNr = view.getUint32(tOff + rc.trailer.layout.offsetOf.event_nr, rc.trailer.endian === 'little');
    } else if (trailerByVersion) {
      if (tOff + dmNameListTrailer.size > recEnd) throw malformed(`name-list record "${name}": no room for the event_nr/flags trailer`, 'dm_name_list');
      const t = rc.trailer.decode(view, bytes, tOff);
      eventNr = t.event_nr;
      const has = (t.flags & DM_NAME_LIST_FLAG_HAS_UUID) !== 0;
      const hasNot = (t.flags & DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID) !== 0;
      if ((t.flags & ~3) !== 0 || (has && hasNot)) {
        throw malformed(`name-list record "${name}": unknown trailer flags 0x${t.flags.toString(16)}`, 'dm_name_list.flags');
      }
      if (has) {
        const uOff = tOff + dmNameListTrailer.size;
        const unul = findNul(bytes, uOff, recEnd);
        if (unul < 0) throw malformed(`name-list record "${name}": uuid is not NUL-terminated`, 'dm_name_list.uuid');
        uuid = utf8Decode(bytes, uOff, unul);
        uuidBytes = rawIfLossy(uuid, bytes, uOff, unul);
      } else if (hasNot) {
        uuid = null;
      }
    }
    const d: ListedDevice & { nameBytes?: Uint8Array; uuidBytes?: Uint8Array } = { name, dev: decodeDev(rec.dev), eventNr, uuid };
    if (nameBytes) d.nameBytes = nameBytes;
    if (uuidBytes) d.uuidBytes = uuidBytes;
    out.push(d);
    if (rec.next === 0) return out;
    off += rec.next;
  }
}

/** xorshift32, seeded: reproducible. */
class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 || 1; }
  u32(): number { let x = this.s; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.s = x >>> 0; return this.s; }
  int(n: number): number { return this.u32() % n; }
  chance(p: number): boolean { return this.u32() / 0x100000000 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
}

const enc = new TextEncoder();
/** Pieces a name or uuid is made of: ASCII, multi-byte UTF-8, a BOM, U+FFFD itself, and invalid or cut-off sequences. */
const PIECES: Uint8Array[] = [
  ...['lv', 'vg0-', 'x', '_data', '0123456789', 'LVM-', '-', '.'].map((s) => enc.encode(s)),
  ...['é', 'ü', '名前', '😀', '\uFEFF', '\uFFFD'].map((s) => enc.encode(s)),
  new Uint8Array([0xff]), new Uint8Array([0x80]), new Uint8Array([0xc3]), new Uint8Array([0xe2, 0x82]),
  new Uint8Array([0xf0, 0x9f, 0x98]), new Uint8Array([0xed, 0xa0, 0x80]), new Uint8Array([0xc0, 0xaf]), new Uint8Array([0xef, 0xbb]),
];

function randomString(rng: Rng, max: number): Uint8Array {
  const parts: number[] = [];
  const n = rng.int(6);
  for (let i = 0; i < n && parts.length < max; i++) for (const b of rng.pick(PIECES)) if (parts.length < max) parts.push(b);
  return Uint8Array.from(parts);
}

interface RawRecord { dev: bigint; name: Uint8Array; eventNr: number; uuid: Uint8Array | null | undefined }

/** A reply's payload as a kernel of `version` lays it out, starting at `start`; returns the end. */
function layOut(codec: DmCodec, b: Uint8Array, start: number, recs: RawRecord[], version: Version): number {
  const le = codec.endian === 'little';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const trailer = version[0] > 4 || (version[0] === 4 && version[1] >= 37);
  const withFlags = version[0] > 4 || (version[0] === 4 && version[1] >= 45);
  let off = start;
  let prev = -1;
  for (const d of recs) {
    if (prev >= 0) v.setUint32(prev + NL.next, off - prev, le);
    v.setBigUint64(off + NL.dev, d.dev, le);
    v.setUint32(off + NL.next, 0, le);
    b.set(d.name, off + NL.name);
    b[off + NL.name + d.name.length] = 0;
    let p = alignUp(off + NL.name + d.name.length + 1, 8);
    if (trailer && !withFlags) {
      v.setUint32(p, d.eventNr, le);
      p += 8;
    } else if (trailer) {
      v.setUint32(p, d.eventNr, le);
      v.setUint32(p + 4, d.uuid === undefined ? 0 : d.uuid === null ? DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID : DM_NAME_LIST_FLAG_HAS_UUID, le);
      p += 8;
      if (d.uuid) {
        b.set(d.uuid, p);
        b[p + d.uuid.length] = 0;
        p = alignUp(p + d.uuid.length + 1, 8);
      }
    } else {
      p = Math.max(p, off + 16);
    }
    prev = off;
    off = p;
  }
  return off;
}

const VERSIONS: Version[] = [[4, 36, 0], [4, 43, 0], [4, 45, 0], [4, 48, 0], [5, 0, 0]];

/** Both decoders on the same bytes: the same records (nameBytes/uuidBytes too), or the same error. */
function outcome(f: () => ListedDevice[]): { ok: true; value: ListedDevice[] } | { ok: false; error: string } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (!(e instanceof DmCodecError)) throw e;
    return { ok: false, error: `${e.code} ${e.field} ${e.message}` };
  }
}

function compare(codec: DmCodec, b: Uint8Array, start: number, end: number, version: Version): boolean {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ours = outcome(() => decodeNameList(codec.records, v, b, start, end, version));
  const ref = outcome(() => referenceDecodeNameList(codec.records, v, b, start, end, version));
  expect(ours).toEqual(ref);
  return ref.ok;
}

describe('name-list decode: one UTF-8 decode per reply, the same result as one per string', () => {
  for (const endian of ['little', 'big'] as const) {
    const codec = createCodec({ endian });
    test(`random replies (${endian}-endian): valid, truncated, mutated; records ending at the buffer's end`, () => {
      const rng = new Rng(endian === 'little' ? 0x17a5 : 0x17b6);
      let valid = 0, invalid = 0, lossy = 0;
      for (let n = 0; n < 1500; n++) {
        const version = rng.pick(VERSIONS);
        const recs: RawRecord[] = Array.from({ length: 1 + rng.int(8) }, () => ({
          dev: BigInt(1 + rng.int(0xfffff)) | (rng.chance(0.2) ? BigInt(rng.u32()) << 32n : 0n),
          name: randomString(rng, 127),
          eventNr: rng.u32(),
          uuid: rng.chance(0.2) ? null : rng.chance(0.2) ? undefined : randomString(rng, 128),
        }));
        const start = 8 * rng.int(4);
        const b = new Uint8Array(start + 8 * 1024);
        const end = layOut(codec, b, start, recs, version);
        // The buffer ends where the data does (no slack), or with stale bytes after it.
        const buf = rng.chance(0.5) ? b.slice(0, end) : b.fill(0xa5, end);
        const view = buf.subarray(0);
        let e = end;
        const mutate = rng.int(5);
        if (mutate === 1) e = start + rng.int(end - start + 1); // truncated
        else if (mutate === 2) { const at = start + rng.int(end - start); view[at] = view[at]! ^ (1 << rng.int(8)); } // a flipped bit
        else if (mutate === 3) view[start + rng.int(end - start)] = rng.pick([0, 0xff, 0x80, 0x2f]); // a hostile byte
        else if (mutate === 4) new DataView(view.buffer).setUint32(start + NL.next, rng.pick([1, 8, 15, 16, end, 0xffffffff, rng.u32()]), endian === 'little');
        if (compare(codec, view, start, Math.min(e, view.length), version)) {
          valid++;
          const names = referenceDecodeNameList(codec.records, new DataView(view.buffer), view, start, Math.min(e, view.length), version);
          if (names.some((d) => 'nameBytes' in d || 'uuidBytes' in d)) lossy++;
        } else invalid++;
      }
      // The generator reaches both outcomes, and names that are not valid UTF-8.
      expect(valid).toBeGreaterThan(250);
      expect(invalid).toBeGreaterThan(150);
      expect(lossy).toBeGreaterThan(50);
    });
  }

  test('a BOM, U+FFFD and an empty name at the start, middle and end of a reply', () => {
    const codec = createCodec();
    const odd = [enc.encode('\uFEFFbom'), new Uint8Array(), enc.encode('\uFFFD'), new Uint8Array([0xef, 0xbb, 0xbf]), new Uint8Array([0xe2, 0x82]), enc.encode('plain')];
    for (const version of VERSIONS) {
      for (let k = 0; k < odd.length; k++) {
        const recs = odd.map((name, i) => ({ dev: BigInt(0xfd00 + i), name: odd[(i + k) % odd.length]!, eventNr: i, uuid: odd[(i + 2 * k) % odd.length]! }));
        const b = new Uint8Array(4096);
        const end = layOut(codec, b, 312, recs, version);
        expect(compare(codec, b.subarray(0, end), 312, end, version)).toBe(true);
      }
    }
  });

  test('decodeJoined: one decode of NUL-separated pieces gives each piece as decoded alone', () => {
    const rng = new Rng(0x10ad);
    for (let n = 0; n < 2000; n++) {
      const pieces = Array.from({ length: 1 + rng.int(10) }, () => randomString(rng, 64));
      const joined = new Uint8Array(pieces.reduce((a, p) => a + p.length + 1, 0) + rng.int(8));
      let j = 0;
      for (const p of pieces) { joined.set(p, j); j += p.length + 1; }
      expect(decodeJoined(joined, j)).toEqual(pieces.map((p) => utf8Decode(p, 0, p.length)));
    }
  });
});
