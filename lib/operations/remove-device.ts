/**
 * removeDevice: DM_DEV_REMOVE with libdevmapper's EBUSY retries, as one operation on the
 * operation core. Every retry reaches the same device: one given by name or dev is identified
 * first (one DM_DEV_STATUS) and then addressed by its uuid, or — without one — verified before
 * each attempt (lib/operations/identity.ts removeOurs); a different device under the name
 * gives DmIdentityError and is not touched. Nothing is undone: a removal cannot be.
 */
import type { DeviceId } from '../../codec/index.js';
import { deviceArg, removeDeviceArg } from '../client/args.js';
import type { RemoveDeviceOptions, RemoveResult } from '../client/command-types.js';
import { FEATURES } from '../client/features.js';
import { clientParts, operationHost } from '../client/internal-keys.js';
import type { DeviceMapper } from '../client/client.js';
import { removeResult } from '../client/results.js';
import { DmAbortError } from '../errors.js';
import { udevOptionsArg, udevTransaction } from '../udev/cookie-call.js';
import { identityOf, removeOurs } from './identity.js';
import { operationOptions, runOperation } from './operation.js';
import { retryPolicy } from './retry.js';
import { timedOut } from './create-device.js';

/** See {@link DeviceMapper.removeDevice}. `lane`: removeMany's lane this removal runs in (lib/operations/many.ts). */
export async function removeDevice(dm: DeviceMapper, device: DeviceId | string, options: RemoveDeviceOptions = {}, lane?: number): Promise<RemoveResult> {
  removeDeviceArg(device, options);
  udevOptionsArg(options);
  retryPolicy(options);
  const bounds = operationOptions({ signal: options.signal, timeoutMs: options.timeoutMs });
  const { runner, udev } = dm[clientParts]();
  if (options.deferred) runner.require('deferred remove', FEATURES.deferredRemove);
  const id = deviceArg(device);
  const expected = options.expect === undefined ? undefined : identityOf(options.expect);
  const deferred = options.deferred;
  return runOperation(dm[operationHost](), 'removeDevice', { ...bounds, retries: options.retries, delayMs: options.delayMs }, async (op) => {
    // One cookie for all attempts, as libdevmapper retries one task: EBUSY sends no uevent.
    const ctx = udev(op.signal);
    try {
      if (!expected && (id.uuid !== undefined || op.retry.attempts === 1)) {
        // A uuid reaches only its device at every attempt; a single attempt has nothing to compare.
        return removeResult(await udevTransaction(ctx, options, (cookie) => op.retryOnBusy((n) => {
          if (n > 1) op.checkpoint();
          return op.step('remove', () => runner.runAsync('remove', { id, deferred, cookie }, { device: id, lane }));
        }), (r) => r.ueventGenerated));
      }
      const ours = expected ?? identityOf((await op.step('info', async () => runner.runSync('info', { id }, { device: id }))).device);
      return removeResult(await udevTransaction(ctx, options, (cookie) => op.step('remove', () => removeOurs(runner, ours, {
        policy: op.retry, deferred, cookie, ctx: { device: id, lane }, verifyFirst: expected !== undefined, boundary: () => op.checkpoint(),
      }).catch((e: unknown) => {
        if (e instanceof DmAbortError) op.checkpoint(); // a delay the stop cut short: the stop's own error
        throw e;
      })), (r) => r.ueventGenerated));
    } catch (e) {
      throw timedOut(op.signal, e);
    }
  });
}
