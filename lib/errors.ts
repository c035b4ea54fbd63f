/**
 * The client's errors. One class for every failed ioctl (`DmError`), one for features the
 * running kernel lacks (`DmUnsupportedError`); codec and ffi errors are re-exported so a
 * caller can import every error type from the package root.
 */
import { errnoName } from '../ffi/errors.js';
import { DmCodecError, KERNEL_COMMAND_NAMES, printableName, type CommandName, type DeviceId, type DmCodecErrorCode, type RawNames, type Version } from '../codec/index.js';

export { DmCodecError } from '../codec/index.js';
export {
  DmClosedError, DmFfiError, DmLibcError, DmPermissionError, DmPlatformError, DmUnavailableError, ERRNO, errnoName,
} from '../ffi/errors.js';

/** The header fields of a request or reply, kept on errors for diagnosis (never the payload). */
export interface HeaderSnapshot {
  readonly version: readonly number[];
  readonly data_size: number;
  readonly data_start: number;
  readonly target_count: number;
  readonly open_count: number;
  readonly flags: number;
  readonly event_nr: number;
  readonly dev: bigint;
  readonly name: string;
  readonly uuid: string;
}

/** What a {@link DmError} carries about the failed call. */
export interface DmErrorDetails {
  readonly command: CommandName;
  readonly errno: number;
  readonly device?: DeviceId | undefined;
  readonly request?: HeaderSnapshot | undefined;
  readonly reply?: HeaderSnapshot | undefined;
  /** device-mapper lines of the call's window that name its device (when /dev/kmsg is readable). */
  readonly kernelLog?: readonly string[] | undefined;
  /** The other device-mapper lines of the call's window: other devices, clients, processes, or no device named. */
  readonly unattributedKernelLog?: readonly string[] | undefined;
  /** A positive ioctl return value, which the interface also treats as failure. */
  readonly ret?: number | undefined;
  /** Extra context for the message (e.g. the table line of a failed load). */
  readonly hint?: string | undefined;
}

/** What each errno means for device-mapper, per command where it differs. */
function explain(command: CommandName, code: string, device: string): string {
  switch (code) {
    case 'ENXIO': return command === 'create' ? `could not allocate the device${device} (the requested minor is in use or out of range)` : `no such device${device}`;
    case 'EBUSY':
      if (command === 'create') return `name, uuid or minor already in use${device}`;
      if (command === 'rename') return `the new name or uuid is already in use${device}`;
      if (command === 'remove') return `device is open (in use)${device}; retry, or remove with deferred: true`;
      return `device busy${device}`;
    case 'EACCES': return 'permission denied: device-mapper needs CAP_SYS_ADMIN (run as root)';
    case 'EINVAL':
      if (command === 'load') return `the kernel rejected the table${device}`;
      if (command === 'message') return `the target rejected the message${device}`;
      return `invalid argument${device}`;
    case 'ENODEV': case 'ENOENT':
      // A table naming a missing device: ENODEV on Linux 6.1, ENOENT on 6.12.
      return command === 'load' ? `a device named in the table does not exist${device}` : `no such device${device}`;
    case 'ENOTTY': return 'the kernel does not know this command';
    case 'ENOMEM': return 'the kernel is out of memory';
    case 'EINTR': return 'interrupted';
    default: return `failed${device}`;
  }
}

function describeDevice(id: DeviceId | undefined): string {
  if (!id) return '';
  if (id.name !== undefined) return ` "${printableName(id.name)}"`;
  if (id.uuid !== undefined) return ` uuid "${printableName(id.uuid)}"`;
  if (id.dev !== undefined) return ` ${id.dev.major}:${id.dev.minor}`;
  return '';
}

/**
 * A device-mapper ioctl failed. `code` is the errno name (`ENXIO`, `EBUSY`, `EACCES`,
 * `EINVAL`, `ENOTTY`, …), `command` the client command, `device` how the device was
 * addressed; `request`/`reply` hold the headers and `kernelLog` what the kernel said about
 * this call's device. /dev/kmsg is shared by everyone: lines logged meanwhile that do not
 * name this device (another client's, another device's, or lines that name no device, such
 * as "ioctl: error adding target to table") are in `unattributedKernelLog` and are not part
 * of the message. Line formats: docs/kernel-facts.md, "Kernel log lines".
 */
export class DmError extends Error {
  override readonly name = 'DmError';
  readonly code: string;
  readonly errno: number;
  readonly command: CommandName;
  readonly device: DeviceId | undefined;
  readonly request: HeaderSnapshot | undefined;
  readonly reply: HeaderSnapshot | undefined;
  readonly kernelLog: readonly string[];
  readonly unattributedKernelLog: readonly string[];
  readonly ret: number | undefined;

  constructor(d: DmErrorDetails) {
    const code = d.errno > 0 ? errnoName(d.errno) : `RETURNED_${d.ret ?? 0}`;
    const what = d.errno > 0 ? explain(d.command, code, describeDevice(d.device)) : `ioctl returned ${d.ret}${describeDevice(d.device)}`;
    const log = d.kernelLog && d.kernelLog.length ? `\n  kernel: ${d.kernelLog.join('\n  kernel: ')}` : '';
    super(`${KERNEL_COMMAND_NAMES[d.command]} (${d.command}): ${code}: ${what}${d.hint ? ` — ${d.hint}` : ''}${log}`);
    this.code = code;
    this.errno = d.errno;
    this.command = d.command;
    this.device = d.device;
    this.request = d.request;
    this.reply = d.reply;
    this.kernelLog = d.kernelLog ?? [];
    this.unattributedKernelLog = d.unattributedKernelLog ?? [];
    this.ret = d.ret;
  }
}

/** The running kernel's device-mapper is too old for what was asked. */
export class DmUnsupportedError extends Error {
  override readonly name = 'DmUnsupportedError';
  readonly code = 'UNSUPPORTED';
  readonly feature: string;
  readonly required: Version;
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
  override readonly name = 'DmArgumentError';
  readonly argument: string;
  readonly expected: string;

  constructor(argument: string, expected: string, got: string, code: DmCodecErrorCode = 'INVALID_ARGUMENT') {
    super(code, `${argument} must be ${expected}, got ${got}`, argument);
    this.argument = argument;
    this.expected = expected;
  }
}

/** An operation was cancelled through its AbortSignal. */
export class DmAbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : 'The operation was aborted', { cause: reason });
  }
}

/**
 * A device as a multi-step operation knows it: what its first step returned (lib/identity.ts).
 * A name or uuid that is not UTF-8 also carries its bytes (`nameBytes`/`uuidBytes`), which
 * later steps address it by.
 */
export interface DeviceIdentity extends RawNames {
  readonly name: string;
  /** '' when the device has no uuid. */
  readonly uuid: string;
  readonly dev: { readonly major: number; readonly minor: number };
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
export class DmIdentityError extends Error {
  override readonly name = 'DmIdentityError';
  readonly code = 'DEVICE_REPLACED';
  readonly step: string;
  readonly expected: DeviceIdentity;
  readonly actual: Partial<DeviceIdentity>;
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
