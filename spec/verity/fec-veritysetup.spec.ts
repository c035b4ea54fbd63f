// dm-verity FEC against veritysetup: the parity computeFec writes is byte-identical with the
// FEC image `veritysetup format --fec-device` writes, over an option matrix (roots, block
// sizes, data sizes that do not fill the interleave, --hash-offset, --fec-offset, all three
// areas in one file, --no-superblock, trailing space in the hash file); and what
// repairWithFec corrects is the original data, which veritysetup then verifies. veritysetup
// formats plain files without device-mapper; without it the suite skips, saying so.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { computeFec, repairWithFec, verifyFec, veritysetupFecCoverage, DmVerityFecError, type FecReader, type FecWriter } from '../../lib/verity/index-fec.js';

const VERITYSETUP = ['/usr/sbin/veritysetup', '/sbin/veritysetup', '/usr/bin/veritysetup'].find((p) => fs.existsSync(p));
const d = VERITYSETUP ? describe : describe.skip;
if (!VERITYSETUP) test.skip('skipped: veritysetup is not installed (the oracle of these tests)', () => {});

let dir = '';
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verity-fec-')); });
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

function fileReader(file: string): FecReader {
  return async (offsetBytes, length) => {
    const fh = await fs.promises.open(file, 'r');
    try {
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, Number(offsetBytes));
      return bytesRead === length ? buf : buf.subarray(0, bytesRead);
    } finally { await fh.close(); }
  };
}

function fileWriter(file: string): FecWriter {
  return async (offsetBytes, bytes) => {
    const fh = await fs.promises.open(file, fs.existsSync(file) ? 'r+' : 'w+');
    try { await fh.write(bytes, 0, bytes.length, Number(offsetBytes)); } finally { await fh.close(); }
  };
}

function memoryWriter(): { writer: FecWriter; bytes: () => Buffer } {
  const chunks: { at: number; b: Buffer }[] = [];
  return {
    writer: async (offsetBytes, bytes) => { chunks.push({ at: Number(offsetBytes), b: Buffer.from(bytes) }); },
    bytes: () => {
      const end = Math.max(0, ...chunks.map((c) => c.at + c.b.length));
      const out = Buffer.alloc(end);
      for (const c of chunks) c.b.copy(out, c.at);
      return out;
    },
  };
}

/** Deterministic pseudo-random bytes, with a few zero blocks (they must not be special). */
function dataBytes(len: number, seed: number, blockSize: number): Buffer {
  const out = Buffer.alloc(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  if (len >= 5 * blockSize) out.fill(0, 3 * blockSize, 5 * blockSize);
  return out;
}

interface Case {
  name: string;
  roots: number;
  blockSize: number;
  dataBlocks: number;
  /** Extra bytes in the data file past the covered blocks (--data-blocks bounds the area). */
  dataTail?: number;
  hashOffset?: number;
  fecOffset?: number;
  noSuperblock?: boolean;
  /** 'separate': data, hash, fec files; 'hash+fec': FEC in the hash file; 'one': all three in one file. */
  files: 'separate' | 'hash+fec' | 'one';
  /** Pre-size the hash file larger than the tree (its tail is covered). */
  hashFileBytes?: number;
}

const CASES: Case[] = [
  { name: 'roots 2, 4 KiB blocks, 300 data blocks', roots: 2, blockSize: 4096, dataBlocks: 300, files: 'separate' },
  { name: 'roots 8, 1 KiB blocks, 3001 data blocks (not a multiple of rsn)', roots: 8, blockSize: 1024, dataBlocks: 3001, files: 'separate' },
  { name: 'roots 24, 512-byte blocks, 4099 data blocks', roots: 24, blockSize: 512, dataBlocks: 4099, files: 'separate' },
  { name: 'roots 3, a single data block', roots: 3, blockSize: 4096, dataBlocks: 1, files: 'separate' },
  { name: 'roots 11, --no-superblock', roots: 11, blockSize: 4096, dataBlocks: 777, noSuperblock: true, files: 'separate' },
  { name: 'roots 8, --hash-offset, --data-blocks below the file size', roots: 8, blockSize: 4096, dataBlocks: 500, dataTail: 12288, hashOffset: 8192, files: 'separate' },
  { name: 'roots 2, --fec-offset in a separate FEC file', roots: 2, blockSize: 4096, dataBlocks: 600, fecOffset: 65536, files: 'separate' },
  { name: 'roots 8, hash file with trailing space (covered up to its end)', roots: 8, blockSize: 4096, dataBlocks: 400, hashFileBytes: 4096 * 40, files: 'separate' },
  { name: 'roots 8, hash and FEC in one file (--fec-offset)', roots: 8, blockSize: 4096, dataBlocks: 700, fecOffset: 4096 * 20, files: 'hash+fec' },
  { name: 'roots 24, data, hash and FEC in one file (--hash-offset, --fec-offset)', roots: 24, blockSize: 4096, dataBlocks: 1000, hashOffset: 4096 * 1000, fecOffset: 4096 * 1020, files: 'one' },
  { name: 'roots 2, all in one file, --no-superblock, 512-byte-aligned hash offset', roots: 2, blockSize: 4096, dataBlocks: 333, hashOffset: 4096 * 333 + 512 * 3, fecOffset: 4096 * 345, noSuperblock: true, files: 'one' },
];

interface Formatted {
  c: Case;
  data: string;
  hash: string;
  fec: string;
  rootHash: string;
  original: Buffer;
  cover: { hashStartBytes: bigint; hashBlocks: bigint };
}

function format(c: Case, tag: string): Formatted {
  const base = path.join(dir, tag);
  const data = `${base}.data`;
  const hash = c.files === 'one' ? data : `${base}.hash`;
  const fec = c.files === 'separate' ? `${base}.fec` : hash;
  const original = dataBytes(c.dataBlocks * c.blockSize + (c.dataTail ?? 0), c.dataBlocks * 31 + c.roots, c.blockSize);
  fs.writeFileSync(data, original);
  if (c.hashFileBytes) { fs.writeFileSync(hash, Buffer.alloc(0)); fs.truncateSync(hash, c.hashFileBytes); }
  // With the FEC area in the hash file, FEC covers that file up to --fec-offset, which
  // veritysetup reads, so the file must reach it before the parity is written.
  if (c.files !== 'separate') {
    if (!fs.existsSync(hash)) fs.writeFileSync(hash, Buffer.alloc(0));
    if (fs.statSync(hash).size < c.fecOffset!) fs.truncateSync(hash, c.fecOffset!);
  }
  const args = ['format', data, hash, '--fec-device', fec, '--fec-roots', String(c.roots), '--data-blocks', String(c.dataBlocks),
    '--data-block-size', String(c.blockSize), '--hash-block-size', String(c.blockSize)];
  if (c.hashOffset !== undefined) args.push('--hash-offset', String(c.hashOffset));
  if (c.fecOffset !== undefined) args.push('--fec-offset', String(c.fecOffset));
  if (c.noSuperblock) args.push('--no-superblock');
  const out = execFileSync(VERITYSETUP!, args, { encoding: 'utf8' });
  const rootHash = /Root hash:\s*([0-9a-f]+)/.exec(out)![1]!;
  const hashSize = fs.statSync(hash).size;
  const cover = veritysetupFecCoverage({
    blockSizeBytes: c.blockSize, dataBlocks: c.dataBlocks, hashOffsetBytes: c.hashOffset ?? 0, superblock: !c.noSuperblock,
    hashAreaEndBytes: c.files === 'separate' ? hashSize : c.fecOffset!,
  });
  return { c, data, hash, fec, rootHash, original, cover };
}

function passOptions(f: Formatted, dataFile = f.data) {
  return {
    blockSizeBytes: f.c.blockSize, roots: f.c.roots, dataBlocks: f.c.dataBlocks, ...f.cover,
    fecOffsetBytes: f.c.fecOffset ?? 0, dataReader: fileReader(dataFile), hashReader: fileReader(f.hash),
  };
}

d('computeFec is byte-identical with veritysetup format --fec-device', () => {
  test.each(CASES.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = CASES[i]!;
    const f = format(c, `m${i}`);
    const mem = memoryWriter();
    const progress: number[] = [];
    const r = await computeFec({ ...passOptions(f), writer: mem.writer, memoryBytes: 256 * 1024, onProgress: (p) => progress.push(p.done) });
    const ours = mem.bytes().subarray(c.fecOffset ?? 0);
    const theirs = fs.readFileSync(f.fec).subarray(c.fecOffset ?? 0, (c.fecOffset ?? 0) + Number(r.fecBytes));
    expect(ours.length).toBe(Number(r.fecBytes));
    expect(theirs.length).toBe(Number(r.fecBytes)); // veritysetup wrote the whole area
    expect(ours.equals(theirs)).toBe(true); // cmp-identical
    if (c.files === 'separate' && c.fecOffset === undefined) expect(fs.statSync(f.fec).size).toBe(Number(r.fecBytes));
    expect(progress.at(-1)).toBe(Number(r.layout.rounds));
    // Batch size changes nothing: one round at a time gives the same bytes.
    const one = memoryWriter();
    await computeFec({ ...passOptions(f), writer: one.writer, memoryBytes: 1 });
    expect(one.bytes().subarray(c.fecOffset ?? 0).equals(ours)).toBe(true);
  }, 60_000);
});

function veritysetupVerify(f: Formatted, fecFile: string, dataFile = f.data): { status: number | null; out: string } {
  const c = f.c;
  const args = ['verify', dataFile, f.hash, f.rootHash, '--fec-device', fecFile, '--fec-roots', String(c.roots)];
  if (c.hashOffset !== undefined) args.push('--hash-offset', String(c.hashOffset));
  if (c.fecOffset !== undefined) args.push('--fec-offset', String(c.fecOffset));
  if (c.noSuperblock) throw new Error('verify without a superblock needs the salt and sizes: not used here');
  const r = spawnSync(VERITYSETUP!, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function corrupt(file: string, offset: number, bytes: number, seed: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(bytes);
    fs.readSync(fd, b, 0, bytes, offset);
    for (let i = 0; i < bytes; i++) b[i] = b[i]! ^ (1 + ((seed + i * 7) % 255));
    fs.writeSync(fd, b, 0, bytes, offset);
  } finally { fs.closeSync(fd); }
}

d('repairWithFec corrects damage back to the original, and veritysetup accepts the parity', () => {
  test('roots 8: two whole data blocks, a hash block and a few scattered bytes', async () => {
    const c: Case = { name: 'repair', roots: 8, blockSize: 4096, dataBlocks: 2000, files: 'separate' };
    const f = format(c, 'r1');
    // Our own parity, in a file of its own: veritysetup uses it below.
    const ourFec = `${f.fec}.ours`;
    await computeFec({ ...passOptions(f), writer: fileWriter(ourFec) });
    expect(fs.readFileSync(ourFec).equals(fs.readFileSync(f.fec))).toBe(true);
    expect(veritysetupVerify(f, ourFec).status).toBe(0);

    const bs = c.blockSize;
    corrupt(f.data, 10 * bs, bs, 1); // a whole block: one error in each of its codewords
    corrupt(f.data, 1234 * bs, bs, 2);
    corrupt(f.data, 77 * bs + 100, 3, 3); // a burst: three neighbouring codewords
    corrupt(f.data, 1999 * bs + 4095, 1, 4); // the last byte
    const hashBefore = fs.readFileSync(f.hash);
    corrupt(f.hash, Number(f.cover.hashStartBytes) + bs, 64, 5); // the second tree block
    expect(fs.readFileSync(f.data).equals(f.original)).toBe(false);

    // veritysetup finds the data hash wrong, then finds the damage repairable with our parity.
    const v = veritysetupVerify(f, ourFec);
    expect(v.out).toMatch(/repairable errors/);
    expect(v.status).toBe(0);

    const found = await verifyFec({ ...passOptions(f), fecReader: fileReader(ourFec) });
    expect(found.repairedBlocks.map((b) => `${b.area}:${b.blockIndex}:${b.correctedBytes}`)).toEqual([
      'data:10:4096', 'data:77:3', 'data:1234:4096', 'data:1999:1', 'hash:1:64',
    ]);
    expect(fs.readFileSync(f.data).equals(f.original)).toBe(false); // verify writes nothing

    const repaired = await repairWithFec({ ...passOptions(f), fecReader: fileReader(ourFec), dataWriter: fileWriter(f.data), hashWriter: fileWriter(f.hash) });
    expect(repaired.correctedBytes).toBe(4096 + 3 + 4096 + 1 + 64);
    expect(repaired.parityErrors).toBe(0);
    expect(fs.readFileSync(f.data).equals(f.original)).toBe(true);
    expect(fs.readFileSync(f.hash).equals(hashBefore)).toBe(true);
    const after = veritysetupVerify(f, ourFec);
    expect(after.status).toBe(0);
    expect(after.out).not.toMatch(/repairable/);
    expect((await verifyFec({ ...passOptions(f), fecReader: fileReader(ourFec) })).repairedBlocks).toEqual([]);
  }, 60_000);

  test('damaged parity bytes are counted, not taken for data damage', async () => {
    const c: Case = { name: 'parity', roots: 4, blockSize: 4096, dataBlocks: 300, files: 'separate' };
    const f = format(c, 'r2');
    corrupt(f.fec, 100, 1, 9);
    corrupt(f.fec, 9000, 1, 9);
    const r = await verifyFec({ ...passOptions(f), fecReader: fileReader(f.fec) });
    expect(r.repairedBlocks).toEqual([]);
    expect(r.parityErrors).toBe(2);
  }, 60_000);

  test('roots 4: three damaged blocks in one round are beyond errors-only decoding (typed error), within erasure decoding', async () => {
    const c: Case = { name: 'erasures', roots: 4, blockSize: 4096, dataBlocks: 1000, files: 'separate' };
    const f = format(c, 'r3');
    const rounds = Math.ceil((c.dataBlocks + Number(f.cover.hashBlocks)) / (255 - c.roots));
    const victims = [2, 2 + rounds, 2 + 3 * rounds]; // the same round: positions 0, 1 and 3 of each codeword
    for (const [k, b] of victims.entries()) corrupt(f.data, b * c.blockSize, c.blockSize, 20 + k);
    const fecReader = fileReader(f.fec);

    const e = await verifyFec({ ...passOptions(f), fecReader }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmVerityFecError);
    expect(e).toMatchObject({ code: 'FEC_UNCORRECTABLE', round: 2n });
    expect((e as DmVerityFecError).blocks).toEqual(expect.arrayContaining(victims.map((b) => ({ area: 'data', blockIndex: BigInt(b) }))));
    expect(fs.readFileSync(f.data).equals(f.original)).toBe(false);

    const r = await repairWithFec({ ...passOptions(f), fecReader, dataWriter: fileWriter(f.data), erasedBlocks: { data: victims } });
    expect(r.repairedBlocks.map((b) => Number(b.blockIndex))).toEqual(victims);
    expect(fs.readFileSync(f.data).equals(f.original)).toBe(true);
    expect(veritysetupVerify(f, f.fec).status).toBe(0);
  }, 60_000);
});

d('bad input is refused before any read', () => {
  test('roots, block size, readers, offsets', async () => {
    let reads = 0;
    const reader: FecReader = async (_o, n) => { reads++; return new Uint8Array(n); };
    const base = { blockSizeBytes: 4096, roots: 2, dataBlocks: 10, hashBlocks: 1, dataReader: reader, hashReader: reader, writer: async () => {} };
    for (const bad of [{ roots: 1 }, { roots: 25 }, { blockSizeBytes: 4095 }, { blockSizeBytes: 256 }, { dataBlocks: 0 }, { dataBlocks: -1 }, { hashBlocks: 1.5 },
      { hashReader: undefined }, { writer: 'x' }, { fecOffsetBytes: -1 }, { timeoutMs: 0 }, { memoryBytes: 0 }]) {
      await expect(computeFec({ ...base, ...bad } as never)).rejects.toMatchObject({ name: 'DmArgumentError', code: 'INVALID_ARGUMENT' });
    }
    expect(reads).toBe(0);
    await expect(computeFec({ ...base, dataReader: async () => new Uint8Array(3) })).rejects.toMatchObject({ name: 'DmVerityFecError', code: 'FEC_SHORT_READ' });
    await expect(computeFec({ ...base, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(reads).toBe(0);
  });
});
