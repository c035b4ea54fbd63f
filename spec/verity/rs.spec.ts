// The Reed–Solomon codec of dm-verity's FEC: the table encoder against libfec's shift
// register, and the decoder's power (roots/2 errors, roots erasures, and failure beyond).
import { describe, expect, test } from '@jest/globals';
import { ParityTables, ReedSolomon, RS_NN, gfMul } from '../../lib/verity/rs.js';

/** A small deterministic generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

function codeword(rs: ReedSolomon, next: () => number): Uint8Array {
  const cw = new Uint8Array(RS_NN);
  for (let i = 0; i < rs.rsn; i++) cw[i] = next() & 0xff;
  rs.encodeReference(cw.subarray(0, rs.rsn), cw.subarray(rs.rsn));
  return cw;
}

function distinctPositions(n: number, next: () => number): number[] {
  const out = new Set<number>();
  while (out.size < n) out.add(next() % RS_NN);
  return [...out];
}

describe('GF(2^8) with 0x11d', () => {
  test('multiplication: alpha (2) has order 255, and 0x80 * 2 reduces by 0x11d', () => {
    expect(gfMul(0x80, 2)).toBe(0x1d);
    let x = 1;
    for (let i = 0; i < 255; i++) { x = gfMul(x, 2); if (i < 254) expect(x).not.toBe(1); }
    expect(x).toBe(1);
  });
});

describe.each([2, 3, 8, 11, 24])('RS(255, 255 - %i)', (roots) => {
  const rs = new ReedSolomon(roots);

  test('a codeword of the reference encoder has zero syndromes (decode changes nothing)', () => {
    const next = rng(roots);
    for (let n = 0; n < 20; n++) {
      const cw = codeword(rs, next);
      const copy = cw.slice();
      expect(rs.decode(cw)).toBe(0);
      expect(cw).toEqual(copy);
    }
  });

  test('the table encoder equals the shift-register encoder over interleaved codewords', () => {
    const next = rng(100 + roots);
    const tables = new ParityTables(rs);
    const count = 37;
    const rows = Array.from({ length: rs.rsn }, () => Uint8Array.from({ length: count + 5 }, () => next() & 0xff));
    const acc = tables.accumulator(count);
    for (let i = 0; i < rs.rsn; i++) tables.add(i, rows[i]!, 5, count, acc);
    const fast = new Uint8Array(count * roots);
    tables.pack(acc, count, fast);
    const slow = new Uint8Array(count * roots);
    const data = new Uint8Array(rs.rsn);
    for (let c = 0; c < count; c++) {
      for (let i = 0; i < rs.rsn; i++) data[i] = rows[i]![5 + c]!;
      rs.encodeReference(data, slow.subarray(c * roots, (c + 1) * roots));
    }
    expect(Buffer.from(fast).equals(Buffer.from(slow))).toBe(true);
  });

  test('corrects up to roots/2 errors anywhere, reporting their positions', () => {
    const next = rng(200 + roots);
    for (let n = 0; n < 30; n++) {
      const cw = codeword(rs, next);
      const good = cw.slice();
      const errors = 1 + (next() % Math.floor(roots / 2));
      const where = distinctPositions(errors, next);
      for (const p of where) cw[p] = cw[p]! ^ (1 + (next() % 255));
      const corrected: number[] = [];
      expect(rs.decode(cw, undefined, corrected)).toBe(errors);
      expect(cw).toEqual(good);
      expect(corrected.sort((a, b) => a - b)).toEqual(where.sort((a, b) => a - b));
    }
  });

  test('corrects up to roots erasures, and erasures plus (roots - erasures)/2 errors', () => {
    const next = rng(300 + roots);
    for (let n = 0; n < 30; n++) {
      const cw = codeword(rs, next);
      const good = cw.slice();
      const eras = 1 + (next() % roots);
      const errs = Math.floor((roots - eras) / 2);
      const where = distinctPositions(eras + errs, next);
      for (const p of where) cw[p] = cw[p]! ^ (1 + (next() % 255));
      expect(rs.decode(cw, where.slice(0, eras))).toBe(eras + errs);
      expect(cw).toEqual(good);
    }
  });

  test('more errors than roots/2 without erasures: refused or a different codeword, never silently the original', () => {
    const next = rng(400 + roots);
    let refused = 0;
    for (let n = 0; n < 30; n++) {
      const cw = codeword(rs, next);
      const good = cw.slice();
      for (const p of distinctPositions(Math.floor(roots / 2) + 1, next)) cw[p] = cw[p]! ^ (1 + (next() % 255));
      const bad = cw.slice();
      const r = rs.decode(cw);
      if (r < 0) { refused++; expect(cw).toEqual(bad); } else expect(cw).not.toEqual(good);
    }
    // With two or three parity bytes nearly every word is within one symbol of some codeword.
    if (roots >= 8) expect(refused).toBeGreaterThan(0);
  });
});

test('roots outside 2..24 are refused', () => {
  expect(() => new ReedSolomon(1)).toThrow(RangeError);
  expect(() => new ReedSolomon(25)).toThrow(RangeError);
  expect(() => new ReedSolomon(2.5)).toThrow(RangeError);
});
