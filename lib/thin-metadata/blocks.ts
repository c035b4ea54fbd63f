/**
 * The metadata's blocks, read one at a time through a BlockFile and checked before anything
 * reads a field of them: in range of the file, whole, checksum (with the block kind's salt),
 * and the block number the block says it is (docs/thin-metadata.md, "Hostile metadata").
 * A small cache keeps the last blocks read (a walk's path and the space map's bitmaps), so
 * memory is this cache plus one path of nodes, whatever the metadata's size.
 */
import type { BlockFile } from '../kernel/backend.js';
import { compile, viewOf } from '../../codec/layout.js';
import {
  THIN_METADATA_BLOCK_BYTES, bitmapHeader, btreeNodeHeader, metadataIndexHeader, thinSuperblock, type ThinBlockKind,
} from '../../codec/thin-metadata-records.js';
import { fastThinBlockChecksum } from './checksum.js';
import { DmAbortError, DmOperationError, DmThinMetadataError } from '../errors.js';

/** The checksummed header every block kind starts with: csum (u32) and blocknr (u64); the checksum covers the rest of the block. */
const HEADER_OF: Record<ThinBlockKind, { readonly offsetOf: { readonly csum: number; readonly blocknr: number } }> = {
  superblock: thinSuperblock, btree: btreeNodeHeader, bitmap: bitmapHeader, index: metadataIndexHeader,
};

/** Synchronous block reads between two turns given to the event loop (a few hundred µs of work). */
const SYNC_READS_PER_TURN = 32;

/** How many blocks the cache keeps (a btree path is at most a handful; bitmaps are re-read rarely). */
const CACHE_BLOCKS = 64;

/**
 * A walk of a host file reads in windows of this many adjacent blocks, one pread each: a
 * btree's leaves mostly lie next to each other (thin_restore and the kernel allocate them in
 * order), and a 4 KiB pread costs about as much as a 64 KiB one, so a walk makes a fraction
 * of the syscalls. The window's bytes are checked block by block only when a block is asked for.
 */
export const READ_WINDOW_BLOCKS = 16;

/**
 * One walk's read window: its buffer is reused for the walk's next window, so a block read
 * through it is valid until the walk's next read (the leaf a walk yields is valid until its
 * next step). Memory: READ_WINDOW_BLOCKS blocks a walk.
 */
export class ReadWindow {
  first = 0;
  count = 0;
  readonly bytes = new Uint8Array(READ_WINDOW_BLOCKS * THIN_METADATA_BLOCK_BYTES);
}

/** Where a read must stop: the caller's signal and deadline (checked before each block). */
export interface ReadBounds {
  readonly signal?: AbortSignal | undefined;
  /** `performance.now()` time after which reading fails with TIMEOUT. */
  readonly deadline?: number | undefined;
  readonly timeoutMs?: number | undefined;
  /** The TIMEOUT to throw: made when the caller's call began, so it carries the caller's frames. */
  readonly timeoutError?: DmOperationError | undefined;
  /** A leaf walk leaves out a subtree whose node fails its checks instead of throwing (thin_dump --repair). */
  readonly skipDamaged?: boolean | undefined;
}

/**
 * Where thinDumpText's `repair` asks the reader's walks to leave damaged subtrees out
 * (ReadBounds.skipDamaged). Internal (a symbol key: not an option a caller can set by name).
 */
export const SKIP_DAMAGED: unique symbol = Symbol('devicemapper.skipDamaged');

/**
 * Where a walk over the reader (bounds.ts walkBounds) hands the reads it makes its own TIMEOUT
 * error, made at the walk's public entry: a read that finds the time up then throws the error
 * with the caller's frames, not one made deep in a later read. Internal (a symbol key: not an
 * option a caller can set by name).
 */
export const CALLER_TIMEOUT: unique symbol = Symbol('devicemapper.callerTimeout');

/** The bounds of one call from its options. */
export function boundsOf(o: { readonly signal?: AbortSignal | undefined; readonly timeoutMs?: number | undefined; readonly [CALLER_TIMEOUT]?: DmOperationError | undefined; readonly [SKIP_DAMAGED]?: boolean | undefined } | undefined): ReadBounds {
  if (o?.[SKIP_DAMAGED] === true) return { ...boundsOf({ signal: o.signal, timeoutMs: o.timeoutMs, [CALLER_TIMEOUT]: o[CALLER_TIMEOUT] }), skipDamaged: true };
  if (o?.timeoutMs === undefined) return { signal: o?.signal };
  // Made now, when the caller's call begins (a generator's at its first next()), so a TIMEOUT a
  // later read throws carries the caller's frames (docs/conventions.md: errors keep the caller's stack).
  const timeoutError = o[CALLER_TIMEOUT] ?? new DmOperationError('TIMEOUT', `reading thin metadata did not finish within ${o.timeoutMs} ms`);
  return { signal: o.signal, timeoutMs: o.timeoutMs, deadline: performance.now() + o.timeoutMs, timeoutError };
}

/** Throws DmAbortError or DmOperationError TIMEOUT when the caller has given up. */
export function checkBounds(b: ReadBounds, what: string): void {
  if (b.signal?.aborted) throw new DmAbortError(b.signal.reason);
  if (b.deadline !== undefined && performance.now() > b.deadline) {
    throw b.timeoutError ?? new DmOperationError('TIMEOUT', `${what} did not finish within ${b.timeoutMs} ms`);
  }
}

/** A DmThinMetadataError THIN_METADATA_CORRUPT naming `block`. */
export function corrupt(block: bigint, message: string): DmThinMetadataError {
  return new DmThinMetadataError('THIN_METADATA_CORRUPT', `metadata block ${block}: ${message}`, { block });
}

/** A metadata file's blocks, checked on read. */
export class MetadataBlocks {
  readonly #file: BlockFile;
  /** Whole blocks the file holds: every pointer must fall below it. */
  readonly blockCount: bigint;
  // Keyed by the block number as a number: blockCount bounds it far below 2^53 (a file's size).
  readonly #cache = new Map<number, { kind: ThinBlockKind; bytes: Uint8Array; view: DataView }>();
  #closed = false;
  #syncReads = 0;
  /** Blocks read from the file (not from the cache), for tests and the bench. */
  reads = 0;
  /** Read calls made on the file (a window of blocks is one), for tests and the bench. */
  fileReads = 0;

  constructor(file: BlockFile, sizeBytes: bigint) {
    this.#file = file;
    this.blockCount = sizeBytes / BigInt(THIN_METADATA_BLOCK_BYTES);
  }

  /** Blocks the cache holds now (at most CACHE_BLOCKS, whatever the metadata's size), for tests. */
  get cachedBlocks(): number { return this.#cache.size; }

  /** Whether blocks are read synchronously (the file has `readSync`: a host file). */
  get synchronous(): boolean { return this.#file.readSync !== undefined; }

  /** The path the blocks are read from. */
  get path(): string { return this.#file.path; }

  /**
   * Block `b` as a block of `kind`: throws THIN_METADATA_CORRUPT (naming `b`) when it lies
   * past the file's end, is short, or its checksum or block number is wrong. `from` says
   * who points at it, for the message. With a `window` (a host file), the block comes from
   * that window, valid until the next read through it, and is not cached.
   */
  async read(b: bigint, kind: ThinBlockKind, bounds: ReadBounds, from?: string, window?: ReadWindow): Promise<{ bytes: Uint8Array; view: DataView }> {
    const hit = this.#cached(b, kind, bounds, from);
    if (hit !== undefined) return hit;
    const key = Number(b);
    let bytes: Uint8Array;
    let got: number;
    if (this.#file.readSync) {
      // Synchronous reads never give the event loop a turn: a walk of a large pool would hold
      // it for seconds, and an abort() from a timer or an I/O callback could not run until the
      // walk ended. So every SYNC_READS_PER_TURN blocks the walk yields one turn (setImmediate).
      if (++this.#syncReads % SYNC_READS_PER_TURN === 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        // close() may have run on that turn: the file's fd is gone.
        if (this.#closed) throw new DmThinMetadataError('THIN_METADATA_CLOSED', `the metadata of ${this.#file.path} is closed`);
        checkBounds(bounds, 'reading thin metadata');
      }
      // A host file reads synchronously: a block is a few microseconds from the page cache,
      // far less than a trip through the thread pool (docs/thin-tools.md, "Performance").
      if (window !== undefined) {
        ({ bytes, got } = this.#fromWindow(key, window));
      } else {
        bytes = new Uint8Array(THIN_METADATA_BLOCK_BYTES);
        this.fileReads++;
        got = this.#file.readSync(key * THIN_METADATA_BLOCK_BYTES, bytes);
      }
    } else {
      bytes = new Uint8Array(THIN_METADATA_BLOCK_BYTES);
      this.fileReads++;
      got = await this.#file.read(key * THIN_METADATA_BLOCK_BYTES, bytes);
    }
    return this.#checked(b, key, kind, bytes, got, window);
  }

  /**
   * {@link read} without a promise, for a walk over a host file (`synchronous`) through its
   * own `window`: the same checks, the same errors. The caller gives the event loop its turns
   * (a walk of a large pool would otherwise hold it): thinDelta's merge does, every few leaves.
   */
  readSync(b: bigint, kind: ThinBlockKind, bounds: ReadBounds, window: ReadWindow, from?: string): { bytes: Uint8Array; view: DataView } {
    if (this.#file.readSync === undefined) throw new TypeError('readSync on metadata read asynchronously'); // not reached: callers ask `synchronous` first
    const hit = this.#cached(b, kind, bounds, from);
    if (hit !== undefined) return hit;
    const key = Number(b);
    const { bytes, got } = this.#fromWindow(key, window);
    return this.#checked(b, key, kind, bytes, got, window);
  }

  /**
   * What every read checks first (the file open, the caller's bounds, `b` inside the file),
   * then block `b` from the cache (checked as `kind`), or undefined when it must be read.
   */
  #cached(b: bigint, kind: ThinBlockKind, bounds: ReadBounds, from: string | undefined): { bytes: Uint8Array; view: DataView } | undefined {
    if (this.#closed) throw new DmThinMetadataError('THIN_METADATA_CLOSED', `the metadata of ${this.#file.path} is closed`);
    checkBounds(bounds, 'reading thin metadata');
    if (b < 0n || b >= this.blockCount) {
      throw corrupt(b, `${from ?? 'a pointer'} points past the metadata's end (${this.blockCount} blocks)`);
    }
    const key = Number(b);
    const hit = this.#cache.get(key);
    if (hit === undefined) return undefined;
    if (hit.kind !== kind) throw corrupt(b, `read as a ${kind} block, but it is a ${hit.kind} block`);
    // Re-inserted: the Map's order is the eviction order (least recently used first).
    this.#cache.delete(key);
    this.#cache.set(key, hit);
    return hit;
  }

  /** Checks a block just read (length, checksum, block number) and caches it unless it came through a window. */
  #checked(b: bigint, key: number, kind: ThinBlockKind, bytes: Uint8Array, got: number, window: ReadWindow | undefined): { kind: ThinBlockKind; bytes: Uint8Array; view: DataView } {
    this.reads++;
    if (got !== THIN_METADATA_BLOCK_BYTES) throw corrupt(b, `short read (${got} of ${THIN_METADATA_BLOCK_BYTES} bytes)`);
    const view = viewOf(bytes);
    const header = HEADER_OF[kind].offsetOf;
    const sum = fastThinBlockChecksum(bytes, header.csum + 4, THIN_METADATA_BLOCK_BYTES, kind);
    const stored = view.getUint32(header.csum, true);
    if (sum !== stored) throw corrupt(b, `bad checksum in ${kind} block (stored ${stored}, computed ${sum})`);
    const blocknr = view.getBigUint64(header.blocknr, true);
    if (blocknr !== b) throw corrupt(b, `${kind} block says it is block ${blocknr}`);
    const entry = { kind, bytes, view };
    if (window !== undefined && this.#file.readSync) return entry;
    this.#cache.set(key, entry);
    if (this.#cache.size > CACHE_BLOCKS) this.#cache.delete(this.#cache.keys().next().value!);
    return entry;
  }

  /** Block `key`'s bytes from `w`, reading the window that starts at it into `w` when `w` does not hold it. */
  #fromWindow(key: number, w: ReadWindow): { bytes: Uint8Array; got: number } {
    const B = THIN_METADATA_BLOCK_BYTES;
    if (key < w.first || key >= w.first + w.count) {
      // blockCount is a file's size in blocks: far below 2^53.
      const count = Math.min(READ_WINDOW_BLOCKS, Number(this.blockCount) - key);
      w.first = key;
      w.count = 0;
      this.fileReads++;
      const got = this.#file.readSync!(key * B, w.bytes.subarray(0, count * B));
      // Only whole blocks enter the window; a short read leaves the block it cut short out.
      if (got < B) return { bytes: w.bytes.subarray(0, B), got };
      w.count = Math.floor(got / B);
    }
    const at = (key - w.first) * B;
    return { bytes: w.bytes.subarray(at, at + B), got: B };
  }

  /** Closes the file; later reads fail with THIN_METADATA_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.clear();
    await this.#file.close();
  }
}

/** The node header's codec (little-endian), shared by the btree walks. */
export const nodeHeaderCodec = compile(btreeNodeHeader, { endian: 'little' });
