/**
 * The steps ThinPool and FaultyDevice are made of, on the operation core
 * (lib/operations/operation.ts): each is one kernel call raced against the operation's stop
 * signal, addressed by uuid where the device has one, its reply checked with the one
 * identity rule, and its undo recorded in the operation's journal (also the undo of a call
 * that lands after the operation gave up on it, through `onLate`).
 */
import type { DeviceId, DeviceInfo, TargetSpecInput } from '../../codec/index.js';
import { clientParts, operationHost, type CreateDeviceOptions, type DeviceMapper } from '../client/client.js';
import { removeRolledBack } from './create-device.js';
import { retryPolicy } from './retry.js';
import { DmError, DmIdentityError } from '../errors.js';
import { DmClosedError, ERRNO } from '../../ffi/errors.js';
import { addressOf, identityOf, type DeviceIdentity } from './identity.js';
import { runOperation, type Operation, type OperationOptions } from './operation.js';
import type { RetryOptions } from './retry.js';
import { intentDevice, slotOf } from './intent-record.js';

/** Runs `body` as one operation of `dm` (counted in flight, stopped by signal, timeoutMs and close()). */
export function runOn<T>(dm: DeviceMapper, name: string, options: (OperationOptions & RetryOptions) | undefined, body: (op: Operation) => Promise<T>): Promise<T> {
  return runOperation(dm[operationHost](), name, options, body);
}

/** The device is gone (ENXIO: no such device; ENOENT: nothing at that path). */
export function isGone(e: unknown): boolean {
  const errno = (e as { errno?: unknown } | null)?.errno;
  return (e instanceof Error) && (errno === ERRNO.ENXIO || errno === ERRNO.ENOENT);
}

/** removeDevice that takes "already gone" as done. */
export async function removeIfThere(dm: DeviceMapper, at: DeviceId, options: { retries?: number; signal?: AbortSignal } = {}): Promise<void> {
  try {
    await dm.removeDevice(at, options);
  } catch (e) {
    if (!(e instanceof DmError && e.errno === ERRNO.ENXIO)) throw e;
  }
}

/**
 * A step whose result must be undone if the operation gave up on it. When the operation
 * gave up on a timeout or the caller's signal, `undoLate` runs when the call lands
 * (`onLate`). When it gave up because the client was closed, the journal waits for the
 * call instead and undoes it there: the operation stays in flight meanwhile, so close()
 * keeps the control fd open for the undo (the undo calls of `op.kernel` still work after
 * close(), a call made after the last operation settled would not).
 */
async function undoableStep<T>(op: Operation, label: string, run: () => Promise<T>, undoLate: (late: T) => Promise<unknown>): Promise<T> {
  let call: Promise<T> | undefined;
  let returned = false;
  const closed = () => op.signal.reason instanceof DmClosedError;
  op.undo(`${label}: landed after close()`, async () => {
    if (returned || !call || !closed()) return;
    let late: T;
    try { late = await call; } catch { return; }
    await undoLate(late);
  });
  const value = await op.step(label, () => (call = run()), { onLate: async (late) => { if (!closed()) await undoLate(late); } });
  returned = true;
  return value;
}

/**
 * createDevice as a step. A create that lands after the operation gave up is removed then;
 * a device made here is removed again if a later step fails, also after close()
 * (createDevice's own rollback covers a close() during the create itself).
 */
export async function createStep(op: Operation, dm: DeviceMapper, options: CreateDeviceOptions, label: string): Promise<DeviceIdentity> {
  // Removed through the calls that still work after close() (dm.removeDevice is refused
  // then), checked against the device the create made, with createDevice's EBUSY retries.
  const parts = dm[clientParts]();
  const rollback = retryPolicy({}, 'rollback');
  const info = await op.step(label, () => dm.createDevice({ ...options, signal: op.signal }), {
    onLate: (late) => removeRolledBack(parts, identityOf(late), rollback).catch(() => {}),
  });
  const id = identityOf(info);
  op.undo(`remove ${id.name}`, () => removeRolledBack(parts, id, rollback));
  return id;
}

/**
 * DM_TABLE_LOAD as a step, checked. A load that reached another device is cleared there again
 * (by the dev its reply names) before DmIdentityError; a load that lands late is cleared then;
 * a failure later in the operation clears the inactive slot (through the undo calls that
 * still work after close()), so nothing is left to be swapped in by the next resume.
 */
export async function loadStep(op: Operation, dm: DeviceMapper, id: DeviceIdentity, specs: readonly TargetSpecInput[], label: string): Promise<void> {
  const at = addressOf(id);
  // A load that reached another device is cleared there, by the dev its reply names (the device it acted on).
  const clearLanded = (late: DeviceInfo) => op.kernel.clear({ dev: { major: late.dev.major, minor: late.dev.minor } }).then(() => {}, () => {});
  // Recorded first: a process that dies with the table staged leaves it to recover(), which clears it.
  const loaded = slotOf('loaded', id);
  op.intent(loaded, { kind: 'loaded', device: intentDevice(id) });
  const info = await undoableStep(op, label, () => dm.load(at, specs), clearLanded);
  try {
    op.check('load', id, info, label);
  } catch (e) {
    await clearLanded(info);
    throw e;
  }
  op.undo(`clear ${id.name}`, () => op.kernel.clear(at).catch((e: unknown) => { if (!isGone(e)) throw e; }).then(() => op.settle(loaded)));
}

/** Resume flags a suspend is matched with. */
export interface SuspendFlags { readonly noflush?: boolean; readonly skipLockfs?: boolean }

/**
 * DM_DEV_SUSPEND as a step. Its undo resumes the device by its uuid (dropping the table this
 * operation loaded first when `clearFirst`: a resume would otherwise swap it in); a suspend
 * that lands after the operation gave up is resumed then. The undo is recorded before the
 * reply is checked: a suspend that reached another device has suspended it, and is undone.
 */
export async function suspendStep(op: Operation, dm: DeviceMapper, id: DeviceIdentity, flags: SuspendFlags, label: string, clearFirst = false): Promise<void> {
  const at = addressOf(id);
  const suspended = slotOf('suspended', id);
  const back = async () => {
    if (clearFirst) { await op.kernel.clear(at).catch(() => {}); op.settle(slotOf('loaded', id)); }
    await op.kernel.resume(at, flags);
    op.settle(suspended);
  };
  // Recorded first: a process that dies with the device suspended leaves it to recover(), which resumes it.
  op.intent(suspended, { kind: 'suspended', device: intentDevice(id), noflush: flags.noflush, skipLockfs: flags.skipLockfs });
  const info = await undoableStep(op, label, () => dm.suspend(at, flags), () => back().catch(() => {}));
  op.undo(`resume ${id.name}`, back);
  op.check('suspend', id, info, label);
}

/** Attempts of {@link resumeStep}: a device left suspended hangs every writer on it. */
const RESUME_ATTEMPTS = 3;

/**
 * DM_DEV_RESUME as a step, checked, tried up to 3 times while the operation runs. Not tried
 * again: a reply naming another device (it acted there) or a device that is gone.
 */
export async function resumeStep(op: Operation, dm: DeviceMapper, id: DeviceIdentity, flags: SuspendFlags, label: string): Promise<DeviceInfo> {
  const at = addressOf(id);
  for (let attempt = 1; ; attempt++) {
    try {
      const info = await op.step(label, () => dm.resume(at, flags));
      op.check('resume', id, info, label);
      // Resumed: nothing stays suspended, and the staged table (if any) is live now.
      op.settle(slotOf('suspended', id));
      op.settle(slotOf('loaded', id));
      return info;
    } catch (e) {
      if (attempt >= RESUME_ATTEMPTS || e instanceof DmIdentityError || isGone(e) || op.signal.aborted) throw e;
    }
  }
}
