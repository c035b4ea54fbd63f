/**
 * The results the command methods hand back, built from decoded replies: copies that share
 * no object with a reply another caller may also hold (wait()'s shared wake-up reply),
 * info()'s `{ exists }` shapes, remove()'s result, and a rename's read-back with the
 * reply's uevent flag. Fixed-shape literals, not spreads: these run on every call.
 */
import { DM_UEVENT_GENERATED_FLAG, redactTableParams, type DeviceInfo, type ListedDevice, type TargetLine } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { DmError } from '../errors.js';
import type { InfoResult, Missing, RemoveResult } from './command-types.js';

/**
 * A copy of a (possibly shared) DeviceInfo that shares no object with it: wait()'s reply is
 * shared by the waiters woken together, and one caller mutating its `dev`, `flags` or raw
 * name bytes must not change what another sees.
 */
export function ownDevice(d: DeviceInfo): DeviceInfo {
  // Literals, not Object.assign: a fixed shape is several times cheaper on the wake path.
  // The fields are DeviceInfo's and ReplyFlags' (codec/commands.ts deviceInfo, replyFlags).
  const f = d.flags;
  const o: { -readonly [K in keyof DeviceInfo]: DeviceInfo[K] } = {
    name: d.name,
    uuid: d.uuid,
    dev: { major: d.dev.major, minor: d.dev.minor, raw: d.dev.raw },
    openCount: d.openCount,
    eventNr: d.eventNr,
    targetCount: d.targetCount,
    flags: {
      readOnly: f.readOnly, suspended: f.suspended, activePresent: f.activePresent, inactivePresent: f.inactivePresent,
      bufferFull: f.bufferFull, ueventGenerated: f.ueventGenerated, dataOut: f.dataOut, deferredRemove: f.deferredRemove,
      internalSuspend: f.internalSuspend,
    },
    rawFlags: d.rawFlags,
  };
  if (d.nameBytes) o.nameBytes = d.nameBytes.slice();
  if (d.uuidBytes) o.uuidBytes = d.uuidBytes.slice();
  return o;
}

/** Fresh target lines (see ownDevice), keys redacted when `redact`. */
export function ownTargets(ts: readonly TargetLine[], redact: boolean): TargetLine[] {
  const out: TargetLine[] = new Array(ts.length);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    out[i] = { start: t.start, length: t.length, type: t.type, params: redact ? redactTableParams(t.type, t.params) : t.params };
  }
  return out;
}

/**
 * info()'s result for a device that exists: `{ exists: true }` followed by the device's own
 * properties, as `Object.assign({ exists: true }, device)` gives (same keys, same order;
 * spec/lib/info-result.spec.ts compares them). One literal, because a copy through
 * Object.assign or a spread cost several times more on the hot path. nameBytes/uuidBytes are
 * added only when the device has them.
 */
export function present(d: DeviceInfo): InfoResult {
  const out: { -readonly [K in keyof DeviceInfo]: DeviceInfo[K] } & { readonly exists: true } = {
    exists: true, name: d.name, uuid: d.uuid, dev: d.dev, openCount: d.openCount, eventNr: d.eventNr,
    targetCount: d.targetCount, flags: d.flags, rawFlags: d.rawFlags,
  };
  if (d.nameBytes !== undefined) out.nameBytes = d.nameBytes;
  if (d.uuidBytes !== undefined) out.uuidBytes = d.uuidBytes;
  return out;
}
/** Compiles only while present() copies every key of DeviceInfo: a new key must be added there. */
const presentCopiesEveryKey: [Exclude<keyof DeviceInfo, 'name' | 'uuid' | 'dev' | 'openCount' | 'eventNr' | 'targetCount' | 'flags' | 'rawFlags' | 'nameBytes' | 'uuidBytes'>] extends [never] ? true : never = true;
void presentCopiesEveryKey;

/** info()'s rule for a failed DM_DEV_STATUS: a missing device (ENXIO) is `{ exists: false }`; anything else is thrown. */
export function missingOrThrow(e: unknown): Missing {
  if (e instanceof DmError && e.errno === ERRNO.ENXIO) return { exists: false };
  throw e;
}

/** What DEV_REMOVE's reply says, with the kernel's bytes of a name or uuid that is not UTF-8. */
export function removeResult(r: RemoveResult): RemoveResult {
  const out: { -readonly [K in keyof RemoveResult]: RemoveResult[K] } = { name: r.name, uuid: r.uuid, deferred: r.deferred, ueventGenerated: r.ueventGenerated };
  if (r.nameBytes) out.nameBytes = r.nameBytes;
  if (r.uuidBytes) out.uuidBytes = r.uuidBytes;
  return out;
}

/** The order of the kernel's name tree (4.45+): names compared as UTF-8 bytes. */
export function byNameBytes(a: ListedDevice, b: ListedDevice): number {
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

/**
 * The device as it is after a rename, read back by info, with the rename reply's
 * DM_UEVENT_GENERATED_FLAG: only DEV_RENAME's reply says whether the kernel sent the uevent,
 * and node handling (`renameNode`) and udev sync decide on it.
 */
export function withUeventOf(now: DeviceInfo, reply: DeviceInfo): DeviceInfo {
  const generated = reply.flags.ueventGenerated;
  if (now.flags.ueventGenerated === generated) return now;
  return {
    ...now,
    flags: { ...now.flags, ueventGenerated: generated },
    rawFlags: generated ? now.rawFlags | DM_UEVENT_GENERATED_FLAG : now.rawFlags & ~DM_UEVENT_GENERATED_FLAG,
  };
}
