/**
 * `create --concise` and `table --concise`: dmsetup's one-line device lists, the grammar of
 * the kernel's `dm-mod.create=` (lib/tables/concise.ts; docs/concise.md). `table --concise`
 * prints what dmsetup prints byte for byte (devices in the kernel's order, `;` between them,
 * one newline at the end, keys hidden unless --showkeys); `create --concise` creates the
 * devices one after the other as dmsetup does, stopping at the first that fails (those
 * created before it stay).
 */
import type { DeviceId, DeviceInfo, ListedDevice, TargetSpecInput } from '../codec/index.js';
import { DeviceMapper, formatConcise, parseConcise, type ConciseDevice, type NodeResult } from '../lib/index.js';
import { Ctx } from './context.js';
import { errorJson, formatError, UsageError } from './errors.js';
import { hideKeys } from './format.js';
import * as life from './lifecycle.js';
import * as query from './query.js';
import { checkCreateOptions, parseReadAhead, setReadAhead } from './extra-options.js';
import { ConciseTableOutputSchema, ErrorOutputSchema, ExecOutputSchema, ResultOutputSchema } from './schemas.js';
import { execArgs, execOn, type ExecRun } from './exec.js';
import { checkTable } from './table-check.js';

/** `create`: `--concise` reads a device list; otherwise dmsetup's create, then -U/-G/-M and --readahead. */
export async function create(ctx: Ctx): Promise<number> {
  checkCreateOptions(ctx);
  if (ctx.opts.concise) return createConcise(ctx);
  const rc = await life.create(ctx);
  if (rc === 0 && !ctx.dry && ctx.args[0] !== undefined) await applyCreateOptions(ctx, { name: ctx.mangled(ctx.args[0]) });
  return rc;
}

/** `table`: `--concise` prints the one-line list; otherwise dmsetup's table. */
export function table(ctx: Ctx): Promise<number> {
  return ctx.opts.concise ? tableConcise(ctx) : query.table(ctx);
}

async function createConcise(ctx: Ctx): Promise<number> {
  if (ctx.opts.table !== undefined || ctx.opts.minor !== undefined || ctx.opts.uuid !== undefined || ctx.opts.notable || ctx.opts.inactive) {
    throw new UsageError('--concise is incompatible with --[no]table, --minor, --uuid and --inactive.');
  }
  if (ctx.args.length > 1) throw new UsageError('dmsetup create --concise takes at most one argument');
  let text = ctx.args[0];
  if (text === undefined) {
    if (ctx.io.stdinIsTTY) throw new UsageError('create --concise needs the device list: as an argument, or piped on stdin.');
    text = await ctx.io.readStdin();
  }
  // Every device is parsed, named and checked before the first is created.
  const devices = parseConcise(text).map((d) => {
    const targets: TargetSpecInput[] = d.table.map((t) => ({ start: t.start, length: t.length, type: t.type, params: t.params }));
    if (targets.length) checkTable(targets);
    return { name: ctx.mangled(d.name), uuid: d.uuid === undefined ? undefined : ctx.mangled(d.uuid, 'UUID'), minor: d.minor, readOnly: d.readOnly || !!ctx.opts.readonly, targets };
  });
  if (ctx.dry) {
    for (const d of devices) {
      ctx.request('create', { name: d.name, uuid: d.uuid, minor: d.minor });
      if (d.targets.length) {
        ctx.request('load', { id: { name: d.name }, targets: d.targets, readOnly: d.readOnly, secure: life.secureLoad(d.targets) });
        ctx.request('suspend', { id: { name: d.name }, action: 'resume' });
      }
    }
    return 0;
  }
  const dm = await ctx.dm();
  const out: { name: string; uuid: string | null; major: number; minor: number; node?: NodeResult['action'] }[] = [];
  for (const d of devices) {
    let info: DeviceInfo;
    let node: NodeResult['action'] | undefined;
    if (d.targets.length) {
      info = await dm.createDevice({ name: d.name, uuid: d.uuid, minor: d.minor, table: d.targets, readOnly: d.readOnly, secure: life.secureLoad(d.targets), ...ctx.udevOptions() });
      node = await life.nodeAdded(ctx, info);
    } else {
      info = await dm.create({ name: d.name, uuid: d.uuid, minor: d.minor });
    }
    await applyCreateOptions(ctx, { name: d.name }, info);
    life.verboseInfo(ctx, info);
    out.push({ name: ctx.displayName(info), uuid: info.uuid ? ctx.displayUuid(info) : null, major: info.dev.major, minor: info.dev.minor, ...(node ? { node } : {}) });
  }
  if (ctx.json) ctx.printJson(ResultOutputSchema, { verb: 'create', ok: true, devices: out });
  return 0;
}

/** The devices `table` runs on: the arguments, the -u/-j/-m device, or all in the kernel's order. */
async function devicesOf(ctx: Ctx): Promise<{ ids: DeviceId[]; multiple: boolean; none: boolean }> {
  if (ctx.args.length > 0) return { ids: ctx.args.map((a) => ctx.deviceId(a)), multiple: ctx.args.length > 1, none: false };
  if (ctx.byOption) return { ids: [ctx.deviceId(undefined)], multiple: false, none: false };
  if (ctx.dry) { ctx.request('listDevices', { withUuid: true }); return { ids: [], multiple: true, none: false }; }
  const list: ListedDevice[] = await (await ctx.dm()).list({ order: 'kernel' });
  return { ids: list.map((d) => ({ name: d.nameBytes ?? d.name })), multiple: true, none: list.length === 0 };
}

async function tableConcise(ctx: Ctx): Promise<number> {
  const { ids, multiple, none } = await devicesOf(ctx);
  if (ctx.dry) {
    for (const id of ids) ctx.request('status', { id, table: true, inactive: ctx.opts.inactive, secure: true });
    return 0;
  }
  if (none && !ctx.json) { ctx.out('No devices found\n'); return 0; }
  const dm: DeviceMapper = await ctx.dm();
  const shown: ConciseDevice[] = [];
  const kernelNames: string[] = []; // --exec's node names, beside shown
  let rc = 0;
  for (const id of ids) {
    let r;
    try {
      r = await dm.table(id, { inactive: ctx.opts.inactive, showKeys: true }); // hidden below, exactly as dmsetup does
    } catch (e) {
      if (!multiple) throw e;
      if (ctx.json) ctx.io.stderr(JSON.stringify(ErrorOutputSchema.parse(errorJson(e, ctx.verb)), null, 2) + '\n');
      else ctx.io.stderr(formatError(e, ctx.verb));
      rc = 1;
      continue;
    }
    const matching = r.targets.filter((t) => ctx.opts.target === undefined || t.type === ctx.opts.target);
    // dmsetup skips a device none of whose lines match --target (and, with --target, one without a table).
    if (ctx.opts.target !== undefined && matching.length === 0) continue;
    const lines = ctx.opts.showkeys ? matching : matching.map(hideKeys);
    kernelNames.push(r.device.name);
    shown.push({
      name: ctx.displayName(r.device), uuid: r.device.uuid ? ctx.displayUuid(r.device) : '', minor: r.device.dev.minor,
      readOnly: r.device.flags.readOnly, table: lines,
    });
  }
  const text = shown.length ? formatConcise(shown) : '';
  if (ctx.opts.exec !== undefined) return execConcise(ctx, dm, shown, kernelNames, text, rc);
  if (ctx.json) {
    ctx.printJson(ConciseTableOutputSchema, {
      concise: text,
      devices: shown.map((d) => ({
        name: d.name, uuid: d.uuid ? d.uuid : null, minor: d.minor!, readOnly: !!d.readOnly,
        targets: d.table.map((t) => ({ start: String(t.start), length: String(t.length), type: t.type, params: t.params })),
      })),
    });
  } else if (text !== '' || shown.length) {
    ctx.out(`${text}\n`);
  }
  return rc;
}

/** After a create: `--readahead`, and `--addnodeoncreate` for a device created without a table. */
async function applyCreateOptions(ctx: Ctx, id: { name: string }, made?: DeviceInfo): Promise<void> {
  const ra = parseReadAhead(ctx.opts.readahead);
  if (!ra && !ctx.opts.addnodeoncreate) return;
  const info = made ?? await (await ctx.dm()).info(id);
  if (!('dev' in info) || !info.dev) return;
  if (ra) setReadAhead(ctx, info.dev, ra);
  if (ctx.opts.addnodeoncreate && !(info as DeviceInfo).flags?.activePresent) await life.nodeAdded(ctx, info as DeviceInfo);
}

/**
 * `table --concise --exec <command>`: as dmsetup's `_status`, the list is printed only under
 * `-v`, and the command runs once for each device listed (with its node path).
 */
async function execConcise(ctx: Ctx, dm: DeviceMapper, shown: readonly ConciseDevice[], kernelNames: readonly string[], text: string, rc: number): Promise<number> {
  const words = execArgs(ctx.opts.exec!);
  if (ctx.verbose && !ctx.json && shown.length) ctx.out(`${text}\n`);
  const ran: ExecRun[] = [];
  for (const [i, d] of shown.entries()) ran.push(await execOn(ctx, dm, words, kernelNames[i]!, d.name));
  if (ctx.json) ctx.printJson(ExecOutputSchema, { devices: ran });
  return rc;
}
