/**
 * The delta between two thin devices, thin_delta's merge (docs/thin-tools.md): both mapping
 * streams are read in thin-block order at once, each side's runs first joined across time
 * stamps (thin_delta records ranges of consecutive thin and data blocks whatever their time),
 * and each step consumes the shorter of the two current pieces. Memory is a bounded
 * read-ahead of runs per side plus what the reader holds (the trees' depth), never the
 * devices' size.
 */
import { DmThinMetadataError } from '../errors.js';
import { checkFlag, checkMetadata, checkThinId, walkBounds, type WalkBounds } from './bounds.js';
import { readAhead } from './read-ahead.js';
import { runChunkSources, type RunChunk, type RunChunks } from './run-chunks.js';
import type { ThinMappingRun, ThinMetadata, ThinReadOptions } from './types.js';

/** What a delta range says about its thin blocks. */
export type ThinDeltaKind = 'same' | 'different' | 'leftOnly' | 'rightOnly';

/**
 * One range of the delta: `lengthBlocks` thin blocks from `thinBlock`, each side's first data
 * block when that side maps them (consecutive thin blocks map to consecutive data blocks
 * within a range).
 */
export interface ThinDeltaRange {
  /** `same`: both map them to the same data; `different`: both map them, elsewhere; `leftOnly`/`rightOnly`: one side maps them. */
  readonly kind: ThinDeltaKind;
  /** The first thin block. */
  readonly thinBlock: bigint;
  /** How many thin blocks (in the pool's data block size). */
  readonly lengthBlocks: bigint;
  /** The left device's data block of `thinBlock` (undefined for `rightOnly`). */
  readonly leftDataBlock: bigint | undefined;
  /** The right device's data block of `thinBlock` (undefined for `leftOnly`). */
  readonly rightDataBlock: bigint | undefined;
}

/** Options of `thinDelta`. */
export interface ThinDeltaOptions extends ThinReadOptions {
  /** Also yield the `same` ranges (thin_delta prints them). Default true. */
  readonly includeSame?: boolean | undefined;
}

interface Piece {
  thinBlock: bigint;
  dataBlock: bigint;
  lengthBlocks: bigint;
}

/** A run stream joined across time stamps, consumed piece by piece. */
class RangeCursor {
  readonly #it: AsyncIterator<ThinMappingRun> & { close(): Promise<void> };
  readonly #bounds: WalkBounds;
  readonly #thinId: number;
  #pending: ThinMappingRun | undefined;
  #done = false;
  /** The current piece, undefined at the end. */
  current: Piece | undefined;

  constructor(runs: AsyncIterable<ThinMappingRun>, bounds: WalkBounds, thinId: number, ahead: boolean) {
    // Read ahead: this side's next blocks are read while the other side's are awaited. With
    // synchronous reads nothing waits, and the read-ahead's promise hops per run would be a
    // fifth of the delta's time, so the stream is read directly.
    this.#it = ahead ? readAhead(runs, READ_AHEAD_RUNS) : direct(runs);
    this.#bounds = bounds;
    this.#thinId = thinId;
  }

  async #nextRun(): Promise<ThinMappingRun | undefined> {
    if (this.#pending) {
      const r = this.#pending;
      this.#pending = undefined;
      return r;
    }
    if (this.#done) return undefined;
    this.#bounds.check();
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return undefined;
    }
    return r.value;
  }

  /** Loads the next joined range into `current`. */
  async advance(): Promise<void> {
    const first = await this.#nextRun();
    if (!first) {
      this.current = undefined;
      return;
    }
    const piece: Piece = { thinBlock: first.thinBlock, dataBlock: first.dataBlock, lengthBlocks: first.lengthBlocks };
    if (this.current && piece.thinBlock < this.current.thinBlock + this.current.lengthBlocks) {
      throw new DmThinMetadataError('THIN_METADATA_CORRUPT', `thin ${this.#thinId}'s mappings are out of order at thin block ${piece.thinBlock}`);
    }
    for (;;) {
      const next = await this.#nextRun();
      if (!next) break;
      if (next.thinBlock === piece.thinBlock + piece.lengthBlocks && next.dataBlock === piece.dataBlock + piece.lengthBlocks) {
        piece.lengthBlocks += next.lengthBlocks;
      } else {
        this.#pending = next;
        break;
      }
    }
    this.current = piece;
  }

  /** Takes `lengthBlocks` off the front of the current piece. */
  async consume(lengthBlocks: bigint): Promise<void> {
    const c = this.current!;
    if (lengthBlocks === c.lengthBlocks) {
      await this.advance();
    } else {
      c.thinBlock += lengthBlocks;
      c.dataBlock += lengthBlocks;
      c.lengthBlocks -= lengthBlocks;
    }
  }

  async close(): Promise<void> {
    await this.#it.close();
  }
}

/** A stream read as it is, with the read-ahead's `close()`. */
function direct<T>(source: AsyncIterable<T>): AsyncIterator<T> & { close(): Promise<void> } {
  const it = source[Symbol.asyncIterator]();
  let closed = false;
  return {
    next: () => it.next(),
    close: async () => {
      if (closed) return;
      closed = true;
      await it.return?.();
    },
  };
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);

/** Runs read ahead per side: a few leaves' worth, a bounded amount whatever the device's size. */
const READ_AHEAD_RUNS = 512;

/** Ranges the fast merge hands over at once (one await for the consumer per batch). */
const BATCH_RANGES = 1024;

/** Leaves a synchronous walk reads before the event loop gets a turn (a leaf is ~4 KiB read and checked). */
const LEAVES_PER_TURN = 16;

/** One turn of the event loop (its timers and I/O callbacks run: an abort() among them). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The delta of two thin devices (`thinA` left, `thinB` right) as ranges in thin-block order:
 * thin_delta's merge, in one pass over the two run streams. A thin id the metadata does not
 * hold is a `DmThinMetadataError` `THIN_METADATA_NO_DEVICE` before anything is yielded.
 */
export async function* thinDelta(metadata: ThinMetadata, thinA: number, thinB: number, options: ThinDeltaOptions = {}): AsyncGenerator<ThinDeltaRange, void, undefined> {
  for await (const batch of thinDeltaBatches(metadata, thinA, thinB, options)) {
    for (const r of batch) yield r;
  }
}

/**
 * {@link thinDelta}'s ranges in arrays (the same ranges, in the same order): one await per
 * batch instead of one per range, for a consumer that handles many (dmctl thin delta). Each
 * batch is a new array the caller may keep.
 */
export async function* thinDeltaBatches(metadata: ThinMetadata, thinA: number, thinB: number, options: ThinDeltaOptions = {}): AsyncGenerator<ThinDeltaRange[], void, undefined> {
  checkMetadata(metadata);
  const bounds = walkBounds(options, 'thinDelta');
  checkFlag(options.includeSame, 'options.includeSame');
  checkThinId(thinA, 'thinA');
  checkThinId(thinB, 'thinB');
  const includeSame = options.includeSame ?? true;
  const held = new Set((await metadata.devices(bounds.read())).map((d) => d.thinId));
  for (const [id, side] of [[thinA, 'left'], [thinB, 'right']] as const) {
    if (!held.has(id)) throw new DmThinMetadataError('THIN_METADATA_NO_DEVICE', `thin ${id} (the ${side} side) is not in the pool's metadata`);
  }
  const chunks = runChunkSources.get(metadata);
  if (chunks !== undefined) {
    const left = await chunks(thinA, bounds.read());
    const right = left && await chunks(thinB, bounds.read());
    if (left && right) {
      yield* mergeChunks(new ChunkCursor(left, bounds, thinA), new ChunkCursor(right, bounds, thinB), includeSame);
      return;
    }
    await left?.return();
  }
  for await (const r of mergeRuns(metadata, thinA, thinB, bounds, includeSame)) yield [r];
}

/**
 * One side's runs from a RunChunk stream, joined across time stamps into pieces, in numbers.
 * Stepping is synchronous while the current chunk lasts; only a new chunk is awaited.
 */
class ChunkCursor {
  readonly #src: RunChunks;
  /** The source is a synchronous generator: {@link refillSync} reads its chunks. */
  readonly sync: boolean;
  readonly #bounds: WalkBounds;
  readonly #thinId: number;
  #chunk: RunChunk | undefined;
  #i = 0;
  #ended = false;
  /** Chunks (one a leaf) read by {@link refillSync}. */
  #leaves = 0;
  /** A piece is being joined (its first run taken, more may follow in the next chunk). */
  #joining = false;
  /** The current piece must be replaced by the next (at the start, and once consumed). */
  need = true;
  /** Whether there is a current piece (false at the end). */
  has = false;
  thinBlock = 0;
  dataBlock = 0;
  lengthBlocks = 0;

  constructor(src: RunChunks, bounds: WalkBounds, thinId: number) {
    this.#src = src;
    this.sync = !(Symbol.asyncIterator in src);
    this.#bounds = bounds;
    this.#thinId = thinId;
  }

  /** Joins the next piece from the runs at hand: false when a chunk must be read first ({@link refill}). */
  step(): boolean {
    const c = this.#chunk;
    if (!this.#joining) {
      if (c === undefined || this.#i >= c.n) {
        if (!this.#ended) return false;
        this.has = false;
        this.need = false;
        return true;
      }
      const i = this.#i++;
      const t = c.thinBlock[i]!;
      if (this.has && t < this.thinBlock + this.lengthBlocks) {
        throw new DmThinMetadataError('THIN_METADATA_CORRUPT', `thin ${this.#thinId}'s mappings are out of order at thin block ${t}`);
      }
      this.thinBlock = t;
      this.dataBlock = c.dataBlock[i]!;
      this.lengthBlocks = c.lengthBlocks[i]!;
      this.#joining = true;
    }
    for (;;) {
      const d = this.#chunk;
      if (d === undefined || this.#i >= d.n) {
        if (!this.#ended) return false;
        break;
      }
      const i = this.#i;
      if (d.thinBlock[i] !== this.thinBlock + this.lengthBlocks || d.dataBlock[i] !== this.dataBlock + this.lengthBlocks) break;
      this.lengthBlocks += d.lengthBlocks[i]!;
      this.#i++;
    }
    this.#joining = false;
    this.has = true;
    this.need = false;
    return true;
  }

  /** Reads the next chunk (or learns the stream has ended). */
  async refill(): Promise<void> {
    this.#bounds.check();
    this.#took(await this.#src.next());
  }

  /** {@link refill} of a synchronous source, no promise: true when the event loop is owed a turn (every LEAVES_PER_TURN leaves). */
  refillSync(): boolean {
    this.#bounds.check();
    this.#took((this.#src as Generator<RunChunk, void, undefined>).next());
    // A synchronous source never gives the event loop a turn by itself: without one, an
    // abort() from a timer or an I/O callback could not run until the whole walk ended.
    return ++this.#leaves % LEAVES_PER_TURN === 0;
  }

  #took(r: IteratorResult<RunChunk, void>): void {
    if (r.done) {
      this.#ended = true;
      this.#chunk = undefined;
    } else {
      this.#chunk = r.value;
    }
    this.#i = 0;
  }

  /** Takes `n` blocks off the front of the current piece. */
  consume(n: number): void {
    if (n === this.lengthBlocks) {
      this.need = true;
    } else {
      this.thinBlock += n;
      this.dataBlock += n;
      this.lengthBlocks -= n;
    }
  }

  async close(): Promise<void> {
    await this.#src.return();
  }
}

const range = (kind: ThinDeltaKind, thin: number, length: number, left: number | undefined, right: number | undefined): ThinDeltaRange => ({
  kind, thinBlock: BigInt(thin), lengthBlocks: BigInt(length),
  leftDataBlock: left === undefined ? undefined : BigInt(left), rightDataBlock: right === undefined ? undefined : BigInt(right),
});

/** thin_delta's merge over two chunk cursors (the same steps as {@link mergeRuns}), in batches. */
async function* mergeChunks(ls: ChunkCursor, rs: ChunkCursor, includeSame: boolean): AsyncGenerator<ThinDeltaRange[], void, undefined> {
  let out: ThinDeltaRange[] = [];
  try {
    for (;;) {
      if (ls.need && !ls.step()) {
        if (!ls.sync) await ls.refill();
        else if (ls.refillSync()) await nextTurn();
        continue;
      }
      if (rs.need && !rs.step()) {
        if (!rs.sync) await rs.refill();
        else if (rs.refillSync()) await nextTurn();
        continue;
      }
      if (ls.has && rs.has) {
        if (ls.thinBlock < rs.thinBlock) {
          const n = Math.min(ls.lengthBlocks, rs.thinBlock - ls.thinBlock);
          out.push(range('leftOnly', ls.thinBlock, n, ls.dataBlock, undefined));
          ls.consume(n);
        } else if (ls.thinBlock > rs.thinBlock) {
          const n = Math.min(rs.lengthBlocks, ls.thinBlock - rs.thinBlock);
          out.push(range('rightOnly', rs.thinBlock, n, undefined, rs.dataBlock));
          rs.consume(n);
        } else {
          const n = Math.min(ls.lengthBlocks, rs.lengthBlocks);
          const same = ls.dataBlock === rs.dataBlock;
          if (!same || includeSame) out.push(range(same ? 'same' : 'different', ls.thinBlock, n, ls.dataBlock, rs.dataBlock));
          ls.consume(n);
          rs.consume(n);
        }
      } else if (ls.has) {
        out.push(range('leftOnly', ls.thinBlock, ls.lengthBlocks, ls.dataBlock, undefined));
        ls.consume(ls.lengthBlocks);
      } else if (rs.has) {
        out.push(range('rightOnly', rs.thinBlock, rs.lengthBlocks, undefined, rs.dataBlock));
        rs.consume(rs.lengthBlocks);
      } else {
        break;
      }
      if (out.length >= BATCH_RANGES) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.allSettled([ls.close(), rs.close()]);
  }
}

/** thin_delta's merge over two ThinMappingRun streams (any ThinMetadata), range by range. */
async function* mergeRuns(metadata: ThinMetadata, thinA: number, thinB: number, bounds: WalkBounds, includeSame: boolean): AsyncGenerator<ThinDeltaRange, void, undefined> {
  const ahead = metadata.readsSynchronously !== true;
  const ls = new RangeCursor(metadata.mappings(thinA, bounds.read()), bounds, thinA, ahead);
  const rs = new RangeCursor(metadata.mappings(thinB, bounds.read()), bounds, thinB, ahead);
  try {
    await ls.advance();
    await rs.advance();
    for (;;) {
      const l = ls.current;
      const r = rs.current;
      if (l && r) {
        if (l.thinBlock < r.thinBlock) {
          const n = min(l.lengthBlocks, r.thinBlock - l.thinBlock);
          yield { kind: 'leftOnly', thinBlock: l.thinBlock, lengthBlocks: n, leftDataBlock: l.dataBlock, rightDataBlock: undefined };
          await ls.consume(n);
        } else if (l.thinBlock > r.thinBlock) {
          const n = min(r.lengthBlocks, l.thinBlock - r.thinBlock);
          yield { kind: 'rightOnly', thinBlock: r.thinBlock, lengthBlocks: n, leftDataBlock: undefined, rightDataBlock: r.dataBlock };
          await rs.consume(n);
        } else {
          const n = min(l.lengthBlocks, r.lengthBlocks);
          const kind = l.dataBlock === r.dataBlock ? 'same' : 'different';
          if (kind === 'different' || includeSame) yield { kind, thinBlock: l.thinBlock, lengthBlocks: n, leftDataBlock: l.dataBlock, rightDataBlock: r.dataBlock };
          await ls.consume(n);
          await rs.consume(n);
        }
      } else if (l) {
        yield { kind: 'leftOnly', thinBlock: l.thinBlock, lengthBlocks: l.lengthBlocks, leftDataBlock: l.dataBlock, rightDataBlock: undefined };
        await ls.consume(l.lengthBlocks);
      } else if (r) {
        yield { kind: 'rightOnly', thinBlock: r.thinBlock, lengthBlocks: r.lengthBlocks, leftDataBlock: undefined, rightDataBlock: r.dataBlock };
        await rs.consume(r.lengthBlocks);
      } else {
        return;
      }
    }
  } finally {
    await Promise.allSettled([ls.close(), rs.close()]);
  }
}
