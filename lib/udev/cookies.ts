/**
 * libdevmapper's udev cookies (docs/udev-cookies.md): a SysV semaphore whose key is
 * `0x0D4D << 16 | base`, set to 1 when made, incremented once per uevent-generating ioctl
 * that carries it in `event_nr` (with DM_UDEV_* flags in the upper 16 bits), decremented by
 * udev's `95-dm-notify.rules` (`dmsetup udevcomplete $env{DM_COOKIE}`) once the rules ran;
 * the caller decrements its own 1, waits for zero and removes the set. Same keys, values and
 * steps as libdm/libdm-common.c, so libdevmapper's tools complete our cookies and ours
 * theirs.
 *
 * Waiting never sleeps in the kernel: the zero-wait is a `semop(…, IPC_NOWAIT)` tried on a
 * timer with a growing step (one millisecond, doubling up to 25), so no thread is parked and the event loop runs.
 */
import * as fs from 'node:fs';
import { randomInt } from 'node:crypto';
import { DmSyscallError } from '../../ffi/block.js';
import { ERRNO } from '../../ffi/errors.js';
import { IPC_NOWAIT, openSemOps, SEMID_DS_BUFFER_BYTES, type SemOps } from '../../ffi/sem.js';
import { decodeSemidDs, semidDsLayout, type SemStat } from '../kernel/syscall-structs.js';

export type { SemOps, SemStat };
import { DmAbortError, DmArgumentError, DmCookieError, DmUdevTimeoutError } from '../errors.js';
import { onAbort } from '../events/abort-fanout.js';
import { describeValue, objectArg } from '../client/args.js';
import { DM_COOKIE_MAGIC, DM_UDEV_FLAGS_SHIFT } from '../../codec/index.js';


/** libdevmapper.h's DM_UDEV_* flags (the upper 16 bits of event_nr), same names and values. */
export const UDEV_FLAGS = {
  /** No /dev/mapper symlinks from the dm rules (10-dm.rules). */
  DISABLE_DM_RULES: 0x0001,
  /** No subsystem rules (11-dm-lvm.rules, …). */
  DISABLE_SUBSYSTEM_RULES: 0x0002,
  /** No /dev/disk/by-* links from 13-dm-disk.rules. */
  DISABLE_DISK_RULES: 0x0004,
  /** Foreign rules should skip the event. */
  DISABLE_OTHER_RULES: 0x0008,
  /** Lower link priority (e.g. hidden sub-devices, snapshot origins). */
  LOW_PRIORITY: 0x0010,
  /** The library makes no nodes itself; udev owns them (dmsetup's default under udev). */
  DISABLE_LIBRARY_FALLBACK: 0x0020,
  /** Set on every event libdevmapper causes, to tell them from `udevadm trigger`. */
  PRIMARY_SOURCE: 0x0040,
  /** DM_SUBSYSTEM_UDEV_FLAG0: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_0: 0x0100,
  /** DM_SUBSYSTEM_UDEV_FLAG1: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_1: 0x0200,
  /** DM_SUBSYSTEM_UDEV_FLAG2: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_2: 0x0400,
  /** DM_SUBSYSTEM_UDEV_FLAG3: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_3: 0x0800,
  /** DM_SUBSYSTEM_UDEV_FLAG4: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_4: 0x1000,
  /** DM_SUBSYSTEM_UDEV_FLAG5: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_5: 0x2000,
  /** DM_SUBSYSTEM_UDEV_FLAG6: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_6: 0x4000,
  /** DM_SUBSYSTEM_UDEV_FLAG7: its meaning is the owning subsystem's (its udev rules read it). */
  SUBSYSTEM_7: 0x8000,
} as const;
/** The name of one DM_UDEV_* flag (a key of {@link UDEV_FLAGS}). */
export type UdevFlagName = keyof typeof UDEV_FLAGS;

/**
 * The flags sent with a synchronised resume, remove or rename unless the call adds more:
 * PRIMARY_SOURCE (libdevmapper adds it to every such ioctl) and DISABLE_LIBRARY_FALLBACK
 * (what dmsetup sets when udev owns /dev: this package makes no node while it syncs).
 */
export const DEFAULT_SYNC_FLAGS = UDEV_FLAGS.PRIMARY_SOURCE | UDEV_FLAGS.DISABLE_LIBRARY_FALLBACK;

/** How long a wait for udev lasts unless the call says otherwise (`udevTimeoutMs`). */
export const UDEV_TIMEOUT_MS = 30_000;

/** A 32-bit unsigned argument (a cookie or event_nr value), checked. */
function u32Arg(v: unknown, argument: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new DmArgumentError(argument, 'an integer in 0…0xffffffff', describeValue(v));
  return v;
}

/** `event_nr` for a cookie and flags: flags in the upper 16 bits, the cookie's base below. */
export function encodeCookie(cookie: number, flags: number): number {
  u32Arg(cookie, 'cookie');
  udevFlagsArg(flags, 'flags');
  return (((flags & 0xffff) << DM_UDEV_FLAGS_SHIFT) | (cookie & 0xffff)) >>> 0;
}

/** The flags and the semaphore key of a DM_COOKIE value (the key is 0 for a flags-only cookie). */
export function decodeCookie(value: number): {
  /** The DM_UDEV_* flags (upper 16 bits). */
  flags: number;
  /** The cookie's base (lower 16 bits; 0 = no cookie). */
  base: number;
  /** The semaphore's IPC key (`0x0D4D << 16 | base`), or 0 without a base. */
  key: number;
} {
  u32Arg(value, 'value');
  const base = value & 0xffff;
  return { flags: (value >>> DM_UDEV_FLAGS_SHIFT) & 0xffff, base, key: base ? ((DM_COOKIE_MAGIC << DM_UDEV_FLAGS_SHIFT) | base) >>> 0 : 0 };
}

/** `dmsetup udevflags <cookie>`'s lines for a cookie value (dmsetup.c `_udevflags`). */
export function udevFlagLines(value: number): string[] {
  u32Arg(value, 'value');
  const names = ['DISABLE_DM_RULES', 'DISABLE_SUBSYSTEM_RULES', 'DISABLE_DISK_RULES', 'DISABLE_OTHER_RULES', 'LOW_PRIORITY', 'DISABLE_LIBRARY_FALLBACK', 'PRIMARY_SOURCE'];
  const flags = (value >>> DM_UDEV_FLAGS_SHIFT) & 0xffff;
  const out: string[] = [];
  for (let i = 0; i < 16; i++) {
    if (!((1 << i) & flags)) continue;
    if (i < 8 && i < names.length) out.push(`DM_UDEV_${names[i]}_FLAG='1'`);
    else if (i < 8) out.push(`DM_UDEV_FLAG${i}='1'`);
    else out.push(`DM_SUBSYSTEM_UDEV_FLAG${i - 8}='1'`);
  }
  return out;
}

/** A checked 16-bit flags argument. */
export function udevFlagsArg(v: unknown, argument = 'udevFlags'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw new DmArgumentError(argument, 'DM_UDEV_* flags: an integer in 0…0xffff', describeValue(v));
  return v;
}

/** A checked cookie of a running transaction: 0x0D4D in the upper 16 bits, a non-zero base. */
export function cookieArg(v: unknown, argument = 'udevCookie'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 0xffffffff || (v >>> 16) !== DM_COOKIE_MAGIC || (v & 0xffff) === 0) {
    throw new DmArgumentError(argument, 'a udev cookie: 0x0D4D in the upper 16 bits and a non-zero base', describeValue(v), 'INVALID_ARGUMENT');
  }
  return v;
}

/** One semaphore set as the kernel lists it (/proc/sysvipc/sem). Times in seconds since the epoch. */
export interface SemEntry {
  /** The IPC key (a cookie's key is `0x0D4D << 16 | base`). */
  readonly key: number;
  /** The semaphore set's id. */
  readonly semid: number;
  /** Last semop time (Unix seconds; 0 when never). */
  readonly otime: number;
  /** Last change time (Unix seconds). */
  readonly ctime: number;
}

/** A cookie as `udevcookies` shows it. */
export interface CookieEntry extends SemEntry {
  /** The semaphore's value: uevents still pending. */
  readonly value: number;
}

/**
 * What the kernel tells about one cookie's semaphore set ({@link UdevCookies.semInfo}): what a
 * later process can read to judge a leftover. No creator pid: SysV semaphores record none.
 */
export interface CookieSemInfo extends CookieEntry {
  /**
   * `sempid`: the pid of the last process whose semop or SETVAL changed the semaphore (0 when
   * none). The creator's only until someone else touched it: after udev completed an event
   * it is the pid of udev's short-lived `dmsetup udevcomplete`, long gone.
   */
  readonly lastPid: number;
  /** The uid of the process that created the set (IPC_STAT's `cuid`), or undefined where the host cannot tell. */
  readonly cuid?: number | undefined;
}

/** What cookies need of the host; the real one is SysV IPC and /run/udev, the simulator's is in memory. */
export interface CookieHost {
  /** The semaphore calls. */
  readonly sems: SemOps;
  /** Every semaphore set of this IPC namespace. */
  list(): SemEntry[];
  /** libudev's `udev_queue_get_udev_is_active()`: udevd's control socket exists. */
  udevRunning(): boolean;
  /** Whether udev's rules call `dmsetup udevcomplete` (95-dm-notify.rules is installed). */
  notifyRulesInstalled(): boolean;
  /** A random 16-bit base (libdevmapper reads /dev/urandom). */
  random16(): number;
  /** Environment for DM_DISABLE_UDEV. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether this host's cookies are removed on process exit (real SysV sets outlive the process). */
  readonly removeOnExit: boolean;
  /**
   * `semctl(IPC_STAT)` of one set: its key, creator's uid and times, read at once by its id.
   * Throws the call's error (EINVAL, EIDRM: gone). Absent where the host cannot (an
   * architecture whose `struct semid_ds` this package does not know): then its listing's times
   * stand in (recovery acts on less, docs/crash-safety.md).
   */
  stat?(semid: number): SemStat;
}

/** The directories udev reads rules from (systemd's udev.conf order). */
export const UDEV_RULES_DIRS = ['/etc/udev/rules.d', '/run/udev/rules.d', '/usr/local/lib/udev/rules.d', '/usr/lib/udev/rules.d', '/lib/udev/rules.d'];

/** /proc/sysvipc/sem: `key semid perms nsems uid gid cuid cgid otime ctime` (decimal; key signed). */
export function parseSysvipcSem(text: string): SemEntry[] {
  const out: SemEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [key, semid, otime, ctime] = [Number(f[0]), Number(f[1]), Number(f[8]), Number(f[9])];
    if (![key, semid, otime, ctime].every(Number.isFinite)) continue;
    out.push({ key: key >>> 0, semid, otime, ctime });
  }
  return out;
}

/** The real host: SysV IPC through ffi/sem.ts, /proc/sysvipc/sem, /run/udev/control. */
export async function realCookieHost(env: Readonly<Record<string, string | undefined>> = process.env): Promise<CookieHost> {
  objectArg(env, 'env', 'an environment object');
  const sems = await openSemOps();
  const exists = (p: string) => { try { fs.accessSync(p); return true; } catch { return false; } };
  return {
    sems,
    env,
    removeOnExit: true,
    list: () => {
      let text = '';
      try { text = fs.readFileSync('/proc/sysvipc/sem', 'utf8'); } catch { /* no procfs: nothing listed */ }
      return parseSysvipcSem(text);
    },
    udevRunning: () => exists('/run/udev/control'),
    notifyRulesInstalled: () => UDEV_RULES_DIRS.some((d) => exists(`${d}/95-dm-notify.rules`)),
    random16: () => randomInt(0, 0x10000),
    ...(semidDsLayout() && sems.stat ? {
      stat: (semid: number) => {
        const buf = new Uint8Array(SEMID_DS_BUFFER_BYTES);
        sems.stat!(semid, buf);
        return decodeSemidDs(buf);
      },
    } : {}),
  };
}

const live = new Map<CookieHost, Map<number, number>>();
let exitHooked = false;

/**
 * On 'exit' (sync calls only): removes every semaphore this process made for a call of its own
 * and has not released, i.e. the process ends mid-call. Cookies made for the user
 * (`lifetime: 'transaction'`) are never listed here: they outlive the process.
 */
function removeLeftovers(): void {
  for (const [host, owned] of live) {
    for (const semid of owned.keys()) { try { host.sems.remove(semid); } catch { /* already gone */ } }
    owned.clear();
  }
}

/**
 * Whose a new cookie is (UdevCookies.create): `'call'` the library's own for one call it runs
 * (released by the call, or by the exit handler when the process ends mid-call);
 * `'transaction'` the user's, handed out to be joined by later calls and released by
 * `wait()` / `udevreleasecookie`, and never removed when this process exits.
 */
export type CookieLifetime = 'call' | 'transaction';

function hex(cookie: number): string {
  return `0x${cookie.toString(16)}`;
}

/** The protocol of libdm-common.c over a host. */
export class UdevCookies {
  readonly #owned = new Map<number, number>(); // semid → cookie, made by us and not yet removed
  constructor(
    /** The host the cookies live on (this host's SysV IPC, or the simulator's). */
    readonly host: CookieHost,
  ) {}

  /**
   * `dm_udev_get_sync_support()`: DM_DISABLE_UDEV unset, SysV semaphores usable, a kernel
   * with cookies (4.15+), udev running — and, beyond libdevmapper, udev's notify rule
   * installed (without it nothing would ever complete the cookie).
   */
  syncSupported(kernel: readonly number[]): boolean {
    const d = this.host.env.DM_DISABLE_UDEV;
    if (d !== undefined && d !== '') return false;
    if (!cookiesSupported(kernel)) return false;
    try { this.host.sems.info(); } catch { return false; }
    return this.host.udevRunning() && this.host.notifyRulesInstalled();
  }

  /**
   * `_udev_notify_sem_create`: a new cookie (random base, IPC_EXCL), its semaphore at 1.
   * `lifetime` says whose it is, and so whether the process's exit may remove it:
   * - `'call'`: the library's own, for one call it runs now; released by that call (its wait,
   *   or at once when it fails), and by the `'exit'` handler if the process ends mid-call.
   * - `'transaction'`: handed to the user (`dmctl udevcreatecookie`, a cookie passed as
   *   `udevCookie` to later calls, maybe by other processes); it belongs to the user until
   *   `wait()` (`udevreleasecookie`) or `udevcomplete_all` removes it, and outlives this
   *   process as dmsetup's does. Never in {@link UdevCookies.owned}.
   */
  create(options: {
    /** Whose cookie it is: the library's for one call, or the user's transaction. */
    readonly lifetime: CookieLifetime;
    /**
     * Called with each key before its `semget` (again with another key after an EEXIST): a
     * caller that must survive SIGKILL records it there (docs/crash-safety.md). A throw stops
     * the create before that semget, and is what create throws.
     */
    readonly intent?: ((cookie: number) => void) | undefined;
  }): number {
    objectArg(options, 'options', '{ lifetime, intent? }');
    const lifetime = options.lifetime;
    if (lifetime !== 'call' && lifetime !== 'transaction') throw new DmArgumentError('options.lifetime', "'call' or 'transaction'", describeValue(lifetime));
    if (options.intent !== undefined && typeof options.intent !== 'function') throw new DmArgumentError('options.intent', 'a function', describeValue(options.intent));
    for (;;) {
      const base = this.host.random16();
      if (!base) continue;
      const cookie = ((DM_COOKIE_MAGIC << 16) | base) >>> 0;
      options.intent?.(cookie);
      let semid: number;
      try {
        semid = this.host.sems.create(cookie, 0o600);
      } catch (e) {
        if (e instanceof DmSyscallError && e.errno === ERRNO.EEXIST) continue; // key taken: another base
        throw new DmCookieError(cookie, e instanceof DmSyscallError && e.errno === ERRNO.ENOSPC
          ? 'Limit for the maximum number of semaphores reached. You can check and set the limits in /proc/sys/kernel/sem.'
          : `Failed to create notification semaphore: ${String((e as Error).message)}`, { cause: e });
      }
      // Until SETVAL succeeded the set is ours whatever its lifetime: a failure removes it.
      this.#own(semid, cookie);
      try {
        this.host.sems.setVal(semid, 1);
      } catch (e) {
        this.#destroy(semid);
        throw new DmCookieError(cookie, `cookie create: semid ${semid}: semctl failed`, { cause: e });
      }
      if (lifetime === 'transaction') this.#forget(semid); // the user's now: no exit handler touches it
      return cookie;
    }
  }

  /** `_get_cookie_sem`: the semid of a cookie (its flags are ignored; the prefix must be 0x0D4D). */
  semid(cookie: number): number {
    if (cookie >>> 16 !== DM_COOKIE_MAGIC) throw new DmCookieError(cookie, `Could not continue to access notification semaphore identified by cookie value ${cookie >>> 0} (${hex(cookie)}). Incorrect cookie prefix.`);
    try {
      return this.host.sems.get(cookie);
    } catch (e) {
      const errno = (e as DmSyscallError).errno;
      const what = errno === ERRNO.ENOENT ? 'Could not find' : errno === ERRNO.EACCES ? 'No permission to access' : 'Failed to access';
      throw new DmCookieError(cookie, `${what} notification semaphore identified by cookie value ${cookie >>> 0} (${hex(cookie)})`, { cause: e });
    }
  }

  /** `_udev_notify_sem_inc`: one more uevent to wait for. */
  inc(cookie: number): void {
    const semid = this.semid(cookie);
    const errno = this.host.sems.op(semid, 1, 0);
    if (errno) throw new DmCookieError(cookie, `cookie inc: semid ${semid}: semop failed for cookie ${hex(cookie)}: errno ${errno}`, { errno });
  }

  /**
   * `dm_udev_complete` (what udev's rule runs): one uevent done. A value with flags is
   * accepted as DM_COOKIE carries it: the flags are replaced by the magic prefix.
   * A flags-only value (base 0) completes nothing.
   */
  complete(value: number): void {
    const base = value & 0xffff;
    if (!base) return;
    const cookie = ((DM_COOKIE_MAGIC << 16) | base) >>> 0;
    this.#dec(cookie, this.semid(cookie));
  }

  #dec(cookie: number, semid: number): void {
    const errno = this.host.sems.op(semid, -1, IPC_NOWAIT);
    if (errno === ERRNO.EAGAIN) throw new DmCookieError(cookie, `cookie dec: semid ${semid}: semop failed for cookie ${hex(cookie)}: incorrect semaphore state`, { errno });
    if (errno) throw new DmCookieError(cookie, `cookie dec: semid ${semid}: semop failed for cookie ${hex(cookie)}: errno ${errno}`, { errno });
  }

  /**
   * `dm_udev_wait`: drop the caller's 1, wait until udev completed every uevent (value 0),
   * remove the semaphore. Polled with IPC_NOWAIT on a timer; a set removed meanwhile
   * (EIDRM, or EINVAL for an id that no longer exists) counts as done, as in libdevmapper.
   * On timeout, abort or error the semaphore is removed before the promise rejects.
   */
  async wait(cookie: number, options: { timeoutMs?: number; signal?: AbortSignal | undefined; closing?: AbortSignal | undefined } = {}): Promise<void> {
    // Our own call's set by the semid it was made with (its key may name another set by now).
    const semid = this.#ownedSemid(cookie) ?? this.semid(cookie);
    try {
      this.#dec(cookie, semid);
    } catch (e) {
      this.#destroy(semid);
      throw e;
    }
    const timeoutMs = options.timeoutMs ?? UDEV_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (let step = 1; ; step = Math.min(step * 2, 25)) {
      const errno = this.host.sems.op(semid, 0, IPC_NOWAIT);
      if (errno === 0) { this.#destroy(semid); return; }
      if (errno === ERRNO.EIDRM || errno === ERRNO.EINVAL) { this.#owned.delete(semid); this.#forget(semid); return; }
      if (errno !== ERRNO.EAGAIN && errno !== ERRNO.EINTR) {
        this.#destroy(semid);
        throw new DmCookieError(cookie, `Could not set wait state for notification semaphore identified by cookie value ${cookie >>> 0} (${hex(cookie)}): errno ${errno}`, { errno });
      }
      const stopped = options.signal?.aborted ? options.signal : options.closing?.aborted ? options.closing : undefined;
      if (stopped) { this.#destroy(semid); throw new DmAbortError(stopped.reason); }
      if (Date.now() >= deadline) {
        let pending = 0;
        try { pending = this.host.sems.getVal(semid); } catch { /* gone */ }
        this.#destroy(semid);
        throw new DmUdevTimeoutError(cookie, pending, timeoutMs);
      }
      await new Promise<void>((resolve) => {
        const offs: (() => void)[] = [];
        const done = () => { clearTimeout(t); for (const off of offs) off(); resolve(); };
        const t = setTimeout(done, Math.min(step, Math.max(0, deadline - Date.now())));
        // Through the fan-out: a caller's signal and the client's closing signal are shared by
        // many waits; a listener per wait and step would pile up on them.
        for (const s of [options.signal, options.closing]) if (s) offs.push(onAbort(s, done));
      });
    }
  }

  /** `_udev_notify_sem_destroy` of a cookie (a leftover after a failed ioctl, or `udevreleasecookie` clean-up). */
  destroy(cookie: number): void {
    this.#destroy(this.semid(cookie));
  }

  /**
   * Removes a cookie this instance made for one of its calls (`lifetime: 'call'`) whatever its
   * value: the call ends and nothing is pending for udev. By the semid it was made with, not
   * its key: a set removed meanwhile (`udevcomplete_all`) and its key taken again by another
   * process's cookie is not touched. A cookie that is not this instance's own (a
   * transaction's, or one already released) is left alone.
   */
  release(cookie: number): void {
    const semid = this.#ownedSemid(cookie);
    if (semid !== undefined) this.#destroy(semid);
  }

  /** The semid of a cookie this instance made for one of its calls and has not released, or undefined. */
  ownedSemid(cookie: number): number | undefined {
    return this.#ownedSemid(cookie);
  }

  #ownedSemid(cookie: number): number | undefined {
    for (const [semid, c] of this.#owned) if (c === cookie) return semid;
    return undefined;
  }

  /**
   * One cookie set by its semid: key, value, times, creator's uid and the last pid that
   * changed it (`GETPID`), or undefined when no cookie set has that id (gone, or not a
   * cookie's). Read by IPC_STAT where the host has it, else from the listing (no `cuid`). For
   * tools that judge leftovers; it does not tell a call's cookie from a user's transaction
   * (docs/udev-cookies.md, "Leftovers").
   */
  semInfo(semid: number): CookieSemInfo | undefined {
    if (typeof semid !== 'number' || !Number.isInteger(semid) || semid < 0) throw new DmArgumentError('semid', 'a semaphore set id: a non-negative integer', describeValue(semid));
    let e: SemEntry | undefined;
    let cuid: number | undefined;
    if (this.host.stat) {
      try {
        const st = this.host.stat(semid);
        e = { key: st.key, semid, otime: st.otime, ctime: st.ctime };
        cuid = st.cuid;
      } catch (x) {
        if (x instanceof DmSyscallError) return undefined; // no such set (EINVAL, EIDRM), or not ours to read
        throw x;
      }
    } else {
      e = this.host.list().find((x) => x.semid === semid);
    }
    if (!e || e.key >>> 16 !== DM_COOKIE_MAGIC) return undefined;
    try {
      return { ...e, value: this.host.sems.getVal(semid), lastPid: this.host.sems.lastPid(semid), cuid };
    } catch {
      return undefined; // removed between the listing and the reads
    }
  }

  /** `dmsetup udevcookies`: the sets with the 0x0D4D prefix and their values. */
  list(): CookieEntry[] {
    const out: CookieEntry[] = [];
    for (const e of this.host.list()) {
      if (e.key >>> 16 !== DM_COOKIE_MAGIC) continue;
      let value: number;
      try { value = this.host.sems.getVal(e.semid); } catch { continue; }
      out.push({ ...e, value });
    }
    return out;
  }

  /**
   * `dmsetup udevcomplete_all [age]`: remove cookies unchanged and unused for `ageMs`
   * (dmsetup takes minutes; semaphore times are whole seconds, so the age is compared in
   * seconds, rounded down). `now`: the current time in seconds since the epoch.
   */
  completeAll(ageMs = 0, now = Math.floor(Date.now() / 1000)): {
    /** Cookies removed. */
    destroyed: number;
    /** Cookies younger than the age, left. */
    skipped: number;
    /** Cookies that could not be removed. */
    failed: number;
  } {
    let destroyed = 0;
    let skipped = 0;
    let failed = 0;
    const ageSeconds = Math.floor(ageMs / 1000);
    for (const e of this.host.list()) {
      if (e.key >>> 16 !== DM_COOKIE_MAGIC) continue;
      if (e.ctime + ageSeconds > now || e.otime + ageSeconds > now) { skipped++; continue; }
      try { this.host.sems.remove(e.semid); destroyed++; this.#forget(e.semid); } catch { failed++; }
    }
    return { destroyed, skipped, failed };
  }

  /** Cookies this instance made for its own calls (`lifetime: 'call'`) and has not released yet (leak checks). */
  get owned(): readonly number[] {
    return [...this.#owned.values()];
  }

  #own(semid: number, cookie: number): void {
    this.#owned.set(semid, cookie);
    if (!this.host.removeOnExit) return;
    let m = live.get(this.host);
    if (!m) live.set(this.host, (m = new Map()));
    m.set(semid, cookie);
    if (!exitHooked) { exitHooked = true; process.once('exit', removeLeftovers); }
  }

  #forget(semid: number): void {
    this.#owned.delete(semid);
    live.get(this.host)?.delete(semid);
  }

  #destroy(semid: number): void {
    try {
      this.host.sems.remove(semid);
    } catch (e) {
      const errno = (e as DmSyscallError).errno;
      // Still there: stays listed, so the exit handler tries again.
      if (errno !== ERRNO.EINVAL && errno !== ERRNO.EIDRM) throw e;
    }
    this.#forget(semid);
  }
}

/** `dm_cookie_supported()`: device-mapper 4.15 or later puts DM_COOKIE into uevents. */
export function cookiesSupported(kernel: readonly number[]): boolean {
  if (!Array.isArray(kernel) || kernel.length < 2 || kernel.some((n) => typeof n !== 'number' || !Number.isInteger(n) || n < 0)) {
    throw new DmArgumentError('kernel', 'a version [major, minor, patch] of non-negative integers', describeValue(kernel));
  }
  const [major = 0, minor = 0] = kernel;
  return major === 4 ? minor >= 15 : major > 4;
}
