/**
 * persistent-data's block checksum, computed eight bytes a step (slicing-by-8): the same
 * value as codec's thinBlockChecksum (crc32c seeded with ~0, not inverted, XORed with the
 * block kind's salt), which walks a byte at a time. Every metadata block read is checked,
 * so the checksum is a large share of a walk's time; the spec compares the two on random
 * and real blocks.
 */
import { THIN_CSUM_XOR, type ThinBlockKind } from '../../codec/thin-metadata-records.js';

/** Eight 256-entry tables: T[k][n] is the crc of byte n followed by k zero bytes. */
const T = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const p = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (p >>> 8) ^ t[p & 0xff]!;
    }
  }
  return t;
})();

/** The checksum of `bytes[start, end)` for a block of `kind` (equal to codec's thinBlockChecksum). */
export function fastThinBlockChecksum(bytes: Uint8Array, start: number, end: number, kind: ThinBlockKind): number {
  let c = -1;
  let i = start;
  const stop = start + ((end - start) & ~7);
  for (; i < stop; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c = T[1792 + (c & 0xff)]! ^ T[1536 + ((c >>> 8) & 0xff)]! ^ T[1280 + ((c >>> 16) & 0xff)]! ^ T[1024 + (c >>> 24)]!
      ^ T[768 + bytes[i + 4]!]! ^ T[512 + bytes[i + 5]!]! ^ T[256 + bytes[i + 6]!]! ^ T[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ THIN_CSUM_XOR[kind]) >>> 0;
}
