// dm-verity FEC without veritysetup: the layout's arithmetic, in-memory round trips of
// compute → damage → repair, bounded reads, cancellation, time-out and progress.
import { describe, expect, test } from '@jest/globals';
import { computeFec, fecLayout, repairWithFec, verifyFec, veritysetupFecCoverage, type FecReader, type FecWriter } from '../../lib/verity/index-fec.js';
import { blockOfPosition, parityOffset, positionOfBlock } from '../../lib/verity/fec-layout.js';

function image(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 0xff; }
  return out;
}

function memReader(img: Uint8Array, log?: number[]): FecReader {
  return async (offsetBytes, length) => { log?.push(length); return img.slice(Number(offsetBytes), Number(offsetBytes) + length); };
}
function memWriter(img: Uint8Array): FecWriter {
  return async (offsetBytes, bytes) => { img.set(bytes, Number(offsetBytes)); };
}

describe('layout', () => {
  test('rsn, rounds, FEC size, and the interleaving of the kernel (o / rsn + (o % rsn) * rounds * bs)', () => {
    const l = fecLayout({ blockSizeBytes: 4096, roots: 2, dataBlocks: 300, hashBlocks: 4 });
    expect(l).toMatchObject({ rsn: 253, coveredBlocks: 304n, rounds: 2n, fecBlocks: 4n, fecBytes: 16384n });
    const bs = 4096n;
    for (const [round, i] of [[0n, 0], [1n, 0], [1n, 151], [0n, 252]] as const) {
      // The RS offset of codeword (round, byte 0), position i, through fec_interleave:
      const o = round * BigInt(l.rsn) * bs + BigInt(i);
      const physical = o / BigInt(l.rsn) + (o % BigInt(l.rsn)) * l.rounds * bs;
      expect(physical).toBe(blockOfPosition(l, round, i) * bs);
      expect(positionOfBlock(l, blockOfPosition(l, round, i))).toEqual({ round, position: i });
    }
    expect(parityOffset(l, 1n, 5)).toBe((4096n + 5n) * 2n);
  });

  test('veritysetup coverage: superblock, hash offset, no superblock', () => {
    expect(veritysetupFecCoverage({ blockSizeBytes: 4096, dataBlocks: 1, superblock: true, hashAreaEndBytes: 20480 })).toEqual({ hashStartBytes: 4096n, hashBlocks: 4n });
    expect(veritysetupFecCoverage({ blockSizeBytes: 4096, dataBlocks: 1, hashOffsetBytes: 8192, superblock: true, hashAreaEndBytes: 8192 + 20480 })).toEqual({ hashStartBytes: 12288n, hashBlocks: 4n });
    expect(veritysetupFecCoverage({ blockSizeBytes: 4096, dataBlocks: 1, hashOffsetBytes: 4608, superblock: false, hashAreaEndBytes: 20480 })).toEqual({ hashStartBytes: 4096n, hashBlocks: 4n });
    expect(veritysetupFecCoverage({ blockSizeBytes: 512, dataBlocks: 1, superblock: true, hashAreaEndBytes: 512 })).toEqual({ hashStartBytes: 512n, hashBlocks: 0n });
  });
});

describe.each([2, 5, 16])('in memory, roots %i', (roots) => {
  const bs = 1024;
  const dataBlocks = 900;
  const hashBlocks = 13;
  const hashStart = 3 * bs;

  async function setUp() {
    const data = image(dataBlocks * bs, roots);
    const hash = image(hashStart + hashBlocks * bs + 5 * bs, roots + 1);
    const layout = fecLayout({ blockSizeBytes: bs, roots, dataBlocks, hashBlocks });
    const fec = new Uint8Array(Number(layout.fecBytes) + 100);
    const common = { blockSizeBytes: bs, roots, dataBlocks, hashBlocks, hashStartBytes: hashStart, fecOffsetBytes: 100 };
    await computeFec({ ...common, dataReader: memReader(data), hashReader: memReader(hash), writer: memWriter(fec) });
    return { data, hash, fec, layout, common };
  }

  test('damage of up to roots/2 blocks per round is found and repaired; the images end as they were', async () => {
    const { data, hash, fec, layout, common } = await setUp();
    const data0 = data.slice();
    const hash0 = hash.slice();
    const t = Math.floor(roots / 2);
    // t whole blocks in round 1 (one of them a hash block), and a few bytes elsewhere.
    const victims = Array.from({ length: t - 1 }, (_, k) => 1n + BigInt(k) * layout.rounds);
    victims.push(layout.dataBlocks + ((1n - (layout.dataBlocks % layout.rounds) + layout.rounds) % layout.rounds)); // a hash block of round 1
    for (const v of victims) {
      const img = v < layout.dataBlocks ? data : hash;
      const at = v < layout.dataBlocks ? Number(v) * bs : hashStart + Number(v - layout.dataBlocks) * bs;
      for (let i = 0; i < bs; i++) img[at + i] = img[at + i]! ^ 0x5a;
    }
    data[6 * bs + 7] = data[6 * bs + 7]! ^ 1; // round 2
    const found = await verifyFec({ ...common, dataReader: memReader(data), hashReader: memReader(hash), fecReader: memReader(fec) });
    expect(found.correctedBytes).toBe(t * bs + 1);
    const r = await repairWithFec({ ...common, dataReader: memReader(data), hashReader: memReader(hash), fecReader: memReader(fec), dataWriter: memWriter(data), hashWriter: memWriter(hash) });
    expect(r.repairedBlocks).toEqual(found.repairedBlocks);
    const dataVictims = [...victims.filter((v) => v < layout.dataBlocks), 6n].sort((a, b) => Number(a - b));
    expect(r.repairedBlocks.map((b) => `${b.area}:${b.blockIndex}`)).toEqual([
      ...dataVictims.map((v) => `data:${v}`), `hash:${victims.at(-1)! - layout.dataBlocks}`,
    ]);
    expect(Buffer.from(data).equals(Buffer.from(data0))).toBe(true);
    expect(Buffer.from(hash).equals(Buffer.from(hash0))).toBe(true);
  });

  test('reads are bounded by memoryBytes (at least one block per read), and the parity does not depend on it', async () => {
    const { data, hash, fec, common } = await setUp();
    for (const memoryBytes of [1, 300_000]) {
      const log: number[] = [];
      const out = new Uint8Array(fec.length);
      await computeFec({ ...common, memoryBytes, dataReader: memReader(data, log), hashReader: memReader(hash, log), writer: memWriter(out) });
      expect(Buffer.from(out.subarray(100)).equals(Buffer.from(fec.subarray(100)))).toBe(true);
      expect(Math.max(...log)).toBeLessThanOrEqual(Math.max(bs, Math.floor(memoryBytes / (255 - roots) / bs) * bs));
    }
  });
});

describe('cancellation, time-out, progress', () => {
  const bs = 512;
  const data = image(2000 * bs, 9);
  const base = { blockSizeBytes: bs, roots: 2, dataBlocks: 2000, hashBlocks: 0, memoryBytes: 1, dataReader: memReader(data), writer: async () => {} };

  test('an abort mid-way rejects with ABORT_ERR at the next batch; progress counts rounds', async () => {
    const ac = new AbortController();
    const seen: { done: number; total: number; step: string }[] = [];
    const e = await computeFec({ ...base, signal: ac.signal, onProgress: (p) => { seen.push(p); if (p.done === 3) ac.abort(); } }).then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(seen.map((p) => p.done)).toEqual([1, 2, 3]);
    expect(seen[0]).toEqual({ done: 1, total: 8, step: 'fec-encode' });
  });

  test('timeoutMs rejects with DmOperationError TIMEOUT', async () => {
    const slow: FecReader = async (o, n) => { await new Promise((r) => setTimeout(r, 20)); return data.slice(Number(o), Number(o) + n); };
    await expect(computeFec({ ...base, dataReader: slow, timeoutMs: 30 })).rejects.toMatchObject({ name: 'DmOperationError', code: 'TIMEOUT' });
  });

  test('the zero blocks past the covered area are never read', async () => {
    const log: number[] = [];
    await computeFec({ ...base, dataBlocks: 1, memoryBytes: 1 << 20, dataReader: memReader(data, log) });
    expect(log).toEqual([bs]);
  });
});
