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
import { addressOf, clearOurs, identityOf, repliedBy, resumeOurs, type DeviceIdentity } from './identity.js';
import { runOperation, type Operation, type OperationOptions } from './operation.js';
import type { RetryOptions } from './retry.js';
import { intentDevice, slotOf, suspendedEffect } from './intent-record.js';

/** Runs `body` as one operation of `dm` (counted in flight, stopped by signal, timeoutMs and close()). */
export function runOn<T>(dm: DeviceMapper, name: string, options: (OperationOptions & RetryOptions) | undefined, body: (op: Operation) => Promise<T>): Promise<T> {
  return runOperation(dm[operationHost](), name, options, body);
}

/** The device is gone (ENXIO: no such device; ENOENT: nothing at that path). */
export function isGone(e: unknown): boolean {
  const errno = (e as { errno?: unknown } | null)?.errno;
  return (e instanceof Error) && (errno === ERRNO.ENXIO || errno === ERRNO.ENOENT);
}

/**
 * removeDevice that takes "already gone" as done. With `expect`, only that device is removed
 * (verified right before each attempt: identity.ts removeOurs); another device in its place
 * means ours is gone, and is left alone.
 */
export async function removeIfThere(dm: DeviceMapper, at: DeviceId, options: { retries?: number; signal?: AbortSignal; expect?: DeviceIdentity } = {}): Promise<void> {
  try {
    await dm.removeDevice(at, options);
  } catch (e) {
    if (e instanceof DmIdentityError && !e.acted) return;
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
 * DM_TABLE_LOAD as a step, checked; resolves with its reply (the device's state as the load
 * left it). Our table is taken back (cleared) from the device a load reached when that is
 * another device (its reply names it), when the load lands after the operation gave up, and
 * when a later step fails (through the undo calls that still work after close()), so nothing
 * is left to be swapped in by the next resume — each time verified right before the clear
 * (identity.ts clearOurs): never from whoever holds the name, uuid or minor by then.
 */
export async function loadStep(op: Operation, dm: DeviceMapper, id: DeviceIdentity, specs: readonly TargetSpecInput[], label: string): Promise<DeviceInfo> {
  const at = addressOf(id);
  const clearLanded = (landed: DeviceInfo) => clearOurs(op.kernel, identityOf(landed), label).then(() => {}, () => {});
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
  op.undo(`clear ${id.name}`, () => clearOurs(op.kernel, id, `clear ${id.name}`).catch((e: unknown) => { if (!isGone(e)) throw e; }).then(() => op.settle(loaded)));
  return info;
}

/** Resume flags a suspend is matched with. */
export interface SuspendFlags { readonly noflush?: boolean; readonly skipLockfs?: boolean }

/**
 * DM_DEV_SUSPEND as a step. Its undo, and the undo of a suspend that lands after the
 * operation gave up, resume the device — dropping the table this operation loaded first when
 * `clearFirst` (a resume would otherwise swap it in) — each verified right before it acts
 * (identity.ts resumeOurs, clearOurs). Not resumed: a device `before` (the last reply that
 * showed its state) says was already suspended, by someone else; and a device the suspend
 * reached that is not `id` (a device without a uuid whose name changed hands: the kernel
 * suspends a suspended device without saying so, so the step cannot know it changed it, and
 * resuming it would swap in what its owner staged) — that one is reported (DmIdentityError,
 * `acted: true`) and left as it is.
 */
export async function suspendStep(
  op: Operation, dm: DeviceMapper, id: DeviceIdentity, flags: SuspendFlags, label: string, clearFirst = false,
  before?: { readonly flags: { readonly suspended: boolean } },
): Promise<void> {
  const at = addressOf(id);
  const suspended = slotOf('suspended', id);
  const back = async () => {
    if (clearFirst) { await clearOurs(op.kernel, id, label).catch(() => {}); op.settle(slotOf('loaded', id)); }
    if (!before?.flags.suspended) await resumeOurs(op.kernel, id, flags, label);
    op.settle(suspended);
  };
  // Recorded first: a process that dies with the device suspended leaves it to recover(), which
  // resumes it. Not a device someone else had suspended before: that one stays theirs.
  if (!before?.flags.suspended) op.intent(suspended, suspendedEffect(id, flags));
  const info = await undoableStep(op, label, () => dm.suspend(at, flags), async (late) => { if (repliedBy('suspend', id, late)) await back().catch(() => {}); });
  op.check('suspend', id, info, label);
  op.undo(`resume ${id.name}`, back);
}

/** Attempts of {@link resumeStep}: a device left suspended hangs every writer on it. */
export const RESUME_ATTEMPTS = 3;

/**
 * DM_DEV_RESUME as a step, checked, tried up to `attempts` (3) times while the operation runs. Not tried
 * again: a reply naming another device (it acted there) or a device that is gone.
 */
export async function resumeStep(op: Operation, dm: DeviceMapper, id: DeviceIdentity, flags: SuspendFlags, label: string, attempts = RESUME_ATTEMPTS): Promise<DeviceInfo> {
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
      if (attempt >= attempts || e instanceof DmIdentityError || isGone(e) || op.signal.aborted) throw e;
    }
  }
}
