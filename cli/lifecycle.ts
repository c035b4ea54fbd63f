/**
 * Verbs that change devices: create, remove, remove_all, suspend, resume, load/reload,
 * clear, rename, message, setgeometry, mknodes. Like dmsetup they print nothing on
 * success (`--json` prints a result document), and they keep `/dev/mapper` in step
 * (lib/udev/device-nodes.ts) after resume, rename and remove.
 */
import { tableCarriesKeys, type DeviceInfo, type TargetSpecInput } from '../codec/index.js';
import {
  addNode, addressOf, checkReply, DmError, DmIdentityError, ERRNO, identityOf, removeNode, renameNode, syncNodes, type DeviceIdentity, type NodeResult, type ResumeOptions,
} from '../lib/index.js';
import { Ctx, intArg, u64Arg } from './context.js';
import { UsageError } from './errors.js';
import { infoLong, readAhead } from './format.js';
import { MessageOutputSchema, MknodesOutputSchema, ResultOutputSchema } from './schemas.js';

type ResultDevice = { name: string; uuid: string | null; major: number | null; minor: number | null; deferred?: boolean; node?: NodeResult['action'] };

function resultOf(ctx: Ctx, d: { name: string; uuid: string | null; nameBytes?: Uint8Array | undefined; uuidBytes?: Uint8Array | undefined; dev?: { major: number; minor: number } }, extra: Partial<ResultDevice> = {}): ResultDevice {
  return { name: ctx.displayName(d), uuid: d.uuid ? ctx.displayUuid(d) : null, major: d.dev?.major ?? null, minor: d.dev?.minor ?? null, ...extra };
}

function printResult(ctx: Ctx, devices: ResultDevice[]): void {
  if (ctx.json) ctx.printJson(ResultOutputSchema, { verb: ctx.verb, ok: true, devices });
}

export function verboseInfo(ctx: Ctx, d: DeviceInfo): void {
  if (ctx.verbose && !ctx.json) ctx.out(infoLong(ctx.displayName(d), d, readAhead(ctx.io.sysfs, d.dev)));
}

export async function nodeAdded(ctx: Ctx, d: DeviceInfo): Promise<NodeResult['action'] | undefined> {
  const o = ctx.nodeOptions();
  if (!o || !d.name) return undefined;
  return (await addNode(d.name, d.dev, { ...o, ueventGenerated: d.flags.ueventGenerated })).action;
}

/**
 * A table with a crypt or integrity line is loaded with DM_SECURE_DATA_FLAG (as cryptsetup
 * does; dmsetup leaves it to the user), so the kernel wipes its copy of the keys. Other
 * tables: undefined, the client's default.
 */
export function secureLoad(targets: readonly TargetSpecInput[]): true | undefined {
  return tableCarriesKeys(targets) ? true : undefined;
}

/** `create <name> [<table_file>] [--table t] [-u uuid] [-r] [-n] [-j major -m minor]`: create → load → resume, rolled back on failure. */
export async function create(ctx: Ctx): Promise<number> {
  const [name, file] = ctx.args;
  if (name === undefined) throw new UsageError('Please provide a name for the new device.');
  if (ctx.args.length > 2) throw new UsageError('Too many command line arguments.');
  const kname = ctx.mangled(name);
  const uuid = ctx.opts.uuid === undefined ? undefined : ctx.mangled(ctx.opts.uuid, 'UUID');
  const minor = ctx.opts.minor === undefined ? undefined : intArg(ctx.opts.minor, 'minor');
  const targets = ctx.opts.notable ? undefined : await ctx.table(file);
  const readOnly = ctx.opts.readonly;
  const secure = targets ? secureLoad(targets) : undefined;
  if (ctx.dry) {
    ctx.request('create', { name: kname, uuid, minor });
    if (targets) {
      ctx.request('load', { id: { name: kname }, targets, readOnly, secure });
      ctx.request('suspend', { id: { name: kname }, action: 'resume' });
    }
    return 0;
  }
  const dm = await ctx.dm();
  let d: DeviceInfo;
  let node: NodeResult['action'] | undefined;
  if (targets) {
    d = await dm.createDevice({ name: kname, uuid, minor, table: targets, readOnly, secure, ...ctx.udevOptions() });
    node = await nodeAdded(ctx, d);
  } else {
    d = await dm.create({ name: kname, uuid, minor });
  }
  verboseInfo(ctx, d);
  printResult(ctx, [resultOf(ctx, d, node ? { node } : {})]);
  return 0;
}

/**
 * dmsetup's `_error_device`: load an error table of the same size and resume it (noflush,
 * nolockfs) — on `ours` only: every step addressed by uuid when it has one and its reply
 * checked (lib/operations/identity.ts), so a name re-created by someone else in between never gets
 * the error table. A mismatch throws DmIdentityError. Also wipe_table's (cli/extra-verbs.ts),
 * with its own resume options; returns the resumed device.
 */
export async function errorTable(ctx: Ctx, ours: DeviceIdentity, resume: ResumeOptions = { noflush: true, skipLockfs: true }): Promise<DeviceInfo> {
  const dm = await ctx.dm();
  const at = addressOf(ours);
  const t = await dm.table(at);
  checkReply('status', ours, t.device, false);
  const size = t.targets.reduce((n, x) => n + x.length, 0n);
  checkReply('load', ours, await dm.load(at, [{ start: 0, length: size, type: 'error', params: '' }], { readOnly: ctx.opts.readonly }), true);
  let resumed: DeviceInfo;
  try {
    resumed = await dm.resume(at, resume);
  } catch (e) {
    if (ours.uuid) await dm.clear(at).catch(() => undefined); // by name, a clear could reach another device
    throw e;
  }
  checkReply('resume', ours, resumed, true);
  return resumed;
}

/** `remove [-f|--force] [--retry] [--deferred] <device>...` */
export async function remove(ctx: Ctx): Promise<number> {
  const ids = ctx.args.length ? ctx.args.map((a) => ctx.deviceId(a)) : [ctx.deviceId(undefined)];
  if (ctx.dry) {
    for (const id of ids) {
      if (ctx.opts.force) ctx.request('status', { id, table: true, secure: true });
      ctx.request('remove', { id, deferred: ctx.opts.deferred });
    }
    return 0;
  }
  const dm = await ctx.dm();
  const out: ResultDevice[] = [];
  for (const id of ids) {
    // The device this verb means is the one the name (uuid, dev) names now; every later
    // step must reach that one (a name re-created meanwhile is someone else's device).
    const info = await dm.info(id);
    if (!info.exists) throw new DmError({ command: 'remove', errno: ERRNO.ENXIO, device: id });
    const ours = identityOf(info);
    if (ctx.opts.force) {
      try {
        await errorTable(ctx, ours);
      } catch (e) {
        if (e instanceof DmIdentityError) throw e;
        /* dmsetup ignores a failed error-table swap and still removes */
      }
    }
    const r = await dm.removeDevice(addressOf(ours), { deferred: ctx.opts.deferred, retries: ctx.opts.retry ? 25 : 1, expect: ours, ...ctx.udevOptions() });
    const o = ctx.nodeOptions();
    let node: NodeResult['action'] | undefined;
    if (o && !r.deferred && r.name) node = (await removeNode(r.name, { ...o, ueventGenerated: r.ueventGenerated })).action;
    out.push(resultOf(ctx, { name: r.name, uuid: r.uuid, dev: info.dev }, { deferred: r.deferred, ...(node ? { node } : {}) }));
  }
  printResult(ctx, out);
  return 0;
}

/** `remove_all [-f|--force] [--deferred]`: every device not open; with --force, error tables first for the rest (exit 0 even when some stay, as dmsetup). */
export async function removeAll(ctx: Ctx): Promise<number> {
  if (ctx.dry) { ctx.request('removeAll', { deferred: ctx.opts.deferred }); return 0; }
  const dm = await ctx.dm();
  const before = await dm.list();
  await dm.removeAll({ deferred: ctx.opts.deferred });
  let left = await dm.list();
  if (ctx.opts.force && left.length) {
    for (const d of left) {
      const ours = identityOf({ name: d.name, nameBytes: d.nameBytes, uuid: d.uuid ?? null, uuidBytes: d.uuidBytes ?? undefined, dev: d.dev });
      await errorTable(ctx, ours).catch(() => undefined);
    }
    await dm.removeAll({ deferred: ctx.opts.deferred });
    left = await dm.list();
  }
  const o = ctx.nodeOptions();
  if (o) await syncNodes(dm, o);
  const gone = before.filter((b) => !left.some((l) => l.name === b.name));
  printResult(ctx, gone.map((d) => resultOf(ctx, { name: d.name, nameBytes: d.nameBytes, uuid: d.uuid ?? null, uuidBytes: d.uuidBytes, dev: d.dev })));
  // dmsetup's _remove_all says how many stay but still succeeds (its status is the ioctls',
  // and DM_REMOVE_ALL succeeds with busy devices left): exit 0, measured live (verbs-more).
  if (ctx.opts.force && left.length) ctx.io.stderr(`Unable to remove ${left.length} device(s).\n`);
  return 0;
}

async function suspendResume(ctx: Ctx, action: 'suspend' | 'resume'): Promise<number> {
  const ids = ctx.args.length ? ctx.args.map((a) => ctx.deviceId(a)) : [ctx.deviceId(undefined)];
  const flags = { noflush: ctx.opts.noflush, skipLockfs: ctx.opts.nolockfs };
  if (ctx.dry) { for (const id of ids) ctx.request('suspend', { id, action, ...flags }); return 0; }
  const dm = await ctx.dm();
  const out: ResultDevice[] = [];
  for (const id of ids) {
    const d = action === 'suspend' ? await dm.suspend(id, flags) : await dm.resume(id, { ...flags, ...ctx.udevOptions() });
    const node = action === 'resume' ? await nodeAdded(ctx, d) : undefined;
    verboseInfo(ctx, d);
    out.push(resultOf(ctx, d, node ? { node } : {}));
  }
  printResult(ctx, out);
  return 0;
}

export const suspend = (ctx: Ctx) => suspendResume(ctx, 'suspend');
export const resume = (ctx: Ctx) => suspendResume(ctx, 'resume');

/** `load|reload <device> [<table_file>] [--table t] [-r]`: into the inactive slot. */
export async function load(ctx: Ctx): Promise<number> {
  if (ctx.opts.notable) throw new UsageError('--notable only available when creating new device.');
  let name: string | undefined;
  let file: string | undefined;
  if (ctx.byOption) {
    if (ctx.args.length > 1) throw new UsageError('Too many command line arguments.');
    file = ctx.args[0];
  } else {
    if (!ctx.args.length) throw new UsageError('Please specify device.');
    [name, file] = ctx.args;
  }
  const id = ctx.deviceId(name);
  const targets: TargetSpecInput[] = await ctx.table(file);
  const secure = secureLoad(targets);
  if (ctx.dry) { ctx.request('load', { id, targets, readOnly: ctx.opts.readonly, secure }); return 0; }
  const d = await (await ctx.dm()).load(id, targets, { readOnly: ctx.opts.readonly, secure });
  verboseInfo(ctx, d);
  printResult(ctx, [resultOf(ctx, d)]);
  return 0;
}

/** `clear <device>...`: drop the inactive table. */
export async function clear(ctx: Ctx): Promise<number> {
  const ids = ctx.args.length ? ctx.args.map((a) => ctx.deviceId(a)) : [ctx.deviceId(undefined)];
  if (ctx.dry) { for (const id of ids) ctx.request('clear', { id }); return 0; }
  const dm = await ctx.dm();
  const out: ResultDevice[] = [];
  for (const id of ids) {
    const d = await dm.clear(id);
    verboseInfo(ctx, d);
    out.push(resultOf(ctx, d));
  }
  printResult(ctx, out);
  return 0;
}

/** `rename <device> <new_name>` or `rename <device> --setuuid <new_uuid>`. */
export async function rename(ctx: Ctx): Promise<number> {
  const n = ctx.args.length;
  if (n < 1 || n > 2) throw new UsageError('rename needs <device> <new_name> (or --setuuid <new_uuid>).');
  const id = ctx.deviceId(n === 2 ? ctx.args[0] : undefined);
  const to = ctx.args[n - 1]!;
  const target: { newName: string } | { newUuid: string } = ctx.opts.setuuid ? { newUuid: ctx.mangled(to, 'new UUID') } : { newName: ctx.mangled(to, 'new name') };
  if (ctx.dry) {
    if (id.name === undefined) ctx.request('info', { id });
    ctx.request('rename', { name: id.name ?? '<name of the device>', ...target });
    return 0;
  }
  const dm = await ctx.dm();
  const before = await dm.info(id);
  if (!before.exists) throw new DmError({ command: 'rename', errno: 6, device: id });
  // By uuid or dev the client resolves, renames and checks the device itself (lib/operations/identity.ts);
  // rename() resolves with the device as it now is (its new name or uuid).
  const d = await dm.rename(id, target, ctx.udevOptions());
  let node: NodeResult['action'] | undefined;
  const o = ctx.nodeOptions();
  if (o && 'newName' in target) node = (await renameNode(before.name, target.newName, d.dev, { ...o, ueventGenerated: d.flags.ueventGenerated })).action;
  printResult(ctx, [resultOf(ctx, { name: 'newName' in target ? target.newName : d.name, uuid: 'newUuid' in target ? target.newUuid : before.uuid, dev: d.dev }, node ? { node } : {})]);
  return 0;
}

/** `message <device> <sector> <message>...`: prints the target's response, if any. */
export async function message(ctx: Ctx): Promise<number> {
  const args = [...ctx.args];
  const id = ctx.deviceId(ctx.byOption ? undefined : args.shift());
  const sector = args.shift();
  if (sector === undefined || !/^\d+$/.test(sector)) throw new UsageError('Invalid sector.');
  u64Arg(sector, 'sector');
  if (!args.length) throw new UsageError('No message supplied.');
  const text = args.join(' ');
  if (ctx.dry) { ctx.request('message', { id, sector: BigInt(sector), message: text }); return 0; }
  const response = await (await ctx.dm()).message(id, BigInt(sector), text);
  if (ctx.json) {
    const name = id.name !== undefined ? ctx.displayKernel(id.name) : (await (await ctx.dm()).info(id) as { name?: string }).name ?? '';
    ctx.printJson(MessageOutputSchema, { name, response: response ?? null });
  } else if (response !== undefined) {
    ctx.out(response === '' || response.endsWith('\n') ? response : `${response}\n`);
  }
  return 0;
}

/** `setgeometry <device> <cyl> <head> <sect> <start>`. */
export async function setgeometry(ctx: Ctx): Promise<number> {
  const args = [...ctx.args];
  const id = ctx.deviceId(ctx.byOption ? undefined : args.shift());
  if (args.length !== 4) throw new UsageError('setgeometry needs <device> <cyl> <head> <sect> <start>.');
  const [c, h, s] = args.slice(0, 3).map((a, i) => intArg(a, ['cylinders', 'heads', 'sectors'][i]!));
  // The start is a u64 (sectors): a bigint, exact above 2^53 (a number would round).
  const g = { cylinders: c!, heads: h!, sectorsPerTrack: s!, startSectors: u64Arg(args[3]!, 'start') };
  if (ctx.dry) { ctx.request('setGeometry', { id, cylinders: g.cylinders, heads: g.heads, sectorsPerTrack: g.sectorsPerTrack, startSectors: g.startSectors }); return 0; }
  await (await ctx.dm()).setGeometry(id, g);
  printResult(ctx, []);
  return 0;
}

/** `mknodes [<device>...]`: make /dev/mapper match the kernel. */
export async function mknodes(ctx: Ctx): Promise<number> {
  if (ctx.dry) { ctx.request('listDevices', { withUuid: true }); return 0; }
  const o = ctx.nodeOptions() ?? {};
  const dm = await ctx.dm();
  const results: NodeResult[] = [];
  if (ctx.args.length) for (const a of ctx.args) results.push(...await syncNodes(dm, { ...o, name: ctx.mangled(a) }));
  else results.push(...await syncNodes(dm, o));
  if (ctx.json) ctx.printJson(MknodesOutputSchema, { nodes: results });
  return 0;
}
