/**
 * An in-memory device-mapper: it takes request bytes and returns reply bytes through the
 * same codec, with the semantics measured on kernels 4.47/4.48 (docs/kernel-facts.md). Users test their code against it without root:
 *
 *   const kernel = new SimulatedKernel();
 *   const dm = await DeviceMapper.open({ backend: kernel.backend() });
 *
 * This file holds the kernel's state (devices, events, opens, the log, interceptors) and
 * ctl_ioctl()'s common path with its dispatch by number; the per-command handlers are
 * sim-handlers.ts, tables sim-tables.ts, one call's buffer sim-call.ts, the exported shapes
 * sim-model.ts. It stays one class of about 500 lines because every part of it is the same
 * private state the handlers reach only through `SimCore`.
 *
 * Processing one call follows ctl_ioctl(): capability → type → version (written back
 * even on failure) → lookup → copy_params → validate_params → handler → copy back only
 * on success. Where 4.47/4.48 differ from newer sources (e.g. TARGET_MSG to a device
 * without a table gives EINVAL there, 2 in a source reading), the measured behaviour is
 * simulated and the difference noted in a comment.
 */
import {
  createCodec, decodeDev, encodeDev, commandByNumber, commandSpec, dmIoctl, DM_DATA_START, DM_IOCTL, DM_NAME_LEN,
  DM_UUID_LEN, DM_ACTIVE_PRESENT_FLAG, DM_BUFFER_FULL_FLAG, DM_DATA_OUT_FLAG, DM_DEFERRED_REMOVE,
  DM_INACTIVE_PRESENT_FLAG, DM_MAX_DATA_SIZE, DM_MIN_DATA_SIZE, DM_QUERY_INACTIVE_TABLE_FLAG, DM_READONLY_FLAG,
  DM_SECURE_DATA_FLAG, DM_SUSPEND_FLAG, DM_UEVENT_GENERATED_FLAG, type CommandName, type Version,
} from '../codec/index.js';
import { ERRNO, mapOpenError } from '../ffi/errors.js';
import { simSysfs } from './sim-sysfs.js';
import { simBlockIo } from './sim-io.js';
import type { Backend, IoctlResult } from '../lib/index.js';
import { simTransport, simWatcher, type SimFd, type SimKernelPort } from './sim-transport.js';
import { SimUdev } from './udev-sim.js';
import { semsWhileAlive, SimProcesses, whileAlive, type SimProcess } from './sim-processes.js';
import { SimKeyring } from './sim-keyring.js';
import { SimError } from './errors.js';
import {
  BUILTIN_TARGETS, builtinTargetVersion, splitArgs, type ConstructedTarget, type SimBlockDevice, type SimTargetType,
} from './targets.js';
import { thinTargets } from './thin-sim.js';
import { faultTargets } from './fault-sim.js';
import { storageTargets } from './storage-targets.js';
import { Call, keyBytes, simKey, type Handler, type SimCore } from './sim-call.js';
import { commandHandlers } from './sim-handlers.js';
import { statsAccountIo, type SimIo } from './sim-stats.js';
import type {
  SimCallFault, SimDevice, SimInterceptor, SimIoctlEvent, SimIoctlOutcome, SimTable, SimulatedKernelOptions,
} from './sim-model.js';

export { SimError, splitArgs, BUILTIN_TARGETS, simKey, keyBytes };
export type { ConstructedTarget, SimBlockDevice, SimTargetType };
export type { SimCallFault, SimDevice, SimInterceptor, SimIoctlEvent, SimIoctlOutcome, SimTable, SimulatedKernelOptions };

/** dm_ioctl's field offsets (codec/records.ts). */
const H = dmIoctl.offsetOf;
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
  /** The processes its clients run in, and their intent records (sim-processes.ts: kill one, recover from another). */
  readonly processes = new SimProcesses();
  /** The kernel keyring in memory (`add_key`, `keyctl`): a verity signature never reaches the host's. */
  readonly keyring = new SimKeyring();
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

  /** The kernel as its handlers see it (sim-call.ts). */
  readonly #core: SimCore = (() => {
    const k = this;
    return {
      get version() { return k.version; },
      get major() { return k.major; },
      get devices() { return k.devices; },
      get blockDevices() { return k.blockDevices; },
      get codec() { return k.#codec; },
      get le() { return k.#le; },
      get targets() { return k.#targets; },
      get loaded() { return k.#loaded; },
      get targetTypeCopy() { return k.#targetTypeCopy; },
      get globalEventNr() { return k.globalEventNr; },
      touch: (d) => { k.#touched = d; },
      lookup: (c) => k.#lookup(c),
      devStatus: (d, c) => k.#devStatus(d, c),
      destroy: (d) => k.#destroy(d),
      released: (t) => k.#released(t),
      tableEvent: (d) => k.#tableEvent(d),
      globalEvent: () => k.#globalEvent(),
      notify: () => k.#notify(),
      logLine: (text) => k.#logLine(text),
      openTotal: (d) => k.openTotal(d),
    };
  })();
  readonly #handlers: Record<CommandName, Handler> = commandHandlers(this.#core);

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
  addBlockDevice(path: string, major: number, minor: number, sizeSectors: bigint | number): SimBlockDevice {
    const d = { path, major, minor, sizeSectors: BigInt(sizeSectors) };
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

  /**
   * Reports one completed I/O on a device, for its dm-stats regions: counted in every region
   * and area it touches as the kernel's dm_stat_bio does (the simulator moves no data).
   */
  simulateIo(name: string | Uint8Array, io: SimIo): void {
    const d = this.devices.get(simKey(name));
    if (!d) throw new SimError('ENXIO', `no simulated device ${String(name)}`);
    statsAccountIo(d.stats, io);
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
        // A loop device the table held open: its last close may detach it (autoclear, sim-io.ts).
        if (b.major === 7) for (const x of this.blockDevices.filter((y) => y.major === 7 && y.minor === b.minor)) simBlockIo(this).tableReleased(x.path);
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
   * interceptors (e.g. 'victim' and 'adversary' on one kernel). `process` is the simulated
   * process the client runs in (`kernel.processes.spawn()`; default: a new one): once it is
   * killed, nothing the client does reaches the kernel, udev's semaphores, the block devices
   * or the intent records (sim-processes.ts).
   */
  backend(options: { readonly label?: string; readonly process?: SimProcess } = {}): Backend {
    const process = options.process ?? this.processes.spawn();
    return {
      description: 'simulated kernel',
      openControl: async () => { this.#checkOpen(); return simTransport(this.#port, options.label, () => process.alive); },
      openWatcher: async () => { this.#checkOpen(); return simWatcher(this.#port); },
      ...(this.udev ? { openCookieHost: async () => { const h = this.udev!.host(process.pid); return { ...h, sems: semsWhileAlive(h.sems, process) }; } } : {}),
      // Files, loop devices, sizes, discards and nodes in memory: nothing reaches the host.
      blockIo: whileAlive(simBlockIo(this), process),
      openIntentStore: (stateDir) => this.processes.store(process, stateDir),
      // sysfs's /sys/block attributes from the model (the inspection API): nothing read from the host.
      sysfs: simSysfs(this),
      keyring: this.keyring,
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

  #destroy(d: SimDevice): void {
    this.devices.delete(d.name);
    // __hash_remove(): a device with a live table raises a table event on its way out.
    if (d.live) this.#tableEvent(d);
    // dm_destroy() drops both tables: the devices below are closed.
    this.#released(d.live);
    this.#released(d.inactive);
  }
}
