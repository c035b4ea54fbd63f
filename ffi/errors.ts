/**
 * Typed errors for the FFI layer, and errno names and numbers as Node knows them.
 *
 * Every error here carries a stable `code` (for `switch`): the errno's name when an errno
 * caused it (`'ENOENT'`, `'EACCES'`, as Node's `fs` does), a literal of the library's own
 * otherwise (`'DM_CLOSED'`, `'DM_PLATFORM'`, …, never an errno name); `errno`, the number
 * (0 when none); and the `path` involved, if any.
 *
 * @module
 */
import * as os from 'node:os';
import * as util from 'node:util';
import { DmBaseError } from '../base/error.js';

/** The symbolic name of an errno (`EBUSY`, `ENXIO`, …), as Node's `os.constants.errno` has them. */
export type ErrnoName = keyof typeof os.constants.errno;

const NODE_ERRNO: Readonly<Record<string, number>> = os.constants.errno;

/**
 * errno numbers by name, for the running platform and architecture: a frozen copy of Node's
 * `os.constants.errno` (MIPS, SPARC, Alpha and PA-RISC number some errnos differently from
 * x86 and the asm-generic architectures; Node knows each).
 */
export const ERRNO: { readonly [N in ErrnoName]: number } = Object.freeze({ ...os.constants.errno });

/** Whether `s` is the name of an errno (an own key of `os.constants.errno`). */
export function isErrnoName(s: unknown): s is ErrnoName {
  return typeof s === 'string' && Object.hasOwn(NODE_ERRNO, s);
}

/** Per number, the first of `os.constants.errno`'s names: for what libuv does not name (EIDRM, ENODATA, …). */
const FIRST_NAME: ReadonlyMap<number, ErrnoName> = (() => {
  const m = new Map<number, ErrnoName>();
  for (const [name, n] of Object.entries(NODE_ERRNO)) if (!m.has(n)) m.set(n, name as ErrnoName);
  return m;
})();

/**
 * The symbolic name of an errno (`25` → `"ENOTTY"`), as Node names it: `util.getSystemErrorName`
 * (so an alias is Node's choice, `95` → `"ENOTSUP"` as `fs` reports it), else the name
 * `os.constants.errno` has for that number (libuv names only the errnos it uses itself).
 * Accepts Node's negative libuv form too (`-2` → `"ENOENT"`). A number Node does not name
 * (and 0) gives `"errno N"`.
 */
export function errnoName(n: number): ErrnoName | `errno ${string}` {
  // A non-number (a Symbol would throw in the template) is no errno either.
  if (typeof n !== 'number') return `errno (${typeof n})`;
  if (!Number.isSafeInteger(n) || n === 0) return `errno ${n}`;
  const abs = Math.abs(n);
  const name = util.getSystemErrorName(-abs);
  if (isErrnoName(name) && NODE_ERRNO[name] === abs) return name;
  return FIRST_NAME.get(abs) ?? `errno ${n}`;
}

/**
 * The errno (positive) an error carries, or 0: a package error's `errno`, or a Node system
 * error's (`code` an errno name; its `errno` is libuv's negative number).
 */
export function errnoOf(e: unknown): number {
  if (e === null || typeof e !== 'object') return 0;
  const { code, errno } = e as { code?: unknown; errno?: unknown };
  if (isErrnoName(code)) return NODE_ERRNO[code]!;
  return e instanceof DmBaseError && typeof errno === 'number' && Number.isSafeInteger(errno) && errno > 0 ? errno : 0;
}

/** An errno-caused error's code: the errno's name (`errno N` for a number Node does not name). */
export type ErrnoCode = ErrnoName | `errno ${string}`;

/** The codes of ffi/'s own conditions: each class's code when no errno caused the error. */
export type DmFfiOwnCode = 'DM_UNAVAILABLE' | 'DM_PERMISSION' | 'DM_PLATFORM' | 'DM_CLOSED' | 'DM_LIBC' | 'DM_ENGINE';

/** The codes of ffi/'s errors: an errno's name when one caused the error, else the class's own code. */
export type DmFfiErrorCode = ErrnoCode | DmFfiOwnCode;

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

/**
 * Base class: `instanceof DmFfiError` catches every error thrown by ffi/. `code` is the
 * errno's name when an errno is known (given as `errno`, or carried by `cause`), else the
 * `ownCode` the constructor was given.
 */
export class DmFfiError<Code extends DmFfiErrorCode = DmFfiErrorCode> extends DmBaseError<Code> {
  /** The errno's name (`"ENOENT"`) when an errno caused the error, else the class's own code (`"DM_CLOSED"`). */
  readonly code: Code;
  /** The errno behind the error (positive), or 0. */
  readonly errno: number;
  /** The node or file involved, if any. */
  readonly path: string | undefined;
  /** The failing system call (`"open"`, `"ioctl"`, ...), if any. */
  readonly syscall: string | undefined;

  constructor(ownCode: Code, message: string, opts: DmErrorOptions = {}) {
    super(message, { cause: opts.cause });
    const errno = Math.abs(opts.errno ?? errnoOf(opts.cause));
    this.code = (errno > 0 ? errnoName(errno) : ownCode) as Code;
    this.errno = errno;
    this.path = opts.path;
    this.syscall = opts.syscall;
  }
}

/**
 * device-mapper is absent: no control node, or the kernel has no dm. `code` is the open's
 * errno (`ENOENT`, `ENODEV`, `ENXIO`), or `DM_UNAVAILABLE` when no errno is known.
 */
export class DmUnavailableError extends DmFfiError<ErrnoCode | 'DM_UNAVAILABLE'> {
  constructor(opts: DmErrorOptions = {}) {
    const why = opts.errno ? ` (${errnoName(opts.errno)}${opts.path ? ` opening ${opts.path}` : ''})` : '';
    super(
      'DM_UNAVAILABLE',
      `device-mapper is not available (no /dev/mapper/control, or dm_mod not loaded)${why}`,
      { syscall: 'open', ...opts },
    );
  }
}

/**
 * Not allowed: the control node's mode at open (EACCES/EPERM), or a missing CAP_SYS_ADMIN at
 * ioctl. `code` is the errno (`EACCES`, `EPERM`), or `DM_PERMISSION` when no errno is known.
 */
export class DmPermissionError extends DmFfiError<ErrnoCode | 'DM_PERMISSION'> {
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

/**
 * A client, transport, watcher or pipe was used after `close()`: the library's own refusal,
 * made before any system call (`code` `DM_CLOSED`, `errno` 0).
 */
export class DmClosedError extends DmFfiError<'DM_CLOSED'> {
  constructor(what: string, path?: string) {
    super('DM_CLOSED', `${what} is closed`, path === undefined ? {} : { path });
  }
}

/**
 * A failed system call (loop and block ioctls, mknod, pipe2, poll, semget/semop/semctl,
 * DM_DEV_ARM_POLL): `code` is the errno's name (`EBUSY`, `ENXIO`, …), `errno` its number,
 * `syscall`/`path` say which call on what.
 */
export class DmSyscallError extends DmFfiError<ErrnoCode> {
  /** The errno name, the same as `code` (kept for callers that read it). */
  readonly errnoName: string;
  constructor(message: string, opts: DmErrorOptions & { errno: number; syscall: string }) {
    // With no errno (a failed call that set none) the code is "errno 0": still no own code of the library.
    super('errno 0', `${message}: ${errnoName(opts.errno)}${opts.path ? ` (${opts.path})` : ''}`, { ...opts, errno: Math.abs(opts.errno) || 0 });
    this.errnoName = this.code;
  }
}

/** The C library (or koffi) could not be loaded: `DM_LIBC`, or the errno's name when the cause carries one. */
export class DmLibcError extends DmFfiError<ErrnoCode | 'DM_LIBC'> {
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
  // Node reports libuv's negative errno and the symbolic code; prefer the code.
  // Own properties only: a code such as "constructor" must not find Object.prototype's members.
  if (isErrnoName(err.code)) return ERRNO[err.code];
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
export class DmEngineError extends DmFfiError<ErrnoCode | 'DM_ENGINE'> {
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
