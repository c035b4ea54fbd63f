/**
 * dm-verity forward error correction over caller-supplied images: `computeFec` writes the
 * parity veritysetup writes (`format --fec-device`), `verifyFec` finds the damage the parity
 * can correct, `repairWithFec` also writes the corrected blocks back. Pure: every byte comes
 * from a reader callback and goes to a writer callback, so the same code runs over files,
 * block devices or memory.
 *
 * The work goes in batches of whole interleaving rounds: the blocks of consecutive rounds
 * at one codeword position are consecutive on disk (block i * rounds + n), so a batch is
 * rsn reads of consecutive blocks, and its parity one consecutive write. Memory is bounded
 * by `memoryBytes` (one batch of rsn rows), whatever the image size.
 */
import { DmAbortError, DmArgumentError, DmOperationError, DmVerityFecError } from '../errors.js';
import { blockOfPosition, buildFecLayout, coveredBlock, positionOfBlock, type FecLayout, type FecLayoutInput } from './fec-layout.js';
import { ParityTables, ReedSolomon, RS_NN } from './rs.js';

/** Reads `lengthBytes` bytes at `offsetBytes` of an image; must return exactly `lengthBytes` bytes. */
export type FecReader = (offsetBytes: bigint, lengthBytes: number) => Promise<Uint8Array>;
/** Writes `bytes` at `offsetBytes` of an image. */
export type FecWriter = (offsetBytes: bigint, bytes: Uint8Array) => Promise<void>;

/** Progress of a FEC pass, in interleaving rounds. */
export interface FecProgress {
  readonly done: number;
  readonly total: number;
  readonly step: 'fec-encode' | 'fec-verify';
}

/** What every FEC pass takes. */
export interface FecPassOptions extends FecLayoutInput {
  /** Reads the data image (covered: blocks 0..dataBlocks-1 from offset 0). */
  readonly dataReader: FecReader;
  /** Reads the hash image (covered: hashBlocks blocks from hashStartBytes). Needed when hashBlocks > 0. */
  readonly hashReader?: FecReader;
  /** Where the FEC area starts in its image (`--fec-offset`); default 0. */
  readonly fecOffsetBytes?: bigint | number;
  /**
   * Memory for the blocks of one batch of rounds, default 32 MiB; at least one round
   * (255 - roots blocks) is always taken. The parity of a batch adds roots / (255 - roots) of it.
   */
  readonly memoryBytes?: number;
  /** Aborts the pass (a `DmAbortError`; what was written stays written). */
  readonly signal?: AbortSignal;
  /** Bounds the whole pass, in ms (a `DmOperationError` with code `TIMEOUT`). */
  readonly timeoutMs?: number;
  /** Called as rounds complete: `done` of `total` rounds, and the pass's step. */
  readonly onProgress?: (progress: FecProgress) => void;
}

/** Options of {@link computeFec}. */
export interface ComputeFecOptions extends FecPassOptions {
  /** Receives the parity stream, at fecOffsetBytes + its offset in the FEC area. */
  readonly writer: FecWriter;
}

/** What {@link computeFec} wrote. */
export interface ComputeFecResult {
  readonly layout: FecLayout;
  /** Bytes written: layout.fecBytes. */
  readonly fecBytes: bigint;
}

/** One covered block found damaged. */
export interface FecRepairedBlock {
  readonly area: 'data' | 'hash';
  /** Block index in its area (hash: counted from hashStartBytes). */
  readonly blockIndex: bigint;
  /** Byte offset of the block in its image. */
  readonly offsetBytes: bigint;
  /** Bytes of it the parity corrected. */
  readonly correctedBytes: number;
}

/** Options of {@link verifyFec}. */
export interface VerifyFecOptions extends FecPassOptions {
  /** Reads the FEC image (the area from fecOffsetBytes). */
  readonly fecReader: FecReader;
  /**
   * Blocks known to be damaged (a verity hash mismatch), by area: decoded as erasures, so up
   * to `roots` damaged blocks per codeword are corrected instead of roots / 2.
   */
  readonly erasedBlocks?: { readonly data?: Iterable<bigint | number>; readonly hash?: Iterable<bigint | number> };
}

/** Options of {@link repairWithFec}: where corrected blocks go. */
export interface RepairWithFecOptions extends VerifyFecOptions {
  readonly dataWriter: FecWriter;
  /** Needed when a hash block is to be repaired. */
  readonly hashWriter?: FecWriter;
}

/** What a verification found (and a repair corrected). */
export interface VerifyFecResult {
  readonly layout: FecLayout;
  /** Damaged covered blocks, in covered-block order (data first). */
  readonly repairedBlocks: readonly FecRepairedBlock[];
  /** Bytes corrected in covered blocks. */
  readonly correctedBytes: number;
  /** Parity bytes found damaged in the FEC area itself (corrected in memory, not written). */
  readonly parityErrors: number;
}

const DEFAULT_MEMORY_BYTES = 32 << 20;
/** setTimeout's largest delay (a signed 32-bit count of ms); a larger one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Pass {
  readonly layout: FecLayout;
  readonly rs: ReedSolomon;
  readonly tables: ParityTables;
  readonly fecOffsetBytes: bigint;
  /** Rounds per batch. */
  readonly batch: number;
  readonly signal: AbortSignal | undefined;
  /** Rejects when the signal aborts or the time is up: every read and write races it. */
  readonly stop: Promise<never>;
  readonly timeoutError: DmOperationError | undefined;
  readonly deadline: number;
  /** Ends the timer and the abort listener. */
  readonly dispose: () => void;
  readonly dataReader: FecReader;
  readonly hashReader: FecReader | undefined;
}

function checkFn(v: unknown, field: string): void {
  if (typeof v !== 'function') throw new DmArgumentError(field, 'a function', typeof v);
}

function setUp(o: FecPassOptions, what: string): Pass {
  if (o === null || typeof o !== 'object') throw new DmArgumentError('options', 'an object', String(o));
  const layout = buildFecLayout(o);
  checkFn(o.dataReader, 'options.dataReader');
  if (layout.hashBlocks > 0n) checkFn(o.hashReader, 'options.hashReader');
  const off = o.fecOffsetBytes ?? 0;
  if (!((typeof off === 'number' && Number.isSafeInteger(off) && off >= 0) || (typeof off === 'bigint' && off >= 0n))) {
    throw new DmArgumentError('options.fecOffsetBytes', 'a non-negative integer', String(off));
  }
  const memoryBytes = o.memoryBytes ?? DEFAULT_MEMORY_BYTES;
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 1) throw new DmArgumentError('options.memoryBytes', 'a positive integer', String(memoryBytes));
  if (o.timeoutMs !== undefined && (!Number.isSafeInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > MAX_TIMER_MS)) {
    throw new DmArgumentError('options.timeoutMs', `an integer from 1 to ${MAX_TIMER_MS}`, String(o.timeoutMs));
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new DmArgumentError('options.signal', 'an AbortSignal', String(o.signal));
  if (o.onProgress !== undefined) checkFn(o.onProgress, 'options.onProgress');
  const perRound = layout.rsn * layout.blockSizeBytes;
  const fit = BigInt(Math.max(1, Math.floor(memoryBytes / perRound)));
  const batch = Number(fit < layout.rounds ? fit : layout.rounds);
  const rs = new ReedSolomon(layout.roots);
  // Made here, not in the timer's callback, so its stack is the caller's.
  const timeoutError = o.timeoutMs === undefined ? undefined : new DmOperationError('TIMEOUT', `${what} did not finish within ${o.timeoutMs} ms`);
  const signal = o.signal;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    if (timeoutError) timer = setTimeout(() => reject(timeoutError), o.timeoutMs);
    if (signal) signal.addEventListener('abort', (onAbort = () => reject(new DmAbortError(signal.reason))), { once: true });
  });
  stop.catch(() => {}); // observed through race() when it matters
  return {
    layout, rs, tables: parityTables(rs), fecOffsetBytes: BigInt(off), batch,
    signal, stop, timeoutError, deadline: o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs,
    dispose: () => { clearTimeout(timer); if (onAbort) signal!.removeEventListener('abort', onAbort); },
    dataReader: o.dataReader, hashReader: o.hashReader,
  };
}

/** `x`, unless the pass is stopped first. */
function guard<T>(p: Pass, x: Promise<T>): Promise<T> {
  return Promise.race([x, p.stop]);
}

/** The tables of a roots count depend on nothing else: built once per process. */
const tableCache = new Map<number, ParityTables>();
function parityTables(rs: ReedSolomon): ParityTables {
  let t = tableCache.get(rs.roots);
  if (!t) tableCache.set(rs.roots, (t = new ParityTables(rs)));
  return t;
}

/** Between batches: the encoding itself is synchronous, so a stop is seen here. */
function checkpoint(p: Pass): void {
  if (p.signal?.aborted) throw new DmAbortError(p.signal.reason);
  if (Date.now() > p.deadline) throw p.timeoutError!;
}

async function readExactly(p: Pass, reader: FecReader, offsetBytes: bigint, length: number, what: string): Promise<Uint8Array> {
  const got = await guard(p, reader(offsetBytes, length));
  if (!(got instanceof Uint8Array) || got.length !== length) {
    throw new DmVerityFecError('FEC_SHORT_READ', `${what} reader returned ${got instanceof Uint8Array ? `${got.length} bytes` : typeof got} for ${length} bytes at ${offsetBytes}`);
  }
  return got;
}

/** Fills dest with covered blocks first..first+count-1 (zeros past the covered area). */
async function readBlocks(p: Pass, first: bigint, count: number, dest: Uint8Array, destOffset: number): Promise<void> {
  const { layout } = p;
  const bs = layout.blockSizeBytes;
  const end = first + BigInt(count);
  let at = first;
  let d = destOffset;
  if (at < layout.dataBlocks) {
    const n = Number((end < layout.dataBlocks ? end : layout.dataBlocks) - at);
    dest.set(await readExactly(p, p.dataReader, at * BigInt(bs), n * bs, 'data'), d);
    at += BigInt(n);
    d += n * bs;
  }
  if (at < end && at < layout.coveredBlocks) {
    const stop = end < layout.coveredBlocks ? end : layout.coveredBlocks;
    const n = Number(stop - at);
    dest.set(await readExactly(p, p.hashReader!, layout.hashStartBytes + (at - layout.dataBlocks) * BigInt(bs), n * bs, 'hash'), d);
    at += BigInt(n);
    d += n * bs;
  }
  if (at < end) dest.fill(0, d, destOffset + count * bs);
}

/** One batch's rows: row i holds the blocks at position i of rounds n0..n0+k-1, in order. */
async function readBatch(p: Pass, n0: bigint, k: number, rows: Uint8Array): Promise<void> {
  const { layout } = p;
  const rowBytes = k * layout.blockSizeBytes;
  const reads: Promise<void>[] = [];
  for (let i = 0; i < layout.rsn; i++) {
    const first = blockOfPosition(layout, n0, i);
    if (first >= layout.coveredBlocks) {
      rows.fill(0, i * rowBytes, (i + 1) * rowBytes);
      continue;
    }
    reads.push(readBlocks(p, first, k, rows, i * rowBytes));
    // A few reads in flight keep a file or device busy without queueing a whole batch.
    if (reads.length >= 8) {
      await Promise.all(reads.splice(0));
      checkpoint(p);
    }
  }
  await Promise.all(reads);
}

/** Rows past the covered area are zero and add nothing to the parity. */
function liveRows(layout: FecLayout, n0: bigint): number {
  const beyond = layout.coveredBlocks - n0;
  if (beyond <= 0n) return 0;
  const i = (beyond + layout.rounds - 1n) / layout.rounds;
  return i < BigInt(layout.rsn) ? Number(i) : layout.rsn;
}

function encodeBatch(p: Pass, n0: bigint, k: number, rows: Uint8Array, acc: Int32Array, parity: Uint8Array): void {
  const count = k * p.layout.blockSizeBytes;
  acc.fill(0, 0, count * p.tables.words);
  const live = liveRows(p.layout, n0);
  for (let i = 0; i < live; i++) p.tables.add(i, rows, i * count, count, acc);
  p.tables.pack(acc, count, parity);
}

/**
 * Computes the FEC parity of the covered blocks and writes it through `writer`, byte-identical
 * with `veritysetup format --fec-device … --fec-roots <roots>` over the same blocks.
 */
export async function computeFec(options: ComputeFecOptions): Promise<ComputeFecResult> {
  const p = setUp(options, 'computeFec');
  try {
    checkFn(options.writer, 'options.writer');
    return await encodeAll(p, options);
  } finally {
    p.dispose();
  }
}

async function encodeAll(p: Pass, options: ComputeFecOptions): Promise<ComputeFecResult> {
  const { layout, batch } = p;
  const bs = layout.blockSizeBytes;
  const rows = new Uint8Array(layout.rsn * batch * bs);
  const acc = p.tables.accumulator(batch * bs);
  const parity = new Uint8Array(batch * bs * layout.roots);
  const total = Number(layout.rounds);
  for (let n0 = 0n; n0 < layout.rounds; n0 += BigInt(batch)) {
    checkpoint(p);
    const k = Number(layout.rounds - n0 < BigInt(batch) ? layout.rounds - n0 : BigInt(batch));
    await readBatch(p, n0, k, rows);
    encodeBatch(p, n0, k, rows, acc, parity);
    await guard(p, options.writer(p.fecOffsetBytes + n0 * BigInt(bs * layout.roots), parity.subarray(0, k * bs * layout.roots)));
    options.onProgress?.({ done: Number(n0) + k, total, step: 'fec-encode' });
  }
  return { layout, fecBytes: layout.fecBytes };
}

function erasureSet(layout: FecLayout, erased: VerifyFecOptions['erasedBlocks']): Set<bigint> {
  const out = new Set<bigint>();
  if (erased === undefined) return out;
  if (erased === null || typeof erased !== 'object') throw new DmArgumentError('options.erasedBlocks', 'an object { data?, hash? }', String(erased));
  for (const [area, limit, base] of [['data', layout.dataBlocks, 0n], ['hash', layout.hashBlocks, layout.dataBlocks]] as const) {
    const list = erased[area];
    if (list === undefined) continue;
    for (const v of list) {
      const b = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
      if (typeof b !== 'bigint' || b < 0n || b >= limit) throw new DmArgumentError(`options.erasedBlocks.${area}`, `block indices below ${limit}`, String(v));
      out.add(base + b);
    }
  }
  return out;
}

async function check(options: VerifyFecOptions, writers: { data: FecWriter; hash: FecWriter | undefined } | undefined): Promise<VerifyFecResult> {
  const p = setUp(options, writers ? 'repairWithFec' : 'verifyFec');
  try {
    checkFn(options.fecReader, 'options.fecReader');
    return await checkAll(p, options, erasureSet(p.layout, options.erasedBlocks), writers);
  } finally {
    p.dispose();
  }
}

async function checkAll(p: Pass, options: VerifyFecOptions, erased: Set<bigint>, writers: { data: FecWriter; hash: FecWriter | undefined } | undefined): Promise<VerifyFecResult> {
  const { layout, batch, rs } = p;
  const { rsn, roots } = layout;
  const bs = layout.blockSizeBytes;
  const rows = new Uint8Array(rsn * batch * bs);
  const acc = p.tables.accumulator(batch * bs);
  const computed = new Uint8Array(batch * bs * roots);
  const codeword = new Uint8Array(RS_NN);
  const damaged = new Map<bigint, number>();
  const repairedBlocks: FecRepairedBlock[] = [];
  let correctedBytes = 0;
  let parityErrors = 0;
  const total = Number(layout.rounds);
  const positions: number[] = [];
  const erasures: number[] = [];

  for (let n0 = 0n; n0 < layout.rounds; n0 += BigInt(batch)) {
    checkpoint(p);
    const k = Number(layout.rounds - n0 < BigInt(batch) ? layout.rounds - n0 : BigInt(batch));
    const count = k * bs;
    const [stored] = await Promise.all([
      readExactly(p, options.fecReader, p.fecOffsetBytes + n0 * BigInt(bs * roots), count * roots, 'fec'),
      readBatch(p, n0, k, rows),
    ]);
    encodeBatch(p, n0, k, rows, acc, computed);
    if (Buffer.from(stored.buffer, stored.byteOffset, count * roots).equals(Buffer.from(computed.buffer, computed.byteOffset, count * roots))) {
      options.onProgress?.({ done: Number(n0) + k, total, step: 'fec-verify' });
      continue;
    }
    damaged.clear();
    for (let c = 0; c < count; c++) {
      const po = c * roots;
      let same = true;
      for (let j = 0; j < roots; j++) if (stored[po + j] !== computed[po + j]) { same = false; break; }
      if (same) continue;
      const round = n0 + BigInt(Math.floor(c / bs));
      const byteIndex = c % bs;
      for (let i = 0; i < rsn; i++) codeword[i] = rows[i * count + c]!;
      codeword.set(stored.subarray(po, po + roots), rsn);
      erasures.length = 0;
      if (erased.size > 0) {
        for (let i = 0; i < rsn; i++) if (erased.has(blockOfPosition(layout, round, i))) erasures.push(i);
        if (erasures.length > roots) erasures.length = 0; // beyond erasure decoding: try errors only
      }
      positions.length = 0;
      const r = rs.decode(codeword, erasures, positions);
      // A correction in the implicit zero blocks past the covered area is a miscorrection.
      const bogus = positions.some((i) => i < rsn && blockOfPosition(layout, round, i) >= layout.coveredBlocks);
      if (r < 0 || bogus) {
        const blocks: { area: 'data' | 'hash'; blockIndex: bigint }[] = [];
        for (let i = 0; i < rsn; i++) {
          const b = blockOfPosition(layout, round, i);
          if (b < layout.coveredBlocks) { const { area, blockIndex } = coveredBlock(layout, b); blocks.push({ area, blockIndex }); }
        }
        throw new DmVerityFecError('FEC_UNCORRECTABLE', `FEC codeword of round ${round}, byte ${byteIndex} has more damage than ${roots} parity bytes correct`, { round, byteIndex, blocks });
      }
      for (const i of positions) {
        if (i >= rsn) { parityErrors++; continue; }
        rows[i * count + c] = codeword[i]!;
        const b = blockOfPosition(layout, round, i);
        damaged.set(b, (damaged.get(b) ?? 0) + 1);
        correctedBytes++;
      }
    }
    const found = [...damaged].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [index, n] of found) {
      const where = coveredBlock(layout, index);
      repairedBlocks.push({ ...where, correctedBytes: n });
      if (writers) {
        const { round, position } = positionOfBlock(layout, index);
        const from = position * count + Number(round - n0) * bs;
        const writer = where.area === 'data' ? writers.data : writers.hash;
        if (!writer) throw new DmArgumentError('options.hashWriter', 'a function (a hash block needs repair)', 'undefined');
        await guard(p, writer(where.offsetBytes, rows.slice(from, from + bs)));
      }
    }
    options.onProgress?.({ done: Number(n0) + k, total, step: 'fec-verify' });
  }
  repairedBlocks.sort((a, b) => (a.area !== b.area ? (a.area === 'data' ? -1 : 1) : a.blockIndex < b.blockIndex ? -1 : a.blockIndex > b.blockIndex ? 1 : 0));
  return { layout, repairedBlocks, correctedBytes, parityErrors };
}

/**
 * Checks the covered blocks against the FEC parity and reports the blocks the parity would
 * correct (nothing is written). Up to roots / 2 damaged bytes per codeword are found and
 * corrected, up to `roots` with `erasedBlocks`; more is `DmVerityFecError`
 * `FEC_UNCORRECTABLE`, or with few roots may pass for another codeword, which only a
 * verity hash check can tell (as the kernel re-checks the block's hash after correcting).
 */
export function verifyFec(options: VerifyFecOptions): Promise<VerifyFecResult> {
  return check(options, undefined);
}

/**
 * {@link verifyFec}, and writes each corrected block back through `dataWriter`/`hashWriter`.
 * Blocks are written batch by batch as they are corrected; an uncorrectable codeword stops
 * the pass with what was written before it left in place (each write is a fully corrected
 * block).
 */
export function repairWithFec(options: RepairWithFecOptions): Promise<VerifyFecResult> {
  if (options !== null && typeof options === 'object') {
    checkFn(options.dataWriter, 'options.dataWriter');
    if (options.hashWriter !== undefined) checkFn(options.hashWriter, 'options.hashWriter');
  }
  return check(options, options ? { data: options.dataWriter, hash: options.hashWriter } : undefined);
}
