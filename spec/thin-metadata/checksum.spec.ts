import { describe, expect, it } from '@jest/globals';
import { thinBlockChecksum, THIN_CSUM_XOR, type ThinBlockKind } from '../../codec/thin-metadata-records.js';
import { fastThinBlockChecksum } from '../../lib/thin-metadata/checksum.js';
// mulberry32, so a failure names a reproducible block.
import { prng } from '../thin-tools/memory-metadata.js';

describe('fastThinBlockChecksum (slicing-by-8)', () => {
  it('equals the byte-at-a-time checksum on random blocks, every kind and every span length 0..40', () => {
    const rnd = prng(28);
    const bytes = new Uint8Array(4096);
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rnd() * 256);
      for (const kind of Object.keys(THIN_CSUM_XOR) as ThinBlockKind[]) {
        expect(fastThinBlockChecksum(bytes, 4, 4096, kind)).toBe(thinBlockChecksum(bytes, 4, 4096, kind));
      }
      const start = Math.floor(rnd() * 100);
      for (let len = 0; len <= 40; len++) expect(fastThinBlockChecksum(bytes, start, start + len, 'btree')).toBe(thinBlockChecksum(bytes, start, start + len, 'btree'));
    }
  });

  it('gives the crc32c check value of "123456789" (seeded ~0, inverted, no salt)', () => {
    // crc32c("123456789") = 0xe3069283; the block checksum is that before the final inversion, XOR the salt.
    const bytes = new TextEncoder().encode('123456789');
    expect((~(fastThinBlockChecksum(bytes, 0, 9, 'btree') ^ THIN_CSUM_XOR.btree)) >>> 0).toBe(0xe3069283);
  });

  it('changes when any one byte of a block changes', () => {
    const bytes = new Uint8Array(4096).fill(7);
    const base = fastThinBlockChecksum(bytes, 4, 4096, 'bitmap');
    for (const at of [4, 5, 11, 12, 2047, 4088, 4095]) {
      bytes[at] = bytes[at]! ^ 1;
      expect(fastThinBlockChecksum(bytes, 4, 4096, 'bitmap')).not.toBe(base);
      bytes[at] = bytes[at]! ^ 1;
    }
  });
});
