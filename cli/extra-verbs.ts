/**
 * dmsetup verbs beyond the core set: `wipe_table` (an error table of the same size, made
 * live), `measure` (each target's IMA measurement text, DM_TABLE_STATUS with
 * DM_IMA_MEASUREMENT_FLAG), `mangle` (rename devices whose names are not in the mangling
 * mode's form), `target-version <target>...` (DM_GET_TARGET_VERSION, loading the module),
 * `ls --exec <command>` (runs the command once per device with its /dev/mapper path: cli/exec.ts), and
 * `resume` with `--readahead`. Output and exit status follow dmsetup's.
 */
import type { DeviceId, ListedDevice, TargetLine } from '../codec/index.js';
import { addressOf, DmError, ERRNO, identityOf, renameNode, type NodeResult } from '../lib/index.js';
import { execArgs, execOn, type ExecRun } from './exec.js';
import type { Ctx } from './context.js';
import { errorJson, formatError, UsageError } from './errors.js';
import { lsTargetLine, targetsLine } from './format.js';
import * as life from './lifecycle.js';
import * as query from './query.js';
import { mangle as mangleName, unmangleBytes, type ManglingMode } from './mangle.js';
import { checkCreateOptions, parseReadAhead, setReadAhead } from './extra-options.js';
import { ErrorOutputSchema, ExecOutputSchema, MangleOutputSchema, ResultOutputSchema, StatusOutputSchema, TargetsOutputSchema } from './schemas.js';

function reportError(ctx: Ctx, e: unknown): void {
  if (ctx.json) ctx.io.stderr(JSON.stringify(ErrorOutputSchema.parse(errorJson(e, ctx.verb)), null, 2) + '\n');
  else ctx.io.stderr(formatError(e, ctx.verb));
}

/** Every device in the kernel's order (as dmsetup's `_process_all`). */
async function allDevices(ctx: Ctx): Promise<ListedDevice[]> {
  return (await ctx.dm()).list({ order: 'kernel' });
}

/**
 * `wipe_table [-f|--force] [--noflush] [--nolockfs] [-r] <device>...`: dmsetup's
 * `_error_device`: load an error table as long as the live one, resume (`--force` adds
 * noflush and nolockfs, so a device whose I/O hangs does not hang the resume); a failed
 * resume clears the inactive table. Each step is addressed to the device the name named
 * first (its uuid, checked: lib/operations/identity.ts).
 */
export async function wipeTable(ctx: Ctx): Promise<number> {
  if (ctx.args.length === 0) throw new UsageError('No device specified.');
  const ids = ctx.args.map((a) => ctx.deviceId(a));
  const noflush = !!(ctx.opts.noflush || ctx.opts.force);
  const skipLockfs = !!(ctx.opts.nolockfs || ctx.opts.force);
  if (ctx.dry) {
    for (const id of ids) {
      // The error table's length is the live table's, read first: unknown without sending
      // anything, so its load is left out of the plan (as remove --force's is).
      ctx.request('status', { id, table: true, secure: true });
      ctx.request('suspend', { id, action: 'resume', noflush, skipLockfs });
    }
    return 0;
  }
  const dm = await ctx.dm();
  const out: { name: string; uuid: string | null; major: number; minor: number }[] = [];
  for (const id of ids) {
    const info = await dm.info(id);
    if (!info.exists) throw new DmError({ command: 'info', errno: ERRNO.ENXIO, device: id });
    const resumed = await life.errorTable(ctx, identityOf(info), { noflush, skipLockfs, ...ctx.udevOptions() });
    life.verboseInfo(ctx, resumed);
    out.push({ name: ctx.displayName(resumed), uuid: resumed.uuid ? ctx.displayUuid(resumed) : null, major: resumed.dev.major, minor: resumed.dev.minor });
  }
  if (ctx.json) ctx.printJson(ResultOutputSchema, { verb: ctx.verb, ok: true, devices: out });
  return 0;
}

/**
 * `measure [<device>...]`: `dmsetup status` with DM_IMA_MEASUREMENT_FLAG (dm 4.45+): each
 * target's line carries what IMA measures for it instead of its status, in status's format
 * (several devices: `name: ` before each line).
 */
export async function measure(ctx: Ctx): Promise<number> {
  let ids: DeviceId[];
  let multiple: boolean;
  // Over all devices a failing one is reported and skipped (`_process_all`); named devices
  // stop at the first failure, as dmsetup's repeated commands do.
  let all = false;
  if (ctx.args.length) { ids = ctx.args.map((a) => ctx.deviceId(a)); multiple = ctx.args.length > 1; }
  else if (ctx.byOption) { ids = [ctx.deviceId(undefined)]; multiple = false; }
  else if (ctx.dry) { ctx.request('listDevices', { withUuid: true }); return 0; }
  else {
    const list = await allDevices(ctx);
    if (list.length === 0 && !ctx.json) { ctx.out('No devices found\n'); return 0; }
    ids = list.map((d) => ({ name: d.nameBytes ?? d.name }));
    multiple = true;
    all = true;
  }
  if (ctx.dry) { for (const id of ids) ctx.request('status', { id, inactive: ctx.opts.inactive, noflush: ctx.opts.noflush, ima: true }); return 0; }
  const words = ctx.opts.exec === undefined ? undefined : execArgs(ctx.opts.exec);
  const dm = await ctx.dm();
  const devices: { name: string; targets: { start: string; length: string; type: string; params: string }[] }[] = [];
  const ran: ExecRun[] = [];
  let text = '';
  let rc = 0;
  for (const id of ids) {
    let r;
    try {
      r = await dm.status(id, { inactive: ctx.opts.inactive, noflush: ctx.opts.noflush, ima: true });
    } catch (e) {
      if (!all) {
        if (!ctx.json) ctx.out(text);
        throw e;
      }
      reportError(ctx, e);
      rc = 1;
      continue;
    }
    const name = ctx.displayName(r.device);
    const ts: TargetLine[] = r.targets.filter((t) => ctx.opts.target === undefined || t.type === ctx.opts.target);
    devices.push({ name, targets: ts.map((t) => ({ start: String(t.start), length: String(t.length), type: t.type, params: t.params })) });
    const lines = query.deviceLines(ctx, r, name, ts, multiple);
    if (words === undefined) { text += lines; continue; }
    // --exec (dmsetup's `_status`, as table and status): lines only under -v, then the command.
    if (lines === '') continue;
    if (ctx.verbose && !ctx.json) ctx.out(lines);
    ran.push(await execOn(ctx, dm, words, r.device.name, name));
  }
  if (ctx.json && words !== undefined) ctx.printJson(ExecOutputSchema, { devices: ran });
  else if (ctx.json) ctx.printJson(StatusOutputSchema, { devices });
  else ctx.out(text);
  return rc;
}

/** `target-version <target>...`: "%-16s v%d.%d.%d" per target (the kernel loads its module). */
export async function targetVersion(ctx: Ctx): Promise<number> {
  if (ctx.args.length === 0) throw new UsageError('target-version needs at least one target type (e.g. target-version linear).');
  if (ctx.dry) { for (const target of ctx.args) ctx.request('getTargetVersion', { target }); return 0; }
  const dm = await ctx.dm();
  const found: { name: string; version: [number, number, number] }[] = [];
  let rc = 0;
  for (const target of ctx.args) {
    try {
      const v = await dm.getTargetVersion(target);
      found.push({ name: target, version: [v[0], v[1], v[2]] });
      if (!ctx.json) ctx.out(targetsLine({ name: target, version: v }));
    } catch (e) {
      // dmsetup stops a repeated command at its first failure ("Command failed.").
      reportError(ctx, e);
      rc = 1;
      break;
    }
  }
  if (ctx.json) ctx.printJson(TargetsOutputSchema, { targets: found });
  return rc;
}

/**
 * The name a device has in `mode`'s form (dmsetup's `dm_task_get_name_mangled`, or
 * `_unmangled` for `none`), from the kernel's bytes.
 */
function inForm(kernel: Uint8Array, mode: ManglingMode): string {
  const text = new TextDecoder().decode(kernel);
  if (mode === 'none') {
    const plain = unmangleBytes(kernel);
    return plain ? new TextDecoder().decode(plain) : text;
  }
  return mangleName(text, mode);
}

/**
 * `mangle [<device>...]`: dmsetup's `_mangle`: a device whose name is not in the mangling
 * mode's form is renamed to it; a uuid not in that form cannot be changed (an error, as
 * dmsetup: the device must be deactivated first). Prints dmsetup's lines.
 */
export async function mangle(ctx: Ctx): Promise<number> {
  const enc = new TextEncoder();
  let targets: { shown: string; id: DeviceId }[];
  if (ctx.args.length) targets = ctx.args.map((a) => ({ shown: a, id: ctx.deviceId(a) }));
  else if (ctx.byOption) targets = [{ shown: ctx.opts.uuid ?? `${ctx.opts.major}:${ctx.opts.minor}`, id: ctx.deviceId(undefined) }];
  else if (ctx.dry) { ctx.request('listDevices', { withUuid: true }); return 0; }
  else targets = (await allDevices(ctx)).map((d) => ({ shown: d.name, id: { name: d.nameBytes ?? d.name } }));
  if (ctx.dry) { for (const t of targets) ctx.request('status', { id: t.id }); return 0; }
  const dm = await ctx.dm();
  const rows: { name: string; uuid: string | null; newName: string | null; renamed: boolean }[] = [];
  let rc = 0;
  for (const t of targets) {
    try {
      const info = await dm.info(t.id);
      if (!info.exists) throw new DmError({ command: 'info', errno: ERRNO.ENXIO, device: t.id });
      const name = info.nameBytes ?? enc.encode(info.name);
      const uuid = info.uuid === null ? undefined : info.uuidBytes ?? enc.encode(info.uuid);
      const nameText = new TextDecoder().decode(name);
      const uuidText = uuid ? new TextDecoder().decode(uuid) : '';
      if (ctx.mode === 'auto') {
        if (nameText.includes('\\x5cx')) throw new UsageError(`The name "${nameText}" seems to be mangled more than once. Manual intervention required to rename the device.`);
        if (uuidText.includes('\\x5cx')) throw new UsageError(`The UUID "${uuidText}" seems to be mangled more than once. Manual intervention required to correct the device UUID.`);
      }
      const newName = inForm(name, ctx.mode);
      const newUuid = uuid ? inForm(uuid, ctx.mode) : '';
      if (newUuid !== uuidText) {
        throw new UsageError(`${t.shown}: ${uuidText}: UUID in incorrect form. \nUnable to change device UUID. The device must be deactivated first.`);
      }
      if (newName === nameText) {
        if (!ctx.json) ctx.out(`${t.shown}: ${uuidText || '[no UUID]'}: name ${uuidText ? 'and UUID ' : ''}already in correct form\n`);
        rows.push({ name: nameText, uuid: uuidText || null, newName: null, renamed: false });
        continue;
      }
      if (!ctx.json) ctx.out(`${t.shown}: renaming to ${newName}\n`);
      const ours = identityOf(info);
      const d = await dm.rename(addressOf(ours), { newName }, ctx.udevOptions());
      const o = ctx.nodeOptions();
      let node: NodeResult['action'] | undefined;
      if (o) node = (await renameNode(info.name, newName, d.dev, { ...o, ueventGenerated: d.flags.ueventGenerated })).action;
      void node;
      rows.push({ name: nameText, uuid: uuidText || null, newName, renamed: true });
    } catch (e) {
      reportError(ctx, e);
      rc = 1;
      if (ctx.args.length) break; // named devices: dmsetup stops at the first failure
    }
  }
  if (ctx.json) ctx.printJson(MangleOutputSchema, { devices: rows });
  return rc;
}

/**
 * `ls [--target <type>] --exec <command>`: for each device (with a line of that type), its
 * node made if missing (dmsetup's dm_mknodes), then `<command> /dev/mapper/<name>` run and
 * waited for; its exit status is not dmctl's (as dmsetup). `-v` prints each device's ls
 * line first. With --json, the command's output goes to stderr and the document lists what
 * ran.
 */
export async function ls(ctx: Ctx): Promise<number> {
  if (ctx.opts.exec === undefined) return query.ls(ctx);
  const words = execArgs(ctx.opts.exec);
  if (ctx.dry) { ctx.request('listDevices', { withUuid: true }); return 0; }
  const dm = await ctx.dm();
  const ran: ExecRun[] = [];
  for (const d of await allDevices(ctx)) {
    const id = { name: d.nameBytes ?? d.name };
    if (ctx.opts.target !== undefined) {
      const t = await dm.table(id).catch(() => undefined);
      if (!t?.targets.some((x) => x.type === ctx.opts.target)) continue;
    }
    if (ctx.verbose && !ctx.json) ctx.out(lsTargetLine(ctx.displayName(d), d.dev));
    ran.push(await execOn(ctx, dm, words, d.name, ctx.displayName(d)));
  }
  if (ctx.json) ctx.printJson(ExecOutputSchema, { devices: ran });
  return 0;
}

/** `resume` with `--readahead` (and the create options dmsetup also takes on resume). */
export async function resume(ctx: Ctx): Promise<number> {
  checkCreateOptions(ctx);
  const rc = await life.resume(ctx);
  const ra = parseReadAhead(ctx.opts.readahead);
  if (rc === 0 && ra && !ctx.dry) {
    const dm = await ctx.dm();
    const ids = ctx.args.length ? ctx.args.map((a) => ctx.deviceId(a)) : [ctx.deviceId(undefined)];
    for (const id of ids) {
      const info = await dm.info(id);
      if (info.exists) setReadAhead(ctx, info.dev, ra);
    }
  }
  return rc;
}
