/**
 * Verbs that read: version, targets, ls, info, table, status, deps, wait.
 * With no device argument info/table/status/deps run on every device (dmsetup's
 * `_process_all`: "No devices found" when there are none), and table/status/deps then
 * prefix each line with "name: " as dmsetup does for several devices.
 */
import type { DeviceId, DeviceInfo, ListedDevice, TargetLine, Version } from '../codec/index.js';
import { Ctx, intArg } from './context.js';
import { errorJson, formatError, TreeOptionError, UsageError } from './errors.js';
import { DeviceMapper, DeviceTree, type DeviceMapperInspector, type InfoResult, type SysfsInfoResult } from '../lib/index.js';
import { libraryVersion } from './package-info.js';
import { execArgs, execOn, type ExecRun } from './exec.js';
import { DEFAULT_INFO_FIELDS, infoColumns, openReport, reportRow } from './report/verbs.js';
import { drawTree, parseTreeOptions, sysfsLabels, utf8Locale, type AnyNode, type AnyTree, type TreeOptions } from './tree.js';
import {
  deviceName, depsLine, hideKeys, infoLong, lsLine, lsTargetLine, readAhead, targetLine, targetsLine,
  type ReportRow, type ShownInfo,
} from './format.js';
import {
  DepsOutputSchema, ExecOutputSchema, InfoOutputSchema, LsOutputSchema, StatusOutputSchema, TableOutputSchema, TargetsOutputSchema, VersionOutputSchema,
  WaitOutputSchema, ErrorOutputSchema, type DmctlTargetLine, type TreeNodeJson,
} from './schemas.js';

/** Sectors as decimal strings: exact for every u64 (a JSON number is exact only below 2^53). */
const lineJson = (t: TargetLine): DmctlTargetLine => ({ start: t.start.toString(), length: t.length.toString(), type: t.type, params: t.params });

/**
 * dmsetup's `_version`: the library line, then the kernel driver's. `dmctl --version` (and
 * `-V`) also answers where device-mapper is missing or closed to this user: the driver line
 * then says it is unavailable and why, and the exit status stays 0 (dmsetup exits 0 for
 * `--version` too); the `version` verb fails then, as dmsetup's does.
 */
export async function version(ctx: Ctx): Promise<number> {
  if (ctx.dry) { ctx.request('version', {}); return 0; }
  const library = libraryVersion();
  let v: Version;
  try {
    v = await (await ctx.dm()).version();
  } catch (e) {
    if (!ctx.versionOption) {
      if (!ctx.json) ctx.out(`Library version:   ${library}\n`);
      throw e;
    }
    const why = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    if (ctx.json) ctx.printJson(VersionOutputSchema, { library, driver: null, driverVersion: null, driverError: why });
    else ctx.out(`Library version:   ${library}\nDriver version:    unavailable (${why})\n`);
    return 0;
  }
  if (ctx.json) ctx.printJson(VersionOutputSchema, { library, driver: v.join('.'), driverVersion: [v[0], v[1], v[2]] });
  else ctx.out(`Library version:   ${library}\nDriver version:    ${v.join('.')}\n`);
  return 0;
}

export async function targets(ctx: Ctx): Promise<number> {
  if (ctx.dry) { ctx.request('listVersions', {}); return 0; }
  const list = await (await ctx.dm()).listVersions();
  if (ctx.json) ctx.printJson(TargetsOutputSchema, { targets: list.map((t) => ({ name: t.name, version: [t.version[0], t.version[1], t.version[2]] as [number, number, number] })) });
  else ctx.out(list.map(targetsLine).join(''));
  return 0;
}

/**
 * Every device in the kernel's order: dmsetup prints DM_LIST_DEVICES as it comes, which
 * before dm 4.45 is the name-hash walk, not the name order list() gives by default.
 */
async function all(ctx: Ctx): Promise<ListedDevice[]> {
  const r = await reader(ctx);
  // sysfs has no kernel list order: the inspector's is list()'s name order.
  return r instanceof DeviceMapper ? r.list({ order: 'kernel' }) : r.list();
}

/**
 * Where a read verb reads: the client, or sysfs when the control node refuses this user and
 * the verb asks nothing sysfs cannot answer or mark unknown: not `--inactive` (sysfs shows
 * only the live table's state), not `ls --target` (tables), not `info --json` (its schema
 * has no unknown values). docs/sysfs-inspection.md.
 */
function reader(ctx: Ctx): Promise<DeviceMapper | DeviceMapperInspector> {
  const ok = !ctx.opts.inactive && (ctx.verb === 'ls' ? ctx.opts.target === undefined : ctx.verb === 'info' ? !ctx.json : ctx.verb === 'deps');
  return ctx.reader(ok);
}

/** `-o` with --tree: dmsetup's tree options (cli/tree.ts). */
function treeOptions(ctx: Ctx): TreeOptions {
  try {
    return parseTreeOptions(ctx.opts.options, utf8Locale(ctx.io.env), ctx.io.columns);
  } catch (e) {
    if (e instanceof TreeOptionError) throw new UsageError(`${e.message}\nCouldn't process command line.`);
    throw e;
  }
}

function devNameType(ctx: Ctx): 'devno' | 'devname' | 'blkdevname' {
  const o = ctx.opts.options;
  if (o === undefined || o === 'devno') return 'devno';
  if (o === 'devname' || o === 'blkdevname') return o;
  throw new UsageError(`Invalid options: ${JSON.stringify(o)} (devno, devname or blkdevname)`);
}

export async function ls(ctx: Ctx): Promise<number> {
  if (ctx.dry) { ctx.request('listDevices', { withUuid: true }); return 0; }
  const src = await reader(ctx);
  const list = await all(ctx);
  const json = (d: ListedDevice) => ({
    name: ctx.displayName(d), major: d.dev.major, minor: d.dev.minor, uuid: d.uuid ? ctx.display(d.uuid, d.uuidBytes) : null, eventNr: d.eventNr ?? null,
  });
  if (ctx.opts.target !== undefined) {
    // dmsetup: `_status` in ls mode — devices with a live target of that type, "name\t(maj, min)".
    const hits: ListedDevice[] = [];
    const dm = src as DeviceMapper; // reader() never falls back for --target
    for (const d of list) {
      const t = await dm.table(idOf(d)).catch(() => undefined);
      if (t?.targets.some((x) => x.type === ctx.opts.target)) hits.push(d);
    }
    if (ctx.json) ctx.printJson(LsOutputSchema, { devices: hits.map(json) });
    else if (list.length === 0) ctx.out('No devices found\n');
    else ctx.out(hits.map((d) => lsTargetLine(ctx.displayName(d), d.dev)).join(''));
    return 0;
  }
  if (ctx.opts.tree) {
    // dmsetup parses the tree options first: a bad one fails before anything is listed.
    const options = ctx.json ? undefined : treeOptions(ctx);
    const tree: AnyTree = src instanceof DeviceMapper ? DeviceTree.readSync(src, { sysfs: ctx.io.sysfs }) : await src.tree();
    if (ctx.json) ctx.printJson(LsOutputSchema, { devices: list.map(json), tree: treeJson(ctx, tree) });
    else ctx.out(list.length === 0 ? 'No devices found\n' : drawTree(tree, options!, sysfsLabels(ctx.io.sysfs, (n) => ctx.displayName(n.info!))));
    return 0;
  }
  if (ctx.json) { ctx.printJson(LsOutputSchema, { devices: list.map(json) }); return 0; }
  if (list.length === 0) { ctx.out('No devices found\n'); return 0; }
  const type = devNameType(ctx);
  let out = '';
  for (const d of list) {
    const n = type === 'devno' ? undefined : deviceName(ctx.io.sysfs, d.dev, type === 'blkdevname', d.dev.major);
    out += lsLine(ctx.displayName(d), d.dev, n);
  }
  ctx.out(out);
  return 0;
}

/** The --json form of the tree: the top-level devices, each with what it uses below it. */
function treeJson(ctx: Ctx, tree: AnyTree): TreeNodeJson[] {
  const node = (n: AnyNode, depth: number): TreeNodeJson => ({
    name: n.kind === 'dm' && n.info ? ctx.displayName(n.info) : null, major: n.dev.major, minor: n.dev.minor,
    children: depth > 100 ? [] : n.children.map((c) => node(c, depth + 1)),
  });
  return (tree.roots as readonly AnyNode[]).map((n) => node(n, 0));
}

/** The devices a multi-device verb runs on: the arguments, the -u/-j/-m device, or all. */
async function targetsOf(ctx: Ctx): Promise<{ ids: DeviceId[]; multiple: boolean; none: boolean }> {
  if (ctx.args.length > 0) return { ids: ctx.args.map((a) => ctx.deviceId(a)), multiple: ctx.args.length > 1 || ctx.selecting, none: false };
  if (ctx.byOption) return { ids: [ctx.deviceId(undefined)], multiple: false, none: false };
  if (ctx.dry) { ctx.request('listDevices', { withUuid: true }); return { ids: [], multiple: true, none: false }; }
  const list = await all(ctx);
  return { ids: list.map(idOf), multiple: true, none: list.length === 0 };
}

/** How to address a listed device: by the kernel's bytes when its name is not UTF-8. */
function idOf(d: ListedDevice): DeviceId {
  return { name: d.nameBytes ?? d.name };
}

function describe(ctx: Ctx, id: DeviceId): string {
  return id.name !== undefined ? `name "${ctx.displayKernel(id.name)}"` : id.uuid !== undefined ? `uuid "${ctx.displayKernel(id.uuid)}"` : `device ${id.dev.major}:${id.dev.minor}`;
}

/**
 * A verb over several devices goes on past a device that fails (it vanished since the
 * list, or the kernel refused one query), as dmsetup's `_process_all` does: the error is
 * reported, the others are printed, and the exit status is 1.
 */
function reportDeviceError(ctx: Ctx, e: unknown): void {
  if (ctx.json) ctx.io.stderr(JSON.stringify(ErrorOutputSchema.parse(errorJson(e, ctx.verb)), null, 2) + '\n');
  else ctx.io.stderr(formatError(e, ctx.verb));
}

export async function info(ctx: Ctx): Promise<number> {
  // dmsetup sets the report up before it asks the kernel anything: a bad -o/-O/-S fails first.
  const columns = ctx.opts.columns || ctx.opts.C ? openReport(ctx, DEFAULT_INFO_FIELDS) : undefined;
  if (typeof columns === 'number') return columns;
  const { ids, none } = await targetsOf(ctx);
  if (ctx.dry) { for (const id of ids) ctx.request('info', { id, inactive: ctx.opts.inactive }); return 0; }
  if (none && !ctx.json) { ctx.out('No devices found\n'); return 0; }
  const src = await reader(ctx);
  const infos: ShownInfo[] = [];
  let rc = 0;
  // One batch for every device (DeviceMapper.infoMany); the first failure ends the verb, as before.
  const results: { ok: true; value: InfoResult | SysfsInfoResult }[] | Awaited<ReturnType<DeviceMapper['infoMany']>> = src instanceof DeviceMapper
    ? await src.infoMany(ids, { inactive: ctx.opts.inactive })
    : await Promise.all(ids.map(async (id) => ({ ok: true as const, value: await src.info(id) })));
  for (const [i, id] of ids.entries()) {
    const settled = results[i]!;
    if (!settled.ok) throw settled.error;
    const r = settled.value;
    if (!r.exists) {
      ctx.io.stderr(`Device does not exist.${ctx.json ? '' : `  (${describe(ctx, id)}; try: dmctl ls — names are case-sensitive)`}\n`);
      rc = 1;
      continue;
    }
    infos.push(r);
  }
  if (columns) {
    const devices = infos.map((d) => ({ id: idOf({ ...d, nameBytes: d.nameBytes }), row: reportRow(ctx, d), kernelUuid: d.uuid ?? '' }));
    const status = await infoColumns(ctx, columns, src, devices, () => all(ctx));
    return status !== 0 ? status : rc;
  } else if (ctx.json) {
    ctx.printJson(InfoOutputSchema, { devices: (infos as DeviceInfo[]).map((d) => ctx.infoJson(d)) }); // reader() never falls back for --json
  } else {
    ctx.out(infos.map((d) => infoLong(ctx.displayName(d), { ...d, uuid: d.uuid ? ctx.displayUuid(d) : '' }, readAhead(ctx.io.sysfs, d.dev))).join(''));
  }
  return rc;
}

async function lines(ctx: Ctx, kind: 'table' | 'status'): Promise<number> {
  const { ids, multiple, none } = await targetsOf(ctx);
  if (ctx.dry) {
    for (const id of ids) {
      if (kind === 'table') ctx.request('status', { id, table: true, inactive: ctx.opts.inactive, secure: true });
      else ctx.request('status', { id, inactive: ctx.opts.inactive, noflush: ctx.opts.noflush });
    }
    return 0;
  }
  if (none && !ctx.json) { ctx.out('No devices found\n'); return 0; }
  const words = ctx.opts.exec === undefined ? undefined : execArgs(ctx.opts.exec);
  const dm = await ctx.dm();
  const devices: { name: string; targets: DmctlTargetLine[] }[] = [];
  const ran: ExecRun[] = [];
  let out = '';
  let rc = 0;
  // status: one batch for every device (DeviceMapper.statusMany), each failing alone.
  const batch = kind === 'status' ? await dm.statusMany(ids, { inactive: ctx.opts.inactive, noflush: ctx.opts.noflush }) : undefined;
  for (const [i, id] of ids.entries()) {
    let r;
    try {
      if (batch) {
        const settled = batch[i]!;
        if (!settled.ok) throw settled.error;
        r = settled.value;
      } else {
        r = await dm.table(id, { inactive: ctx.opts.inactive, showKeys: true }); // hidden below, exactly as dmsetup does
      }
    } catch (e) {
      if (!multiple) throw e;
      reportDeviceError(ctx, e);
      rc = 1;
      continue;
    }
    const name = ctx.displayName(r.device);
    let ts = r.targets.filter((t) => ctx.opts.target === undefined || t.type === ctx.opts.target);
    if (kind === 'table' && !ctx.opts.showkeys) ts = ts.map(hideKeys);
    devices.push({ name, targets: ts.map(lineJson) });
    const text = deviceLines(ctx, r, name, ts, multiple);
    if (words === undefined) { out += text; continue; }
    // --exec: dmsetup prints the lines only under -v; the command runs for a device with a
    // (matching) line, after them.
    if (text === '') continue;
    if (ctx.verbose && !ctx.json) ctx.out(text);
    ran.push(await execOn(ctx, dm, words, r.device.name, name));
  }
  if (ctx.json && words !== undefined) ctx.printJson(ExecOutputSchema, { devices: ran });
  else if (ctx.json) ctx.printJson(kind === 'table' ? TableOutputSchema : StatusOutputSchema, { devices });
  else ctx.out(out);
  return rc;
}

/**
 * One device's `table`/`status`/`measure` text as dmsetup's `_status` prints it: under `-v`
 * the device's info block (`_display_info_long`) before its first line, no `name: ` prefix,
 * and an empty line after it when several devices are shown; otherwise `name: ` before each
 * line of several devices. A device without a table prints one empty line (a prefixed one),
 * unless `--target` is given: then only matching lines print, and a device without one prints
 * nothing at all, not even its info block.
 */
export function deviceLines(ctx: Ctx, r: { device: DeviceInfo; targets: readonly TargetLine[] }, name: string, shown: readonly TargetLine[], multiple: boolean): string {
  const lines = r.targets.length === 0 && ctx.opts.target === undefined ? [''] : shown.map(targetLine);
  if (lines.length === 0) return '';
  const verbose = ctx.verbose > 0;
  const prefix = multiple && !verbose ? `${name}: ` : '';
  let text = verbose ? infoLong(name, { ...r.device, uuid: r.device.uuid ? ctx.displayUuid(r.device) : '' }, readAhead(ctx.io.sysfs, r.device.dev)) : '';
  for (const l of lines) text += `${prefix}${l}\n`;
  return multiple && verbose ? `${text}\n` : text;
}

export const table = (ctx: Ctx) => lines(ctx, 'table');
export const status = (ctx: Ctx) => lines(ctx, 'status');

export async function deps(ctx: Ctx): Promise<number> {
  const type = devNameType(ctx);
  const { ids, multiple, none } = await targetsOf(ctx);
  if (ctx.dry) { for (const id of ids) ctx.request('deps', { id, inactive: ctx.opts.inactive }); return 0; }
  if (none && !ctx.json) { ctx.out('No devices found\n'); return 0; }
  const src = await reader(ctx);
  const devices: { name: string; deps: { major: number; minor: number; name: string | null }[] }[] = [];
  let out = '';
  let rc = 0;
  for (const id of ids) {
    const d = src instanceof DeviceMapper ? await src.info(id, { inactive: ctx.opts.inactive }) : await src.info(id);
    if (!d.exists) {
      // dmsetup prints this one on stdout and succeeds.
      out += 'Device does not exist.\n';
      continue;
    }
    let list;
    try {
      list = src instanceof DeviceMapper ? await src.deps(id, { inactive: ctx.opts.inactive }) : await src.deps(id);
    } catch (e) {
      if (!multiple) throw e;
      reportDeviceError(ctx, e);
      rc = 1;
      continue;
    }
    const names = list.map((x) => (type === 'devno' ? undefined : deviceName(ctx.io.sysfs, x, type === 'blkdevname', d.dev.major)));
    const name = ctx.displayName(d);
    devices.push({ name, deps: list.map((x, i) => ({ major: x.major, minor: x.minor, name: names[i] ?? deviceName(ctx.io.sysfs, x, x.major !== d.dev.major, d.dev.major) ?? null })) });
    // -v: dmsetup's _deps prints the device's info block first, then no `name: ` prefix, and an
    // empty line after each of several devices.
    if (ctx.verbose) out += infoLong(name, { ...d, uuid: d.uuid ? ctx.displayUuid(d) : '' }, readAhead(ctx.io.sysfs, d.dev));
    out += `${multiple && !ctx.verbose ? `${name}: ` : ''}${depsLine(list, names)}${multiple && ctx.verbose ? '\n' : ''}`;
  }
  if (ctx.json) ctx.printJson(DepsOutputSchema, { devices });
  else ctx.out(out);
  return rc;
}

/** `wait <device> [<event_nr>]`: returns once the device's event number differs from event_nr (default 0, as dmsetup). */
export async function wait(ctx: Ctx): Promise<number> {
  const [name, nr] = ctx.byOption ? [undefined, ctx.args[0]] : [ctx.args[0], ctx.args[1]];
  if (!ctx.byOption && name === undefined) throw new UsageError('No device specified.');
  const id = ctx.deviceId(name);
  const eventNr = nr === undefined ? 0 : intArg(nr, 'event_nr');
  if (ctx.dry) {
    ctx.request('info', { id });
    ctx.request('wait', { id, eventNr, noflush: ctx.opts.noflush });
    return 0;
  }
  const r = await (await ctx.dm()).wait(id, { eventNr, noflush: ctx.opts.noflush });
  if (ctx.json) ctx.printJson(WaitOutputSchema, { name: ctx.displayName(r.device), eventNr: r.device.eventNr, targets: r.targets.map(lineJson) });
  else if (ctx.verbose) ctx.out(infoLong(ctx.displayName(r.device), r.device, readAhead(ctx.io.sysfs, r.device.dev)));
  return 0;
}
