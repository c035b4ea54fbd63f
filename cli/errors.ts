/**
 * dmctl's errors in one place: its own error classes (a usage error, a name that cannot be
 * mangled, a report field, a report or selection dmsetup refuses, a tree option, a cookie value), and every error as a person reads
 * it: which verb and device, what the kernel said (the `device-mapper:` lines the client
 * attaches), and what to try. Its own codes are never an errno name (docs/conventions.md).
 */
import { DmCodecError, printableName } from '../codec/index.js';
import { DmAbortError, DmBaseError, DmError, DmPermissionError, DmPlatformError, DmUnavailableError, DmUnsupportedError, explainErrno } from '../lib/index.js';
import { packageInfo } from './package-info.js';
import { DMCTL_JSON_VERSION, type DmctlErrorOutput } from './schemas.js';

/** A usage error: exit 1 with the verb's usage line, like dmsetup. */
export class UsageError extends DmBaseError<'USAGE'> {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

/** A name or uuid that the chosen `--manglename` mode cannot send. */
export class ManglingError extends DmBaseError<'MANGLING'> {
  override readonly name = 'ManglingError';
  readonly code = 'MANGLING';
}

/**
 * A report field that is unknown, or that libdm cannot fill (a device without a table has
 * no block device in sysfs yet): dmsetup then fails the whole report (exit 1, nothing
 * printed), and so does dmctl.
 */
export class ReportFieldError extends DmBaseError<'REPORT_FIELD'> {
  override readonly name = 'ReportFieldError';
  readonly code = 'REPORT_FIELD';
}

/** A `-o` word dmsetup does not know: its message ("Tree options not recognised: <rest>."). */
export class TreeOptionError extends DmBaseError<'TREE_OPTION'> {
  override readonly name = 'TreeOptionError';
  readonly code = 'TREE_OPTION';
}

/**
 * A report dmsetup would refuse to set up (an unknown `-o`/`-O` field, a bad `-S`), or a row
 * it cannot fill: `stderr` is dmsetup's text for it, printed as it is (cli/report/).
 */
export class ReportError extends DmBaseError<'REPORT'> {
  override readonly name = 'ReportError';
  readonly code = 'REPORT';
  constructor(readonly stderr: string, readonly exitCode = 1) { super(stderr.trimEnd().split('\n').pop() ?? stderr); }
}

/** A selection (`-S`) libdm's parser refuses: `stderr` holds its lines, the field or operator help included. */
export class SelectionSyntaxError extends DmBaseError<'SELECTION_SYNTAX'> {
  override readonly name = 'SelectionSyntaxError';
  readonly code = 'SELECTION_SYNTAX';
  constructor(readonly stderr: string) { super(stderr.trimEnd().split('\n').pop() ?? stderr); }
}

/** A cookie argument dmsetup would refuse: its message on stderr, exit 1, as dmsetup. */
export class CookieValueError extends DmBaseError<'INCORRECT_COOKIE'> {
  override readonly name = 'CookieValueError';
  readonly code = 'INCORRECT_COOKIE';
  constructor() { super('Incorrect cookie value.'); }
}

function deviceOf(e: DmError): string | null {
  const d = e.device;
  if (!d) return null;
  const n = d.name ?? d.uuid;
  return n !== undefined ? printableName(n) : d.dev ? `${d.dev.major}:${d.dev.minor}` : null;
}

/**
 * What to try next, per errno and command (ERRNO_EXPLANATIONS), or per error class.
 * `checkout`: dmctl runs from this repository's checkout (package-info.ts), the one place
 * where `npm run vm` exists; an installed package is never told to run it.
 */
export function hintFor(e: unknown, verb: string, checkout: boolean = packageInfo().checkout): string | null {
  // The per-errno text is the library's table (lib/errors.ts), shared with DmError's messages.
  if (e instanceof DmError) return explainErrno(e.command, e.code)?.tryNext ?? null;
  if (e instanceof DmUnsupportedError) return 'this kernel\'s device-mapper is too old for that option; leave it out';
  if (e instanceof DmCodecError && verb === 'decode') return 'decode reads bytes in hex: a reply (dmctl decode <command> <hex>, e.g. from strace -X raw -s 65536) or dmctl\'s own --dry-run --hex output, whole';
  if (e instanceof DmCodecError) return 'nothing was sent to the kernel: fix the argument named above';
  // By class: `code` is the open's errno (ENOENT, EACCES, …) when one caused the error.
  if (e instanceof DmUnavailableError) {
    return 'load the device-mapper module (sudo modprobe dm_mod), which makes /dev/mapper/control; in a container, pass /dev/mapper/control in'
      + (checkout ? `; or, in this repository, run it in the test VM: npm run vm -- npx dmctl ${verb}` : '');
  }
  if (e instanceof DmPermissionError) return `run as root or with CAP_SYS_ADMIN: device-mapper refuses everyone else (sudo dmctl ${verb} …, or sudo npx dmctl ${verb} … in a project)`;
  if (e instanceof DmPlatformError) return 'device-mapper exists only on Linux';
  if (e instanceof UsageError) return `see "dmctl help ${verb}"`;
  return null;
}

/** The `--json` error document (ErrorOutputSchema); `checkout` as for {@link hintFor}. */
export function errorJson(e: unknown, verb: string, checkout?: boolean): DmctlErrorOutput {
  const err = e as { code?: unknown; message?: unknown };
  return {
    schemaVersion: DMCTL_JSON_VERSION,
    error: {
      code: typeof err.code === 'string' ? err.code : e instanceof Error ? e.name : 'ERROR',
      message: e instanceof Error ? e.message.split('\n  kernel: ')[0]! : String(e),
      command: e instanceof DmError ? e.command : null,
      device: e instanceof DmError ? deviceOf(e) : null,
      kernelLog: e instanceof DmError ? [...e.kernelLog] : [],
      hint: hintFor(e, verb, checkout),
    },
  };
}

/** The human text: "dmctl <verb>: <message>", the kernel's lines, then "try: …". */
export function formatError(e: unknown, verb: string, checkout?: boolean): string {
  if (e instanceof DmAbortError) return `dmctl ${verb}: interrupted\n`;
  const msg = e instanceof Error ? e.message : String(e);
  let s = `dmctl ${verb}: ${msg}\n`;
  if (e instanceof DmError) {
    // Lines logged meanwhile that do not name this device: shown, but marked as such.
    for (const line of e.unattributedKernelLog) s += `  kernel, not attributed to this call: ${line}\n`;
    if (e.kernelLog.length === 0 && e.unattributedKernelLog.length === 0 && e.errno > 0) {
      s += '  (no kernel log lines: /dev/kmsg was not readable or the kernel logged nothing)\n';
    }
  }
  if (e instanceof ManglingError) s += '  (names outside [0-9A-Za-z#+-.:=@_] are sent as \\xNN; --manglename none sends them as given)\n';
  const hint = hintFor(e, verb, checkout);
  if (hint) s += `  try: ${hint}\n`;
  return s;
}
