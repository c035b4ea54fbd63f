/**
 * dmsetup's text formats, byte for byte (libdm/dm-tools/dmsetup.c of libdevmapper
 * 1.02.185, Debian 12): `_display_info_long`, the `info -c` report, `_display_name`
 * (ls), `_display_dev` (ls --target), target lines of table/status, `_deps`, `_targets`,
 * `_version`.
 */
import * as fs from 'node:fs';
import type { DeviceInfo, DevNo, TargetLine, TargetVersion } from '../codec/index.js';
import { redactTableParams, type SysfsDeviceInfo } from '../lib/index.js';

/**
 * A device as dmctl prints it: the ioctl API's info, or sysfs's when the control node refused
 * this user (cli/sysfs-fallback.ts); a field sysfs does not know prints as `unknown` (`?` in
 * the one-character attr column).
 */
export type ShownInfo = DeviceInfo | SysfsDeviceInfo;
const UNKNOWN = 'unknown';
const shown = (v: number | undefined) => (v === undefined ? UNKNOWN : String(v));
import { ReportFieldError } from './errors.js';

/** `_display_info_long`, including its trailing empty line. `readAhead` undefined = line omitted (as when libdm cannot read it). */
export function infoLong(name: string, d: ShownInfo, readAhead: number | undefined): string {
  const f = d.flags;
  let s = `Name:              ${name}\n`;
  s += `State:             ${f.suspended ? 'SUSPENDED' : 'ACTIVE'}${f.readOnly ? ' (READ-ONLY)' : ''}${f.deferredRemove ? ' (DEFERRED REMOVE)' : ''}\n`;
  if (readAhead !== undefined) s += `Read Ahead:        ${readAhead}\n`;
  if (f.inactivePresent === undefined) s += `Tables present:    ${f.activePresent ? 'LIVE' : 'no LIVE'} (INACTIVE ${UNKNOWN})\n`;
  else if (!f.activePresent && !f.inactivePresent) s += 'Tables present:    None\n';
  else s += `Tables present:    ${f.activePresent ? 'LIVE' : ''}${f.activePresent && f.inactivePresent ? ' & ' : ''}${f.inactivePresent ? 'INACTIVE' : ''}\n`;
  if (d.openCount !== -1) s += `Open count:        ${shown(d.openCount)}\n`;
  s += `Event number:      ${shown(d.eventNr)}\n`;
  s += `Major, minor:      ${d.dev.major}, ${d.dev.minor}\n`;
  s += `Number of targets: ${shown(d.targetCount)}\n`;
  if (d.uuid) s += `UUID: ${d.uuid}\n`;
  return s + '\n';
}

/** The `attr` column: (L)ive, (I)nactive, (s)uspended, (r)ead-only, read-(w)rite. */
export function attr(d: ShownInfo): string {
  const f = d.flags;
  return `${f.activePresent ? 'L' : '-'}${f.inactivePresent === undefined ? '?' : f.inactivePresent ? 'I' : '-'}${f.suspended ? 's' : '-'}${f.readOnly ? 'r' : 'w'}`;
}

interface Column { heading: string; width: number; right: boolean; value: (r: ReportRow) => string }

export interface ReportRow { name: string; uuid: string; mangledName: string; info: ShownInfo; readAhead: number | undefined; blkdevname: string | undefined }

function unavailable(what: string, r: ReportRow): never {
  throw new ReportFieldError(`Cannot get the ${what} of ${r.name} (${r.info.dev.major}:${r.info.dev.minor}): it has no block device yet (no table loaded)`);
}

/** The report fields dmctl supports (a subset of dmsetup's `-o` fields). */
export const REPORT_FIELDS: Record<string, Column> = {
  name: { heading: 'Name', width: 16, right: false, value: (r) => r.name },
  mangled_name: { heading: 'MangledName', width: 16, right: false, value: (r) => r.mangledName },
  unmangled_name: { heading: 'UnmangledName', width: 16, right: false, value: (r) => r.name },
  uuid: { heading: 'UUID', width: 32, right: false, value: (r) => r.uuid },
  read_ahead: { heading: 'RAhead', width: 6, right: true, value: (r) => String(r.readAhead ?? unavailable('read ahead', r)) },
  blkdevname: { heading: 'BlkDevName', width: 16, right: false, value: (r) => r.blkdevname ?? unavailable('block device name', r) },
  attr: { heading: 'Stat', width: 4, right: false, value: (r) => attr(r.info) },
  tables_loaded: {
    heading: 'Tables', width: 6, right: false,
    value: (r) => (r.info.flags.inactivePresent === undefined ? (r.info.flags.activePresent ? 'Live+?' : '?') : r.info.flags.activePresent ? (r.info.flags.inactivePresent ? 'Both' : 'Live') : r.info.flags.inactivePresent ? 'Inactive' : 'None'),
  },
  suspended: { heading: 'Suspended', width: 9, right: false, value: (r) => (r.info.flags.suspended ? 'Suspended' : 'Active') },
  readonly: { heading: 'Read-only', width: 9, right: false, value: (r) => (r.info.flags.readOnly ? 'Read-only' : 'Writeable') },
  devno: { heading: 'DevNo', width: 5, right: false, value: (r) => `${r.info.dev.major}:${r.info.dev.minor}` },
  major: { heading: 'Maj', width: 3, right: true, value: (r) => String(r.info.dev.major) },
  minor: { heading: 'Min', width: 3, right: true, value: (r) => String(r.info.dev.minor) },
  open: { heading: 'Open', width: 4, right: true, value: (r) => shown(r.info.openCount) },
  segments: { heading: 'Targ', width: 4, right: true, value: (r) => shown(r.info.targetCount) },
  events: { heading: 'Event', width: 6, right: true, value: (r) => shown(r.info.eventNr) },
};

export const DEFAULT_REPORT_FIELDS = 'name,major,minor,attr,open,segments,events,uuid';

/** dm_report output: aligned columns (width = max(field width, longest value)), or `:`-separated with --noheadings. */
export function report(rows: readonly ReportRow[], fieldList: string, options: { headings: boolean }): string {
  const names = fieldList.replace(/^\+/, `${DEFAULT_REPORT_FIELDS},`).split(',').map((s) => s.trim()).filter(Boolean);
  const cols = names.map((n) => {
    // Own properties only: `-o constructor` must not find Object.prototype.constructor.
    const c = Object.hasOwn(REPORT_FIELDS, n) ? REPORT_FIELDS[n] : undefined;
    if (!c) throw new ReportFieldError(`Unrecognised field: ${n} (supported: ${Object.keys(REPORT_FIELDS).join(', ')})`);
    return c;
  });
  const cells = rows.map((r) => cols.map((c) => c.value(r)));
  if (!options.headings) return cells.map((row) => row.join(':') + '\n').join('');
  const widths = cols.map((c, i) => Math.max(c.width, ...cells.map((row) => row[i]!.length)));
  const pad = (s: string, w: number, right: boolean) => (right ? s.padStart(w) : s.padEnd(w));
  let out = cols.map((c, i) => pad(c.heading.slice(0, widths[i]), widths[i]!, false)).join(' ') + '\n';
  for (const row of cells) out += row.map((v, i) => pad(v, widths[i]!, cols[i]!.right)).join(' ') + '\n';
  return out;
}

/** `_display_name`: "name\t(major:minor)", or "name\t(devname)" with -o blkdevname/devname. */
export function lsLine(name: string, dev: { major: number; minor: number }, devName?: string): string {
  return devName !== undefined ? `${name}\t(${devName})\n` : `${name}\t(${dev.major}:${dev.minor})\n`;
}

/** `_display_dev` (ls --target): "name\t(major, minor)". */
export function lsTargetLine(name: string, dev: { major: number; minor: number }): string {
  return `${name}\t(${dev.major}, ${dev.minor})\n`;
}

/** One table/status line: "start length type params" (dmsetup prints the space before empty params too). */
export function targetLine(t: TargetLine): string {
  return `${t.start} ${t.length} ${t.type} ${t.params}`;
}

/** `_deps`: "N dependencies\t: (maj, min) …" or " (name)" entries. */
export function depsLine(deps: readonly DevNo[], names: readonly (string | undefined)[]): string {
  return `${deps.length} dependencies\t:${deps.map((d, i) => (names[i] !== undefined ? ` (${names[i]})` : ` (${d.major}, ${d.minor})`)).join('')}\n`;
}

/** `_targets`: "%-16s v%d.%d.%d". */
export function targetsLine(t: TargetVersion): string {
  return `${t.name.padEnd(16)} v${t.version.join('.')}\n`;
}

/** dmsetup's crypt/integrity key hiding for `table` without --showkeys (the one rule, codec/secrets.ts). */
export function hideKeys(t: TargetLine): TargetLine {
  const params = redactTableParams(t.type, t.params);
  return params === t.params ? t : { ...t, params };
}

/** libdm's read-ahead: /sys/dev/block/M:m/bdi/read_ahead_kb × 2 (sectors), undefined when unreadable. */
export function readAhead(sysfs: string, dev: { major: number; minor: number }): number | undefined {
  try {
    const kb = parseInt(fs.readFileSync(`${sysfs}/dev/block/${dev.major}:${dev.minor}/bdi/read_ahead_kb`, 'utf8'), 10);
    return Number.isFinite(kb) ? kb * 2 : undefined;
  } catch {
    return undefined;
  }
}

/** libdm's dm_device_get_name(): a dm device's name from sysfs, or the kernel name (dm-0, loop0). */
export function deviceName(sysfs: string, dev: { major: number; minor: number }, kernelName: boolean, dmMajor: number): string | undefined {
  const base = `${sysfs}/dev/block/${dev.major}:${dev.minor}`;
  if (!kernelName && dev.major === dmMajor) {
    try { return fs.readFileSync(`${base}/dm/name`, 'utf8').replace(/\n$/, ''); } catch { /* fall through */ }
  }
  try {
    const link = fs.readlinkSync(base);
    return link.slice(link.lastIndexOf('/') + 1);
  } catch {
    return undefined;
  }
}
