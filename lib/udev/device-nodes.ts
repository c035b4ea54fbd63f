/**
 * `/dev/mapper/<name>` nodes. The kernel's devtmpfs makes only `/dev/dm-N`; the named
 * nodes are made by udev (its 10-dm.rules symlink `/dev/mapper/$DM_NAME` on the
 * resume "change" uevent) or, without udev, by the tool itself — as libdevmapper does
 * with `DM_DISABLE_UDEV=1` (`_add_dev_node`, `_rm_dev_node`, `_rename_dev_node`).
 *
 * Policy (what `dmctl` does after resume, rename and remove):
 * - **udev not running** (`DM_DISABLE_UDEV` set, or no `/run/udev/control`): create,
 *   rename and remove the node directly: a block node, mode 0600, root:root, like
 *   libdevmapper's defaults.
 * - **udev running, call made with `udev: 'none'`** (no cookie; a synced call —
 *   lib/udev/cookie-call.ts, the default where udev runs — returns once udev made the node, so
 *   these functions find it there at once). If the kernel
 *   reported `DM_UEVENT_GENERATED_FLAG`, udev will act: wait until the node matches
 *   the kernel (timeout, AbortSignal); if it does not in time, fall back to doing it
 *   directly, like libdevmapper's "Falling back to direct node creation". Without
 *   that flag no uevent was sent, so the node is handled directly at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mknodBlock } from '../../ffi/block.js';
import { DmAbortError, DmSyscallError, ERRNO } from '../errors.js';
import { onAbort } from '../events/abort-fanout.js';
import type { DeviceMapper } from '../client/client.js';
import { blockIoFor } from '../block/block-io.js';
import { DmArgumentError } from '../errors.js';
import { describeValue, objectArg, optionsArg, valueArg, type OptionKind } from '../client/args.js';

/** Where device nodes of mapped devices live. */
export const DM_DIR = '/dev/mapper';

/** The filesystem operations nodes need; replaceable for tests. */
export interface NodeOps {
  /** The node's device number when it is (or points to) a block device, 'other' for anything else, undefined when absent. */
  stat(p: string): {
    /** Major number. */
    major: number;
    /** Minor number. */
    minor: number;
  } | 'other' | undefined;
  /** Whether anything (even a dangling symlink) exists at p. */
  exists(p: string): boolean;
  /** Creates a block device node. */
  mknod(p: string, major: number, minor: number, mode: number): Promise<void>;
  /** Removes a node. */
  unlink(p: string): void;
  /** Renames a node. */
  rename(from: string, to: string): void;
  /** Sets owner, group and mode of a node. */
  chown(p: string, uid: number, gid: number, mode: number): void;
  /** Lists a directory. */
  readdir(dir: string): string[];
}

function rdevSplit(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  return { major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)), minor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn & 0xffffffffn)) };
}

/** The real filesystem. */
export const realNodeOps: NodeOps = {
  stat(p) {
    try {
      const s = fs.statSync(p);
      return s.isBlockDevice() ? rdevSplit(s.rdev) : 'other';
    } catch {
      return undefined;
    }
  },
  exists(p) {
    try { fs.lstatSync(p); return true; } catch { return false; }
  },
  mknod: (p, major, minor, mode) => mknodBlock(p, major, minor, mode),
  unlink: (p) => fs.unlinkSync(p),
  rename: (a, b) => fs.renameSync(a, b),
  chown(p, uid, gid, mode) { fs.chownSync(p, uid, gid); fs.chmodSync(p, mode); },
  readdir: (d) => fs.readdirSync(d),
};

/** Options of the node functions (`addNode`, `removeNode`, …). */
export interface NodeOptions {
  /** Directory of the named nodes (default /dev/mapper). */
  readonly dir?: string;
  /** Whether udev manages the nodes: 'auto' (default) = {@link udevActive}. */
  readonly udev?: boolean | 'auto';
  /** How long to wait for udev before falling back (default 10 s). */
  readonly timeoutMs?: number;
  /** Stops waiting for udev. */
  readonly signal?: AbortSignal;
  /** Mode of nodes made directly (default 0600, as libdevmapper). */
  readonly mode?: number;
  /** Owner of nodes made directly (default 0). */
  readonly uid?: number;
  /** Group of nodes made directly (default 0). */
  readonly gid?: number;
  /** Filesystem operations (tests); wins over `dm`. */
  readonly ops?: NodeOps;
  /**
   * The client whose backend holds the nodes: the simulator's in-memory /dev on a simulated
   * client, the host's on the real one. Default (neither `ops` nor `dm`): the host's.
   */
  readonly dm?: DeviceMapper;
  /** Environment to read DM_DISABLE_UDEV from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** What a node operation did. */
export interface NodeResult {
  /** The node, e.g. `/dev/mapper/<name>`. */
  readonly path: string;
  /** created/removed/renamed directly; `exists`/`absent`: nothing to do; `udev`: udev did it; `fallback`: udev did not in time, done directly. */
  readonly action: 'created' | 'exists' | 'removed' | 'absent' | 'renamed' | 'udev' | 'fallback';
}

/**
 * Whether udev is expected to manage /dev/mapper: not when `DM_DISABLE_UDEV` is set
 * (libdevmapper's switch), otherwise when udevd's control socket exists (what
 * libudev's `udev_queue_get_udev_is_active()` checks).
 */
export function udevActive(env: Readonly<Record<string, string | undefined>> = process.env, ops: Pick<NodeOps, 'exists'> = realNodeOps): boolean {
  objectArg(env, 'env', 'an environment object');
  valueArg(objectArg(ops, 'ops', 'node operations').exists, 'ops.exists', 'function');
  if (env.DM_DISABLE_UDEV !== undefined && env.DM_DISABLE_UDEV !== '') return false;
  return ops.exists('/run/udev/control');
}

/**
 * `/dev/mapper/<name>`. The name is the kernel's (mangled, for names created by libdevmapper).
 * "control" is refused: `/dev/mapper/control` is the node every device-mapper tool opens, never
 * a device's node (the kernel refuses the name for devices too).
 */
export function nodePath(name: string, dir = DM_DIR): string {
  valueArg(name, 'name', 'string');
  valueArg(dir, 'dir', 'string');
  if (name === '' || name.includes('/') || name === '.' || name === '..' || name === 'control') throw new DmArgumentError('name', 'a node name (not empty, ".", "..", "control" or containing "/")', describeValue(name), 'INVALID_NAME');
  return path.join(dir, name);
}

const NODE_OPTIONS: Readonly<Record<string, OptionKind>> = {
  dir: 'string', udev: 'any', timeoutMs: 'uint', signal: 'signal', mode: 'uint', uid: 'uint', gid: 'uint', ops: 'object', env: 'object', dm: 'object',
};

/** The node operations of these options: `ops`, else `dm`'s backend's, else the host's. */
function opsOf(o: NodeOptions): NodeOps {
  return o.ops ?? (o.dm === undefined ? realNodeOps : blockIoFor(o.dm).nodes);
}

/** NodeOptions (plus the `extra` keys a function takes), checked; unknown keys refused. */
function nodeOptionsArg(options: unknown, extra: Readonly<Record<string, OptionKind>> = {}): void {
  const o = optionsArg(options, 'options', { ...NODE_OPTIONS, ...extra });
  if (o.udev !== undefined && typeof o.udev !== 'boolean' && o.udev !== 'auto') throw new DmArgumentError('options.udev', "a boolean or 'auto'", describeValue(o.udev));
}

/** A device number argument: `{ major, minor }` (a DevNo's `raw` is ignored). */
function devArg(dev: unknown, argument = 'dev'): void {
  optionsArg(dev, argument, { major: 'uint', minor: 'uint', raw: 'any' }, ['major', 'minor']);
}

function useUdev(o: NodeOptions, ueventGenerated: boolean | undefined): boolean {
  const on = o.udev === undefined || o.udev === 'auto' ? udevActive(o.env, opsOf(o)) : o.udev;
  return on && ueventGenerated === true;
}

/**
 * Waits until the node for `name` is a block device with `dev`, or (dev undefined)
 * until it is gone. Resolves true when it happened, false on timeout; rejects with
 * DmAbortError when the signal fires.
 */
export async function waitForNode(name: string, dev: { major: number; minor: number } | undefined, options: NodeOptions = {}): Promise<boolean> {
  valueArg(name, 'name', 'string');
  if (dev !== undefined) devArg(dev);
  // ueventGenerated: accepted (and unused) so the options of addNode/removeNode pass through.
  nodeOptionsArg(options, { ueventGenerated: 'boolean' });
  const ops = opsOf(options);
  const p = nodePath(name, options.dir);
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const done = () => {
    if (dev === undefined) return !ops.exists(p);
    const s = ops.stat(p);
    return typeof s === 'object' && s.major === dev.major && s.minor === dev.minor;
  };
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (options.signal?.aborted) throw new DmAbortError(options.signal.reason);
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      const t = setTimeout(() => { off?.(); resolve(); }, delay);
      // Through the fan-out: one signal shared by many node waits keeps one listener.
      const off = signal ? onAbort(signal, () => { clearTimeout(t); reject(new DmAbortError(signal.reason)); }) : undefined;
    });
  }
}

async function mkNode(name: string, dev: { major: number; minor: number }, o: NodeOptions): Promise<NodeResult['action']> {
  const ops = opsOf(o);
  const p = nodePath(name, o.dir);
  const s = ops.stat(p);
  if (s === 'other') throw new DmSyscallError('A non-block device file is already present', { errno: ERRNO.EEXIST, syscall: 'mknod', path: p });
  if (s && s.major === dev.major && s.minor === dev.minor) return 'exists';
  if (s || ops.exists(p)) ops.unlink(p);
  try {
    await ops.mknod(p, dev.major, dev.minor, o.mode ?? 0o600);
  } catch (e) {
    // udev may have made it meanwhile.
    if ((e as { errno?: number }).errno !== 17) throw e;
  }
  ops.chown(p, o.uid ?? 0, o.gid ?? 0, o.mode ?? 0o600);
  return 'created';
}

function rmNode(name: string, o: NodeOptions): NodeResult['action'] {
  const ops = opsOf(o);
  const p = nodePath(name, o.dir);
  if (!ops.exists(p)) return 'absent';
  // Only a block device or a symlink to one (or a dangling symlink, udev's link to a dm-N
  // devtmpfs already dropped) is a device's node; anything else is someone else's file.
  if (ops.stat(p) === 'other') throw new DmSyscallError('A non-block device file is present; left in place', { errno: ERRNO.EEXIST, syscall: 'unlink', path: p });
  try {
    ops.unlink(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return 'removed';
}

/** After create/resume: make `/dev/mapper/<name>` for `dev` (or wait for udev's). */
export async function addNode(name: string, dev: { major: number; minor: number }, options: NodeOptions & { ueventGenerated?: boolean } = {}): Promise<NodeResult> {
  valueArg(name, 'name', 'string');
  devArg(dev);
  nodeOptionsArg(options, { ueventGenerated: 'boolean' });
  const p = nodePath(name, options.dir);
  if (useUdev(options, options.ueventGenerated)) {
    if (await waitForNode(name, dev, options)) return { path: p, action: 'udev' };
    await mkNode(name, dev, options);
    return { path: p, action: 'fallback' };
  }
  return { path: p, action: await mkNode(name, dev, options) };
}

/** After remove: drop `/dev/mapper/<name>` (or wait for udev to). */
export async function removeNode(name: string, options: NodeOptions & { ueventGenerated?: boolean } = {}): Promise<NodeResult> {
  valueArg(name, 'name', 'string');
  nodeOptionsArg(options, { ueventGenerated: 'boolean' });
  const p = nodePath(name, options.dir);
  if (useUdev(options, options.ueventGenerated)) {
    if (await waitForNode(name, undefined, options)) return { path: p, action: 'udev' };
    rmNode(name, options);
    return { path: p, action: 'fallback' };
  }
  return { path: p, action: rmNode(name, options) };
}

/** After rename: move the node (or wait for udev to make the new one and drop the old). */
export async function renameNode(oldName: string, newName: string, dev: { major: number; minor: number }, options: NodeOptions & { ueventGenerated?: boolean } = {}): Promise<NodeResult> {
  valueArg(oldName, 'oldName', 'string');
  valueArg(newName, 'newName', 'string');
  devArg(dev);
  nodeOptionsArg(options, { ueventGenerated: 'boolean' });
  const ops = opsOf(options);
  const from = nodePath(oldName, options.dir);
  const to = nodePath(newName, options.dir);
  if (useUdev(options, options.ueventGenerated)) {
    const made = await waitForNode(newName, dev, options);
    const gone = made && await waitForNode(oldName, undefined, { ...options, timeoutMs: 1000 });
    if (made && gone) return { path: to, action: 'udev' };
    await mkNode(newName, dev, options);
    rmNode(oldName, options);
    return { path: to, action: 'fallback' };
  }
  const s = ops.stat(to);
  if (s === 'other') throw new DmSyscallError('A non-block device file is already present', { errno: ERRNO.EEXIST, syscall: 'rename', path: to });
  if (s || ops.exists(to)) ops.unlink(to);
  if (ops.exists(from)) {
    ops.rename(from, to);
    return { path: to, action: 'renamed' };
  }
  return { path: to, action: await mkNode(newName, dev, options) };
}

/**
 * `dmsetup mknodes`: make the directory match the kernel — a node for every device (or
 * only `name`), and stale nodes of devices that no longer exist removed. `control` is
 * never touched.
 */
export async function syncNodes(dm: DeviceMapper, options: NodeOptions & { name?: string } = {}): Promise<NodeResult[]> {
  valueArg(objectArg(dm, 'dm', 'a DeviceMapper').list, 'dm.list', 'function');
  nodeOptionsArg(options, { name: 'string' });
  // The client's backend holds its devices' nodes: the simulator's memory for a simulated client.
  const ops = options.ops ?? blockIoFor(options.dm ?? dm).nodes;
  const dir = options.dir ?? DM_DIR;
  // A name that is no node's ("control", "..") is refused before the kernel is asked.
  if (options.name !== undefined) nodePath(options.name, dir);
  const out: NodeResult[] = [];
  const list = await dm.list();
  const byName = new Map(list.map((d) => [d.name, d]));
  const direct = { ...options, ops, udev: false };
  if (options.name !== undefined) {
    const d = byName.get(options.name);
    if (d) out.push({ path: nodePath(d.name, dir), action: await mkNode(d.name, d.dev, direct) });
    else out.push({ path: nodePath(options.name, dir), action: rmNode(options.name, direct) });
    return out;
  }
  // A device named "control" (allowed by kernels older than the rule) gets no node: that path is the control node's.
  for (const d of list) if (d.name !== 'control') out.push({ path: nodePath(d.name, dir), action: await mkNode(d.name, d.dev, direct) });
  let entries: string[] = [];
  try { entries = ops.readdir(dir); } catch { /* no directory */ }
  for (const e of entries) {
    if (e === 'control' || byName.has(e)) continue;
    const s = ops.stat(path.join(dir, e));
    if (s === 'other') continue;
    out.push({ path: path.join(dir, e), action: rmNode(e, direct) });
  }
  return out;
}
