/**
 * rename: DM_DEV_RENAME, which the kernel looks up by name only (docs/identity.md). A device
 * given by name is renamed by one ioctl and read back; one given by uuid or dev is an
 * operation on the operation core: resolved to its identity first, renamed by name, and
 * checked afterwards — the reply's dev, and the device now found under the new name (or
 * uuid) must be the one resolved, otherwise DmIdentityError (`acted: true`: someone replaced
 * the name between the two ioctls, and the rename reached their device). A rename that has
 * happened is not undone: renaming back could reach a device that took the old name since.
 */
import type { DeviceId, DeviceInfo } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { deviceArg, optionsArg, renameToArg } from '../client/args.js';
import { boundedCall, CALL_OPTION_KINDS } from '../client/call-bounds.js';
import type { RenameOptions, RenameTarget } from '../client/command-types.js';
import { FEATURES } from '../client/features.js';
import { clientParts, operationHost } from '../client/internal-keys.js';
import type { DeviceMapper } from '../client/client.js';
import { withUeventOf } from '../client/results.js';
import { DmError, DmIdentityError } from '../errors.js';
import { udevOptionsArg, udevTransaction, UDEV_OPTION_KINDS } from '../udev/cookie-call.js';
import { identityOf, renamedIdentity, renamedInfo, sameIdentity } from './identity.js';
import { operationOptions, runOperation } from './operation.js';
import { IntentJournal } from './intent-record.js';

/** See {@link DeviceMapper.rename}. */
export async function renameDevice(dm: DeviceMapper, device: DeviceId | string, to: RenameTarget, options: RenameOptions = {}): Promise<DeviceInfo> {
  const id = deviceArg(device);
  renameToArg(to);
  optionsArg(options, 'options', { ...CALL_OPTION_KINDS, ...UDEV_OPTION_KINDS });
  udevOptionsArg(options);
  const bounds = operationOptions({ signal: options.signal, timeoutMs: options.timeoutMs });
  const { runner, udev } = dm[clientParts]();
  if ('newUuid' in to) runner.require('setting a uuid', FEATURES.setUuid);
  const newId: DeviceId = 'newName' in to ? { name: to.newName } : { uuid: to.newUuid };
  if (id.name !== undefined) {
    const name = id.name;
    return boundedCall('rename', bounds, async (gaveUp) => {
      // DEV_RENAME echoes the request's name and uuid (here: the old name, no uuid); the
      // device as it now is comes from one info under its new name or uuid, kept only when
      // it is the device the reply's dev names (else the reply with the new name or uuid).
      // The cookie this call makes is recorded by the udev context (docs/crash-safety.md).
      const r = await udevTransaction(udev(gaveUp), options, async (cookie) => (await runner.runAsync('rename', { name, ...to, cookie }, { device: id })).device, (d) => d.flags.ueventGenerated);
      let now: DeviceInfo | undefined;
      try { now = runner.runSync('info', { id: newId }, { device: newId }).device; } catch { /* a best-effort read-back */ }
      return now && now.dev.major === r.dev.major && now.dev.minor === r.dev.minor ? withUeventOf(now, r) : renamedInfo(r, to);
    });
  }
  return runOperation(dm[operationHost](), 'rename', bounds, async (op) => {
    const ours = identityOf((await op.step('info', async () => runner.runSync('info', { id }, { device: id }))).device);
    op.checkpoint();
    const r = await udevTransaction(udev(op.signal), options, (cookie) => op.step('rename', () => runner.runAsync('rename', { name: ours.nameBytes ?? ours.name, ...to, cookie }, { device: id })), (x) => x.device.flags.ueventGenerated);
    op.check('rename', ours, r.device);
    // The reply's dev cannot tell a stranger that took our freed minor: look the device up
    // by what it is now called, which only our device can be unless it was replaced.
    const renamed = renamedIdentity(ours, to);
    let now: DeviceInfo | undefined;
    try {
      now = runner.runSync('info', { id: newId }, { device: id }).device;
    } catch (e) {
      if (!(e instanceof DmError && e.errno === ERRNO.ENXIO)) throw e;
    }
    if (!now || !sameIdentity(renamed, now)) throw new DmIdentityError('rename', renamed, now ? identityOf(now) : {}, true);
    return withUeventOf(now, r.device); // the device under its new name (or uuid), checked to be ours
  });
}
