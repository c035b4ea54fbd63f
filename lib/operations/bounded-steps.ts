/**
 * The per-step bound of the tree operations (`stepTimeoutMs`), inside the operation core's
 * whole-operation bound (lib/operations/operation.ts).
 */
import { DmOperationError } from '../errors.js';
import { MAX_TIMEOUT_MS } from './operation.js';

/**
 * Resolves with `p`, or rejects with TIMEOUT after `ms`. The call itself cannot be
 * cancelled (it runs in the kernel); `onLate` gets its result if it finishes after the
 * timeout, so a suspend that completes late is still resumed.
 */
export function bounded<T>(p: Promise<T>, ms: number, what: string, onLate?: (value: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  // Made here, not in the timer's callback: its stack is then the caller's, not only timer frames.
  const timeoutError = new DmOperationError('TIMEOUT', `${what} did not finish within ${ms} ms`);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(timeoutError);
    }, ms);
  });
  p.then((v) => { if (timedOut) onLate?.(v); }, () => {});
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function checkTimeout(ms: number | undefined, fallback: number): number {
  const v = ms ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > MAX_TIMEOUT_MS) throw new DmOperationError('INVALID_INPUT', `timeoutMs must be an integer in 1…${MAX_TIMEOUT_MS}, got ${String(ms)}`);
  return v;
}

