/**
 * Shared by the multi-step helpers (ThinPool, FaultyDevice): time bounds on kernel calls and
 * the identity of the device a sequence of steps works on.
 */
import type { DeviceId, TargetSpecInput } from '../../codec/index.js';
import type { CreateDeviceOptions, DeviceInfo, DeviceMapper, ResumeOptions, ScopeUndo } from '../client/client.js';
import { DmError, DmIdentityError } from '../errors.js';
import { DmClosedError, ERRNO } from '../../ffi/errors.js';
import { addressOf, checkReply, identityOf, type DeviceIdentity, type IdentityStep } from './identity.js';
import { DmOperationError } from '../errors.js';

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
  if (!Number.isInteger(v) || v < 1 || v > 3_600_000) throw new DmOperationError('INVALID_INPUT', `timeoutMs must be an integer in 1…3600000, got ${String(ms)}`);
  return v;
}

/**
 * The identity rules are lib/operations/identity.ts's, the same as createDevice's and the device tree's:
 * later steps go by uuid when there is one, and a reply naming another device is
 * DmIdentityError (DEVICE_REPLACED) whichever helper detects it.
 */
export type Identity = DeviceIdentity;
export { addressOf, identityOf };

/**
 * Every reply of a multi-step operation must name the device the first step named (the
 * fields the kernel fills for `step`; the name only for a device without a uuid).
 * `label` says which step of the helper it was, in the error.
 */
export function checkIdentity(
  expected: DeviceIdentity, reply: { readonly name: string; readonly uuid: string | null; readonly dev: { readonly major: number; readonly minor: number } },
  step: IdentityStep, label: string = step,
): void {
  checkReply(step, expected, reply, ACTS[step], label);
}

/** Whether a step changes the device it reaches (so a mismatch means it already acted on another one). */
const ACTS: Readonly<Record<IdentityStep, boolean>> = {
  create: true, info: false, status: false, table: false, load: true, suspend: true, resume: true, clear: true, remove: true, rename: true,
};

/**
 * load, bounded, with its reply checked: a load that reached another device (the uuid now
 * names a different dev) has its table cleared again before DmIdentityError is thrown, so
 * nothing is left in that device's inactive slot.
 */
export async function loadChecked(dm: DeviceMapper, id: Identity, address: DeviceId, specs: readonly TargetSpecInput[], timeout: number, what: string): Promise<void> {
  // A load that lands after the bound is cleared then: the caller has given up on it, and a
  // table left in the inactive slot would be swapped in by the next resume, anyone's.
  const info = await bounded(dm.load(address, specs), timeout, what, (late) => { void dm.clear({ dev: { major: late.dev.major, minor: late.dev.minor } }).catch(() => {}); });
  try {
    checkIdentity(id, info, 'load', what);
  } catch (e) {
    await dm.clear({ dev: { major: info.dev.major, minor: info.dev.minor } }).catch(() => {});
    throw e;
  }
}

/**
 * createDevice, bounded. A create that finishes after the bound (the caller already has
 * TIMEOUT) is removed again then, by the identity its reply gives: nothing is left behind
 * that nobody will ever own.
 */
export function createBounded(dm: DeviceMapper, options: CreateDeviceOptions, timeout: number, what: string): Promise<DeviceInfo> {
  return bounded(dm.createDevice(options), timeout, what, (late) => {
    void dm.removeDevice(addressOf(identityOf(late))).catch(() => {});
  });
}

/** Attempts of {@link resumeChecked}. */
const RESUME_ATTEMPTS = 3;

/**
 * resume, bounded and checked, for a device this operation suspended: a device left
 * suspended hangs every writer on it, so one failed resume is not the end — it is tried
 * up to 3 times, and after close() through the operation scope's `undo` (the client's
 * rollback exception, see DeviceMapper[operationScope]). Not retried: a reply naming
 * another device (DmIdentityError: it acted there), a device that is gone (ENXIO).
 */
export async function resumeChecked(
  dm: DeviceMapper, id: Identity, address: DeviceId, timeout: number, what: string, label: string,
  flags?: Pick<ResumeOptions, 'noflush' | 'skipLockfs'>, undo?: ScopeUndo,
): Promise<void> {
  let last: unknown;
  let closed = false;
  for (let i = 0; i < RESUME_ATTEMPTS; i++) {
    try {
      const call = closed && undo ? undo.resume(address, flags) : flags ? dm.resume(address, flags) : dm.resume(address);
      checkIdentity(id, await bounded(call, timeout, what), 'resume', label);
      return;
    } catch (e) {
      if (e instanceof DmIdentityError || (e instanceof DmError && e.errno === ERRNO.ENXIO)) throw e;
      if (e instanceof DmClosedError) {
        if (!undo || closed) throw e;
        closed = true;
        i--; // the closed client's refusal was not an attempt
      }
      last = e;
    }
  }
  throw last;
}

/** DM_TABLE_CLEAR that never throws: through `undo` once the client is closed. */
export async function clearQuietly(dm: DeviceMapper, address: DeviceId, undo?: ScopeUndo): Promise<void> {
  try {
    await dm.clear(address);
  } catch (e) {
    if (e instanceof DmClosedError && undo) await undo.clear(address).catch(() => {});
  }
}
