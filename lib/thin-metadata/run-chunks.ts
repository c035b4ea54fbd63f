/**
 * A mapping tree's runs in chunks of numbers, for thinDelta's merge: one chunk per leaf, so
 * the merge awaits once a leaf instead of once a run, and no run is an object of bigints.
 * Only the reader makes them, and only for a tree whose block numbers are all safe integers
 * (its last key, read first, says so); anything else takes the ThinMappingRun stream. The
 * reader registers its maker here rather than in its public shape.
 */
import type { ThinReadOptions } from './types.js';

/**
 * Runs (consecutive thin and data blocks with one time) `n` of them, in thin-block order. The
 * arrays are reused: a chunk is valid until the next one is asked for.
 */
export interface RunChunk {
  n: number;
  readonly thinBlock: Float64Array;
  readonly dataBlock: Float64Array;
  readonly lengthBlocks: Float64Array;
}

/**
 * A tree's chunks, or undefined when its block numbers do not all fit a number. `options`
 * are a walk's read options (bounds.ts walkBounds.read: the time left, the caller's TIMEOUT).
 */
export type RunChunkSource = (thinId: number, options: ThinReadOptions) => Promise<RunChunks | undefined>;

/**
 * A tree's chunks: a synchronous generator when its metadata is read synchronously (a host
 * file: no promise per leaf; the consumer gives the event loop its turns), else async.
 */
export type RunChunks = AsyncGenerator<RunChunk, void, undefined> | Generator<RunChunk, void, undefined>;

/** The chunk makers of the open readers (keyed by the reader: gone with it). */
export const runChunkSources = new WeakMap<object, RunChunkSource>();

/** Below this, a key, a run's end and their differences are exact as numbers. */
export const SAFE_BLOCK_LIMIT = 2n ** 53n - 2n;
