/**
 * The commands that report through libdm's engine (cli/report/render.ts): `info -c`
 * (`-C`, `--columns`), `splitname` and `help -c`, with dmsetup's report switches
 * (`-o`, `-O|--sort`, `-S|--select`, `--separator`, `--noheadings`, `--nameprefixes`,
 * `--unquoted`, `--rows`, `--unbuffered`). docs/dmctl.md, "Reports".
 */
import type { DevNo, DeviceId, ListedDevice } from '../../codec/index.js';
import { DeviceMapper, type DeviceMapperInspector } from '../../lib/index.js';
import type { Ctx } from '../context.js';
import { deviceName, readAhead, REPORT_FIELDS, type ReportRow, type ShownInfo } from '../format.js';
import { ReportOutputSchema } from '../schemas.js';
import { UsageError } from '../errors.js';
import { DEFAULT_INFO_FIELDS, DEFAULT_SPLITNAME_FIELDS, fieldHelp, type FieldDef, type ReportType } from './fields.js';
import { Report, ReportError, type Cell, type RowSource } from './render.js';
import { splitLvmName, uuidSubsystem } from './splitname.js';

/** The report of a command line, or the exit status when it printed help or an error instead. */
export function openReport(ctx: Ctx, defaults: string, baseType?: ReportType): Report | number {
  const o = ctx.opts;
  let report: Report;
  try {
    report = new Report({
      options: o.options, defaults, sort: o.sort, select: o.select, separator: o.separator, noheadings: o.noheadings,
      // --json is one document: its rows are never printed one by one.
      nameprefixes: o.nameprefixes, unquoted: o.unquoted, rows: o.rows, unbuffered: o.unbuffered && !ctx.json, baseType,
    });
  } catch (e) {
    if (!(e instanceof ReportError)) throw e;
    ctx.io.stderr(e.stderr);
    return e.exitCode;
  }
  if (report.warnings) ctx.io.stderr(report.warnings);
  return report.helpOnly ? 0 : report;
}

/** Adds one row; a field the object has no data for ends the command as dmsetup's does. */
function addRow(ctx: Ctx, report: Report, source: RowSource): boolean {
  try {
    const text = report.add(source);
    if (text && !ctx.json) ctx.out(text);
    return true;
  } catch (e) {
    if (!(e instanceof ReportError)) throw e;
    ctx.io.stderr(`${e.stderr}Command failed.\n`);
    return false;
  }
}

/** Prints what is buffered: dmsetup's text, or dmctl's `--json` document of the shown fields. */
function finish(ctx: Ctx, report: Report): void {
  if (ctx.json) ctx.printJson(ReportOutputSchema, { fields: report.shownFields.map((f) => f.id), rows: report.takeJson() });
  else ctx.out(report.output());
}

const str = (text: string): Cell => ({ text, sort: text });
const num = (text: string): Cell => ({ text, sort: /^\d+$/.test(text) ? BigInt(text) : text });

/** The split-name fields (`subsystem`, `vg_name`, `lv_name`, `lv_layer`) of a subsystem and a name. */
function nameCell(field: FieldDef, subsystem: string, name: string): Cell | undefined {
  if (field.type !== 'name') return undefined;
  const split = subsystem === 'LVM' ? splitLvmName(name) : { vg: '', lv: '', layer: '' };
  switch (field.id) {
    case 'subsystem': return str(subsystem);
    case 'vg_name': return str(split.vg);
    case 'lv_name': return str(split.lv);
    default: return str(split.layer);
  }
}

/** `splitname <device_name> [<subsystem>]`: the name split as LVM quotes it (`--` is a `-`); subsystem LVM by default. */
export async function splitname(ctx: Ctx): Promise<number> {
  if (ctx.args.length < 1 || ctx.args.length > 2) throw new UsageError('Incorrect number of arguments.');
  const report = openReport(ctx, DEFAULT_SPLITNAME_FIELDS, 'name');
  if (typeof report === 'number') return report;
  const [name, subsystem = 'LVM'] = ctx.args as [string, string?];
  if (!addRow(ctx, report, (f) => nameCell(f, subsystem, name))) return 1;
  finish(ctx, report);
  return 0;
}

/** `help -c`: the fields every report knows, as `-o help` lists them (libdm's listing, " " line last). */
export function columnsHelp(): string {
  return fieldHelp(true, false) + ' \n';
}

/** A device of `info -c`, with what its deps and tree fields need. */
export interface InfoColumnsDevice { readonly id: DeviceId; readonly row: ReportRow; readonly kernelUuid: string }

/** A device's row for the report: the fields format.ts knows, from its info and sysfs. */
export function reportRow(ctx: Ctx, d: ShownInfo): ReportRow {
  return {
    name: ctx.displayName(d), uuid: d.uuid ? ctx.displayUuid(d) : '', mangledName: d.nameBytes ? ctx.displayName(d) : d.name, info: d,
    readAhead: readAhead(ctx.io.sysfs, d.dev), blkdevname: deviceName(ctx.io.sysfs, d.dev, true, d.dev.major),
  };
}

/**
 * Each device's row source. The deps fields ask DM_TABLE_DEPS of each device; the tree
 * fields (`devs_used`, `device_ref_count`, `names_using_dev`, `devnos_using_dev`) the deps of
 * every device, as dmsetup builds its whole tree. Undefined (after saying why) when the
 * report names statistics fields.
 */
async function rowSources(ctx: Ctx, report: Report, src: DeviceMapper | DeviceMapperInspector, devices: readonly InfoColumnsDevice[], all: () => Promise<ListedDevice[]>): Promise<RowSource[] | undefined> {
  const types = report.reportTypes;
  if ([...types].some((t) => t === 'stats' || t === 'stats_meta')) {
    ctx.io.stderr(`dmctl ${ctx.verb}: the statistics fields are reported by the stats command, not by info -c\n`);
    return undefined;
  }
  const depsOf = async (id: DeviceId): Promise<DevNo[]> => (src instanceof DeviceMapper ? src.deps(id, { inactive: ctx.opts.inactive }) : src.deps(id));
  let tree: { names: Map<string, string>; parents: Map<string, DevNo[]>; deps: Map<string, DevNo[]> } | undefined;
  if (types.has('tree')) {
    const list = await all();
    const names = new Map(list.map((d) => [`${d.dev.major}:${d.dev.minor}`, ctx.displayName(d)]));
    const parents = new Map<string, DevNo[]>();
    const deps = new Map<string, DevNo[]>();
    for (const d of list) {
      const ds = await depsOf({ name: d.nameBytes ?? d.name }).catch(() => [] as DevNo[]);
      deps.set(`${d.dev.major}:${d.dev.minor}`, ds);
      for (const x of ds) {
        const k = `${x.major}:${x.minor}`;
        parents.set(k, [...(parents.get(k) ?? []), d.dev]);
      }
    }
    tree = { names, parents, deps };
  }
  const sources: RowSource[] = [];
  for (const d of devices) {
    const info = d.row.info;
    const key = `${info.dev.major}:${info.dev.minor}`;
    const deps = types.has('deps') ? await depsOf(d.id) : [];
    sources.push((f) => {
      switch (f.type) {
        case 'name': return nameCell(f, uuidSubsystem(d.kernelUuid), d.row.name);
        case 'deps':
          if (f.id === 'device_count') return num(String(deps.length));
          if (f.id === 'devnos_used') return str(deps.map((x) => `${x.major}:${x.minor}`).join(','));
          return str(deps.map((x) => deviceName(ctx.io.sysfs, x, true, info.dev.major) ?? `${x.major}:${x.minor}`).join(','));
        case 'tree': {
          const t = tree!;
          const used = t.deps.get(key) ?? [];
          const by = t.parents.get(key) ?? [];
          if (f.id === 'devs_used') return str(used.map((x) => t.names.get(`${x.major}:${x.minor}`)).filter((n) => n !== undefined && n !== '').join(','));
          // A device nothing uses hangs from libdm's tree root, which dm_tree_node_num_children counts as none.
          if (f.id === 'device_ref_count') return num(String(by.length));
          if (f.id === 'names_using_dev') return str(by.map((x) => t.names.get(`${x.major}:${x.minor}`) ?? '').filter(Boolean).join(','));
          return str(by.map((x) => `${x.major}:${x.minor}`).join(','));
        }
        default: {
          if (f.id === 'mangled_uuid') return str(d.kernelUuid);
          if (f.id === 'unmangled_uuid') return str(d.row.uuid);
          const c = Object.hasOwn(REPORT_FIELDS, f.id) ? REPORT_FIELDS[f.id] : undefined;
          if (!c) return undefined;
          const text = c.value(d.row);
          return f.valueType === 'string' ? str(text) : num(text);
        }
      }
    });
  }
  return sources;
}

/** `info -c`: one row per device. */
export async function infoColumns(ctx: Ctx, report: Report, src: DeviceMapper | DeviceMapperInspector, devices: readonly InfoColumnsDevice[], all: () => Promise<ListedDevice[]>): Promise<number> {
  const sources = await rowSources(ctx, report, src, devices, all);
  if (!sources) return 1;
  for (const source of sources) if (!addRow(ctx, report, source)) return 1;
  finish(ctx, report);
  return 0;
}

/** The verbs `-S` picks the devices of (dmsetup's commands with `repeatable_cmd == 2`). */
export const SELECT_VERBS: ReadonlySet<string> = new Set(['remove', 'suspend', 'resume', 'clear', 'wipe_table', 'measure', 'deps', 'status', 'table']);

/**
 * `<verb> -S <selection> [<device>...]`: as dmsetup, the selection is evaluated by an
 * `info -c` report (its `-o` fields, nothing printed) over the devices named (all without
 * any), and the verb runs on the selected ones, each named as one of several ("name: "
 * prefixes); none selected runs nothing.
 */
export async function runSelected(ctx: Ctx, run: () => Promise<number>): Promise<number> {
  const report = openReport(ctx, DEFAULT_INFO_FIELDS);
  if (typeof report === 'number') return report;
  const dm = await ctx.dm();
  const all = async () => dm.list({ order: 'kernel' });
  let ids: DeviceId[];
  if (ctx.args.length > 0) ids = ctx.args.map((a) => ctx.deviceId(a));
  else if (ctx.byOption) ids = [ctx.deviceId(undefined)];
  else {
    const list = await all();
    if (list.length === 0) { ctx.out('No devices found\n'); return 0; }
    ids = list.map((d) => ({ name: d.nameBytes ?? d.name }));
  }
  const devices: InfoColumnsDevice[] = [];
  for (const id of ids) {
    const r = await dm.info(id, { inactive: ctx.opts.inactive });
    if (r.exists) devices.push({ id: { name: r.nameBytes ?? r.name }, row: reportRow(ctx, r), kernelUuid: r.uuid ?? '' });
  }
  const sources = await rowSources(ctx, report, dm, devices, all);
  if (!sources) return 1;
  const picked: string[] = [];
  for (const [i, source] of sources.entries()) if (report.matches(source)) picked.push(devices[i]!.row.name);
  if (picked.length === 0) return 0;
  ctx.selectedBy(picked);
  return run();
}

export { DEFAULT_INFO_FIELDS };
