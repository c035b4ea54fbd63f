/**
 * The client's errors. One class for every failed ioctl (`DmError`), one for features the
 * running kernel lacks (`DmUnsupportedError`); codec and ffi errors are re-exported so a
 * caller can import every error type from the package root.
 */
import { errnoName } from '../ffi/errors.js';
import { KERNEL_COMMAND_NAMES, printableName, type CommandName, type DeviceId, type Version } from '../codec/index.js';

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

export interface DmErrorDetails {
  readonly command: CommandName;
  readonly errno: number;
  readonly device?: DeviceId | undefined;
  readonly request?: HeaderSnapshot | undefined;
  readonly reply?: HeaderSnapshot | undefined;
  /** device-mapper lines the kernel logged during the call (when /dev/kmsg is readable). */
  readonly kernelLog?: readonly string[] | undefined;
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
 * addressed; `request`/`reply` hold the headers and `kernelLog` what the kernel said.
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

/** An operation was cancelled through its AbortSignal. */
export class DmAbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : 'The operation was aborted', { cause: reason });
  }
}
