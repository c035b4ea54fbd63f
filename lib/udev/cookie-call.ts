/**
 * One udev-synchronised ioctl (DM_DEV_SUSPEND resume, DM_DEV_REMOVE, DM_DEV_RENAME) the way
 * libdevmapper runs it (libdm-iface.c `dm_task_run`, dmsetup.c `_simple`): a cookie made
 * (value 1) and incremented (2) before the ioctl, its base and the DM_UDEV_* flags in
 * `event_nr`; a failed ioctl, or one that generated no uevent, completes its own part; then
 * the caller's wait (lib/udev/cookies.ts). The client's methods call `udevTransaction` only.
 */
import { DmArgumentError, DmUnsupportedError } from '../errors.js';
import { describeValue } from '../client/args.js';
import {
  cookieArg, cookiesSupported, DEFAULT_SYNC_FLAGS, encodeCookie, udevFlagsArg, UDEV_FLAGS, UdevCookies,
} from './cookies.js';
import type { Version } from '../../codec/index.js';

/** The udev options of createDevice, resume, remove, removeDevice and rename. */
export interface UdevCallOptions {
  /**
   * `'sync'`: send a cookie and resolve only once udev's rules completed it (the node and
   * the /dev/disk links exist, old ones are gone). `'none'`: no cookie (event_nr carries
   * only `udevFlags`, if any), as before. Default: `'sync'` when libdevmapper would sync
   * (DM_DISABLE_UDEV unset, SysV IPC, dm 4.15+, udevd running) and udev's 95-dm-notify
   * rule is installed; otherwise `'none'`.
   */
  readonly udev?: 'sync' | 'none';
  /** DM_UDEV_* flags (lib/udev/cookies.ts UDEV_FLAGS) added to the defaults (PRIMARY_SOURCE, DISABLE_LIBRARY_FALLBACK under sync). */
  readonly udevFlags?: number;
  /**
   * Join a transaction: a cookie made by `UdevCookies.create({ lifetime: 'transaction' })`,
   * `dmctl udevcreatecookie` or `dmsetup udevcreatecookie`.
   * The call increments it and does not wait (the cookie's owner waits, e.g.
   * `dmsetup udevreleasecookie`), like `dmsetup --udevcookie`.
   */
  readonly udevCookie?: number;
  /** How long to wait for udev (default: thirty seconds); then DmUdevTimeoutError, the semaphore removed. */
  readonly udevTimeoutMs?: number;
}

/** The option kinds of UdevCallOptions for optionsArg (values are checked by udevOptionsArg). */
export const UDEV_OPTION_KINDS = { udev: 'any', udevFlags: 'any', udevCookie: 'any', udevTimeoutMs: 'uint' } as const;

/** Checks the udev options (types and ranges) before any syscall. */
export function udevOptionsArg(o: UdevCallOptions, argument = 'options'): void {
  if (o.udev !== undefined && o.udev !== 'sync' && o.udev !== 'none') throw new DmArgumentError(`${argument}.udev`, "'sync' or 'none'", describeValue(o.udev));
  if (o.udevFlags !== undefined) udevFlagsArg(o.udevFlags, `${argument}.udevFlags`);
  if (o.udevCookie !== undefined) {
    cookieArg(o.udevCookie, `${argument}.udevCookie`);
    if (o.udev === 'none') throw new DmArgumentError(`${argument}.udevCookie`, "no cookie with udev: 'none'", describeValue(o.udevCookie));
  }
}

/**
 * The intent record of one call's own cookie, through its life: every write throws when the
 * record cannot be written, and the call then goes no further (nothing is done unrecorded).
 */
export interface CookieJournal {
  /** Before each semget: the key about to be tried, and the time (a set made before it is not ours). */
  creating(cookie: number): void;
  /** After its SETVAL, before any other use: the set's id and ctime. */
  made(cookie: number, semid: number, ctimeS: number | undefined): void;
  /** The set is gone (removed after the call, or never made): the record goes. */
  close(): void;
}

/** What a transaction needs of the client. */
export interface UdevContext {
  /** The cookie protocol on this backend's host, or undefined when the backend has none. */
  cookies(): Promise<UdevCookies | undefined>;
  readonly kernel: Version;
  /** Ends the wait for udev: the call's own signal. */
  readonly signal?: AbortSignal | undefined;
  /** Ends it too: the client's close(). Kept apart from `signal`, not joined into one, so a call leaves nothing on it. */
  readonly closing?: AbortSignal | undefined;
  /**
   * Opens the record of a cookie the call makes for itself, where a later process finds it if
   * this one dies before releasing it (docs/crash-safety.md); none without an intent store.
   */
  readonly cookieJournal?: (() => CookieJournal) | undefined;
}

/**
 * Whether a call with these options syncs: explicit `'sync'` where udev cannot complete a
 * cookie is refused (DmUnsupportedError below dm 4.15, else DmArgumentError); the default
 * follows {@link UdevCookies.syncSupported}. Callers of several ioctls (createDevice) ask
 * this before their first one.
 */
export async function udevMode(ctx: UdevContext, o: UdevCallOptions): Promise<'sync' | 'none'> {
  if (o.udev === 'none') return 'none';
  const cookies = await ctx.cookies();
  const supported = cookies?.syncSupported(ctx.kernel) ?? false;
  if ((o.udev === 'sync' || o.udevCookie !== undefined) && !supported) {
    if (!cookiesSupported(ctx.kernel)) throw new DmUnsupportedError('udev cookies', [4, 15, 0], ctx.kernel);
    throw new DmArgumentError('options.udev', "'sync' only where udev runs with the device-mapper rules (udevd's /run/udev/control, 95-dm-notify.rules, SysV IPC, DM_DISABLE_UDEV unset)", "'sync'");
  }
  return supported ? 'sync' : 'none';
}

/**
 * event_nr of a call that sends no cookie (udev `'none'`): 0, unless the caller wants flags
 * seen by the rules (base 0). createDevice's chained path (lib/operations/create-device.ts)
 * sends its resume with this, as udevTransaction does.
 */
export function noCookieEventNr(o: UdevCallOptions): number {
  const extra = o.udevFlags ?? 0;
  return extra ? encodeCookie(0, extra | UDEV_FLAGS.PRIMARY_SOURCE) : 0;
}

/**
 * Runs `ioctl(eventNr)` with the cookie protocol. `generated(result)` tells whether the
 * kernel sent a uevent (DM_UEVENT_GENERATED_FLAG). Resolves with the ioctl's result once
 * udev completed (sync), or at once (none, joined transaction).
 */
export async function udevTransaction<T>(ctx: UdevContext, o: UdevCallOptions, ioctl: (eventNr: number) => Promise<T>, generated: (r: T) => boolean): Promise<T> {
  const extra = o.udevFlags ?? 0;
  const cookies = await udevMode(ctx, o) === 'sync' ? await ctx.cookies() : undefined;
  if (!cookies) return ioctl(noCookieEventNr(o));
  const flags = DEFAULT_SYNC_FLAGS | extra;
  const joined = o.udevCookie;
  if (joined !== undefined) return transact(ctx, o, cookies, joined, joined, flags, ioctl, generated);
  const journal = ctx.cookieJournal?.();
  if (!journal) return transact(ctx, o, cookies, cookies.create({ lifetime: 'call' }), undefined, flags, ioctl, generated);
  // Our own cookie, recorded at every step a SIGKILL could end on (the exit hook does not run
  // on a kill): its key before the semget, its id after the SETVAL, the record removed only
  // once the set is. A kill anywhere leaves a record recover() can act on
  // (lib/udev/cookie-leftover.ts), never a set without one.
  let tried: number | undefined;
  let cookie: number;
  try {
    cookie = cookies.create({ lifetime: 'call', intent: (c) => { journal.creating(c); tried = c; } });
  } catch (e) {
    // No set made, or made and removed (a set whose removal failed is listed: its record stays).
    if (tried === undefined || !cookies.owned.includes(tried)) journal.close();
    throw e;
  }
  const release = () => {
    try { cookies.release(cookie); } catch { /* stays listed for the exit handler */ }
    // The record goes once the set is gone; a set that could not be removed keeps it.
    if (!cookies.owned.includes(cookie)) journal.close();
  };
  try {
    const semid = cookies.ownedSemid(cookie)!;
    // IPC_STAT alone where the host has it (the value and last pid are not recorded).
    journal.made(cookie, semid, cookies.host.stat ? cookies.host.stat(semid).ctime : cookies.semInfo(semid)?.ctime);
  } catch (e) {
    release();
    throw e;
  }
  try {
    return await transact(ctx, o, cookies, cookie, undefined, flags, ioctl, generated);
  } finally {
    release();
  }
}

async function transact<T>(
  ctx: UdevContext, o: UdevCallOptions, cookies: UdevCookies, cookie: number, joined: number | undefined, flags: number,
  ioctl: (eventNr: number) => Promise<T>, generated: (r: T) => boolean,
): Promise<T> {
  try {
    cookies.inc(cookie);
  } catch (e) {
    // No increment, no ioctl: nothing of ours to complete in a joined cookie (completing would
    // take the owner's 1); our own cookie is released.
    if (joined === undefined) { try { cookies.release(cookie); } catch { /* stays listed for the exit handler */ } }
    throw e;
  }
  let result: T;
  try {
    result = await ioctl(encodeCookie(cookie, flags));
  } catch (e) {
    // libdm's _udev_complete on a failed task: our increment will never be completed by udev.
    // The ioctl's error is the one to report: a clean-up that fails too (the set removed by
    // udevcomplete_all meanwhile) must not replace it. An own set that could not be removed
    // stays listed for the exit handler.
    try {
      if (joined !== undefined) cookies.complete(cookie);
      else cookies.release(cookie);
    } catch { /* the joined cookie's owner waits and removes it; see above for our own */ }
    throw e;
  }
  if (!generated(result)) {
    // No uevent (deferred remove of an open device, resume of a running one…): nothing for udev
    // to complete. Our own cookie is done: released at once (libdm completes and waits, which
    // ends in the same removal). In a joined transaction our increment is completed here; if
    // that fails the owner's wait would hang on it, so the caller learns it, with the result.
    try {
      if (joined !== undefined) cookies.complete(cookie);
      else cookies.release(cookie);
    } catch (e) {
      throw withResult(e, result);
    }
    return result;
  }
  if (joined !== undefined) return result;
  try {
    await cookies.wait(cookie, { timeoutMs: o.udevTimeoutMs, signal: ctx.signal, closing: ctx.closing });
  } catch (e) {
    throw withResult(e, result);
  }
  return result;
}

/** The ioctl acted before its cookie failed: the error carries its `result`, as the client's udev errors do. */
function withResult(e: unknown, result: unknown): unknown {
  if (e !== null && typeof e === 'object') (e as { result?: unknown }).result = result;
  return e;
}
