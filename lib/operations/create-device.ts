/**
 * createDevice: create → load → resume as one operation on the operation core. Every step
 * after the create is addressed by uuid when there is one and its reply checked against the
 * device the create made (lib/operations/identity.ts); if a step fails, the caller's signal
 * aborts, the time runs out or the client closes, the device is removed again — only ours,
 * with removeDevice's EBUSY retries, after close() too — and a create that lands after the
 * operation gave up is removed then. The whole request is checked before DM_DEV_CREATE.
 */
import type { DeviceId, DeviceInfo } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { createDeviceArg } from '../client/args.js';
import { loadContext } from '../client/call-context.js';
import type { CreateDeviceOptions } from '../client/command-types.js';
import { FEATURES } from '../client/features.js';
import { clientParts, operationHost, type ClientParts } from '../client/internal-keys.js';
import type { DeviceMapper } from '../client/client.js';
import { DmAbortError, DmError } from '../errors.js';
import { DmOperationError } from '../errors.js';
import { udevMode, udevOptionsArg, udevTransaction } from '../udev/cookie-call.js';
import { addressOf, identityOf, removeOurs, type DeviceIdentity } from './identity.js';
import { operationOptions, runOperation } from './operation.js';
import { retryPolicy, type RetryPolicy } from './retry.js';

/** See {@link DeviceMapper.createDevice}. */
export async function createDevice(dm: DeviceMapper, options: CreateDeviceOptions): Promise<DeviceInfo> {
  createDeviceArg(options);
  udevOptionsArg(options);
  const bounds = operationOptions({ signal: options.signal, timeoutMs: options.timeoutMs });
  const parts = dm[clientParts]();
  const { runner } = parts;
  validateCreate(parts, options);
  const rollback = retryPolicy(options.rollback ?? {}, 'rollback');
  if (options.secure) runner.require('secure data', FEATURES.secureData);
  // Decided before DM_DEV_CREATE: an impossible 'sync' fails with nothing made.
  const udevOptions = { ...options, udev: await udevMode(parts.udev(bounds.signal), options) };
  return runOperation(dm[operationHost](), 'createDevice', bounds, async (op) => {
    // DEV_CREATE echoes the name and uuid we sent; only its dev is the kernel's word.
    const oursAt = (dev: { readonly major: number; readonly minor: number }) => identityOf({ name: options.name, uuid: options.uuid ?? null, dev });
    const created = (await op.step('create', () => runner.runAsync('create', { name: options.name, uuid: options.uuid, minor: options.minor }, { device: { name: options.name } }), {
      onLate: (late) => removeRolledBack(parts, oursAt(late.device.dev), rollback),
    })).device;
    const ours = oursAt(created.dev);
    const at = addressOf(ours);
    op.undo(`remove ${options.name}`, () => removeRolledBack(parts, ours, rollback));
    try {
      op.checkpoint();
      const secure = parts.secureFor(options.table, options.secure);
      const loaded = await op.step('load', () => runner.runAsync('load', { id: at, targets: options.table, readOnly: options.readOnly, secure }, loadContext(at, options.table, secure)));
      op.check('load', ours, loaded.device);
      op.checkpoint();
      return await udevTransaction(parts.udev(op.signal), udevOptions, async (cookie) => {
        const r = (await op.step('resume', () => runner.runAsync('suspend', { id: at, action: 'resume', cookie }, { device: at }))).device;
        op.check('resume', ours, r); // a stranger's resume: thrown before waiting on udev for it
        return r;
      }, (d) => d.flags.ueventGenerated);
    } catch (e) {
      throw timedOut(op.signal, e);
    }
  });
}

/** A wait the timeout cut short (a udev wait, an EBUSY delay) rejects as the timeout: DmOperationError TIMEOUT, not ABORT_ERR. */
export function timedOut(signal: AbortSignal, e: unknown): unknown {
  return e instanceof DmAbortError && signal.reason instanceof DmOperationError && signal.reason.code === 'TIMEOUT' ? signal.reason : e;
}

/**
 * Checks every request of createDevice before DM_DEV_CREATE: bad input fails with nothing
 * made. The create and resume requests are a header each (encoded and wiped); the table is
 * checked the way its encoding would check it, without building its bytes a second time.
 */
function validateCreate(parts: ClientParts, o: CreateDeviceOptions): void {
  const at: DeviceId = o.uuid ? { uuid: o.uuid } : { name: o.name };
  parts.runner.check('create', { name: o.name, uuid: o.uuid, minor: o.minor });
  parts.runner.check('load', { id: at, targets: o.table, readOnly: o.readOnly, secure: o.secure }); // may hold key bytes: wiped
  parts.runner.check('suspend', { id: at, action: 'resume' });
}

/** Removes our half-made device; never anything else, never by dev. Runs even after close(); a device already gone is fine. */
async function removeRolledBack(parts: ClientParts, ours: DeviceIdentity, policy: RetryPolicy): Promise<void> {
  try {
    await removeOurs(parts.runner, ours, { policy, ctx: { device: addressOf(ours), afterClose: true }, verifyFirst: true });
  } catch (cleanup) {
    if (cleanup instanceof DmError && cleanup.errno === ERRNO.ENXIO) return; // already gone: nothing left behind
    throw cleanup;
  }
}
