/**
 * Every error class of lib/, in one place: the client's (`DmError` for a failed ioctl,
 * `DmUnsupportedError`, `DmArgumentError`, `DmAbortError`, `DmIdentityError`), the
 * multi-step operations' (`DmOperationError`), the typed targets' (`DmTargetError`,
 * `DmTargetParseError`) and udev's (`DmUdevTimeoutError`, `DmCookieError`). codec's and ffi's
 * are re-exported so a caller can import every error type from the package root.
 *
 * `code` is the errno's name whenever an errno is the cause, with `errno` its number; the
 * library's own conditions have literal codes that are never an errno name
 * (docs/conventions.md, "Errors").
 */
import { DmBaseError } from '../base/error.js';
import { ERRNO, errnoName, errnoOf, type ErrnoCode, type ErrnoName } from '../ffi/errors.js';
import { commandSpec, DmCodecError, printableName, type CommandName, type DeviceId, type DmCodecErrorCode, type RawNames, type Version } from '../codec/index.js';

export { DmBaseError } from '../base/error.js';

export { DmCodecError } from '../codec/index.js';
export {
  DmClosedError, DmEngineError, DmFfiError, DmLibcError, DmPermissionError, DmPlatformError, DmSyscallError, DmUnavailableError, ERRNO, errnoName, isErrnoName,
} from '../ffi/errors.js';
export type { DmErrorOptions, DmFfiErrorCode, DmFfiOwnCode, ErrnoCode, ErrnoName } from '../ffi/errors.js';

/** The header fields of a request or reply, kept on errors for diagnosis (never the payload). */
export interface HeaderSnapshot {
  /** dm_ioctl.version: [major, minor, patch]. */
  readonly version: readonly number[];
  /** dm_ioctl.data_size: the whole buffer's size. */
  readonly data_size: number;
  /** dm_ioctl.data_start: where the payload begins. */
  readonly data_start: number;
  /** dm_ioctl.target_count. */
  readonly target_count: number;
  /** dm_ioctl.open_count. */
  readonly open_count: number;
  /** dm_ioctl.flags (DM_*_FLAG bits). */
  readonly flags: number;
  /** dm_ioctl.event_nr (with a udev cookie in its upper half on some calls). */
  readonly event_nr: number;
  /** dm_ioctl.dev: the kernel's encoded device number. */
  readonly dev: bigint;
  /** dm_ioctl.name. */
  readonly name: string;
  /** dm_ioctl.uuid. */
  readonly uuid: string;
}

/** What a {@link DmError} carries about the failed call. */
export interface DmErrorDetails {
  /** The client command that failed. */
  readonly command: CommandName;
  /** The errno (positive), or 0 when the ioctl returned another failure. */
  readonly errno: number;
  /** How the device was addressed, if the command addresses one. */
  readonly device?: DeviceId | undefined;
  /**
   * The request's header. There is no reply header: on failure the kernel copies back
   * only its interface version (docs/kernel-facts.md, "A failed call writes back only the
   * version"), so the rest of the buffer is still our request.
   */
  readonly request?: HeaderSnapshot | undefined;
  /** device-mapper lines of the call's window that name its device (when /dev/kmsg is readable). */
  readonly kernelLog?: readonly string[] | undefined;
  /** The other device-mapper lines of the call's window: other devices, clients, processes, or no device named. */
  readonly unattributedKernelLog?: readonly string[] | undefined;
  /** A positive ioctl return value, which the interface also treats as failure. */
  readonly ret?: number | undefined;
  /** Extra context for the message (e.g. the table line of a failed load). */
  readonly hint?: string | undefined;
}

/** What one errno means for a device-mapper call: the message's text, and what to try in dmctl. */
export interface ErrnoExplanation {
  /** For the error message; `{device}` stands for how the device was addressed (` "name"`, or empty). */
  readonly what: string;
  /** What to try next, as dmctl prints it after "try:". */
  readonly tryNext?: string;
}

/** Per errno: the explanation for every command (`any`), and where one command differs. */
export type ErrnoRow = {
  /** The explanation for any command without its own. */
  readonly any: ErrnoExplanation;
} & { readonly [C in CommandName]?: ErrnoExplanation };

const LS = 'check the device name with "dmctl ls" (names are case-sensitive; -u <uuid> selects by uuid, -j/-m by number)';
const ROOT = 'run as root or with CAP_SYS_ADMIN (e.g. through sudo): device-mapper refuses every other caller';
const MISSING_IN_TABLE: ErrnoExplanation = {
  what: 'the table of{device} names a device that does not exist',
  tryNext: 'a device named in the table does not exist: check the paths or major:minor numbers (ls -l /dev/…)',
};

/**
 * The one table of what each errno means for device-mapper, per command where it differs
 * (errno per command: docs/kernel-facts.md). The library's messages (`DmError`) and dmctl's
 * "try:" lines (cli/errors.ts) both read it.
 */
export const ERRNO_EXPLANATIONS: { readonly [E in ErrnoName]?: ErrnoRow } = {
  ENXIO: {
    any: { what: 'no such device{device}', tryNext: LS },
    create: { what: 'could not allocate the device{device} (the requested minor is in use or out of range)', tryNext: 'the requested minor is taken or out of range: omit --minor, or pick a free one (dmctl ls)' },
  },
  EBUSY: {
    any: { what: 'device busy{device}', tryNext: 'the device is busy: retry, or check what holds it open ("dmctl info" shows the open count)' },
    create: { what: 'name, uuid or minor already in use{device}', tryNext: 'a device with this name or uuid exists: "dmctl info <name>", or choose another name' },
    rename: { what: 'the new name or uuid is already in use{device}', tryNext: 'the new name or uuid is taken by another device: "dmctl ls"' },
    remove: {
      what: 'device is open (in use){device}; retry, or remove with deferred: true',
      tryNext: 'the device is open (mounted, or used by another table — "dmctl ls --tree"): close it, or use --retry, --deferred, or --force (swaps in an error table first)',
    },
  },
  EACCES: { any: { what: 'permission denied: device-mapper needs CAP_SYS_ADMIN (run as root)', tryNext: ROOT } },
  EPERM: { any: { what: 'operation not permitted', tryNext: ROOT } },
  EINVAL: {
    any: { what: 'invalid argument{device}' },
    load: {
      what: 'the kernel rejected the table{device}',
      tryNext: 'the kernel rejected the table: check each line is "<start> <length> <type> <params>" for that target (its log line above says which argument); "dmctl targets" lists the loaded target types',
    },
    message: { what: 'the target rejected the message{device}', tryNext: 'the target rejected the message: check the target\'s documentation for the messages it accepts' },
    rename: { what: 'invalid argument{device}', tryNext: 'a uuid can only be set once (--setuuid on a device that has none)' },
  },
  // A table naming a missing device: ENODEV up to 4.47 (5.10, 6.1), ENOENT from 4.48 (6.12, 7.3) (docs/kernel-facts.md).
  ENODEV: { any: { what: 'no such device{device}', tryNext: 'check the device name with "dmctl ls"' }, load: MISSING_IN_TABLE },
  ENOENT: { any: { what: 'no such device{device}', tryNext: 'check the device name with "dmctl ls"' }, load: MISSING_IN_TABLE },
  ENOTTY: { any: { what: 'the kernel does not know this command', tryNext: 'this kernel does not know the command: "dmctl version" shows the driver version' } },
  ENOMEM: { any: { what: 'the kernel is out of memory' } },
  EINTR: { any: { what: 'interrupted' } },
};

/** The explanation of `code` for `command` (the command's own row, else the errno's), if the table has one. */
export function explainErrno(command: CommandName, code: string): ErrnoExplanation | undefined {
  // Own keys only: a command or code such as "constructor" must not find Object.prototype's members.
  const row = typeof code === 'string' && Object.hasOwn(ERRNO_EXPLANATIONS, code) ? ERRNO_EXPLANATIONS[code as ErrnoName] : undefined;
  if (!row) return undefined;
  return typeof command === 'string' && (command as string) !== 'any' && Object.hasOwn(row, command) ? row[command] : row.any;
}

function explain(command: CommandName, code: string, device: string): string {
  return (explainErrno(command, code)?.what ?? 'failed{device}').replace('{device}', device);
}

function describeDevice(id: DeviceId | undefined): string {
  if (!id) return '';
  if (id.name !== undefined) return ` "${printableName(id.name)}"`;
  if (id.uuid !== undefined) return ` uuid "${printableName(id.uuid)}"`;
  if (id.dev !== undefined) return ` ${id.dev.major}:${id.dev.minor}`;
  return '';
}

/** DmError's code: the errno's name, or `RETURNED_<n>` for a positive ioctl return. */
export type DmErrorCode = ErrnoName | `errno ${string}` | `RETURNED_${number}`;

/**
 * A device-mapper ioctl failed. `code` is the errno name (`ENXIO`, `EBUSY`, `EACCES`,
 * `EINVAL`, `ENOTTY`, …), `command` the client command, `device` how the device was
 * addressed; `request` holds the request's header (the kernel writes no reply header on
 * failure, only its version) and `kernelLog` what the kernel said about this call's device. /dev/kmsg is shared by everyone: lines logged meanwhile that do not
 * name this device (another client's, another device's, or lines that name no device, such
 * as "ioctl: error adding target to table") are in `unattributedKernelLog` and are not part
 * of the message. Line formats: docs/kernel-facts.md, "Kernel log lines".
 */
export class DmError extends DmBaseError<DmErrorCode> {
  /** Always `DmError`. */
  override readonly name = 'DmError';
  /** The errno's name (`ENXIO`, `EBUSY`, …), or `RETURNED_<n>` for another return value. */
  readonly code: DmErrorCode;
  /** The errno (positive), or 0. */
  readonly errno: number;
  /** The client command that failed. */
  readonly command: CommandName;
  /** How the device was addressed, if it was. */
  readonly device: DeviceId | undefined;
  /** The request's header as sent (the kernel writes no reply header on failure). */
  readonly request: HeaderSnapshot | undefined;
  /** The `device-mapper:` lines the kernel logged about this call's device. */
  readonly kernelLog: readonly string[];
  /** Lines logged meanwhile that name no device of this call (another process's, or unattributable). */
  readonly unattributedKernelLog: readonly string[];
  /** The ioctl's return value when it failed without an errno; undefined otherwise. */
  readonly ret: number | undefined;

  constructor(d: DmErrorDetails) {
    const code: DmErrorCode = d.errno > 0 ? errnoName(d.errno) : `RETURNED_${d.ret ?? 0}`;
    const what = d.errno > 0 ? explain(d.command, code, describeDevice(d.device)) : `ioctl returned ${d.ret}${describeDevice(d.device)}`;
    const log = d.kernelLog && d.kernelLog.length ? `\n  kernel: ${d.kernelLog.join('\n  kernel: ')}` : '';
    super(`${commandSpec(d.command).kernelName} (${d.command}): ${code}: ${what}${d.hint ? ` — ${d.hint}` : ''}${log}`);
    this.code = code;
    this.errno = d.errno;
    this.command = d.command;
    this.device = d.device;
    this.request = d.request;
    this.kernelLog = d.kernelLog ?? [];
    this.unattributedKernelLog = d.unattributedKernelLog ?? [];
    this.ret = d.ret;
  }
}

/** The running kernel's device-mapper is too old for what was asked. */
export class DmUnsupportedError extends DmBaseError<'UNSUPPORTED'> {
  /** Always `DmUnsupportedError`. */
  override readonly name = 'DmUnsupportedError';
  /** Always `UNSUPPORTED`. */
  readonly code = 'UNSUPPORTED';
  /** What was asked, e.g. a command or an option. */
  readonly feature: string;
  /** The device-mapper version it needs. */
  readonly required: Version;
  /** The running kernel's device-mapper version. */
  readonly kernel: Version;

  constructor(feature: string, required: Version, kernel: Version) {
    super(`${feature} is unsupported by kernel device-mapper ${kernel.join('.')} (needs ${required.join('.')} or newer)`);
    this.feature = feature;
    this.required = required;
    this.kernel = kernel;
  }
}

/**
 * An argument of a public function has the wrong type or shape (null, a Symbol, a sparse
 * array, an unknown option, a device given two ways, …), caught before anything is
 * encoded or any syscall is made. `argument` names it (`device`, `options.inactive`,
 * `targets[2].params`) and `expected` says what it must be. A subclass of
 * `DmCodecError`: the same "nothing was sent" class of error, with the codec's codes
 * (`INVALID_ARGUMENT`, `INVALID_DEVICE_ID`, `INVALID_TABLE`, `INVALID_NAME`).
 */
export class DmArgumentError extends DmCodecError {
  /** Always `DmArgumentError`. */
  override readonly name = 'DmArgumentError';
  /** The argument's path, e.g. `options.retries` or `targets[2].params`. */
  readonly argument: string;
  /** What it must be. */
  readonly expected: string;

  constructor(argument: string, expected: string, got: string, code: DmCodecErrorCode = 'INVALID_ARGUMENT') {
    super(code, `${argument} must be ${expected}, got ${got}`, argument);
    this.argument = argument;
    this.expected = expected;
  }
}

/** An operation was cancelled through its AbortSignal. */
export class DmAbortError extends DmBaseError<'ABORT_ERR'> {
  /** `AbortError`, as the platform's own aborts. */
  override readonly name = 'AbortError';
  /** `ABORT_ERR`, as the platform's own aborts. */
  readonly code = 'ABORT_ERR';
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : 'The operation was aborted', { cause: reason });
  }
}

/**
 * A device as a multi-step operation knows it: what its first step returned (lib/operations/identity.ts).
 * A name or uuid that is not UTF-8 also carries its bytes (`nameBytes`/`uuidBytes`), which
 * later steps address it by.
 */
export interface DeviceIdentity extends RawNames {
  /** The device's name. */
  readonly name: string;
  /** null when the device has no uuid. */
  readonly uuid: string | null;
  /** Its device number. */
  readonly dev: {
    /** Major number. */
    readonly major: number;
    /** Minor number. */
    readonly minor: number;
  };
}

/**
 * A step of a multi-step operation (createDevice, removeDevice, rename by uuid or dev,
 * `dmctl remove --force`) met a device other than the one its first step returned: the
 * name was removed and re-created, or the uuid/minor taken by someone else, in between.
 * The operation stopped and touched nothing further. `expected` is our device, `actual`
 * the reply fields the kernel fills for that step (docs/identity.md); `acted` says whether
 * the detecting step itself already changed the other device (a name-addressed load,
 * resume or rename only learns who it hit from its reply) or only looked (info).
 */
export class DmIdentityError extends DmBaseError<'DEVICE_REPLACED'> {
  /** Always `DmIdentityError`. */
  override readonly name = 'DmIdentityError';
  /** Always `DEVICE_REPLACED`. */
  readonly code = 'DEVICE_REPLACED';
  /** The step that met the other device (e.g. `load`, `resume`, `info`). */
  readonly step: string;
  /** Our device, as the first step returned it. */
  readonly expected: DeviceIdentity;
  /** What the step's reply said the device is. */
  readonly actual: Partial<DeviceIdentity>;
  /** Whether the step itself already changed the other device (see above). */
  readonly acted: boolean;

  constructor(step: string, expected: DeviceIdentity, actual: Partial<DeviceIdentity>, acted: boolean) {
    super(`${step}: the device was replaced: expected ${showIdentity(expected)}, found ${showIdentity(actual)}`
      + (acted ? ` (the ${step} already acted on it: it was addressed by name, and only its reply names the device)` : '; nothing was changed'));
    this.step = step;
    this.expected = expected;
    this.actual = actual;
    this.acted = acted;
  }
}

function showIdentity(d: Partial<DeviceIdentity>): string {
  const parts: string[] = [];
  if (d.name !== undefined) parts.push(`name "${d.name}"`);
  if (d.uuid !== undefined) parts.push(d.uuid ? `uuid "${d.uuid}"` : 'no uuid');
  if (d.dev !== undefined) parts.push(`dev ${d.dev.major}:${d.dev.minor}`);
  return parts.join(', ') || 'no device';
}

// ---- Multi-step operations (ThinPool, FaultyDevice, the device tree, discard).

/**
 * The codes of {@link DmOperationError}: the library's own conditions, and the errno's name
 * where the condition is an errno's (`EBUSY`, `ENXIO`), as a `DmError` from the kernel would
 * say it, so one `e.code === 'EBUSY'` catches both.
 */
export type DmOperationErrorCode =
  /** Bad input, refused before any syscall. */
  | 'INVALID_INPUT'
  /** The device exists but is not what the helper manages (e.g. not a thin-pool table). */
  | 'WRONG_TARGET'
  /** The device, or the thin id, does not exist (a tree snapshot without it, a device gone mid-operation); `errno` is ENXIO. */
  | 'ENXIO'
  /** A step did not finish within the helper's bound (the device was resumed where possible). */
  | 'TIMEOUT'
  /** The device is in use (e.g. an active thin that would be deleted); `errno` is EBUSY. */
  | 'EBUSY'
  /** The pool is in a state that refuses the request (failed, read-only, needs_check). */
  | 'POOL_STATE';

/**
 * A failure a multi-step operation (ThinPool, FaultyDevice, the tree operations) detects or
 * refuses itself; `code` says which. A failed ioctl stays a `DmError` with the kernel's
 * errno, and a failed block-device call a `DmSyscallError`.
 */
export class DmOperationError extends DmBaseError<DmOperationErrorCode> {
  override readonly name = 'DmOperationError';
  readonly code: DmOperationErrorCode;
  /** The errno when `code` is an errno's name (`EBUSY`: 16 on x86); undefined for the library's own codes. */
  readonly errno: number | undefined;
  constructor(code: DmOperationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.code = code;
    this.errno = code === 'EBUSY' || code === 'ENXIO' ? ERRNO[code] : undefined;
  }
}

// ---- The typed target layer. Messages never contain key material: for targets that carry
// keys (crypt, integrity) the offending token is not quoted.

/** What a {@link DmTargetError} is about: the builder's input, the target type, a device reference, or a parse of the kernel's text. */
export type DmTargetErrorCode =
  /** Builder input rejected by the target's schema. */
  | 'INVALID_INPUT'
  /** A device path could not be resolved to major:minor (normalise). */
  | 'UNRESOLVED_DEVICE'
  /** No typed unit for this target type. */
  | 'UNKNOWN_TARGET'
  /** A table or status line ended before a required field. */
  | 'MISSING_FIELD'
  /** A field is not a number in range. */
  | 'BAD_NUMBER'
  /** A field is not a major:minor device. */
  | 'BAD_DEVICE'
  /** A field has a value the target does not define. */
  | 'BAD_VALUE'
  /** Tokens left over after a table line that has no optional tail. */
  | 'TRAILING_FIELDS'
  /** The kernel's version of the target is older than the line's features need (`checkTargetVersion`). */
  | 'TARGET_VERSION';

/** A typed target's input or line was rejected; `code` says which check, `field` which field. */
export class DmTargetError extends DmBaseError<DmTargetErrorCode> {
  override readonly name: string = 'DmTargetError';
  readonly code: DmTargetErrorCode;
  /** The target type, e.g. `thin-pool`. */
  readonly target: string;
  /** The field that was rejected, e.g. `metadataDevice` or `features[1]`. */
  readonly field: string | undefined;

  constructor(code: DmTargetErrorCode, target: string, message: string, field?: string) {
    super(`${target}: ${message}`);
    this.code = code;
    this.target = target;
    this.field = field;
  }
}

/** A table or status line that does not parse. */
export class DmTargetParseError extends DmTargetError {
  override readonly name: string = 'DmTargetParseError';
}

// ---- udev cookies (lib/udev/cookies.ts).

/** A cookie wait ran out of time: udev did not complete it. The semaphore was removed. */
export class DmUdevTimeoutError extends DmBaseError<'UDEV_TIMEOUT'> {
  /** Always `DmUdevTimeoutError`. */
  override readonly name = 'DmUdevTimeoutError';
  /** Always `UDEV_TIMEOUT`. */
  readonly code = 'UDEV_TIMEOUT';
  /** The cookie (as udev sees it, without flags) and what was still pending. */
  readonly cookie: number;
  /** Uevents udev had not completed. */
  readonly pending: number;
  /** What the device-mapper call returned: it happened; only udev's part is unconfirmed. */
  result?: unknown;
  constructor(cookie: number, pending: number, timeoutMs: number) {
    super(`udev did not complete cookie 0x${cookie.toString(16).padStart(8, '0')} within ${timeoutMs} ms (${pending} uevent${pending === 1 ? '' : 's'} pending); the semaphore was removed`);
    this.cookie = cookie;
    this.pending = pending;
  }
}

/**
 * A cookie's semaphore could not be made, found or used (libdm's messages). `code` is the
 * errno's name when a semaphore call failed with one (given, or carried by `cause`), else
 * `UDEV_COOKIE` (a cookie value without the 0x0D4D prefix).
 */
export class DmCookieError extends DmBaseError<ErrnoCode | 'UDEV_COOKIE'> {
  /** Always `DmCookieError`. */
  override readonly name = 'DmCookieError';
  /** The errno's name (`ENOENT`, `ENOSPC`, …), or `UDEV_COOKIE` when no errno caused it. */
  readonly code: ErrnoCode | 'UDEV_COOKIE';
  /** The errno (positive), or 0 when none. */
  readonly errno: number;
  /** The cookie concerned. */
  readonly cookie: number;
  constructor(cookie: number, message: string, options?: { cause?: unknown; errno?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    const errno = Math.abs(options?.errno ?? errnoOf(options?.cause));
    this.code = errno > 0 ? errnoName(errno) : 'UDEV_COOKIE';
    this.errno = errno;
    this.cookie = cookie;
  }
}

/**
 * A sysfs attribute the inspection API (`inspect()`) read is not what the kernel writes
 * there: too long, empty where a value is required, or not of its format (`code`
 * `DM_SYSFS`, `errno` 0). `path` names the attribute (relative to the sysfs root). A file
 * that cannot be read at all is a `DmSyscallError` with the errno instead.
 */
export class DmSysfsError extends DmBaseError<'DM_SYSFS'> {
  /** Always `DmSysfsError`. */
  override readonly name = 'DmSysfsError';
  /** Always `DM_SYSFS`. */
  readonly code = 'DM_SYSFS';
  /** The attribute, relative to the sysfs root (`block/dm-0/dm/name`). */
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`sysfs attribute ${path}: ${problem}`);
    this.path = path;
  }
}

// ---- dm-verity forward error correction (lib/verity/fec.ts).

/** What a {@link DmVerityFecError} is about. */
export type DmVerityFecErrorCode =
  /** A Reed–Solomon codeword has more damage than its parity corrects. */
  | 'FEC_UNCORRECTABLE'
  /** A reader callback returned fewer or more bytes than asked for. */
  | 'FEC_SHORT_READ';

/**
 * dm-verity FEC could not do what was asked (`errno` 0): a codeword is beyond correction
 * (`FEC_UNCORRECTABLE`: `round` and `byteIndex` name it, `blocks` the covered blocks it
 * spans, any of which may be the damaged ones), or a reader broke its contract
 * (`FEC_SHORT_READ`).
 */
export class DmVerityFecError extends DmBaseError<DmVerityFecErrorCode> {
  /** Always `DmVerityFecError`. */
  override readonly name = 'DmVerityFecError';
  readonly code: DmVerityFecErrorCode;
  /** The interleaving round of the failed codeword (FEC_UNCORRECTABLE). */
  readonly round: bigint | undefined;
  /** The byte offset within the blocks of the failed codeword (FEC_UNCORRECTABLE). */
  readonly byteIndex: number | undefined;
  /** The covered blocks the failed codeword spans, as `{ area, blockIndex }` (FEC_UNCORRECTABLE). */
  readonly blocks: readonly { readonly area: 'data' | 'hash'; readonly blockIndex: bigint }[];
  constructor(code: DmVerityFecErrorCode, message: string, details?: { round?: bigint; byteIndex?: number; blocks?: readonly { area: 'data' | 'hash'; blockIndex: bigint }[] }) {
    super(message);
    this.code = code;
    this.round = details?.round;
    this.byteIndex = details?.byteIndex;
    this.blocks = details?.blocks ?? [];
  }
}

/** What {@link DmVerityError} says went wrong. */
export type DmVerityErrorCode = 'VERITY_SUPERBLOCK' | 'VERITY_CORRUPT' | 'VERITY_ROOT_HASH' | 'VERITY_PARAMETERS';

/**
 * A dm-verity hash tree or its superblock is not what it must be (lib/verity/): the
 * superblock is not a verity one or holds values veritysetup refuses (`VERITY_SUPERBLOCK`),
 * a block's digest or a spare area does not match (`VERITY_CORRUPT`: `device` and
 * `positionBytes` name the first bad block as veritysetup does), the tree is whole but its
 * root is not the one given (`VERITY_ROOT_HASH`), or the parameters describe no tree
 * veritysetup would make (`VERITY_PARAMETERS`). `errno` is 0; a device that cannot be read
 * is a `DmSyscallError` instead.
 */
export class DmVerityError extends DmBaseError<DmVerityErrorCode> {
  /** Always `DmVerityError`. */
  override readonly name = 'DmVerityError';
  readonly code: DmVerityErrorCode;
  /** Which device the bad bytes are on (VERITY_CORRUPT). */
  readonly device: 'data' | 'hash' | undefined;
  /** Where the bad block (or the spare area that is not zero) starts on that device (VERITY_CORRUPT). */
  readonly positionBytes: bigint | undefined;
  constructor(code: DmVerityErrorCode, message: string, where: { readonly device?: 'data' | 'hash'; readonly positionBytes?: bigint } = {}) {
    super(message);
    this.code = code;
    this.device = where.device;
    this.positionBytes = where.positionBytes;
  }
}

/** What {@link DmThinMetadataError} says went wrong. */
export type DmThinMetadataErrorCode = 'THIN_METADATA_CORRUPT' | 'THIN_METADATA_NO_SNAPSHOT' | 'THIN_METADATA_NO_DEVICE' | 'THIN_METADATA_NO_SPACE_MAP' | 'THIN_METADATA_CLOSED';

/**
 * A thin pool's metadata could not be read as it must be (lib/thin-metadata/,
 * docs/thin-metadata.md): a block whose checksum, block number, type, counts, key order or
 * pointers are wrong, a walk that would loop or leave the metadata (`THIN_METADATA_CORRUPT`,
 * `block` naming the metadata block); no metadata snapshot held where one was asked for
 * (`THIN_METADATA_NO_SNAPSHOT`); a thin id the metadata does not hold
 * (`THIN_METADATA_NO_DEVICE`); a reference count asked of a metadata snapshot, which records
 * no space maps (`THIN_METADATA_NO_SPACE_MAP`); a read after close (`THIN_METADATA_CLOSED`).
 */
export class DmThinMetadataError extends DmBaseError<DmThinMetadataErrorCode> {
  /** Always `DmThinMetadataError`. */
  override readonly name = 'DmThinMetadataError';
  readonly code: DmThinMetadataErrorCode;
  /** The metadata block at fault (THIN_METADATA_CORRUPT), when one is. */
  readonly block: bigint | undefined;
  constructor(code: DmThinMetadataErrorCode, message: string, where: { readonly block?: bigint } = {}) {
    super(message);
    this.code = code;
    this.block = where.block;
  }
}
