/**
 * The operation core: the one executor every multi-step operation runs on (createDevice,
 * removeDevice, rename, the tree operations, every ThinPool and FaultyDevice method,
 * discard). It gives a body:
 *
 * - **one stop signal** (`op.signal`): the caller's `signal`, the operation's `timeoutMs`
 *   and the client's close() combined; `op.checkpoint()` between steps turns it into the
 *   right error (DmAbortError, DmOperationError TIMEOUT, DmClosedError);
 * - **bounded steps** (`op.step`): a kernel call raced against the caller's signal and the
 *   timeout; the call itself cannot be cancelled (it runs in the kernel), so a step that
 *   finishes after the operation gave up hands its result to `onLate`, which undoes it (the
 *   operation stays counted in flight until then, so close() waits for that undo). The
 *   client's close() does not cut a step short (close() stops an operation at its next
 *   checkpoint, after the step under way, so its undo sees what the step did);
 * - **an undo journal** (`op.undo`): actions run last-in first-out when the body fails,
 *   after close() too (through `op.kernel`, the calls the client still lets through for
 *   rollback), never cut short by the stop signal that made the body fail; an undo that
 *   fails is attached to the body's error as `cleanupError`;
 * - **the one identity rule** (`op.check`: lib/operations/identity.ts's `checkReply`) and
 *   **the one retry policy** (`op.retryOnBusy`: lib/operations/retry.ts);
 * - **progress** (`op.progress`) to the caller's `onProgress`;
 * - **the caller's stack**: an error that leaves the operation carries the frames of the
 *   code that started it, whichever timer or callback created it.
 *
 * The rules themselves (what counts as the same device, which steps address by uuid, how
 * EBUSY is retried) are not here: this module only sequences them. docs/conventions.md.
 */
import type { DeviceId, DeviceInfo } from '../../codec/index.js';
import { DmClosedError } from '../../ffi/errors.js';
import { DmAbortError } from '../errors.js';
import { onAbort } from '../events/abort-fanout.js';
import { attachCleanupError } from './cleanup-error.js';
import { checkReply, type DeviceIdentity, type IdentityStep } from './identity.js';
import { DmOperationError } from '../errors.js';
import { retryOnBusy, retryPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
import { nextOperationId, operationChannel, stepChannel } from '../trace/channels.js';
import { IntentJournal, type IntentEffect, type IntentStore } from './intent-record.js';

/** What every public multi-step operation takes (docs/conventions.md, "Cancellation, time and progress"). */
export interface OperationOptions {
  /** Stops the operation at its next step; what it did is undone, and it rejects with DmAbortError. */
  readonly signal?: AbortSignal | undefined;
  /** The whole operation's bound in ms (1…3600000); past it the operation is undone and rejects with DmOperationError TIMEOUT. */
  readonly timeoutMs?: number | undefined;
  /** Called as the operation advances (long operations: trees, discards, batches). Must not throw; a throw is ignored. */
  readonly onProgress?: ((progress: OperationProgress) => void) | undefined;
}

/** One report of {@link OperationOptions.onProgress}. */
export interface OperationProgress {
  /** The operation, e.g. `'removeTree'`. */
  readonly operation: string;
  /** The step just finished or started, e.g. `'remove "vg-lv"'`. */
  readonly step: string;
  /** Units of work done so far. */
  readonly done: number;
  /** Units of work in all, when known. */
  readonly total: number | undefined;
}

/** The calls of the client that an undo may still make after close() (rollback only). */
export interface UndoCalls {
  /** DM_DEV_STATUS: an undo's look at the device right before it acts (verify-then-act, lib/operations/identity.ts). */
  info(device: DeviceId): Promise<DeviceInfo>;
  /** DM_DEV_SUSPEND without the suspend flag (resume), no udev wait. */
  resume(device: DeviceId, options?: { readonly noflush?: boolean; readonly skipLockfs?: boolean }): Promise<DeviceInfo>;
  /** DM_TABLE_CLEAR. */
  clear(device: DeviceId): Promise<DeviceInfo>;
}

/**
 * What the client lends an operation (package-internal: DeviceMapper[operationHost]()):
 * the count of operations in flight that close() waits for, its closing signal, and the
 * calls that still work after close() for undo.
 */
export interface OperationHost {
  /** Counts the operation in; throws DmClosedError after close(). */
  begin(): void;
  /** Counts it out. */
  end(): void;
  /** Aborted by close(). */
  readonly closing: AbortSignal;
  /** Calls an undo may make after close(). */
  readonly kernel: UndoCalls;
  /** Where the operation's intent record goes (docs/crash-safety.md); absent: none is kept. */
  readonly intents?: IntentStore | undefined;
}

/** What a step may be told. */
export interface StepOptions<T> {
  /** Receives the result of a step that finished after the operation gave up on it (undo it here). */
  readonly onLate?: (value: T) => void | Promise<void>;
}

/** The running operation, as its body sees it. */
export interface Operation {
  /** The operation's name, for messages (`'createDevice'`). */
  readonly name: string;
  /** Aborted when the caller's signal aborts, the time runs out or the client closes. */
  readonly signal: AbortSignal;
  /** The retry policy of the operation's options (EBUSY attempts, delay), bound to its signal. */
  readonly retry: RetryPolicy;
  /** Calls an undo may make after close(). */
  readonly kernel: UndoCalls;
  /** Between steps: throws DmAbortError, DmOperationError TIMEOUT or DmClosedError when the operation must stop. */
  checkpoint(): void;
  /** Runs one step, raced against the stop signal; `onLate` receives a result that came after the operation gave up. */
  step<T>(label: string, run: () => Promise<T>, options?: StepOptions<T>): Promise<T>;
  /** Records an undo action; the journal runs last-in first-out if the body fails. */
  undo(label: string, action: () => Promise<unknown>): void;
  /** Forgets the undo actions recorded so far: the operation has passed a point it does not roll back from. */
  commit(): void;
  /** Checks a reply against the device the operation works on (the one identity rule); `acted` says the step changed the device it reached. */
  check(step: IdentityStep, expected: DeviceIdentity, reply: { readonly name: string; readonly uuid: string | null; readonly dev: { readonly major: number; readonly minor: number } }, label?: string): void;
  /** Runs `attempt` again on EBUSY, as the operation's retry policy says. */
  retryOnBusy<T>(attempt: (n: number) => Promise<T>): Promise<T>;
  /** Reports progress to the caller's `onProgress`. */
  progress(step: string, done: number, total?: number): void;
  /**
   * Records an effect in the operation's intent record (docs/crash-safety.md), before the
   * step that may have it: written through the client's store, so that a later `recover()`
   * can take it back or finish it if this process dies. `slot` names it (one effect per
   * slot; recording again replaces it). Throws when the store refuses the write.
   */
  intent(slot: string, effect: IntentEffect): void;
  /** Records several effects in one write of the record (all or none of them survive a kill). */
  intentAll(entries: readonly (readonly [string, IntentEffect])[]): void;
  /** The effect in `slot` needs no recovery any more (undone, or final). */
  settle(slot: string): void;
  /** Whether `slot` holds an effect. */
  intends(slot: string): boolean;
}

/** The longest bound an operation takes: one hour. */
export const MAX_TIMEOUT_MS = 3_600_000;

/** Whether a step changes the device it reaches (a mismatch then means it already acted on another one). */
const ACTS: Readonly<Record<IdentityStep, boolean>> = {
  create: true, info: false, status: false, table: false, load: true, suspend: true, resume: true, clear: true, remove: true, rename: true,
};

/** Checks the options every operation takes, before anything else happens (DmOperationError INVALID_INPUT). */
export function operationOptions(options: OperationOptions | undefined, field = 'options'): OperationOptions {
  const o = options ?? {};
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new DmOperationError('INVALID_INPUT', `${field}.signal must be an AbortSignal`);
  if (o.timeoutMs !== undefined && (typeof o.timeoutMs !== 'number' || !Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > MAX_TIMEOUT_MS)) {
    throw new DmOperationError('INVALID_INPUT', `${field}.timeoutMs must be an integer in 1…${MAX_TIMEOUT_MS}, got ${String(o.timeoutMs)}`);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new DmOperationError('INVALID_INPUT', `${field}.onProgress must be a function`);
  return o;
}

/**
 * Runs `body` as one operation on `host`'s client: counted in flight (close() waits for it
 * and its undo), stopped by `options.signal`, `options.timeoutMs` and close(), its undo
 * journal run if it fails, and every error it rejects with carrying the caller's frames.
 * Options are checked before anything else (give them already checked to skip nothing:
 * checking twice is harmless).
 */
export async function runOperation<T>(
  host: OperationHost, name: string, options: (OperationOptions & RetryOptions) | undefined, body: (op: Operation) => Promise<T>,
): Promise<T> {
  // Created here, so their stacks are the caller's: a timer or a late callback would otherwise make them.
  const site = new Error();
  Error.captureStackTrace(site, runOperation);
  const o = operationOptions(options);
  const retry = retryPolicy({ retries: options?.retries, delayMs: options?.delayMs, signal: undefined });
  if (o.signal?.aborted) throw withCallerStack(new DmAbortError(o.signal.reason), site);
  host.begin();
  const timeout = o.timeoutMs === undefined ? undefined : new DmOperationError('TIMEOUT', `${name} did not finish within ${o.timeoutMs} ms`);
  if (timeout) Error.captureStackTrace(timeout, runOperation);
  const controller = new AbortController();
  let stopReason: Error | undefined;
  const stop = (reason: Error) => {
    if (stopReason) return;
    stopReason = reason;
    controller.abort(reason);
  };
  // What ends a step's wait: the caller's signal and the timeout, not close() (see the header).
  const waitStop = new AbortController();
  const onCaller = () => { stop(new DmAbortError(o.signal?.reason)); waitStop.abort(); };
  const onClose = () => stop(new DmClosedError('the device-mapper client'));
  // Through the fan-out: the client's closing signal is shared by every operation in flight
  // and a caller's signal often by many calls; a listener each would pile up on them.
  const offCaller = o.signal ? onAbort(o.signal, onCaller) : undefined;
  const offClose = host.closing.aborted ? undefined : onAbort(host.closing, onClose);
  if (host.closing.aborted) onClose();
  const timer = timeout && o.timeoutMs !== undefined ? setTimeout(() => { stop(timeout); waitStop.abort(); }, o.timeoutMs) : undefined;
  const journal: { label: string; action: () => Promise<unknown> }[] = [];
  const late = new Set<Promise<unknown>>();
  // devicemapper:operation and devicemapper:step (lib/trace/channels.ts), only with a subscriber.
  const traceId = nextOperationId();
  const intents = new IntentJournal(host.intents, name);
  const op: Operation = {
    name,
    signal: controller.signal,
    retry: { ...retry, signal: controller.signal },
    kernel: host.kernel,
    checkpoint() {
      if (stopReason) throw stopReason;
    },
    async step<S>(label: string, run: () => Promise<S>, stepOptions?: StepOptions<S>): Promise<S> {
      op.checkpoint();
      const call = stepChannel.hasSubscribers ? stepChannel.tracePromise(run, { operation: name, id: traceId, step: label }) : run();
      let gaveUp = false;
      let detach: (() => void) | undefined;
      const landed = call.then((v) => (gaveUp ? Promise.resolve().then(() => stepOptions?.onLate?.(v)).catch(() => {}) : undefined), () => {});
      const stopped = new Promise<never>((_, reject) => {
        const onStop = () => {
          gaveUp = true;
          // The operation stays counted in flight until the call lands and onLate has undone
          // it: close() would otherwise release the control fd its undo needs.
          late.add(landed);
          reject(stopReason ?? new DmOperationError('TIMEOUT', `${name}: ${label} was stopped`));
        };
        waitStop.signal.addEventListener('abort', onStop, { once: true });
        detach = () => waitStop.signal.removeEventListener('abort', onStop);
      });
      try {
        return await Promise.race([call, stopped]);
      } finally {
        detach?.();
      }
    },
    undo(label, action) { journal.push({ label, action }); },
    commit() { journal.length = 0; },
    check(step, expected, reply, label = step) { checkReply(step, expected, reply, ACTS[step], label); },
    retryOnBusy(attempt) { return retryOnBusy({ ...retry, signal: controller.signal }, attempt).catch((e: unknown) => { throw stopReason && e instanceof DmAbortError ? stopReason : e; }); },
    progress(step, done, total) {
      try { o.onProgress?.({ operation: name, step, done, total }); } catch { /* a progress callback cannot break the operation */ }
    },
    intent(slot, effect) { intents.record(slot, effect); },
    intentAll(entries) { intents.recordAll(entries); },
    settle(slot) { intents.settle(slot); },
    intends(slot) { return intents.has(slot); },
  };
  try {
    return await (operationChannel.hasSubscribers ? operationChannel.tracePromise(() => body(op), { operation: name, id: traceId }) : body(op));
  } catch (e) {
    await undoAll(journal, e);
    throw withCallerStack(e, site);
  } finally {
    if (timer) clearTimeout(timer);
    offCaller?.();
    offClose?.();
    // The record goes once nothing of the operation can still land (a late step's undo included).
    if (late.size === 0) { intents.close(); host.end(); } else void Promise.allSettled(late).then(() => { intents.close(); host.end(); });
  }
}

/** Runs the journal last-in first-out; every undo runs, the first failure becomes `cleanupError`. */
async function undoAll(journal: { label: string; action: () => Promise<unknown> }[], error: unknown): Promise<void> {
  let first: unknown;
  for (let i = journal.length - 1; i >= 0; i--) {
    try {
      await journal[i]!.action();
    } catch (cleanup) {
      first ??= cleanup;
    }
  }
  journal.length = 0;
  if (first !== undefined) attachCleanupError(error, first);
}

/**
 * Appends the caller's frames to an error whose stack lacks them (one made by a timer, a
 * late callback or another thread's completion). An error whose stack already passes
 * through the caller (V8's async stack traces kept them) is left as it is.
 */
export function withCallerStack<E>(error: E, site: Error): E {
  if (!(error instanceof Error) || typeof error.stack !== 'string' || typeof site.stack !== 'string') return error;
  const frames = site.stack.split('\n').slice(1);
  const first = frames[0]?.trim();
  if (first === undefined || error.stack.includes(first)) return error;
  try {
    Object.defineProperty(error, 'stack', { value: `${error.stack}\n    --- the operation was started ---\n${frames.join('\n')}`, configurable: true, writable: true, enumerable: false });
  } catch {
    // a frozen error keeps its stack
  }
  return error;
}
