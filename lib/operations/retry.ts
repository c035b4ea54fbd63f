/**
 * The one EBUSY retry policy of the library (removeDevice, createDevice's rollback,
 * `dmctl remove --retry`): like libdevmapper, `retries` attempts `delayMs` apart, for a
 * device that udev or blkid holds open for a moment after it appears. Options are
 * validated before any ioctl; an AbortSignal is honoured before the first attempt,
 * between attempts and during the sleep, and leaves no timer or listener behind.
 */
import { DmCodecError } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { DmAbortError, DmError } from '../errors.js';
import { onAbort } from '../events/abort-fanout.js';

export interface RetryOptions {
  /** Attempts on EBUSY (default 25, as libdevmapper); 0 and 1 both mean one attempt. */
  readonly retries?: number;
  /** Delay between attempts in ms (default 200). */
  readonly delayMs?: number;
  readonly signal?: AbortSignal | undefined;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly delayMs: number;
  readonly signal: AbortSignal | undefined;
}

export const DEFAULT_RETRIES = 25;
export const DEFAULT_DELAY_MS = 200;

/** Validates retry options (finite non-negative integers) into a policy; DmCodecError INVALID_ARGUMENT otherwise. */
export function retryPolicy(options: RetryOptions = {}, field = 'options'): RetryPolicy {
  const retries = options.retries ?? DEFAULT_RETRIES;
  const delayMs = options.delayMs ?? DEFAULT_DELAY_MS;
  check(retries, `${field}.retries`);
  check(delayMs, `${field}.delayMs`);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new DmCodecError('INVALID_ARGUMENT', `${field}.signal must be an AbortSignal`, `${field}.signal`);
  }
  return { attempts: Math.max(1, retries), delayMs, signal };
}

function check(v: unknown, field: string): void {
  // NaN or Infinity would retry without limit; a negative or fractional delay is a bug upstream.
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new DmCodecError('INVALID_ARGUMENT', `${field} must be a finite non-negative integer, got ${String(v)}`, field);
  }
}

/** Throws DmAbortError when the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DmAbortError(signal.reason);
}

/**
 * Runs `attempt(n)` (n from 1) until it does not fail with EBUSY or the attempts are used
 * up; the last error is thrown as is. `wake` cuts a delay short without failing (the
 * client's close(): the next attempt's step boundary then stops the operation).
 */
export async function retryOnBusy<T>(policy: RetryPolicy, attempt: (n: number) => Promise<T>, wake?: AbortSignal): Promise<T> {
  for (let n = 1; ; n++) {
    throwIfAborted(policy.signal);
    try {
      return await attempt(n);
    } catch (e) {
      if (!(e instanceof DmError) || e.errno !== ERRNO.EBUSY || n >= policy.attempts) throw e;
    }
    await abortableSleep(policy.delayMs, policy.signal, wake);
  }
}

/**
 * Sleeps `ms`; rejects with DmAbortError at once if `signal` is (or becomes) aborted, and
 * resolves early once `wake` is aborted. No timer or listener outlives the sleep.
 */
export function abortableSleep(ms: number, signal?: AbortSignal, wake?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new DmAbortError(signal.reason)); return; }
    if (wake?.aborted) { resolve(); return; }
    const done = () => {
      clearTimeout(t);
      offAbort?.();
      offWake?.();
    };
    const t = setTimeout(() => { done(); resolve(); }, ms);
    // Through the fan-out: a signal shared by many sleeping retries keeps one listener.
    const offAbort = signal ? onAbort(signal, () => { done(); reject(new DmAbortError(signal.reason)); }) : undefined;
    const offWake = wake ? onAbort(wake, () => { done(); resolve(); }) : undefined;
  });
}
