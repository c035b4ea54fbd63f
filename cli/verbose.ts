/**
 * `-vv` and `-vvv`: the lines dmsetup's libdevmapper prints at those levels for each ioctl
 * (libdm-iface.c `_do_dm_ioctl`'s `log_debug_activation("dm %s %s%s %s%s%s …")`), built from
 * the package's `devicemapper:ioctl` channel. `-vvv` adds dmsetup's `Timestamp:` lines
 * (dmsetup.c `_task_run`). dmsetup writes them on stdout (libdm's default logger sends debug
 * lines there; measured with dmsetup 1.02.185 on Debian 12): so does dmctl, except with
 * `--json`, whose stdout is one document, where they go to stderr. What differs and why:
 * docs/debugging.md.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  DM_DEFERRED_REMOVE, DM_IMA_MEASUREMENT_FLAG, DM_NOFLUSH_FLAG, DM_QUERY_INACTIVE_TABLE_FLAG, DM_READONLY_FLAG, DM_SECURE_DATA_FLAG,
  DM_SKIP_BDGET_FLAG, DM_SKIP_LOCKFS_FLAG, DM_UUID_FLAG,
} from '../codec/index.js';
import { IOCTL_CHANNEL, type IoctlTraceMessage } from '../lib/index.js';

/** C's `%.0d`: nothing for 0. */
const dot0 = (n: number | bigint): string => (n === 0 || n === 0n ? '' : String(n));

/**
 * One ioctl as libdevmapper logs it before the call:
 * `dm <task> [UUID ]<name> <uuid>[ <newname>] [(<major>:<minor>) ][ <flags> ] <sector> <message> [<data_size>] (*<n>)`.
 * `<n>` is the attempt at this buffer size (libdm: the remove retry count; both start at 1).
 */
export function dmsetupIoctlLine(m: IoctlTraceMessage): string {
  const f = m.flags;
  const newUuid = m.command === 'rename' && (f & DM_UUID_FLAG) !== 0;
  const major = m.dev && !m.name && !m.uuid ? m.dev.major : 0;
  const minor = m.dev && !m.name && !m.uuid ? m.dev.minor : 0;
  const bracket = [
    f & DM_SKIP_BDGET_FLAG ? 'noopencount ' : 'opencount ',
    f & DM_NOFLUSH_FLAG ? 'noflush ' : 'flush ',
    f & DM_READONLY_FLAG ? 'readonly ' : '',
    f & DM_SKIP_LOCKFS_FLAG ? 'skiplockfs ' : '',
    f & DM_DEFERRED_REMOVE ? 'deferredremove ' : '',
    f & DM_SECURE_DATA_FLAG ? 'securedata ' : '',
    f & DM_IMA_MEASUREMENT_FLAG ? 'ima_measurement ' : '',
    f & DM_QUERY_INACTIVE_TABLE_FLAG ? 'inactive ' : '',
  ].join('');
  return `dm ${m.operation} ${newUuid ? 'UUID ' : ''}${m.name} ${m.uuid}${m.newName !== undefined ? ' ' : ''}${m.newName ?? ''} `
    + `${major > 0 ? '(' : ''}${dot0(major)}${major > 0 ? ':' : ''}${dot0(minor)}${major > 0 && minor === 0 ? '0' : ''}${major > 0 ? ') ' : ''}`
    + `[ ${bracket}] ${dot0(m.sector ?? 0n)} ${m.message ?? ''} [${m.dataSizeBytes}] (*${m.attempt})`;
}

/** dmsetup's `Timestamp: %7llu.%09llu seconds`. */
export function timestampLine(elapsedNs: bigint): string {
  const s = elapsedNs / 1_000_000_000n;
  const ns = elapsedNs % 1_000_000_000n;
  return `Timestamp: ${String(s).padStart(7)}.${String(ns).padStart(9, '0')} seconds`;
}

/**
 * Prints dmsetup's lines for `level` (`-vv` = 2, `-vvv` = 3 and more) through `write` until
 * the returned function is called. Below 2: nothing (`-v` is the verbs' own extra output).
 */
export function traceIoctls(level: number, write: (text: string) => void, now: () => bigint = process.hrtime.bigint): () => void {
  if (level < 2) return () => {};
  const start = now();
  if (level >= 3) write(`${timestampLine(0n)}\n`);
  const on = (message: unknown) => {
    const m = message as IoctlTraceMessage;
    write(`${dmsetupIoctlLine(m)}\n`);
    // dmsetup stamps the verb's own tasks (_task_run), not its version check.
    if (level >= 3 && m.command !== 'version') write(`${timestampLine(now() - start)}\n`);
  };
  subscribe(IOCTL_CHANNEL, on);
  return () => unsubscribe(IOCTL_CHANNEL, on);
}
