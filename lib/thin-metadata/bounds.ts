/**
 * One walk's `signal` and `timeoutMs` (docs/conventions.md, "Cancellation, time and progress"):
 * the tools over thin metadata are loops over async run streams, so a stop is checked between
 * runs, and every read the walk asks of the metadata gets the same signal and what is left of
 * the time.
 */
import { DmAbortError, DmArgumentError, DmOperationError } from '../errors.js';
import type { ThinMetadata, ThinReadOptions } from './types.js';
import { CALLER_TIMEOUT } from './blocks.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A walk's stop rules, made at the public entry so its errors carry the caller's stack. */
export interface WalkBounds {
  /** Throws `DmAbortError` or the `TIMEOUT` error when the walk must stop. */
  check(): void;
  /** The options each metadata read gets: the caller's signal, the time left. */
  read(): ThinReadOptions;
}

/** Checks `signal`/`timeoutMs` of an options object and returns the walk's bounds. */
export function walkBounds(options: ThinReadOptions | undefined, what: string): WalkBounds {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw new DmArgumentError('options', 'an object', String(options));
  const signal = options?.signal;
  const timeoutMs = options?.timeoutMs;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new DmArgumentError('options.signal', 'an AbortSignal', String(signal));
  if (timeoutMs !== undefined && (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMER_MS)) {
    throw new DmArgumentError('options.timeoutMs', `an integer from 1 to ${MAX_TIMER_MS}`, String(timeoutMs));
  }
  // Made here, so a timeout's stack is the caller's, not a loop iteration's.
  const timeoutError = timeoutMs === undefined ? undefined : new DmOperationError('TIMEOUT', `${what} did not finish within ${timeoutMs} ms`);
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  return {
    check() {
      if (signal?.aborted) throw new DmAbortError(signal.reason);
      if (timeoutError !== undefined && Date.now() > deadline) throw timeoutError;
    },
    read() {
      if (timeoutError === undefined) return { signal };
      // The walk's own TIMEOUT rides along (a symbol key): a read that runs out of time throws it.
      return { signal, timeoutMs: Math.max(1, Math.ceil(deadline - Date.now())), [CALLER_TIMEOUT]: timeoutError } as ThinReadOptions;
    },
  };
}

/** Checks that `v` is a `ThinMetadata` (an object with the reading methods and a superblock). */
export function checkMetadata(v: unknown, argument = 'metadata'): ThinMetadata {
  const m = v as Partial<ThinMetadata> | null;
  if (m === null || typeof m !== 'object' || typeof m.devices !== 'function' || typeof m.mappings !== 'function'
    || m.superblock === null || typeof m.superblock !== 'object') {
    throw new DmArgumentError(argument, 'a ThinMetadata (openThinMetadata, ThinPool.openMetadata)', typeof v);
  }
  return m as ThinMetadata;
}

/** Checks an optional boolean option. */
export function checkFlag(v: unknown, argument: string): void {
  if (v !== undefined && typeof v !== 'boolean') throw new DmArgumentError(argument, 'a boolean', String(typeof v));
}

/** A thin id as the metadata keys it: an integer from 0 to 2^24 - 1 (dm-thin's dev id). */
export function checkThinId(v: unknown, argument: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 0xffffff) {
    throw new DmArgumentError(argument, 'a thin id (an integer from 0 to 16777215)', String(v));
  }
  return v;
}
