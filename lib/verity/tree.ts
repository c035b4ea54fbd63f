/**
 * One walk over a verity hash tree, bottom level first, that either writes each level
 * (format) or compares it with what the hash device holds (verify): cryptsetup's
 * VERITY_create_or_verify_hash() and create_or_verify() (lib/verity/verity_hash.c), in
 * bounded memory. The data blocks are read in chunks and hashed on the pool's threads, in
 * order; the upper levels, a small fraction of the work, are hashed on this thread. Checks
 * come in veritysetup's order, so the first bad block found is the one it names.
 */
import { createHash } from 'node:crypto';
import { DmSyscallError, DmVerityError, ERRNO } from '../errors.js';
import type { BlockFile } from '../kernel/backend.js';
import type { VerityGeometry } from './geometry.js';
import { HashPool, type HashJob } from './hash-pool.js';

/** Everything a walk needs. */
export interface TreeWalk {
  readonly data: BlockFile;
  readonly hash: BlockFile;
  readonly mode: 'create' | 'verify';
  readonly algorithm: string;
  readonly digestBytes: number;
  readonly version: 0 | 1;
  readonly salt: Uint8Array;
  readonly dataBlockBytes: number;
  readonly hashBlockBytes: number;
  readonly dataBlocks: bigint;
  readonly geometry: VerityGeometry;
  /** Threads for the data level (default os.availableParallelism()). */
  readonly threads?: number | undefined;
  /** Called between chunks: throws to stop (the operation's checkpoint). */
  checkpoint(): void;
  progress(doneBlocks: number, totalBlocks: number): void;
}

/** Bytes read per chunk of the data level (whole blocks; at least one). */
const DATA_CHUNK_BYTES = 1 << 20;
/** Hash blocks written or compared per I/O. */
const OUT_BATCH_BYTES = 1 << 20;

function hashOne(w: TreeWalk, block: Uint8Array): Uint8Array {
  const h = createHash(w.algorithm);
  if (w.version === 1) h.update(w.salt);
  h.update(block);
  if (w.version === 0) h.update(w.salt);
  return h.digest();
}

async function readFully(f: BlockFile, offsetBytes: bigint, into: Uint8Array, what: string): Promise<void> {
  const n = await f.read(offsetBytes, into);
  // fread() of a whole block that comes up short: veritysetup's "Cannot read … block." (EIO).
  if (n < into.length) throw new DmSyscallError(`${what}: ${f.path} ends at ${offsetBytes + BigInt(n)} bytes, before the ${into.length} bytes at ${offsetBytes}`, { errno: ERRNO.EIO, syscall: 'pread', path: f.path });
}

/** The digests of a level's source blocks, chunk by chunk, in order. */
async function* sourceDigests(w: TreeWalk, file: BlockFile, startBytes: bigint, blockBytes: number, count: bigint, pool: HashPool | undefined): AsyncGenerator<Uint8Array> {
  const perChunk = Math.max(1, Math.floor(DATA_CHUNK_BYTES / blockBytes));
  let next = 0n;
  const readChunk = async (buffer: ArrayBuffer | undefined): Promise<{ buffer: ArrayBuffer; n: number; at: bigint } | undefined> => {
    if (next >= count) return undefined;
    const n = Number(count - next < BigInt(perChunk) ? count - next : BigInt(perChunk));
    const at = next;
    next += BigInt(n);
    const buf = buffer && buffer.byteLength >= n * blockBytes ? buffer : new ArrayBuffer(perChunk * blockBytes);
    await readFully(file, startBytes + at * BigInt(blockBytes), new Uint8Array(buf, 0, n * blockBytes), file === w.data ? 'reading the data device' : 'reading the hash device');
    return { buffer: buf, n, at };
  };
  if (!pool) {
    let buffer: ArrayBuffer | undefined;
    for (;;) {
      w.checkpoint();
      const c = await readChunk(buffer);
      if (!c) return;
      buffer = c.buffer;
      const out = new Uint8Array(c.n * w.digestBytes);
      const bytes = new Uint8Array(c.buffer);
      for (let i = 0; i < c.n; i++) out.set(hashOne(w, bytes.subarray(i * blockBytes, (i + 1) * blockBytes)), i * w.digestBytes);
      yield out;
    }
  }
  // In flight: a few chunks per thread, so reading and hashing overlap; results taken in order.
  const window = pool.size * 3;
  const inFlight: Promise<{ digests: Uint8Array; buffer: ArrayBuffer }>[] = [];
  const spare: ArrayBuffer[] = [];
  const launch = async () => {
    const c = await readChunk(spare.pop());
    if (!c) return false;
    const p = pool.hash(c.buffer, c.n);
    p.catch(() => {}); // awaited in order below; a rejection before then is not unhandled
    inFlight.push(p);
    return true;
  };
  let more = true;
  while (more && inFlight.length < window) more = await launch();
  while (inFlight.length > 0) {
    w.checkpoint();
    const r = await inFlight.shift()!;
    spare.push(r.buffer);
    if (more) more = await launch();
    yield r.digests;
  }
}

/**
 * Builds or checks one level: the digests of `count` source blocks (data blocks for level 0,
 * the level below otherwise) packed into hash blocks at `level`'s place. Returns the level's
 * last hash block (the top level's one block is what the root hash is taken of).
 */
async function walkLevel(w: TreeWalk, level: number, pool: HashPool | undefined): Promise<Uint8Array> {
  const g = w.geometry;
  const hbs = w.hashBlockBytes;
  const fromData = level === 0;
  const sourceBlockBytes = fromData ? w.dataBlockBytes : hbs;
  const sourceStart = fromData ? 0n : g.levelStartBlocks[level - 1]! * BigInt(hbs);
  const count = fromData ? w.dataBlocks : g.levelBlocks[level - 1]!;
  const levelStart = g.levelStartBlocks[level]! * BigInt(hbs);
  const stride = w.version === 1 ? g.digestFullBytes : w.digestBytes;
  const perBatch = Math.max(1, Math.floor(OUT_BATCH_BYTES / hbs));
  let batch = new Uint8Array(perBatch * hbs);
  let batchFirst = 0n; // the level's hash block at batch[0]
  let batchBlocks = 0; // blocks of this batch in use
  let child = 0n; // the source block whose digest comes next
  const last = new Uint8Array(hbs);
  const corrupt = (device: 'data' | 'hash', positionBytes: bigint, message: string) => new DmVerityError('VERITY_CORRUPT', message, { device, positionBytes });
  const spareZero = (block: bigint, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      if (batch[Number(block - batchFirst) * hbs + i] !== 0) {
        const at = levelStart + block * BigInt(hbs) + BigInt(from);
        throw corrupt('hash', at, `Spare area is not zeroed at position ${at}.`);
      }
    }
  };
  const flush = async () => {
    if (batchBlocks === 0) return;
    last.set(batch.subarray((batchBlocks - 1) * hbs, batchBlocks * hbs));
    if (w.mode === 'create') await w.hash.write(levelStart + batchFirst * BigInt(hbs), batch.subarray(0, batchBlocks * hbs));
    batchFirst += BigInt(batchBlocks);
    batchBlocks = 0;
  };
  /** Makes hash block `block` the next of the batch: zeros to fill (create), or the stored bytes (verify). */
  const open = async (block: bigint) => {
    if (Number(block - batchFirst) >= perBatch) await flush();
    if (batchBlocks === 0 && w.mode === 'verify') {
      const n = Number(g.levelBlocks[level]! - block < BigInt(perBatch) ? g.levelBlocks[level]! - block : BigInt(perBatch));
      batch = new Uint8Array(perBatch * hbs);
      await readFully(w.hash, levelStart + block * BigInt(hbs), batch.subarray(0, n * hbs), 'reading the hash device');
    } else if (batchBlocks === 0) {
      batch.fill(0);
    }
    batchBlocks = Number(block - batchFirst) + 1;
  };
  /** The block's trailing spare area, after its last digest (verify). */
  const closeBlock = (block: bigint, used: number) => {
    if (w.mode === 'verify') spareZero(block, used, hbs);
  };
  const hashPerBlock = BigInt(g.hashPerBlock);
  for await (const digests of sourceDigests(w, fromData ? w.data : w.hash, sourceStart, sourceBlockBytes, count, pool)) {
    for (let d = 0; d < digests.length; d += w.digestBytes, child++) {
      const block = child / hashPerBlock;
      const slot = Number(child % hashPerBlock);
      if (slot === 0) await open(block);
      const at = Number(block - batchFirst) * hbs + slot * stride;
      const digest = digests.subarray(d, d + w.digestBytes);
      if (w.mode === 'create') {
        batch.set(digest, at);
      } else {
        for (let i = 0; i < w.digestBytes; i++) {
          if (batch[at + i] !== digest[i]) {
            const position = fromData ? child * BigInt(w.dataBlockBytes) : sourceStart + child * BigInt(hbs);
            throw corrupt(fromData ? 'data' : 'hash', position, `Verification failed at position ${position}.`);
          }
        }
        if (w.version === 1) spareZero(block, slot * stride + w.digestBytes, (slot + 1) * stride);
      }
      const lastOfBlock = slot === g.hashPerBlock - 1 || child === count - 1n;
      if (lastOfBlock) closeBlock(block, (slot + 1) * stride);
    }
    if (fromData) w.progress(Number(child), Number(count));
  }
  await flush();
  return last;
}

/**
 * Writes (create) or checks (verify) every level and returns the root hash: the digest of
 * the top level's one block, or of the only data block when there are no levels.
 */
export async function walkTree(w: TreeWalk): Promise<Uint8Array> {
  const g = w.geometry;
  if (g.levels === 0) {
    // At most one data block: no level is stored, the root is that block's digest.
    const block = new Uint8Array(w.dataBlockBytes);
    await readFully(w.data, 0n, block, 'reading the data device');
    w.progress(1, 1);
    return hashOne(w, block);
  }
  const job: HashJob = { algorithm: w.algorithm, digestBytes: w.digestBytes, blockBytes: w.dataBlockBytes, version: w.version, salt: w.salt };
  // A pool only pays for itself past a few chunks of data.
  const pool = w.dataBlocks * BigInt(w.dataBlockBytes) > 4n * BigInt(DATA_CHUNK_BYTES) ? new HashPool(job, w.threads) : undefined;
  let top: Uint8Array | undefined;
  try {
    for (let level = 0; level < g.levels; level++) top = await walkLevel(w, level, level === 0 ? pool : undefined);
  } finally {
    await pool?.close();
  }
  return hashOne(w, top!);
}
