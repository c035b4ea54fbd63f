/**
 * `signal` and `timeoutMs` of a single command method (docs/conventions.md, "Cancellation,
 * time and progress"): both end the caller's wait; the ioctl itself cannot be taken back and
 * runs to completion in the kernel, and a method that can undo a call that lands after the
 * caller gave up (a create, a load, a suspend) passes `onLate` to do it. Multi-step
 * operations use the operation core (lib/operations/operation.ts) instead.
 */
import { DmAbortError, DmOperationError } from '../errors.js';
import { onAbort } from '../events/abort-fanout.js';
import { operationOptions, withCallerStack } from '../operations/operation.js';
import type { CallOptions } from './command-types.js';

/** The option kinds of CallOptions for optionsArg (ranges are checked by {@link callOptionsArg}). */
export const CALL_OPTION_KINDS = { signal: 'signal', timeoutMs: 'any' } as const;

/** Checks `signal` and `timeoutMs` before any syscall: DmOperationError INVALID_INPUT. */
export function callOptionsArg(o: CallOptions | undefined, field = 'options'): void {
  if (o === undefined) return;
  operationOptions({ signal: o.signal, timeoutMs: o.timeoutMs }, field);
}

/**
 * Runs one kernel call for a caller who may stop waiting: rejects with DmAbortError when
 * `o.signal` aborts (at once if it already has, before `run` is called) and with
 * DmOperationError TIMEOUT after `o.timeoutMs`, both with the caller's frames. The call
 * goes on in the kernel; `onLate` receives its result if it lands after the caller gave up.
 * `run` gets the signal of that moment (the caller's own when there is no timeout): what it
 * waits for after its ioctl (udev) ends with the caller's wait, not later, and a call still
 * queued in the runner (its `stop`) is then never sent.
 */
export async function boundedCall<T>(
  what: string, o: CallOptions | undefined, run: (gaveUp: AbortSignal | undefined) => Promise<T>, onLate?: (value: T) => unknown, hold?: { begin(): void; end(): void },
): Promise<T> {
  const signal = o?.signal;
  const timeoutMs = o?.timeoutMs;
  // Taken here, while the caller's frames are on the stack: the timer, the abort listener and
  // the reply's completion are not (and a deep runner stack can push them past the limit).
  const site = new Error();
  Error.captureStackTrace(site, boundedCall);
  if (signal === undefined && timeoutMs === undefined) {
    try {
      return await run(undefined);
    } catch (e) {
      throw withCallerStack(e, site);
    }
  }
  if (signal?.aborted) throw withCallerStack(new DmAbortError(signal.reason), site);
  let gaveUp = false;
  let timer: NodeJS.Timeout | undefined;
  let off: (() => void) | undefined;
  // Only a timeout needs a signal of its own; the caller's signal already says when it gave up.
  const gaveUpController = timeoutMs !== undefined ? new AbortController() : undefined;
  const stopped = new Promise<never>((_, reject) => {
    const stop = (e: Error) => { gaveUp = true; reject(withCallerStack(e, site)); gaveUpController?.abort(e); };
    if (timeoutMs !== undefined) timer = setTimeout(() => stop(new DmOperationError('TIMEOUT', `${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
    // Through the fan-out: one signal shared by many calls keeps one listener, not one per call.
    if (signal) off = onAbort(signal, () => stop(new DmAbortError(signal.reason)));
  });
  // Counted in flight with the client until the call has landed and onLate has undone it:
  // close() would otherwise release the control fd that undo needs.
  hold?.begin();
  let call: Promise<T>;
  try {
    call = run(gaveUpController?.signal ?? signal);
  } catch (e) {
    hold?.end();
    throw e;
  }
  void call.then((v) => (gaveUp && onLate ? Promise.resolve().then(() => onLate(v)).catch(() => {}) : undefined), () => {}).then(() => hold?.end());
  try {
    return await Promise.race([call, stopped]);
  } catch (e) {
    throw withCallerStack(e, site);
  } finally {
    if (timer) clearTimeout(timer);
    off?.();
  }
}
