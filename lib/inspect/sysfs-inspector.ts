/**
 * Read-only inspection without root: the devices, their info, their dependencies and the
 * device tree, read from sysfs (`/sys/block/dm-N/`), which every user may read, instead of
 * /dev/mapper/control, which only CAP_SYS_ADMIN may use. The results have the ioctl API's
 * shapes; what sysfs does not say (open count, event number, target count, inactive table,
 * the other reply flags) is `undefined`, and the types say so: a `SysfsDeviceInfo` is not
 * assignable to a `DeviceInfo`. Which attribute gives which field, and since which kernel, is
 * docs/sysfs-inspection.md.
 *
 * sysfs changes under the reader: a device removed between the directory listing and the
 * read of its attributes (ENOENT, or EINVAL from a dm attribute of a device being freed) is
 * left out, never an error. An attribute that is too long or not of its format is a
 * `DmSysfsError`; one that cannot be read for another reason a `DmSyscallError`.
 */
import { encodeDev, isUtf8, type DeviceId, type DevNo, type ListedDevice, type RawNames } from '../../codec/index.js';
import { DmSyscallError, ERRNO } from '../../ffi/errors.js';
import { DmAbortError, DmSysfsError } from '../errors.js';
import { describeValue, deviceArg, optionsArg } from '../client/args.js';
import { boundedCall, callOptionsArg, CALL_OPTION_KINDS } from '../client/call-bounds.js';
import type { CallOptions } from '../client/command-types.js';
import type { Backend, SysfsReader } from '../kernel/backend.js';
import { realBackend } from '../kernel/kernel-backend.js';
import { hostSysfs } from '../kernel/host-sysfs.js';
import { treeFromSource, type DeviceTree } from '../operations/device-tree.js';
import { DmArgumentError } from '../errors.js';

/**
 * The reply flags as sysfs knows them: `readOnly` (`ro`), `suspended` (`dm/suspended`) and
 * `activePresent` (a live table: `size` > 0); the others are `undefined` (sysfs does not say).
 */
export interface SysfsReplyFlags {
  /** `/sys/block/dm-N/ro`: the disk's read-only state, what DM_READONLY_FLAG reports for the live table. */
  readonly readOnly: boolean;
  /** `/sys/block/dm-N/dm/suspended`. */
  readonly suspended: boolean;
  /** Whether a live table is bound: `/sys/block/dm-N/size` is not 0 (a table never maps 0 sectors). */
  readonly activePresent: boolean;
  /** Not in sysfs. */
  readonly inactivePresent: undefined;
  /** Not in sysfs (a reply-buffer flag). */
  readonly bufferFull: undefined;
  /** Not in sysfs (a reply flag of a uevent-sending ioctl). */
  readonly ueventGenerated: undefined;
  /** Not in sysfs (a reply flag). */
  readonly dataOut: undefined;
  /** Not in sysfs. */
  readonly deferredRemove: undefined;
  /** Not in sysfs. */
  readonly internalSuspend: undefined;
}

/**
 * A device's `DeviceInfo` as sysfs gives it: the same keys, with what sysfs does not say
 * typed `undefined`, plus the size it does say.
 */
export interface SysfsDeviceInfo extends RawNames {
  /** `dm/name` (the kernel's bytes in `nameBytes` when they are not UTF-8, as DeviceInfo). */
  readonly name: string;
  /** `dm/uuid`; null when it is empty (the device has none). */
  readonly uuid: string | null;
  /** `dev` (`major:minor`). */
  readonly dev: DevNo;
  /** Not in sysfs. */
  readonly openCount: undefined;
  /** Not in sysfs. */
  readonly eventNr: undefined;
  /** Not in sysfs. */
  readonly targetCount: undefined;
  /** What sysfs says of the flags. */
  readonly flags: SysfsReplyFlags;
  /** Not in sysfs (the flags word of an ioctl reply). */
  readonly rawFlags: undefined;
  /** `size`: the live table's length in sectors (0 without a live table). */
  readonly sizeSectors: bigint;
}

/** Compiles only while SysfsDeviceInfo has every key of DeviceInfo: the two must stay comparable field by field. */
type SameKeys = Exclude<keyof import('../../codec/index.js').DeviceInfo, keyof SysfsDeviceInfo>;
const sysfsInfoHasEveryKey: [SameKeys] extends [never] ? true : never = true;
void sysfsInfoHasEveryKey;

/** `inspect().info()`'s result: as `DeviceMapper.info()`'s, with a SysfsDeviceInfo. */
export type SysfsInfoResult = ({ readonly exists: true } & SysfsDeviceInfo) | { readonly exists: false };

/** `inspect().depsWithInfo()`'s result: as `DeviceMapper.depsWithInfo()`'s. */
export interface SysfsDepsWithInfo {
  /** The device as sysfs gives it. */
  readonly device: SysfsDeviceInfo;
  /**
   * `slaves/`: what the device's tables hold open, in descending device numbers (DM_TABLE_DEPS's
   * order for a table that names its devices in the order they were made). Unlike
   * DM_TABLE_DEPS, this includes the devices of a loaded inactive table.
   */
  readonly deps: DevNo[];
}

/** Options of {@link inspect}. */
export interface InspectOptions {
  /** The backend whose sysfs is read (default: the host's, /sys); the simulator's serves its model. */
  readonly backend?: Backend;
}

/** Options of every inspector method: `signal` and `timeoutMs` end the caller's wait. */
export type InspectCallOptions = CallOptions;

/** Attribute bounds: a name is 127 bytes at most (DM_NAME_LEN), a uuid 128 (DM_UUID_LEN), anything else a line. */
const MAX_ATTR_BYTES = 4096;
const NAME_MAX_BYTES = 127;
const UUID_MAX_BYTES = 128;

/** A device whose attributes cannot be read because it is gone (or going). */
const GONE: unique symbol = Symbol('gone');

/** ENOENT/ENODEV: the entry went away; EINVAL: dm_attr_show() of a device being freed or deleted. */
function isGone(e: unknown): boolean {
  return e instanceof DmSyscallError && (e.errno === ERRNO.ENOENT || e.errno === ERRNO.ENODEV || e.errno === ERRNO.ENXIO || e.errno === ERRNO.EINVAL);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new DmAbortError(signal.reason);
}

/**
 * A read-only view of device-mapper from sysfs. It holds no file descriptor (nothing to
 * close); every method reads a fresh snapshot. Create it with {@link inspect}.
 */
export class DeviceMapperInspector {
  readonly #sysfs: SysfsReader;

  /** @internal use {@link inspect}. */
  constructor(sysfs: SysfsReader) {
    this.#sysfs = sysfs;
  }

  /**
   * Every mapped device sysfs shows, in the order of `DeviceMapper.list()` (names as UTF-8
   * bytes). `eventNr` is undefined (not reported). On kernels 5.15 and later a device that
   * never had a table loaded has no gendisk yet and is not listed (docs/sysfs-inspection.md).
   */
  async list(options?: InspectCallOptions): Promise<ListedDevice[]> {
    callOptionsArg(optionsArg(options, 'options', CALL_OPTION_KINDS) as CallOptions, 'options');
    return boundedCall('inspect().list()', options, async (signal) => {
      const all = await this.#readAll(signal);
      return all.map((d) => listed(d.info));
    });
  }

  /** A device's info from sysfs: `{ exists: false }` when sysfs has no such device. */
  async info(device: string | DeviceId, options?: InspectCallOptions): Promise<SysfsInfoResult> {
    const id = deviceArg(device);
    callOptionsArg(optionsArg(options, 'options', CALL_OPTION_KINDS) as CallOptions, 'options');
    return boundedCall('inspect().info()', options, async (signal) => {
      const d = await this.#find(id, signal);
      return d ? { exists: true, ...d.info } : { exists: false };
    });
  }

  /**
   * The devices a device's tables hold (`slaves/`), in descending device numbers; ENXIO (`DmSyscallError`)
   * when sysfs has no such device, as `DeviceMapper.deps()` fails for a missing one.
   */
  async deps(device: string | DeviceId, options?: InspectCallOptions): Promise<DevNo[]> {
    return (await this.depsWithInfo(device, options)).deps;
  }

  /** The device's info and its dependencies from one read of its directory. */
  async depsWithInfo(device: string | DeviceId, options?: InspectCallOptions): Promise<SysfsDepsWithInfo> {
    const id = deviceArg(device);
    callOptionsArg(optionsArg(options, 'options', CALL_OPTION_KINDS) as CallOptions, 'options');
    return boundedCall('inspect().depsWithInfo()', options, async (signal) => {
      const d = await this.#find(id, signal);
      if (!d) throw new DmSyscallError(`no mapped device ${describeValue(device)} in sysfs`, { errno: ERRNO.ENXIO, syscall: 'open', path: '/sys/block' });
      return { device: d.info, deps: d.deps };
    });
  }

  /**
   * The device tree (lib/operations/device-tree.ts) from one sysfs snapshot: the same roots,
   * leaves, parents and children as `DeviceTree.read()` for devices without an inactive
   * table; children are in deps()'s order. A `DeviceTree<SysfsDeviceInfo>`
   * is not accepted by the tree operations, which need the ioctl API's snapshot.
   */
  async tree(options?: InspectCallOptions): Promise<DeviceTree<SysfsDeviceInfo>> {
    callOptionsArg(optionsArg(options, 'options', CALL_OPTION_KINDS) as CallOptions, 'options');
    return boundedCall('inspect().tree()', options, async (signal) => {
      const all = await this.#readAll(signal);
      const byKey = new Map(all.map((d) => [`${d.info.dev.major}:${d.info.dev.minor}`, d]));
      const names = new Map<string, string>();
      for (const d of all) for (const [i, x] of d.deps.entries()) names.set(`${x.major}:${x.minor}`, d.depNames[i]!);
      return treeFromSource<SysfsDeviceInfo>({
        dmMajors: new Set(all.map((d) => d.info.dev.major)),
        listed: all.map((d) => d.info.dev),
        read: (dev) => {
          const d = byKey.get(`${dev.major}:${dev.minor}`);
          return d ? { info: d.info, deps: d.deps } : undefined;
        },
        blockName: (dev) => names.get(`${dev.major}:${dev.minor}`) ?? '',
      });
    });
  }

  /** Every dm-N of /sys/block that is still there when read, sorted as list() sorts. */
  async #readAll(signal: AbortSignal | undefined): Promise<Read[]> {
    const out: Read[] = [];
    for (const entry of await this.#sysfs.readdir('block')) {
      if (!/^dm-\d+$/.test(entry)) continue;
      throwIfAborted(signal);
      const d = await this.#readDevice(entry);
      if (d !== GONE) out.push(d);
    }
    return out.sort((a, b) => Buffer.compare(nameBytes(a.info), nameBytes(b.info)));
  }

  async #find(id: DeviceId, signal: AbortSignal | undefined): Promise<Read | undefined> {
    if (id.dev !== undefined) {
      // dm-N is named by the minor (disk_name "dm-%d"); its dev attribute confirms the major.
      const d = await this.#readDevice(`dm-${id.dev.minor}`);
      return d !== GONE && d.info.dev.major === id.dev.major ? d : undefined;
    }
    const want = id.name ?? id.uuid!;
    const wantBytes = typeof want === 'string' ? Buffer.from(want, 'utf8') : want;
    for (const d of await this.#readAll(signal)) {
      const have = id.name !== undefined ? nameBytes(d.info) : d.info.uuid === null ? undefined : uuidBytes(d.info);
      if (have !== undefined && Buffer.compare(have, wantBytes) === 0) return d;
    }
    return undefined;
  }

  /** One device's attributes; GONE when it went away meanwhile. */
  async #readDevice(entry: string): Promise<Read | typeof GONE> {
    try {
      const base = `block/${entry}`;
      const nameRaw = await this.#attr(`${base}/dm/name`, NAME_MAX_BYTES, false);
      const uuidRaw = await this.#attr(`${base}/dm/uuid`, UUID_MAX_BYTES, true);
      const dev = parseDev(`${base}/dev`, text(await this.#attr(`${base}/dev`, 32, false)));
      const suspended = parseBool(`${base}/dm/suspended`, text(await this.#attr(`${base}/dm/suspended`, 8, false)));
      const readOnly = parseBool(`${base}/ro`, text(await this.#attr(`${base}/ro`, 8, false)));
      const sizeSectors = parseU64(`${base}/size`, text(await this.#attr(`${base}/size`, 32, false)));
      const deps: DevNo[] = [];
      const depNames: string[] = [];
      for (const s of await this.#sysfs.readdir(`${base}/slaves`)) {
        let raw: Uint8Array;
        try {
          raw = await this.#attr(`${base}/slaves/${s}/dev`, 32, false);
        } catch (e) {
          if (isGone(e)) continue; // that device went away meanwhile
          throw e;
        }
        deps.push(parseDev(`${base}/slaves/${s}/dev`, text(raw)));
        depNames.push(s);
      }
      // DM_TABLE_DEPS lists a table's devices newest-referenced first; sysfs keeps no such order.
      // Descending device numbers give that order for the usual table, which names devices in the order they were made.
      const order = deps.map((d, i) => i).sort((i, j) => deps[j]!.major - deps[i]!.major || deps[j]!.minor - deps[i]!.minor);
      const sortedDeps = order.map((i) => deps[i]!);
      const sortedNames = order.map((i) => depNames[i]!);
      const name = kernelText(nameRaw);
      const uuid = uuidRaw.length === 0 ? null : kernelText(uuidRaw);
      const info: { -readonly [K in keyof SysfsDeviceInfo]: SysfsDeviceInfo[K] } = {
        name: name.text, uuid: uuid?.text ?? null, dev, openCount: undefined, eventNr: undefined, targetCount: undefined,
        flags: {
          readOnly, suspended, activePresent: sizeSectors > 0n, inactivePresent: undefined, bufferFull: undefined, ueventGenerated: undefined,
          dataOut: undefined, deferredRemove: undefined, internalSuspend: undefined,
        },
        rawFlags: undefined, sizeSectors,
      };
      if (name.bytes) info.nameBytes = name.bytes;
      if (uuid?.bytes) info.uuidBytes = uuid.bytes;
      return { info, deps: sortedDeps, depNames: sortedNames };
    } catch (e) {
      if (isGone(e)) return GONE;
      throw e;
    }
  }

  /** An attribute's value without its trailing newline, at most `max` bytes; empty only where `emptyOk`. */
  async #attr(path: string, max: number, emptyOk: boolean): Promise<Uint8Array> {
    const raw = await this.#sysfs.readFile(path, MAX_ATTR_BYTES);
    if (raw.length > MAX_ATTR_BYTES) throw new DmSysfsError(path, `longer than ${MAX_ATTR_BYTES} bytes`);
    const v = raw.length > 0 && raw[raw.length - 1] === 0x0a ? raw.subarray(0, raw.length - 1) : raw;
    if (v.length > max) throw new DmSysfsError(path, `${v.length} bytes, more than the ${max} the kernel writes there`);
    if (!emptyOk && v.length === 0) throw new DmSysfsError(path, 'empty');
    if (v.includes(0)) throw new DmSysfsError(path, 'contains a NUL byte');
    return v;
  }
}

interface Read {
  readonly info: SysfsDeviceInfo;
  readonly deps: DevNo[];
  /** The kernel names of the deps (`loop0`, `dm-2`), same order. */
  readonly depNames: string[];
}

/** Opens the read-only view: it opens nothing yet, and needs no privilege. */
export function inspect(options: InspectOptions = {}): DeviceMapperInspector {
  const o = optionsArg(options, 'options', { backend: 'object' });
  const backend = (o.backend as Backend | undefined) ?? realBackend();
  if (backend.sysfs !== undefined && (typeof backend.sysfs !== 'object' || backend.sysfs === null)) throw new DmArgumentError('options.backend.sysfs', 'a SysfsReader', describeValue(backend.sysfs));
  // A backend without a reader is given the host's, as a backend without blockIo is.
  return new DeviceMapperInspector(backend.sysfs ?? hostSysfs());
}

function listed(d: SysfsDeviceInfo): ListedDevice {
  const out: { -readonly [K in keyof ListedDevice]: ListedDevice[K] } = { name: d.name, dev: d.dev, eventNr: undefined, uuid: d.uuid };
  if (d.nameBytes) out.nameBytes = d.nameBytes;
  if (d.uuidBytes) out.uuidBytes = d.uuidBytes;
  return out;
}

const nameBytes = (d: RawNames & { name: string }) => d.nameBytes ?? Buffer.from(d.name, 'utf8');
const uuidBytes = (d: RawNames & { uuid: string | null }) => d.uuidBytes ?? Buffer.from(d.uuid ?? '', 'utf8');

/** A name or uuid as the ioctl API gives it: the text, and the bytes when they are not UTF-8. */
function kernelText(b: Uint8Array): { text: string; bytes: Uint8Array | undefined } {
  return { text: Buffer.from(b).toString('utf8'), bytes: isUtf8(b) ? undefined : Uint8Array.from(b) };
}

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

function parseDev(path: string, s: string): DevNo {
  const m = /^(\d{1,7}):(\d{1,7})$/.exec(s);
  if (!m) throw new DmSysfsError(path, `not "major:minor": ${JSON.stringify(s)}`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  try {
    return { major, minor, raw: encodeDev(major, minor) };
  } catch {
    throw new DmSysfsError(path, `${s} is out of range`);
  }
}

function parseBool(path: string, s: string): boolean {
  if (s === '0') return false;
  if (s === '1') return true;
  throw new DmSysfsError(path, `not 0 or 1: ${JSON.stringify(s)}`);
}

function parseU64(path: string, s: string): bigint {
  if (!/^\d{1,20}$/.test(s) || BigInt(s) > 0xffffffffffffffffn) throw new DmSysfsError(path, `not a sector count: ${JSON.stringify(s)}`);
  return BigInt(s);
}
