/**
 * An in-memory device-mapper: it takes request bytes and returns reply bytes through the
 * same codec, with the semantics measured on kernels 4.47/4.48 (docs/kernel-facts.md). Users test their code against it without root:
 *
 *   const kernel = new SimulatedKernel();
 *   const dm = await DeviceMapper.open({ backend: kernel.backend() });
 *
 * Processing one call follows ctl_ioctl(): capability → type → version (written back
 * even on failure) → lookup → copy_params → validate_params → handler → copy back only
 * on success. Where 4.47/4.48 differ from newer sources (e.g. TARGET_MSG to a device
 * without a table gives EINVAL there, 2 in a source reading), the measured behaviour is
 * simulated and the difference noted in a comment.
 */
import {
  createCodec, decodeDev, encodeDev, commandByNumber, commandSpec, dmIoctl, dmNameList, dmNameListTrailer, dmTargetDeps,
  dmTargetMsg, dmTargetSpec, dmTargetVersions, DM_DATA_START, DM_IOCTL, DM_MAX_TYPE_NAME, DM_NAME_LEN, DM_UUID_LEN, DM_ACTIVE_PRESENT_FLAG, DM_BUFFER_FULL_FLAG, DM_DATA_OUT_FLAG,
  DM_DEFERRED_REMOVE, DM_IMA_MEASUREMENT_FLAG, DM_INACTIVE_PRESENT_FLAG, DM_MAX_DATA_SIZE, DM_MIN_DATA_SIZE,
  DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID, DM_NAME_LIST_FLAG_HAS_UUID, DM_PERSISTENT_DEV_FLAG, DM_QUERY_INACTIVE_TABLE_FLAG,
  DM_READONLY_FLAG, DM_SECURE_DATA_FLAG, DM_STATUS_TABLE_FLAG, DM_SUSPEND_FLAG, DM_UEVENT_GENERATED_FLAG, DM_UUID_FLAG,
  type CommandName, type Version,
} from '../codec/index.js';
import { ERRNO, mapOpenError } from '../ffi/errors.js';
import type { Backend, IoctlResult } from '../lib/index.js';
import { simTransport, simWatcher, type SimFd, type SimKernelPort } from './sim-transport.js';
import { statsMessage, type SimStatsRegion } from './sim-stats.js';
import { SimUdev } from './udev-sim.js';
import { SimError } from './errors.js';
import { BUILTIN_TARGETS, splitArgs, type ConstructedTarget, type SimBlockDevice, type SimTargetType } from './targets.js';
import { thinTargets } from './thin-sim.js';
import { faultTargets } from './fault-sim.js';
import { checkDeviceAreas } from './device-areas.js';
import { storageTargets } from './storage-targets.js';
import { tableDeviceOrder } from './table-devices.js';

export { splitArgs, BUILTIN_TARGETS };
export type { ConstructedTarget, SimBlockDevice, SimTargetType };

/** Options of a {@link SimulatedKernel}. */
export interface SimulatedKernelOptions {
  /** The interface version to report (default 4.48.0, Debian 12's 6.12 kernel). */
  readonly version?: Version;
  /** Block major of dm devices (default 254). */
  readonly major?: number;
  /**
   * false = the caller is not root: opening a control fd (a client, a watcher) fails with
   * the same `DmPermissionError` a non-root user gets from the 0600 root-owned
   * /dev/mapper/control. Set `kernel.privileged = false` after a client opened to model a
   * process that dropped CAP_SYS_ADMIN: its ioctls then fail with `DmError` EACCES, as the
   * kernel's `capable()` check answers.
   */
  readonly privileged?: boolean;
  /**
   * How TABLE_STATUS fills `dm_target_spec.target_type` (docs/kernel-facts.md, "Stale
   * bytes"): 'strncpy' = `strncpy(…, 15)` as kernels before the 2023 strscpy_pad change do (Debian's 6.1): byte 15
   * keeps what the caller's buffer held, so a 15-character type (snapshot-origin) has no
   * terminator; 'strscpy_pad' = NUL-padded (since then; Debian's 6.12). Default: 'strncpy' for
   * interface versions below 4.48, else 'strscpy_pad' (an approximation: 4.48 kernels
   * before the 2023 change still used strncpy).
   */
  readonly targetTypeCopy?: 'strncpy' | 'strscpy_pad';
  /**
   * A simulated udevd with dm's rules (udev-sim.ts): clients on this kernel then default to
   * `udev: 'sync'`, and their cookies are completed by it. Default: none (no udev).
   */
  readonly udev?: boolean;
}

/** A table as the simulated kernel holds it (a device's live or inactive slot). */
export interface SimTable {
  /** Its lines, each with the constructed target that serves it. */
  readonly lines: {
    /** First sector. */
    start: bigint;
    /** Sectors. */
    length: bigint;
    /** The target type. */
    type: string;
    /** What the type's constructor made of the params. */
    target: ConstructedTarget;
  }[];
  /** Loaded with DM_READONLY_FLAG. */
  readonly readOnly: boolean;
}

/**
 * One mapped device as the simulated kernel holds it. The kernel keeps names and uuids as
 * bytes (anything but NUL): `name` and `uuid` are their `simKey()` form, the text itself
 * for UTF-8, so nothing is lost for names that are not UTF-8.
 */
export interface SimDevice {
  /** The name, in `simKey()` form. */
  name: string;
  /** The uuid in `simKey()` form; undefined when it has none. */
  uuid: string | undefined;
  /** Its minor number (the major is the kernel's `major`). */
  readonly minor: number;
  /**
   * Opens by users of /dev/dm-N (`openDevice()`). The open count the kernel reports adds one
   * per other mapped device whose live or inactive table uses this one (`openTotal()`).
   */
  openCount: number;
  /** The event number: moves on target events and table swaps. */
  eventNr: number;
  /** Suspended: info reports DM_SUSPEND_FLAG. */
  suspended: boolean;
  /** The live table; undefined before the first resume of a loaded table. */
  live: SimTable | undefined;
  /** The loaded table waiting for a resume; undefined when none. */
  inactive: SimTable | undefined;
  /** Removal scheduled for the last close (DM_DEFERRED_REMOVE). */
  deferredRemove: boolean;
  /** Whether the gendisk is registered (first table load, 5.15+): uevents need it. */
  diskAdded: boolean;
  /** The geometry set by DM_DEV_SET_GEOMETRY ("cyl heads sectors start"), if any. */
  geometry: string | undefined;
  /** dm-stats regions (@stats_create …), by id. */
  stats: Map<number, SimStatsRegion>;
}

/** One ioctl of a client on this kernel, as an interceptor sees it (`intercept()`). */
export interface SimIoctlEvent {
  /** The label of the backend the client was opened on (`backend({ label })`). */
  readonly label: string | undefined;
  /** The command, or undefined for a number the kernel does not know. */
  readonly command: CommandName | undefined;
  /** The device name of the request header (simKey form), undefined when empty. */
  readonly name?: string | undefined;
  /** The uuid of the request header (simKey form), undefined when empty. */
  readonly uuid?: string | undefined;
}

/** A fault for one call, decided by an interceptor's `fault()` (see `simFaults()`). */
export interface SimCallFault {
  /** Fail the call with this errno number before the kernel sees it. */
  readonly errno?: number;
  /** Hold the call this long first (ms): an async call waits on a timer, a sync call blocks. */
  readonly delayMs?: number;
}

/** What the call did, for `after` (the event of `before` plus the outcome). */
export interface SimIoctlOutcome extends SimIoctlEvent {
  /** 0 on success, else the errno the ioctl failed with. */
  readonly errno: number;
  /** The device the call looked up, created or renamed (the simulator's own object), if any. */
  readonly device: SimDevice | undefined;
}

/**
 * Runs around every ioctl a client issues through a backend of this kernel, for tests
 * that put another actor between two of a client's calls (races, faults at every step).
 * `before` runs after the call left the client and before the kernel processes it; it
 * may change the kernel's state synchronously — through `kernel.ioctl()` (which never
 * triggers interceptors), another client's sync methods, `openDevice()`, … `after` sees
 * what the call did. Calls issued while an interceptor runs are not intercepted.
 */
export interface SimInterceptor {
  /** Called before every ioctl of the client. */
  before?(e: SimIoctlEvent): void;
  /** Runs after `before`: a fault for this call (fail it, delay it), or undefined. The first one wins. */
  fault?(e: SimIoctlEvent): SimCallFault | undefined;
  /** Called after every ioctl of the client, with its outcome. */
  after?(e: SimIoctlOutcome): void;
}

type Handler = (k: Call, size: number) => number;

/** dm_ioctl's field offsets (codec/records.ts). */
const H = dmIoctl.offsetOf;
/** Where a payload-returning command writes (get_result_buffer(): data_start = the aligned header). */
const OUT = DM_DATA_START;
const SPEC = dmTargetSpec.size;
const NL = dmNameList.offsetOf;
const NT = dmNameListTrailer.offsetOf;
const DEPS = dmTargetDeps.offsetOf;
const MSG = dmTargetMsg.offsetOf;
const TV = dmTargetVersions.offsetOf;

/** The kernel's view of one ioctl in progress: its private copy of the buffer. */
class Call {
  constructor(readonly buf: Uint8Array, readonly view: DataView, readonly le: boolean, readonly fd: SimFd) {}
  get dataSize(): number { return this.view.getUint32(H.data_size, this.le); }
  set dataSize(v: number) { this.view.setUint32(H.data_size, v, this.le); }
  get dataStart(): number { return this.view.getUint32(H.data_start, this.le); }
  set dataStart(v: number) { this.view.setUint32(H.data_start, v, this.le); }
  get flags(): number { return this.view.getUint32(H.flags, this.le); }
  set flags(v: number) { this.view.setUint32(H.flags, v >>> 0, this.le); }
  get eventNr(): number { return this.view.getUint32(H.event_nr, this.le); }
  set eventNr(v: number) { this.view.setUint32(H.event_nr, v, this.le); }
  set openCount(v: number) { this.view.setInt32(H.open_count, v, this.le); }
  get targetCount(): number { return this.view.getUint32(H.target_count, this.le); }
  set targetCount(v: number) { this.view.setUint32(H.target_count, v, this.le); }
  get dev(): bigint { return this.view.getBigUint64(H.dev, this.le); }
  set dev(v: bigint) { this.view.setBigUint64(H.dev, v, this.le); }
  /** A C string of at most `max` bytes at `off`, as its simKey (lossless). */
  key(off: number, max: number): string {
    let end = off;
    while (end < off + max && this.buf[end] !== 0) end++;
    return simKey(this.buf.subarray(off, end));
  }
  get name(): string { return this.key(H.name, DM_NAME_LEN); }
  get uuid(): string { return this.key(H.uuid, DM_UUID_LEN); }
  set name(key: string) { this.setString(H.name, DM_NAME_LEN, key); }
  set uuid(key: string) { this.setString(H.uuid, DM_UUID_LEN, key); }
  /** strscpy of a simKey's bytes. */
  setString(off: number, max: number, key: string): void {
    const b = keyBytes(key);
    this.buf.fill(0, off, off + max);
    this.buf.set(b.subarray(0, max - 1), off);
  }
}

/**
 * The order of LIST_DEVICES before 4.45: the kernel walks its 64 name-hash buckets in
 * order, each bucket newest first (list_add at the head). hash_str() of dm-ioctl.c.
 */
function hashOrder(devs: SimDevice[]): SimDevice[] {
  const bucket = (name: string): number => {
    let h = 0;
    for (const byte of keyBytes(name)) h = Math.imul((h + byte) >>> 0, 2654435387) >>> 0;
    return h & 63;
  };
  return devs.map((d, i) => ({ d, i, b: bucket(d.name) })).sort((x, y) => x.b - y.b || y.i - x.i).map((x) => x.d);
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const strictDec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The simulator's lossless string form of a kernel name or uuid: the text itself when the
 * bytes are UTF-8 (so `devices.get('vol')` works), else a NUL followed by one char per
 * byte (a kernel name never holds NUL, so the two forms cannot collide). Accepts a JS
 * string (taken as UTF-8 text) or the bytes.
 */
export function simKey(v: string | Uint8Array): string {
  if (typeof v === 'string') return v;
  try { return strictDec.decode(v); } catch { return '\0' + String.fromCharCode(...v); }
}

/** The bytes a simKey stands for. */
export function keyBytes(key: string): Uint8Array {
  if (key.charCodeAt(0) !== 0) return enc.encode(key);
  const b = new Uint8Array(key.length - 1);
  for (let i = 1; i < key.length; i++) b[i - 1] = key.charCodeAt(i);
  return b;
}

/** filter_device(): a byte-wise prefix match of two simKeys. */
function startsWith(key: string, prefix: string): boolean {
  const k = keyBytes(key);
  const p = keyBytes(prefix);
  return p.length <= k.length && p.every((c, i) => k[i] === c);
}

const align8 = (n: number) => (n + 7) & ~7;

/** The path a simulated open names in its errors (the real node's). */
const SIM_CONTROL_PATH = '/dev/mapper/control';

/** An in-memory device-mapper kernel: `new SimulatedKernel().backend()` is a backend for `DeviceMapper.open()`. */
export class SimulatedKernel {
  /** The device-mapper interface version it reports (option `version`). */
  readonly version: Version;
  /** The major number of its mapped devices (option `major`). */
  readonly major: number;
  /** Whether callers have CAP_SYS_ADMIN; false fails opens and ioctls as for a non-root user. */
  privileged: boolean;
  /** dm_global_event_nr: bumped by create/remove/rename/remove_all, table events and table swaps. */
  globalEventNr = 0;
  /** The mapped devices, by name (`simKey()` form). */
  readonly devices = new Map<string, SimDevice>();
  /** The simulated udevd (`udev: true`), else undefined. */
  readonly udev: SimUdev | undefined;
  /** The block devices tables may map (`addBlockDevice`). */
  readonly blockDevices: SimBlockDevice[] = [];
  /** Kernel log lines with their sequence numbers. */
  readonly log: {
    /** The line's sequence number (as /dev/kmsg numbers records). */
    seq: number;
    /** The line, e.g. `device-mapper: table: 254:0: linear: Device lookup failed`. */
    text: string;
  }[] = [];
  #logSeq = 0;
  /** ioctls processed, per command. */
  readonly calls = new Map<CommandName, number>();
  /** Open control fds (transports and watchers); tests check nothing leaks. */
  openFds = 0;
  /** Parked waits (watcher polls, DEV_WAITs): a poll() or DEV_WAIT left behind shows up here. */
  get pendingWaits(): number { return this.#listeners.size; }
  readonly #targets = new Map<string, SimTargetType>();
  /** Loaded target modules, most recently loaded first (a fresh 6.1 VM lists striped, linear, error). */
  readonly #loaded: string[] = ['striped', 'linear', 'error'];
  readonly #listeners = new Set<() => void>();
  readonly #interceptors = new Set<SimInterceptor>();
  #intercepting = false;
  /** The device the call being processed looked up, created or renamed (for interceptors). */
  #touched: SimDevice | undefined;
  readonly #codec = createCodec();
  readonly #le = this.#codec.endian === 'little';
  readonly #targetTypeCopy: 'strncpy' | 'strscpy_pad';

  constructor(options: SimulatedKernelOptions = {}) {
    this.version = options.version ?? [4, 48, 0];
    this.#targetTypeCopy = options.targetTypeCopy ?? (this.version[1] < 48 ? 'strncpy' : 'strscpy_pad');
    this.major = options.major ?? 254;
    this.privileged = options.privileged ?? true;
    this.udev = options.udev ? new SimUdev() : undefined;
    for (const t of BUILTIN_TARGETS) {
      const v = builtinTargetVersion(t.name, this.version);
      this.#targets.set(t.name, v ? { ...t, version: v } : t);
    }
    // thin-pool, thin, flakey, delay (thin-sim.ts, fault-sim.ts): they need the kernel itself.
    for (const t of [...thinTargets(this), ...faultTargets(this), ...storageTargets(this)]) this.#targets.set(t.name, t);
  }

  // ------------------------------------------------------------- test hooks ---

  /** Makes a block device known to tables (e.g. a loop device): path and major:minor resolve to it. */
  addBlockDevice(path: string, major: number, minor: number, sectors: bigint | number): SimBlockDevice {
    const d = { path, major, minor, sectors: BigInt(sectors) };
    this.blockDevices.push(d);
    return d;
  }

  /** Adds a target type (its module counts as loaded once a table uses it). */
  registerTarget(t: SimTargetType): void {
    this.#targets.set(t.name, t);
  }

  /** A target event (thin-pool low-water mark, snapshot overflow…): event_nr + 1 and a global event. */
  triggerEvent(name: string | Uint8Array): void {
    const d = this.devices.get(simKey(name));
    if (!d) throw new SimError('ENXIO', `no simulated device ${String(name)}`);
    this.#tableEvent(d);
  }

  /** Opens / closes the device as a user of /dev/dm-N would (open counts, EBUSY, deferred remove). */
  openDevice(name: string | Uint8Array): void {
    const d = this.devices.get(simKey(name));
    if (!d) throw new SimError('ENXIO', `no simulated device ${String(name)}`);
    d.openCount++;
  }

  /** Undoes one {@link SimulatedKernel.openDevice}. */
  closeDevice(name: string | Uint8Array): void {
    const d = this.devices.get(simKey(name));
    if (!d || d.openCount === 0) throw new SimError('EINVAL', `simulated device ${String(name)} is not open`);
    d.openCount--;
    this.#lastClose(d);
  }

  /**
   * The open count the kernel reports for `d`: its own opens plus one per other mapped device
   * whose live or inactive table uses it (dm_get_table_device() opens each underlying device
   * once per device, shared by both tables: docs/device-tree.md).
   */
  openTotal(d: SimDevice): number {
    let holders = 0;
    for (const u of this.devices.values()) {
      if (u !== d && [u.live, u.inactive].some((t) => t?.lines.some((l) => l.target.deps.some((b) => b.major === this.major && b.minor === d.minor)))) holders++;
    }
    return d.openCount + holders;
  }

  /** Like dm_blk_close(), the last close queues a pending deferred removal on a workqueue. */
  #lastClose(d: SimDevice): void {
    if (!d.deferredRemove || this.openTotal(d) !== 0) return;
    setImmediate(() => {
      if (this.devices.get(d.name) === d && this.openTotal(d) === 0 && d.deferredRemove) this.#destroy(d);
    });
  }

  /** A table was dropped (destroyed, cleared, swapped out): the devices it held are closed once. */
  #released(t: SimTable | undefined): void {
    for (const l of t?.lines ?? []) {
      for (const b of l.target.deps) {
        if (b.major !== this.major) continue;
        const d = [...this.devices.values()].find((x) => x.minor === b.minor);
        if (d) this.#lastClose(d);
      }
    }
  }

  /**
   * Adds an interceptor around every client ioctl (see SimInterceptor); returns the
   * function that removes it.
   */
  intercept(interceptor: SimInterceptor): () => void {
    this.#interceptors.add(interceptor);
    return () => { this.#interceptors.delete(interceptor); };
  }

  /**
   * A backend for `DeviceMapper.open({ backend })`. `label` names the client's calls for
   * interceptors (e.g. 'victim' and 'adversary' on one kernel).
   */
  backend(options: { readonly label?: string } = {}): Backend {
    return {
      description: 'simulated kernel',
      openControl: async () => { this.#checkOpen(); return simTransport(this.#port, options.label); },
      openWatcher: async () => { this.#checkOpen(); return simWatcher(this.#port); },
      ...(this.udev ? { openCookieHost: async () => this.udev!.host() } : {}),
      openKernelLog: () => {
        let cursor = this.#logSeq;
        return {
          take: () => {
            const lines = this.log.filter((l) => l.seq >= cursor).map((l) => l.text);
            cursor = this.#logSeq;
            return lines;
          },
          close: () => {},
        };
      },
    };
  }

  /** open() of the control node as a non-root user: EACCES on a 0600 root:root node. */
  #checkOpen(): void {
    if (this.privileged) return;
    const err = Object.assign(new Error(`EACCES: permission denied, open '${SIM_CONTROL_PATH}'`), { code: 'EACCES', errno: -ERRNO.EACCES });
    throw mapOpenError(err, SIM_CONTROL_PATH, 0o20600);
  }

  /** Processes one ioctl on `buf` in place, as the kernel would; returns ioctl(2)'s result. */
  ioctl(request: number, buf: Uint8Array, fd: SimFd = { armedEventNr: this.globalEventNr, closed: false }): IoctlResult {
    const r = this.#process(request >>> 0, buf, fd);
    return r === 0 ? { ret: 0, errno: 0 } : { ret: -1, errno: r };
  }

  // -------------------------------------------------------------- transport ---

  /** What this kernel's fds (sim-transport.ts) may see and do. */
  readonly #port: SimKernelPort = {
    globalEventNr: () => this.globalEventNr,
    ioctl: (request, buf, fd) => this.ioctl(request, buf, fd),
    sleeps: (request, buf) => {
      const command = commandByNumber(request & 0xff);
      if (command === 'wait') {
        const current = this.#peekDevice(buf)?.eventNr;
        return current !== undefined && current === new DataView(buf.buffer, buf.byteOffset).getUint32(H.event_nr, this.#le) ? 'event' : undefined;
      }
      if (command === 'remove') {
        const d = this.#peekDevice(buf);
        return d && this.openTotal(d) === 0 && this.#removeWaitsOnIo(d) ? 'io' : undefined;
      }
      return undefined;
    },
    before: (label, request, buf) => this.#before(label, request, buf),
    fault: (token) => this.#fault(token as SimIoctlEvent | undefined),
    injected: (buf, errno) => this.#injected(buf, errno),
    after: (token, r) => this.#after(token as SimIoctlEvent | undefined, r),
    addListener: (l) => { this.#listeners.add(l); },
    removeListener: (l) => { this.#listeners.delete(l); },
    fdOpened: () => { this.openFds++; },
    fdClosed: () => { this.openFds--; },
  };

  #before(label: string | undefined, request: number, buf: Uint8Array): SimIoctlEvent | undefined {
    this.#touched = undefined;
    if (this.#interceptors.size === 0 || this.#intercepting) return undefined;
    const header = buf.length >= DM_MIN_DATA_SIZE ? new Call(buf, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), this.#le, { armedEventNr: 0, closed: false }) : undefined;
    const event: SimIoctlEvent = {
      label, command: ((request >>> 8) & 0xff) === DM_IOCTL ? commandByNumber(request & 0xff) : undefined,
      name: header?.name || undefined, uuid: header?.uuid || undefined,
    };
    this.#intercepting = true;
    try {
      for (const i of [...this.#interceptors]) i.before?.(event);
    } finally {
      this.#intercepting = false;
      this.#touched = undefined;
    }
    return event;
  }

  #fault(event: SimIoctlEvent | undefined): SimCallFault | undefined {
    if (!event) return undefined;
    this.#intercepting = true;
    try {
      for (const i of [...this.#interceptors]) {
        const f = i.fault?.(event);
        if (f) return f;
      }
      return undefined;
    } finally {
      this.#intercepting = false;
    }
  }

  /** An injected failure: check_version() has written the kernel's version back, then the call fails. */
  #injected(buf: Uint8Array, errno: number): IoctlResult {
    if (buf.length >= 12 && errno !== ERRNO.EACCES && errno !== ERRNO.EPERM && errno !== ERRNO.EFAULT) {
      const v = new DataView(buf.buffer, buf.byteOffset, 12);
      this.version.forEach((x, i) => v.setUint32(4 * i, x, this.#le));
    }
    return { ret: -1, errno };
  }

  #after(event: SimIoctlEvent | undefined, r: IoctlResult): void {
    if (!event) return;
    const outcome: SimIoctlOutcome = { ...event, errno: r.ret === 0 ? 0 : r.errno, device: this.#touched };
    this.#intercepting = true;
    try {
      for (const i of [...this.#interceptors]) i.after?.(outcome);
    } finally {
      this.#intercepting = false;
    }
  }

  #peekDevice(buf: Uint8Array): SimDevice | undefined {
    if (buf.length < DM_MIN_DATA_SIZE) return undefined;
    const copy = buf.slice(0, DM_DATA_START); // a lookup writes name/uuid back: never into the caller's buffer here
    const h = new Call(copy, new DataView(copy.buffer), this.#le, { armedEventNr: 0, closed: false });
    try { return this.#lookup(h); } catch { return undefined; }
  }

  /** Whether removing `d` (not open) waits in the kernel: a target of it writes to a device that cannot take I/O. */
  #removeWaitsOnIo(d: SimDevice): boolean {
    return (d.live?.lines ?? []).some((l) => (l.target.writesOnRemove ?? []).some((b) => this.#ioWaits(b, new Set())));
  }

  /** Whether I/O to `b` waits: it is a suspended mapped device, or its live table maps onto one that waits. */
  #ioWaits(b: SimBlockDevice, seen: Set<number>): boolean {
    if (b.major !== this.major || seen.has(b.minor)) return false;
    seen.add(b.minor);
    const d = [...this.devices.values()].find((x) => x.minor === b.minor);
    if (!d) return false;
    return d.suspended || (d.live?.lines ?? []).some((l) => l.target.deps.some((x) => this.#ioWaits(x, seen)));
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  #globalEvent(): void {
    this.globalEventNr++;
    queueMicrotask(() => this.#notify());
  }

  /** dm_table_event(): the device's event_nr moves and a global event is issued. */
  #tableEvent(d: SimDevice): void {
    d.eventNr++;
    this.#globalEvent();
  }

  #logLine(text: string): void {
    this.log.push({ seq: this.#logSeq++, text: `device-mapper: ${text}` });
    if (this.log.length > 1000) this.log.splice(0, this.log.length - 1000);
  }

  // ----------------------------------------------------------------- ctl_ioctl ---

  #process(request: number, user: Uint8Array, fd: SimFd): number {
    if (!this.privileged) return ERRNO.EACCES;                        // 1. capable()
    if (((request >>> 8) & 0xff) !== DM_IOCTL) return ERRNO.ENOTTY;       // 2. _IOC_TYPE
    if (user.length < H.data_size) return ERRNO.EFAULT;
    const uview = new DataView(user.buffer, user.byteOffset, user.byteLength);
    const [maj, min] = [uview.getUint32(H.version, this.#le), uview.getUint32(H.version + 4, this.#le)];
    // 3. check_version(): the kernel's version is written back whatever happens next.
    this.version.forEach((v, i) => uview.setUint32(H.version + 4 * i, v, this.#le));
    if (maj !== 4 || min > this.version[1]) {
      this.#logLine(`ioctl: ioctl interface mismatch: kernel(${this.version.join('.')}), user(${maj}.${min}.x), cmd(${request & 0xff})`);
      return ERRNO.EINVAL;
    }
    const nr = request & 0xff;
    if (nr === 0) return 0;                                           // 4. DM_VERSION
    const command = commandByNumber(nr);
    if (!command) return ERRNO.ENOTTY;                                // 5. lookup_ioctl()
    this.calls.set(command, (this.calls.get(command) ?? 0) + 1);
    // 6. copy_params()
    if (user.length < DM_MIN_DATA_SIZE) return ERRNO.EFAULT;
    const requested = uview.getUint32(H.data_size, this.#le);
    if (requested < DM_MIN_DATA_SIZE || requested > DM_MAX_DATA_SIZE) return ERRNO.EINVAL;
    const spec = commandSpec(command);
    const noParams = spec.noParams;
    if (!noParams && requested > user.length) return ERRNO.EFAULT;
    const size = noParams ? DM_MIN_DATA_SIZE : requested;
    const kbuf = new Uint8Array(Math.max(size, DM_DATA_START));
    kbuf.set(user.subarray(0, size));
    const call = new Call(kbuf, new DataView(kbuf.buffer), this.#le, fd);
    if (noParams) call.dataSize = DM_MIN_DATA_SIZE;
    const secure = (call.flags & DM_SECURE_DATA_FLAG) !== 0;
    if (secure && !noParams) user.fill(0, DM_MIN_DATA_SIZE, size); // clear_user() of the payload
    // 7. validate_params()
    call.flags &= ~(DM_BUFFER_FULL_FLAG | DM_UEVENT_GENERATED_FLAG | DM_SECURE_DATA_FLAG | DM_DATA_OUT_FLAG);
    if (command !== 'removeAll' && command !== 'listDevices' && command !== 'listVersions') {
      if (command === 'create' && kbuf[H.name] === 0) { this.#logLine('ioctl: name not supplied when creating device'); return ERRNO.EINVAL; }
      if (command !== 'create' && kbuf[H.name] !== 0 && kbuf[H.uuid] !== 0) { this.#logLine('ioctl: only supply one of name or uuid, cmd(' + nr + ')'); return ERRNO.EINVAL; }
      kbuf[H.name + DM_NAME_LEN - 1] = 0; // over-long strings are truncated, not rejected
      kbuf[H.uuid + DM_UUID_LEN - 1] = 0;
    }
    // 8. the handler works on a header whose data_size says "nothing returned yet".
    call.dataSize = DM_MIN_DATA_SIZE;
    const cookie = call.eventNr; // DM_COOKIE of the uevent (resume, remove, rename); replies overwrite the field
    let r: number;
    try {
      r = this.#handlers[command](call, size);
    } catch (e) {
      if (e instanceof SimError) { this.#logLine(e.log); r = ERRNO[e.errnoName]; }
      else throw e;
    }
    if (r === 0) {
      if (spec.globalEvent) this.#globalEvent();              // 9.
      // dm_kobject_uevent(): DM_COOKIE goes with the uevent the reply flags as generated.
      if (this.udev && this.#touched && (call.flags & DM_UEVENT_GENERATED_FLAG) && (command === 'suspend' || command === 'remove' || command === 'rename')) {
        this.udev.uevent({ action: command === 'remove' ? 'remove' : 'change', name: this.#touched.name, minor: this.#touched.minor, cookie });
      }
      const out = call.dataSize;                                      // 10. copy back on success only
      user.set(kbuf.subarray(0, Math.min(out, user.length)));
    }
    if (secure) kbuf.fill(0); // free_params(): memset of the kernel's copy
    return r;
  }

  // --------------------------------------------------------------- helpers ---

  /** __find_device_hash_cell(): uuid first, then name, then dev; writes name and uuid back. */
  #lookup(k: Call): SimDevice {
    const name = k.name;
    const uuid = k.uuid;
    let d: SimDevice | undefined;
    if (uuid) {
      if (name) throw new SimError('ENXIO', 'ioctl: lookup with both name and uuid');
      d = [...this.devices.values()].find((x) => x.uuid === uuid);
    } else if (name) {
      d = this.devices.get(name);
    } else {
      const dev = k.dev;
      if (dev !== 0n) {
        const { major, minor } = decodeDev(dev);
        if (major === this.major) d = [...this.devices.values()].find((x) => x.minor === minor);
      }
    }
    if (!d) throw new SimError('ENXIO', 'ioctl: device doesn\'t appear to be in the dev hash table.');
    this.#touched = d;
    k.name = d.name;
    k.uuid = d.uuid ?? '';
    if (d.inactive) k.flags |= DM_INACTIVE_PRESENT_FLAG;
    else k.flags &= ~DM_INACTIVE_PRESENT_FLAG;
    return d;
  }

  /** __dev_status(): the header fields every device reply carries. */
  #devStatus(d: SimDevice, k: Call): void {
    let f = k.flags & ~(DM_SUSPEND_FLAG | DM_READONLY_FLAG | DM_ACTIVE_PRESENT_FLAG);
    if (d.suspended) f |= DM_SUSPEND_FLAG;
    if (d.deferredRemove) f |= DM_DEFERRED_REMOVE;
    k.dev = encodeDev(this.major, d.minor);
    k.openCount = this.openTotal(d);
    k.eventNr = d.eventNr;
    let count = 0;
    const inactiveQuery = (f & DM_QUERY_INACTIVE_TABLE_FLAG) !== 0;
    if (d.live) {
      if (!inactiveQuery) {
        if (d.live.readOnly) f |= DM_READONLY_FLAG;
        count = d.live.lines.length;
      }
      f |= DM_ACTIVE_PRESENT_FLAG;
    }
    if (inactiveQuery && d.inactive) {
      if (d.inactive.readOnly) f |= DM_READONLY_FLAG;
      count = d.inactive.lines.length;
    }
    k.flags = f;
    k.targetCount = count;
  }

  #table(d: SimDevice, k: Call): SimTable | undefined {
    return (k.flags & DM_QUERY_INACTIVE_TABLE_FLAG) ? d.inactive : d.live;
  }

  /** get_result_buffer(): data_start becomes the aligned header size; returns the bytes available after it. */
  #resultBuffer(k: Call, size: number): number {
    k.dataStart = OUT;
    return size > OUT ? size - OUT : 0;
  }

  #destroy(d: SimDevice): void {
    this.devices.delete(d.name);
    // __hash_remove(): a device with a live table raises a table event on its way out.
    if (d.live) this.#tableEvent(d);
    // dm_destroy() drops both tables: the devices below are closed.
    this.#released(d.live);
    this.#released(d.inactive);
  }

  #checkName(name: string): void {
    if (name.includes('/') || name === 'control' || name === '.' || name === '..') {
      throw new SimError('EINVAL', 'ioctl: device name cannot contain a slash or be "control", "." or ".."');
    }
  }

  #lookupBlock(arg: string): SimBlockDevice | undefined {
    const m = /^(\d+):(\d+)$/.exec(arg);
    if (m) {
      const [ma, mi] = [Number(m[1]), Number(m[2])];
      const found = this.blockDevices.find((b) => b.major === ma && b.minor === mi);
      if (found) return found;
      if (ma === this.major) return this.#dmBlock([...this.devices.values()].find((d) => d.minor === mi));
      return undefined;
    }
    const found = this.blockDevices.find((b) => b.path === arg);
    if (found) return found;
    const dm = /^\/dev\/(?:dm-(\d+)|mapper\/(.+))$/.exec(arg);
    if (dm) {
      return this.#dmBlock(dm[1] !== undefined
        ? [...this.devices.values()].find((d) => d.minor === Number(dm[1]))
        : this.devices.get(dm[2]!));
    }
    return undefined;
  }

  #dmBlock(d: SimDevice | undefined): SimBlockDevice | undefined {
    if (!d || !d.live) return undefined;
    const sectors = d.live.lines.reduce((s, l) => s + l.length, 0n);
    return { path: `/dev/dm-${d.minor}`, major: this.major, minor: d.minor, sectors };
  }

  /** populate_table(): walks the spec chain exactly as the kernel does. */
  #readTable(k: Call, size: number, d: SimDevice): SimTable {
    const count = k.targetCount;
    if (count === 0) throw new SimError('EINVAL', 'ioctl: populate_table: no targets specified');
    const lines: SimTable['lines'] = [];
    let next = k.dataStart;
    let end = 0;
    let expected = 0n;
    for (let i = 0; i < count; i++) {
      // next_target(): the spec must lie after the previous params, with room for itself and a NUL.
      if (next < end || next < DM_MIN_DATA_SIZE) throw new SimError('EINVAL', 'ioctl: populate_table: next target spec overlaps');
      const off = next;
      if (off + SPEC + 1 > size) throw new SimError('EINVAL', 'ioctl: populate_table: invalid target spec');
      const spec = this.#codec.records.spec.decode(k.view, k.buf, off);
      let nul = off + SPEC;
      while (nul < size && k.buf[nul] !== 0) nul++;
      if (nul >= size) throw new SimError('EINVAL', 'ioctl: populate_table: unterminated target params');
      const params = dec.decode(k.buf.subarray(off + SPEC, nul));
      end = nul + 1;
      next = off + spec.next;
      // dm_table_add_target() names the device by dm_device_name(): "major:minor" (docs/kernel-facts.md).
      const where = `${this.major}:${d.minor}`;
      if (spec.length === 0n) throw new SimError('EINVAL', `table: ${where}: zero-length target`);
      if (spec.sector_start !== expected) throw new SimError('EINVAL', `table: ${where}: gap in target ranges after sector ${expected}`);
      expected = spec.sector_start + spec.length;
      const type = this.#targets.get(spec.target_type);
      if (!type) throw new SimError('EINVAL', `table: ${where}: ${spec.target_type}: unknown target type`);
      this.#load(type.name);
      let target: ConstructedTarget;
      try {
        target = type.construct(splitArgs(params), spec.length, {
          lookup: (a) => this.#lookupBlock(a),
          lookupErrno: this.version[1] >= 48 ? 'ENOENT' : 'ENODEV',
        });
      } catch (e) {
        if (e instanceof SimError) {
          this.#logLine(`table: ${where}: ${e.log}`);
          throw new SimError(e.errnoName, 'ioctl: error adding target to table');
        }
        throw e;
      }
      lines.push({ start: spec.sector_start, length: spec.length, type: type.name, target });
    }
    checkDeviceAreas(lines, `${this.major}:${d.minor}`); // after every target is constructed (device-areas.ts)
    return { lines, readOnly: (k.flags & DM_READONLY_FLAG) !== 0 };
  }

  /** retrieve_status(): specs with `next` from data_start; partial fill on overflow. */
  #retrieveStatus(table: SimTable, k: Call, size: number): void {
    const len = this.#resultBuffer(k, size);
    const base = OUT;
    let out = 0;
    let used = 0;
    const asTable = (k.flags & DM_STATUS_TABLE_FLAG) !== 0;
    const ima = (k.flags & DM_IMA_MEASUREMENT_FLAG) !== 0;
    for (const line of table.lines) {
      if (len - out <= SPEC) { k.flags |= DM_BUFFER_FULL_FLAG; break; }
      const specOff = base + out;
      const lastTypeByte = specOff + dmTargetSpec.offsetOf.target_type + DM_MAX_TYPE_NAME - 1;
      const byte15 = k.buf[lastTypeByte]!;
      this.#codec.records.spec.encode(k.view, k.buf, specOff, {
        sector_start: line.start, length: line.length, status: 0, next: 0, target_type: line.type.slice(0, 15),
      });
      // strncpy(spec->target_type, name, 15) never writes byte 15: it keeps the caller's byte.
      if (this.#targetTypeCopy === 'strncpy') k.buf[lastTypeByte] = byte15;
      out += SPEC;
      const remaining = len - out;
      const text = enc.encode(asTable ? line.target.table : ima ? '' : line.target.status());
      // The target writes at most remaining-1 bytes and a NUL (snprintf-like DMEMIT).
      const n = Math.min(text.length, remaining - 1);
      k.buf.set(text.subarray(0, n), base + out);
      k.buf[base + out + n] = 0;
      const l = n + 1;
      if (l === remaining) { k.flags |= DM_BUFFER_FULL_FLAG; break; }
      out += l;
      used = base + out;
      out = align8(base + out) - base;
      // The aligned position past the buffer is full too: `next` is then left unwritten (measured).
      if (out > len) { k.flags |= DM_BUFFER_FULL_FLAG; break; }
      k.view.setUint32(specOff + dmTargetSpec.offsetOf.next, out, this.#le);
    }
    if (used) k.dataSize = used;
    k.targetCount = table.lines.length;
  }

  // -------------------------------------------------------------- handlers ---

  readonly #handlers: Record<CommandName, Handler> = {
    version: () => 0,

    removeAll: (k) => {
      const deferred = (k.flags & DM_DEFERRED_REMOVE) !== 0;
      let skipped = 0;
      // dm_hash_remove_all() starts over after every removal: a removed device closes the
      // devices below it, which may then go too (stacks come down top first).
      for (let again = true; again;) {
        again = false;
        skipped = 0;
        for (const d of [...this.devices.values()]) {
          if (this.openTotal(d) > 0) {
            skipped++;
            if (deferred) d.deferredRemove = true;
            continue;
          }
          this.#destroy(d);
          again = true;
          break;
        }
      }
      if (skipped) this.#logLine(`ioctl: remove_all left ${skipped} open device(s)`);
      k.dataSize = 0; // nothing but the version is copied back
      return 0;
    },

    listDevices: (k, size) => {
      const filters = this.version[1] >= 45;
      const trailer = this.version[1] >= 37;
      const withUuid = filters && (k.flags & DM_UUID_FLAG) !== 0;
      const namePrefix = filters ? k.name : '';
      const uuidPrefix = filters ? k.uuid : '';
      let devs = [...this.devices.values()].filter((d) =>
        startsWith(d.name, namePrefix) && (uuidPrefix === '' || startsWith(d.uuid ?? '', uuidPrefix)));
      if (filters) devs = devs.sort((a, b) => Buffer.compare(keyBytes(a.name), keyBytes(b.name))); // rb-tree walk (bytes)
      else devs = hashOrder(devs);
      const sizes = devs.map((d) => {
        const nameLen = keyBytes(d.name).length;
        if (!trailer) return dmNameList.size + nameLen + 1 + 7; // the old over-estimate
        return align8(NL.name + nameLen + 1) + dmNameListTrailer.size + (withUuid && d.uuid ? align8(keyBytes(d.uuid).length + 1) : 0);
      });
      const needed = sizes.reduce((a, b) => a + b, 0);
      const len = this.#resultBuffer(k, size);
      if (len < needed || len < NL.next) { k.flags |= DM_BUFFER_FULL_FLAG; return 0; }
      k.dataSize = OUT + needed;
      k.view.setBigUint64(OUT + NL.dev, 0n, this.#le); // "Flags no data"
      let off = OUT;
      let prev = -1;
      for (const d of devs) {
        if (prev >= 0) k.view.setUint32(prev + NL.next, off - prev, this.#le);
        const name = keyBytes(d.name);
        k.view.setBigUint64(off + NL.dev, encodeDev(this.major, d.minor), this.#le);
        k.view.setUint32(off + NL.next, 0, this.#le);
        k.buf.set(name, off + NL.name);
        k.buf[off + NL.name + name.length] = 0;
        prev = off;
        if (!trailer) { off = align8(off + dmNameList.size + name.length + 1); continue; }
        const t = align8(off + NL.name + name.length + 1);
        let flags = 0;
        let next = t + dmNameListTrailer.size;
        if (withUuid) {
          if (d.uuid) {
            flags = DM_NAME_LIST_FLAG_HAS_UUID;
            const u = keyBytes(d.uuid);
            k.buf.set(u, next);
            k.buf[next + u.length] = 0;
            next = align8(next + u.length + 1);
          } else {
            flags = DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID;
          }
        }
        k.view.setUint32(t + NT.event_nr, d.eventNr, this.#le);
        // 4.37–4.44 write the event_nr only: the next 4 bytes keep whatever the caller's
        // buffer held (measured on 5.10, dm 4.43; docs/kernel-facts.md).
        if (filters) k.view.setUint32(t + NT.flags, flags, this.#le);
        off = next;
      }
      return 0;
    },

    create: (k) => {
      const name = k.name;
      this.#checkName(name);
      const uuid = k.uuid || undefined;
      if (this.devices.has(name) || (uuid && [...this.devices.values()].some((d) => d.uuid === uuid))) {
        throw new SimError('EBUSY', `ioctl: device ${name} already exists`);
      }
      let minor: number;
      if (k.flags & DM_PERSISTENT_DEV_FLAG) {
        minor = decodeDev(k.dev).minor;
        // alloc_dev() returns NULL for any failure, so dm_create() reports ENXIO (measured on 4.47).
        if (minor >= 1 << 20) throw new SimError('ENXIO', 'ioctl: minor out of range');
        if ([...this.devices.values()].some((d) => d.minor === minor)) throw new SimError('ENXIO', `ioctl: minor ${minor} in use`);
      } else {
        const used = new Set([...this.devices.values()].map((d) => d.minor));
        minor = 0;
        while (used.has(minor)) minor++;
      }
      const d: SimDevice = {
        name, uuid, minor, openCount: 0, eventNr: 0, suspended: false, live: undefined, inactive: undefined,
        // Before 5.15 (dm 4.45, "dm: delay registering the gendisk") alloc_dev() added the disk at
        // create, so removing a device that never had a table still sends a uevent (measured on
        // 4.43: DM_UEVENT_GENERATED_FLAG set; 4.47+: clear). docs/kernel-facts.md.
        deferredRemove: false, diskAdded: this.version[1] < 45, geometry: undefined, stats: new Map(),
      };
      this.devices.set(name, d);
      this.#touched = d;
      this.#devStatus(d, k);
      return 0;
    },

    remove: (k) => {
      const d = this.#lookup(k);
      if (this.openTotal(d) > 0) {
        if (k.flags & DM_DEFERRED_REMOVE) { d.deferredRemove = true; return 0; } // flag stays set: deferred
        throw new SimError('EBUSY', `ioctl: unable to remove open device ${d.name}`);
      }
      this.#destroy(d);
      k.flags &= ~DM_DEFERRED_REMOVE;
      if (d.diskAdded) k.flags |= DM_UEVENT_GENERATED_FLAG;
      return 0;
    },

    rename: (k, size) => {
      const changeUuid = (k.flags & DM_UUID_FLAG) !== 0;
      const start = k.dataStart;
      let nul = start;
      while (nul < size && k.buf[nul] !== 0) nul++;
      if (start < DM_MIN_DATA_SIZE || nul >= size || nul === start) throw new SimError('EINVAL', 'ioctl: Invalid new mapped device name or uuid string supplied.');
      const next = simKey(k.buf.subarray(start, nul));
      if (nul - start > (changeUuid ? 128 : 127)) throw new SimError('EINVAL', 'ioctl: new name or uuid too long');
      if (!changeUuid) this.#checkName(next);
      const taken = changeUuid ? [...this.devices.values()].some((d) => d.uuid === next) : this.devices.has(next);
      if (taken) throw new SimError('EBUSY', `ioctl: Unable to change ${changeUuid ? 'uuid' : 'name'} on mapped device ${k.name} to one that already exists: ${next}`);
      const d = this.devices.get(k.name); // by name only (measured: a uuid gives ENXIO)
      if (!d) throw new SimError('ENXIO', `ioctl: Unable to rename non-existent device, ${k.name} to ${changeUuid ? 'uuid ' : ''}${next}`);
      this.#touched = d;
      if (changeUuid && d.uuid) throw new SimError('EINVAL', `ioctl: Unable to change uuid of mapped device ${d.name} to ${next} because uuid is already set to ${d.uuid}`);
      if (changeUuid) d.uuid = next;
      else { this.devices.delete(d.name); d.name = next; this.devices.set(next, d); }
      if (d.live) this.#tableEvent(d);
      if (d.diskAdded) k.flags |= DM_UEVENT_GENERATED_FLAG;
      this.#devStatus(d, k);
      return 0;
    },

    suspend: (k) => {
      const d = this.#lookup(k);
      if (k.flags & DM_SUSPEND_FLAG) {
        d.suspended = true;
      } else {
        let wasSuspended = d.suspended;
        if (d.inactive) {
          wasSuspended = true; // do_resume() suspends before swapping
          const old = d.live;
          d.live = d.inactive;
          d.inactive = undefined;
          this.#released(old);
          k.flags &= ~DM_INACTIVE_PRESENT_FLAG;
          this.#globalEvent(); // dm_swap_table()
        }
        d.suspended = false;
        queueMicrotask(() => this.#notify()); // I/O waiting on this device goes on (a parked remove)
        for (const l of d.live?.lines ?? []) l.target.resume?.();
        if (wasSuspended && d.diskAdded) k.flags |= DM_UEVENT_GENERATED_FLAG;
      }
      this.#devStatus(d, k);
      return 0;
    },

    info: (k) => {
      this.#devStatus(this.#lookup(k), k);
      return 0;
    },

    wait: (k, size) => {
      const d = this.#lookup(k);
      this.#devStatus(d, k);
      const t = this.#table(d, k);
      if (t) this.#retrieveStatus(t, k, size);
      return 0;
    },

    load: (k, size) => {
      const d = this.#lookup(k);
      const table = this.#readTable(k, size, d);
      const old = d.inactive;
      d.inactive = table;
      this.#released(old);
      d.diskAdded = true;
      k.flags |= DM_INACTIVE_PRESENT_FLAG;
      this.#devStatus(d, k);
      return 0;
    },

    clear: (k) => {
      const d = this.#lookup(k);
      const old = d.inactive;
      d.inactive = undefined;
      this.#released(old);
      k.flags &= ~DM_INACTIVE_PRESENT_FLAG;
      this.#devStatus(d, k);
      return 0;
    },

    deps: (k, size) => {
      const d = this.#lookup(k);
      this.#devStatus(d, k);
      const t = this.#table(d, k);
      if (!t) return 0;
      // The table's device list, newest first (retrieve_deps(): docs/kernel-facts.md).
      const devs = tableDeviceOrder(t.lines.flatMap((l) => l.target.deps), (b) => `${b.major}:${b.minor}`);
      const needed = DEPS.dev + 8 * devs.length;
      const len = this.#resultBuffer(k, size);
      if (len < needed) { k.flags |= DM_BUFFER_FULL_FLAG; return 0; }
      k.view.setUint32(OUT + DEPS.count, devs.length, this.#le);
      k.view.setUint32(OUT + DEPS.padding, 0, this.#le);
      devs.forEach((b, i) => k.view.setBigUint64(OUT + DEPS.dev + 8 * i, encodeDev(b.major, b.minor), this.#le));
      k.dataSize = OUT + needed;
      return 0;
    },

    status: (k, size) => {
      const d = this.#lookup(k);
      this.#devStatus(d, k);
      const t = this.#table(d, k);
      if (t) this.#retrieveStatus(t, k, size);
      return 0;
    },

    listVersions: (k, size) => this.#listVersions(k, size, [...this.#loadedTypes()]),

    message: (k, size) => {
      const d = this.#lookup(k);
      const start = k.dataStart;
      if (start < DM_MIN_DATA_SIZE || start + MSG.message + 1 > size) throw new SimError('EINVAL', 'ioctl: Invalid parameters for message');
      let nul = start + MSG.message;
      while (nul < size && k.buf[nul] !== 0) nul++;
      if (nul >= size) throw new SimError('EINVAL', 'ioctl: Invalid parameters for message');
      const sector = k.view.getBigUint64(start + MSG.sector, this.#le);
      const argv = splitArgs(dec.decode(k.buf.subarray(start + MSG.message, nul)));
      if (argv.length === 0) throw new SimError('EINVAL', 'ioctl: Empty message received.');
      let output: string | undefined;
      if (argv[0]!.startsWith('@')) {
        // Core messages work without a table (measured: @stats_list on a tableless device).
        if (argv[0] === '@cancel_deferred_remove' && argv.length === 1) {
          d.deferredRemove = false; // a no-op when none was scheduled (dm_cancel_deferred_remove)
        } else if (argv[0]!.startsWith('@stats_')) {
          output = statsMessage(d.stats, d.live ? d.live.lines.reduce((n, l) => n + l.length, 0n) : 0n, argv);
        } else {
          throw new SimError('EINVAL', `ioctl: Unsupported message sent to DM core: ${argv[0]}`);
        }
      } else {
        // Measured on 4.47/4.48: no live table gives EINVAL (a source reading says 2).
        if (!d.live) throw new SimError('EINVAL', 'ioctl: The device has no table.');
        const line = d.live.lines.find((l) => sector >= l.start && sector < l.start + l.length);
        if (!line) throw new SimError('EINVAL', 'ioctl: Target message sector outside device.');
        if (!line.target.message) throw new SimError('EINVAL', 'ioctl: Target type does not support messages');
        output = line.target.message(argv);
      }
      this.#devStatus(d, k); // measured: a message reply carries the device's header fields
      if (output !== undefined) {
        k.flags |= DM_DATA_OUT_FLAG;
        const maxlen = this.#resultBuffer(k, size);
        const bytes = enc.encode(output);
        if (maxlen === 0 || bytes.length + 1 >= maxlen) k.flags |= DM_BUFFER_FULL_FLAG;
        else {
          k.buf.set(bytes, OUT);
          k.buf[OUT + bytes.length] = 0;
          k.dataSize = OUT + bytes.length + 1;
        }
      }
      return 0;
    },

    setGeometry: (k, size) => {
      const d = this.#lookup(k);
      const start = k.dataStart;
      let nul = start;
      while (nul < size && k.buf[nul] !== 0) nul++;
      if (start < DM_MIN_DATA_SIZE || nul >= size) throw new SimError('EINVAL', 'ioctl: Invalid geometry supplied.');
      const parts = dec.decode(k.buf.subarray(start, nul)).trim().split(/\s+/);
      // sscanf("%lu %lu %lu %lu") into unsigned longs: u64 on 64-bit kernels, kept exact here.
      const nums = parts.map((p) => (/^\d+$/.test(p) && p.replace(/^0+/, '').length <= 20 ? BigInt(p) : -1n));
      if (nums.length !== 4 || nums.some((n) => n < 0n || n > 0xffffffffffffffffn)) throw new SimError('EINVAL', 'ioctl: Unable to interpret geometry settings.');
      const [c, h, s, st] = nums as [bigint, bigint, bigint, bigint];
      if (c > 65535n || h > 255n || s > 255n) throw new SimError('EINVAL', 'ioctl: Geometry exceeds range limits.');
      // dm_set_geometry (drivers/md/dm.c): the start must lie within cylinders × heads × sectors.
      if (st > c * h * s) throw new SimError('EINVAL', 'core: Start sector is beyond the geometry limits.');
      d.geometry = nums.join(' ');
      k.dataSize = 0;
      return 0;
    },

    armPoll: (k) => {
      k.fd.armedEventNr = this.globalEventNr;
      return 0;
    },

    getTargetVersion: (k, size) => {
      const t = this.#targets.get(k.name);
      if (!t) throw new SimError('EINVAL', `ioctl: target ${k.name} not found`);
      this.#load(t.name); // dm_get_target_type() autoloads the module
      return this.#listVersions(k, size, [t]);
    },
  };

  #load(name: string): void {
    if (!this.#loaded.includes(name)) this.#loaded.unshift(name);
  }

  /** Loaded target types, most recently loaded first (the kernel's list order). */
  *#loadedTypes(): Iterable<SimTargetType> {
    for (const name of this.#loaded) {
      const t = this.#targets.get(name);
      if (t) yield t;
    }
  }

  /** __list_versions(): over-estimated size check, then records chained from each record. */
  #listVersions(k: Call, size: number, types: SimTargetType[]): number {
    // sizeof(struct dm_target_versions) + name + NUL + 7: the kernel's over-estimate.
    const needed = types.reduce((n, t) => n + dmTargetVersions.size + enc.encode(t.name).length + 1 + 7, 0);
    const len = this.#resultBuffer(k, size);
    if (len < needed) { k.flags |= DM_BUFFER_FULL_FLAG; return 0; }
    // Up to 4.48 data_size is the over-estimate; 4.50 reports the records' aligned end
    // (measured: listVersions 430 vs 408 bytes for the same four targets; 4.49 unmeasured).
    const exact = types.reduce((n, t) => n + align8(TV.name + enc.encode(t.name).length + 1), 0);
    k.dataSize = OUT + (this.version[1] >= 50 ? exact : needed);
    let off = OUT;
    let prev = -1;
    for (const t of types) {
      if (prev >= 0) k.view.setUint32(prev + TV.next, off - prev, this.#le);
      const name = enc.encode(t.name);
      k.view.setUint32(off + TV.next, 0, this.#le);
      t.version.forEach((v, i) => k.view.setUint32(off + TV.version + 4 * i, v, this.#le));
      k.buf.set(name, off + TV.name);
      k.buf[off + TV.name + name.length] = 0;
      prev = off;
      off = align8(off + TV.name + name.length + 1);
    }
    return 0;
  }
}

/**
 * A built-in target's version as the measured kernels report it, when it differs from the
 * unit's default (5.10/6.1's): 6.12 (dm 4.48) bumped zero and error, 7.3 (dm 4.50) also linear
 * and striped. From fixtures/recorded/<version>/listVersions.basic.json.
 */
function builtinTargetVersion(name: string, version: Version): readonly [number, number, number] | undefined {
  const minor = version[1];
  const bumps: Record<string, readonly [number, number, number]> =
    minor >= 50 ? { zero: [1, 2, 0], error: [1, 7, 0], linear: [1, 5, 0], striped: [1, 7, 0] }
    : minor >= 48 ? { zero: [1, 2, 0], error: [1, 7, 0] }
    : {};
  return Object.hasOwn(bumps, name) ? bumps[name] : undefined;
}
