/**
 * Typed errors for the FFI layer and a small errno-name table.
 *
 * Every error here carries a stable library `code` (for `switch`), the numeric
 * `errno` that caused it (0 when none), and the `path` involved, if any.
 *
 * @module
 */
import { DmBaseError } from '../base/error.js';

/**
 * Linux errno numbers as used on x86, x86-64, ARM, AArch64, RISC-V and the other
 * asm-generic architectures. (MIPS, SPARC, Alpha and PA-RISC number some of
 * these differently; device-mapper users there are not a target today.)
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  EROFS: 30,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  EIDRM: 43,
  ENODATA: 61,
  EOPNOTSUPP: 95,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
} as const;

/** The symbolic name of an errno the package knows (`EBUSY`, `ENXIO`, …). */
export type ErrnoName = keyof typeof ERRNO;

const NAMES: ReadonlyMap<number, ErrnoName> = new Map(
  (Object.entries(ERRNO) as [ErrnoName, number][]).map(([name, n]) => [n, name]),
);

/**
 * The symbolic name of a Linux errno (`25` → `"ENOTTY"`). Accepts Node's negative
 * libuv form too (`-2` → `"ENOENT"`). Unknown numbers give `"errno N"`.
 */
export function errnoName(n: number): ErrnoName | `errno ${string}` {
  // A non-number (a Symbol would throw in the template) is no errno either.
  if (typeof n !== 'number') return `errno (${typeof n})`;
  return NAMES.get(Math.abs(n)) ?? `errno ${n}`;
}

/** The codes of ffi/'s errors, one per class. */
export type DmFfiErrorCode = 'DM_UNAVAILABLE' | 'DM_PERMISSION' | 'DM_PLATFORM' | 'DM_CLOSED' | 'DM_LIBC' | 'DM_SYSCALL' | 'DM_ENGINE';

/**
 * The options of {@link DmFfiError}'s subclasses' constructors (`new DmUnavailableError({ errno,
 * path })`, e.g. in a test's fake `Backend`): what became the error's fields.
 */
export interface DmErrorOptions {
  /** The Linux errno (its sign is dropped), e.g. 2 for ENOENT; default 0. */
  errno?: number;
  /** The node or file involved, e.g. `/dev/mapper/control`. */
  path?: string;
  /** The failing system call, e.g. `open` or `ioctl`. */
  syscall?: string;
  /** The underlying error, kept as the standard `cause`. */
  cause?: unknown;
}

/** Base class: `instanceof DmFfiError` catches every error thrown by ffi/. */
export class DmFfiError<Code extends DmFfiErrorCode = DmFfiErrorCode> extends DmBaseError<Code> {
  /** Stable machine-readable code, e.g. `"DM_UNAVAILABLE"`. */
  readonly code: Code;
  /** The Linux errno behind the error (positive), or 0. */
  readonly errno: number;
  /** The node or file involved, if any. */
  readonly path: string | undefined;
  /** The failing system call (`"open"`, `"ioctl"`, ...), if any. */
  readonly syscall: string | undefined;

  constructor(code: Code, message: string, opts: DmErrorOptions = {}) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.errno = Math.abs(opts.errno ?? 0);
    this.path = opts.path;
    this.syscall = opts.syscall;
  }
}

/** device-mapper is absent: no control node, or the kernel has no dm (ENOENT/ENODEV/ENXIO at open). */
export class DmUnavailableError extends DmFfiError<'DM_UNAVAILABLE'> {
  constructor(opts: DmErrorOptions = {}) {
    const why = opts.errno ? ` (${errnoName(opts.errno)}${opts.path ? ` opening ${opts.path}` : ''})` : '';
    super(
      'DM_UNAVAILABLE',
      `device-mapper is not available (no /dev/mapper/control, or dm_mod not loaded)${why}`,
      { syscall: 'open', ...opts },
    );
  }
}

/** Not allowed: the control node's mode at open (EACCES/EPERM), or a missing CAP_SYS_ADMIN at ioctl. */
export class DmPermissionError extends DmFfiError<'DM_PERMISSION'> {
  constructor(message: string, opts: DmErrorOptions = {}) {
    super('DM_PERMISSION', message, opts);
  }
}

/** device-mapper exists only on Linux; thrown before koffi is even loaded. */
export class DmPlatformError extends DmFfiError<'DM_PLATFORM'> {
  /** The `process.platform` value that was rejected. */
  readonly platform: string;
  constructor(platform: string) {
    super('DM_PLATFORM', `device-mapper needs Linux; this platform is "${platform}"`);
    this.platform = platform;
  }
}

/** A transport or pipe was used after `close()`. */
export class DmClosedError extends DmFfiError<'DM_CLOSED'> {
  constructor(what: string, path?: string) {
    super('DM_CLOSED', `${what} is closed`, { errno: ERRNO.EBADF, ...(path === undefined ? {} : { path }) });
  }
}

/** A failed system call (loop and block ioctls, mknod, pipe2, poll, DM_DEV_ARM_POLL): `code` is `DM_SYSCALL`, `errno`/`syscall`/`path` say which. */
export class DmSyscallError extends DmFfiError<'DM_SYSCALL'> {
  /** The errno name (`EBUSY`, `ENXIO`, …). */
  readonly errnoName: string;
  constructor(message: string, opts: DmErrorOptions & { errno: number; syscall: string }) {
    super('DM_SYSCALL', `${message}: ${errnoName(opts.errno)}${opts.path ? ` (${opts.path})` : ''}`, opts);
    this.errnoName = errnoName(opts.errno);
  }
}

/** The C library (or koffi) could not be loaded. */
export class DmLibcError extends DmFfiError<'DM_LIBC'> {
  constructor(message: string, cause?: unknown) {
    super('DM_LIBC', message, { cause });
  }
}

/**
 * The error for an ioctl that the kernel refused with EACCES. device-mapper checks
 * `capable(CAP_SYS_ADMIN)` before anything else and answers EACCES (not EPERM),
 * so a process that could open the node but lacks the capability lands here.
 */
export function ioctlPermissionError(path?: string): DmPermissionError {
  return new DmPermissionError(
    `device-mapper refused the ioctl with EACCES: CAP_SYS_ADMIN is needed (run as root, or grant the capability)`,
    { errno: ERRNO.EACCES, syscall: 'ioctl', ...(path === undefined ? {} : { path }) },
  );
}

/** The parts of a Node system error (`fs.open` failure) that {@link mapOpenError} reads. */
export interface OpenErrorLike {
  code?: string | undefined;
  errno?: number | undefined;
}

function openErrno(err: OpenErrorLike): number {
  // Node reports libuv's negative errno and the symbolic code; prefer the code,
  // it is the same on every architecture.
  // Own properties only: a code such as "constructor" must not find Object.prototype's members.
  if (typeof err.code === 'string' && Object.hasOwn(ERRNO, err.code)) return ERRNO[err.code as ErrnoName];
  return typeof err.errno === 'number' ? Math.abs(err.errno) : 0;
}

/**
 * Maps a failed `open()` of the control node to a typed error. Pure: `mode` (the
 * node's `st_mode`, when the caller could stat it) only enriches the message.
 *
 * - ENOENT, ENODEV, ENXIO → {@link DmUnavailableError}: the node is missing, or
 *   exists (c 10,236) on a kernel without device-mapper.
 * - EACCES, EPERM → {@link DmPermissionError}: at open this is the node's file
 *   mode/owner, not the capability (that is checked per ioctl).
 * - anything else → the original error, unchanged.
 */
export function mapOpenError(err: unknown, path: string, mode?: number): unknown {
  if (err === null || typeof err !== 'object') return err;
  const e = err as OpenErrorLike;
  const n = openErrno(e);
  switch (n) {
    case ERRNO.ENOENT:
    case ERRNO.ENODEV:
    case ERRNO.ENXIO:
      return new DmUnavailableError({ errno: n, path, cause: err });
    case ERRNO.EACCES:
    case ERRNO.EPERM: {
      const m = mode === undefined ? '' : ` (mode ${(mode & 0o7777).toString(8).padStart(4, '0')})`;
      return new DmPermissionError(
        `cannot open ${path}: ${errnoName(n)}. Check the node's permissions${m} ` +
          `(it is normally 0600 root:root); device-mapper needs root (CAP_SYS_ADMIN) anyway`,
        { errno: n, path, syscall: 'open', cause: err },
      );
    }
    default:
      return err;
  }
}

/**
 * The ioctl engine's worker thread died (or could not start) while calls were in it. A call
 * that gets this error with `sent` may or may not have reached the kernel; later calls of
 * the process run on the fallback path (libuv's pool), see ffi/engine.ts.
 */
export class DmEngineError extends DmFfiError<'DM_ENGINE'> {
  /**
   * Whether the worker had taken the call (it may have reached the kernel). false: it never
   * left the queue or the ring, so the transport sends it on the fallback path instead.
   */
  readonly sent: boolean;
  constructor(message: string, sent: boolean, cause?: unknown) {
    super('DM_ENGINE', message, { cause, syscall: 'ioctl' });
    this.sent = sent;
  }
}
