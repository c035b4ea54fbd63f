/**
 * Operations on a stack of mapped devices, in libdevmapper's orders (libdm/libdm-deptree.c;
 * docs/device-tree.md):
 *
 * - `removeTree`: top-down (dm_tree_deactivate_children): a device is removed once every user
 *   of it in the subtree is gone, then what it uses; a device still used by something outside
 *   the subtree (a mapped device outside it, or an open count beyond its users in the tree) is
 *   kept, and so is everything below it. So is a device with a suspended device below it: its
 *   removal could sleep in the kernel until that device is resumed (a thin-pool commits its
 *   metadata when it goes). Each removal is bounded (`timeoutMs`).
 * - `suspendTree`: top-down (dm_tree_suspend_children): a device only once its users are
 *   suspended; one whose user outside the subtree is live is skipped (suspending a device under
 *   a live user queues that user's I/O and can deadlock a flush).
 * - `resumeTree`: bottom-up (dm_tree_activate_children).
 * - `reloadTree`: new tables for devices of a stack: load bottom-up (a device that grows and has
 *   users is resumed at once, as dm_tree_preload_children does, so the tables above may use the
 *   new size), suspend the changed devices and all their users from the top, resume from the
 *   bottom. Every error path clears the tables it staged and resumes what it suspended.
 *
 * Every step reaches the device of the snapshot or nothing: addressed by uuid (or name without
 * one) and each reply checked against name, uuid and dev (lib/operations/identity.ts, docs/identity.md);
 * a mismatch stops the operation with DmIdentityError. Nothing outside the caller's subtree is
 * ever acted on (outside users are only read, to see whether they are live).
 */
import type { DeviceInfo, TargetSpecInput } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { describeValue, deviceArg, optionsArg, targetsArg } from '../client/args.js';
import type { DeviceMapper } from '../client/client.js';
import { clientArg, DeviceTree, isNode, type TreeDeviceRef, type TreeNode } from './device-tree.js';
import { DmArgumentError, DmError, DmIdentityError } from '../errors.js';
import { addressOf, checkReply } from './identity.js';
import { retryPolicy } from './retry.js';
import { bounded, checkTimeout } from './bounded-steps.js';
import { DmOperationError } from './operation-errors.js';
import { operationOptions, runOperation, type Operation, type OperationProgress } from './operation.js';
import { operationHost } from '../client/internal-keys.js';
import { linkedSignal } from '../events/abort-fanout.js';

/** Options every tree operation takes. */
export interface TreeOperationOptions {
  /** Work on this snapshot instead of reading a new one (its devices are checked at every step all the same). */
  readonly tree?: DeviceTree;
  /** Stops the operation at its next step and ends the wait for the one under way (it finishes in the kernel); what the operation did is undone as its error paths say. */
  readonly signal?: AbortSignal | undefined;
  /** The whole operation's bound in ms (1…3600000): past it, it stops as with `signal`, with DmOperationError TIMEOUT. */
  readonly timeoutMs?: number | undefined;
  /** Called as devices are dealt with (`done` of `total` devices of the subtree). Must not throw; a throw is ignored. */
  readonly onProgress?: ((progress: OperationProgress) => void) | undefined;
}

export interface SuspendTreeOptions extends TreeOperationOptions {
  /** Do not flush queued I/O (DM_NOFLUSH_FLAG), on every device. */
  readonly noflush?: boolean;
  /** Do not freeze filesystems (DM_SKIP_LOCKFS_FLAG), on every device. */
  readonly skipLockfs?: boolean;
  /** Bound on each suspend/resume ioctl in ms (default 30000): a suspend that hangs fails the operation, which resumes what it suspended (and the late one once it returns). */
  readonly stepTimeoutMs?: number;
}

/** Options of {@link resumeTree}: as {@link suspendTree}'s. */
export type ResumeTreeOptions = SuspendTreeOptions;

export interface RemoveTreeOptions extends TreeOperationOptions {
  /**
   * A device the caller named that is open (mounted, held by a process) is marked for removal
   * at its last close (DM_DEFERRED_REMOVE) instead of failing; the devices below it that only
   * it holds are marked too, so the kernel removes the whole stack once it is closed.
   */
  readonly deferred?: boolean;
  /** EBUSY attempts per device (lib/operations/retry.ts; default 25, as libdevmapper). */
  readonly retries?: number;
  /** Delay between attempts in ms (default 200). */
  readonly delayMs?: number;
  /**
   * Bound on each device's removal, EBUSY retries included, in ms (default 30000). A removal
   * that has not returned by then fails the operation with DmOperationError TIMEOUT (the
   * kernel call itself cannot be taken back: it finishes, or not, on its own).
   */
  readonly stepTimeoutMs?: number;
}

/** Why removeTree left a device. */
export type KeptReason =
  /** Used by mapped devices that stay: outside the subtree, or kept themselves (`users`). */
  | 'used'
  /** Open beyond its users in the tree (a mount, a process, a table load by someone else). */
  | 'open'
  /** EBUSY after every attempt. */
  | 'busy'
  /**
   * A device below it is suspended (`suspended` lists them): removing it could sleep in the
   * kernel until they are resumed (a thin-pool commits its metadata when it is removed), so
   * it is not tried. Resume them (resumeTree) and call again.
   */
  | 'suspended';

/** What {@link removeTree} removed and what it kept (with the reason). */
export interface RemoveTreeResult {
  /** Removed, in the order they went. */
  readonly removed: TreeNode[];
  /** Marked for deferred removal (still open). */
  readonly deferred: TreeNode[];
  /** Left in place, and why; nothing below a kept device is touched. */
  readonly kept: {
    /** The device left in place. */
    readonly node: TreeNode;
    /** Why it was kept. */
    readonly reason: KeptReason;
    /** The devices outside the removal that use it. */
    readonly users: TreeNode[];
    /** Its open count, when it was kept for being open. */
    readonly openCount?: number;
    /** The suspended devices below it, when it was kept for them (reason `suspended`). */
    readonly suspended?: TreeNode[];
  }[];
  /** Already gone when their turn came (removed by someone else). */
  readonly gone: TreeNode[];
  /** Whether every mapped device of the subtree was removed or marked deferred. */
  readonly complete: boolean;
}

/** What {@link suspendTree} suspended, top-down. */
export interface SuspendTreeResult {
  /** Suspended by this call, top-down. */
  readonly suspended: TreeNode[];
  /** Already suspended (left as they were). */
  readonly alreadySuspended: TreeNode[];
  /** Not suspended: a user outside the subtree (or a skipped user) is live. */
  readonly skipped: {
    /** The device not suspended. */
    readonly node: TreeNode;
    /** Its live users. */
    readonly users: TreeNode[];
  }[];
  /** Already gone when their turn came. */
  readonly gone: TreeNode[];
}

/** What {@link resumeTree} resumed, bottom-up. */
export interface ResumeTreeResult {
  /** Resumed by this call, bottom-up. */
  readonly resumed: TreeNode[];
  /** Already gone when their turn came. */
  readonly gone: TreeNode[];
}

/** One new table for a device of the stack. */
export interface TreeReload {
  /** The device of the stack to reload. */
  readonly device: TreeDeviceRef;
  /** Its new table. */
  readonly table: readonly TargetSpecInput[];
  /** Load it read-only (DM_READONLY_FLAG). */
  readonly readOnly?: boolean;
  /** The params hold secrets (DM_SECURE_DATA_FLAG; buffers wiped). */
  readonly secure?: boolean;
}

/** What {@link reloadTree} loaded, suspended and resumed. */
export interface ReloadTreeResult {
  /** Loaded, bottom-up. */
  readonly loaded: TreeNode[];
  /** Grown devices with users, resumed right after their load (before anything was suspended). */
  readonly resumedEarly: TreeNode[];
  /** Suspended top-down (the changed devices and everything that uses them). */
  readonly suspended: TreeNode[];
  /** Resumed bottom-up. */
  readonly resumed: TreeNode[];
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** A failure after some steps were taken: what was done is attached, and what failed while undoing. */
function withProgress<E>(e: E, progress: object, cleanup: unknown[]): E {
  if (e !== null && typeof e === 'object') {
    Object.assign(e, { treeProgress: progress });
    if (cleanup.length) Object.assign(e, { cleanupErrors: cleanup });
  }
  return e;
}

function isErrno(e: unknown, errno: number): boolean {
  return e instanceof DmError && e.errno === errno;
}

function treeArg(tree: unknown): void {
  if (tree !== undefined && !(tree instanceof DeviceTree)) throw new DmArgumentError('options.tree', 'a DeviceTree', describeValue(tree));
}

async function snapshot(dm: DeviceMapper, o: TreeOperationOptions): Promise<DeviceTree> {
  return o.tree ?? DeviceTree.read(dm);
}

/** The device's state now, checked to be the snapshot's device; undefined when it is gone. */
async function current(dm: DeviceMapper, n: TreeNode): Promise<DeviceInfo | undefined> {
  const id = n.identity!;
  const r = await dm.info(addressOf(id));
  if (!r.exists) return undefined;
  checkReply('info', id, r, false);
  return r;
}

/** The devices argument, each checked (a tree node, or a device id as every client method takes) before anything is sent. */
function devicesArg(v: unknown): readonly TreeDeviceRef[] {
  if (!Array.isArray(v) || v.length === 0) throw new DmArgumentError('devices', 'a non-empty array of devices', describeValue(v));
  const out: TreeDeviceRef[] = [];
  for (let i = 0; i < v.length; i++) {
    if (!(i in v)) throw new DmArgumentError(`devices[${i}]`, 'a device (the array has a hole here)', 'a hole');
    const d: unknown = v[i];
    out.push(isNode(d) ? d : deviceArg(d, `devices[${i}]`));
  }
  return out;
}

// ------------------------------------------------------------------------------ remove ---

/**
 * Removes `devices` and everything below them, top-down (libdevmapper's
 * dm_tree_deactivate_children): each device once every user of it in the subtree is gone,
 * addressed by uuid (or by name, verified first) with EBUSY retries. A device still used from
 * outside the subtree stays, with everything below it (`kept`); non-dm devices (loop, disks)
 * are never touched. Resolves with what happened; throws on other kernel errors and on
 * DmIdentityError (a device replaced since the snapshot: nothing further is touched), with
 * `treeProgress` (the partial result) on the error.
 */
export async function removeTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: RemoveTreeOptions = {}): Promise<RemoveTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  optionsArg(options, 'options', { ...OPERATION_KINDS, deferred: 'boolean', retries: 'uint', delayMs: 'uint', stepTimeoutMs: 'uint' });
  treeArg(options.tree);
  const bounds = operationOptions(options);
  const policy = retryPolicy({ retries: options.retries, delayMs: options.delayMs });
  const timeoutMs = checkTimeout(options.stepTimeoutMs, DEFAULT_TIMEOUT_MS);
  return runOperation(dm[operationHost](), 'removeTree', bounds, (op) => removeTreeBody(op, dm, refs, options, policy, timeoutMs));
}

async function removeTreeBody(op: Operation, dm: DeviceMapper, refs: readonly TreeDeviceRef[], options: RemoveTreeOptions, policy: ReturnType<typeof retryPolicy>, timeoutMs: number): Promise<RemoveTreeResult> {
  const tree = await snapshot(dm, options);
  const named = new Set(refs.map((d, i) => tree.node(d, `devices[${i}]`)));
  const set = new Set(tree.subtree([...named]).filter((n) => n.kind === 'dm'));
  const result = { removed: [] as TreeNode[], deferred: [] as TreeNode[], kept: [] as RemoveTreeResult['kept'][number][], gone: [] as TreeNode[], complete: false };
  const removed = new Set<TreeNode>();
  const deferred = new Set<TreeNode>();
  const kept = new Set<TreeNode>();
  const handled = (n: TreeNode) => removed.has(n) || deferred.has(n) || kept.has(n) || result.gone.includes(n);
  const keep = (node: TreeNode, reason: KeptReason, users: TreeNode[], extra: { openCount?: number; suspended?: TreeNode[] } = {}) => {
    kept.add(node);
    result.kept.push({ node, reason, users, ...extra });
  };

  /** The mapped devices below `n` that are suspended now (each read afresh and identity-checked). */
  const suspendedBelow = async (n: TreeNode): Promise<TreeNode[]> => {
    const out: TreeNode[] = [];
    for (const b of tree.subtree([n])) {
      if (b === n || b.kind !== 'dm') continue;
      const s = await current(dm, b);
      if (s?.flags.suspended) out.push(b);
    }
    return out;
  };

  const remove = async (n: TreeNode, asDeferred: boolean): Promise<'removed' | 'deferred' | 'busy' | 'gone'> => {
    // Stops the EBUSY retries of a removal the bound gave up on, and follows the operation's stop.
    const step = new AbortController();
    const link = linkedSignal([op.signal], step);
    try {
      const r = await op.step(`remove ${n.name}`, () => bounded(dm.removeDevice(addressOf(n.identity!), {
        expect: n.identity!, retries: policy.attempts, delayMs: policy.delayMs, signal: step.signal, deferred: asDeferred || undefined,
      }), timeoutMs, `removing ${n.name} (${n.key})`));
      return r.deferred ? 'deferred' : 'removed';
    } catch (e) {
      if (isErrno(e, ERRNO.EBUSY)) return 'busy';
      if (isErrno(e, ERRNO.ENXIO)) return 'gone';
      step.abort();
      if (op.signal.aborted) op.checkpoint(); // stopped: the stop's own error
      throw e;
    } finally {
      link.release();
    }
  };

  const visit = async (level: readonly TreeNode[]): Promise<void> => {
    for (const n of level) {
      if (!set.has(n) || handled(n)) continue;
      op.checkpoint();
      // A user in the subtree not dealt with yet: this device's turn comes when that user goes.
      if (n.parents.some((p) => set.has(p) && !handled(p))) continue;
      const holders = n.parents.filter((p) => !set.has(p) || kept.has(p));
      if (holders.length) { keep(n, 'used', holders); continue; }
      const info = await current(dm, n);
      if (!info) {
        result.gone.push(n);
        await visit(n.children);
        continue;
      }
      // Users of the subtree that still exist hold it open once each (deferred ones, until their last close).
      const heldBy = n.parents.filter((p) => deferred.has(p));
      let outcome: Awaited<ReturnType<typeof remove>>;
      let asDeferred: boolean;
      if (info.openCount > heldBy.length) {
        // Open beyond its users in the tree: only a device the caller named is waited for (EBUSY
        // retries) or deferred; below, it is someone else's (libdm skips open non-top-level nodes).
        if (!named.has(n)) { keep(n, 'open', heldBy, { openCount: info.openCount }); continue; }
        asDeferred = options.deferred === true;
      } else if (info.openCount > 0) {
        // Held only by deferred users in the tree: it goes when they do.
        if (!options.deferred) { keep(n, 'used', heldBy, { openCount: info.openCount }); continue; }
        asDeferred = true;
      } else {
        asDeferred = false;
      }
      // A suspended device below: the removal (or a deferred one, later) could sleep until it is
      // resumed, e.g. a thin-pool's metadata commit (docs/kernel-facts.md). Not tried.
      const blocked = await suspendedBelow(n);
      if (blocked.length) { keep(n, 'suspended', heldBy, { suspended: blocked }); continue; }
      outcome = await remove(n, asDeferred);
      if (outcome === 'busy') { keep(n, named.has(n) ? 'busy' : 'open', heldBy); continue; }
      if (outcome === 'gone') result.gone.push(n);
      else if (outcome === 'deferred') { deferred.add(n); result.deferred.push(n); } else { removed.add(n); result.removed.push(n); }
      op.progress(`${outcome} ${n.name}`, removed.size + deferred.size + kept.size + result.gone.length, set.size);
      await visit(n.children);
    }
  };

  try {
    await visit(tree.topDown([...named]).filter((n) => named.has(n)));
  } catch (e) {
    throw withProgress(e, result, []);
  }
  result.complete = [...set].every((n) => removed.has(n) || deferred.has(n) || result.gone.includes(n));
  return result;
}

// ----------------------------------------------------------------------- suspend/resume ---

interface StepOptions { readonly noflush?: boolean; readonly skipLockfs?: boolean; readonly timeoutMs: number }

/** The address of the device a reply names: by uuid where it has one (never by a minor another device may take). */
const replyAddress = (r: DeviceInfo) => (r.uuid ? { uuid: r.uuidBytes ?? r.uuid } : { dev: { major: r.dev.major, minor: r.dev.minor } });

async function suspendOne(op: Operation, dm: DeviceMapper, n: TreeNode, o: StepOptions): Promise<void> {
  const id = n.identity!;
  const at = addressOf(id);
  const flags = { noflush: o.noflush, skipLockfs: o.skipLockfs };
  // A suspend that returns after the operation or the bound gave up is resumed at once, by the device its reply names.
  const late = (r: DeviceInfo) => { void op.kernel.resume(replyAddress(r)).catch(() => {}); };
  const r = await op.step(`suspend ${n.name}`, () => bounded(dm.suspend(at, flags), o.timeoutMs, `suspending ${n.name} (${n.key})`, late), { onLate: late });
  try {
    op.check('suspend', id, r);
  } catch (e) {
    // We suspended a device that is not the snapshot's: give it back as it was, then stop.
    await op.kernel.resume(replyAddress(r)).catch(() => {});
    throw e;
  }
}

async function resumeOne(op: Operation | undefined, dm: DeviceMapper, n: TreeNode, o: StepOptions): Promise<void> {
  const id = n.identity!;
  const at = addressOf(id);
  const flags = { noflush: o.noflush, skipLockfs: o.skipLockfs };
  const call = () => bounded(dm.resume(at, flags), o.timeoutMs, `resuming ${n.name} (${n.key})`);
  const r = op ? await op.step(`resume ${n.name}`, call) : await call();
  checkReply('resume', id, r, true);
}

/** An undo's resume: through the calls that still work after close(), bounded, by uuid where there is one, checked. */
async function resumeForUndo(op: Operation, n: TreeNode, o: StepOptions): Promise<void> {
  const id = n.identity!;
  const r = await bounded(op.kernel.resume(addressOf(id), { noflush: o.noflush, skipLockfs: o.skipLockfs }), o.timeoutMs, `resuming ${n.name} (${n.key})`);
  checkReply('resume', id, r, true);
}

/** Resumes `nodes` (given top-down) bottom-up, going on past failures; returns the errors. */
async function undoSuspend(op: Operation, nodes: readonly TreeNode[], o: StepOptions): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const n of [...nodes].reverse()) {
    try {
      await resumeForUndo(op, n, o);
    } catch (e) {
      if (!isErrno(e, ERRNO.ENXIO)) errors.push(e);
    }
  }
  return errors;
}

function stepOptions(options: SuspendTreeOptions): StepOptions {
  optionsArg(options, 'options', { ...OPERATION_KINDS, noflush: 'boolean', skipLockfs: 'boolean', stepTimeoutMs: 'uint' });
  treeArg(options.tree);
  operationOptions(options);
  return { noflush: options.noflush, skipLockfs: options.skipLockfs, timeoutMs: checkTimeout(options.stepTimeoutMs, DEFAULT_TIMEOUT_MS) };
}

/** The option kinds every tree operation takes (values checked by operationOptions). */
const OPERATION_KINDS = { tree: 'any', signal: 'signal', timeoutMs: 'any', onProgress: 'function' } as const;

/** What an operation's caller gets of its options: the stop and progress ones. */
const bounds = (o: TreeOperationOptions) => ({ signal: o.signal, timeoutMs: o.timeoutMs, onProgress: o.onProgress });

/**
 * Suspends `devices` and everything below them, top-down: a device only once every user of it
 * is suspended (dm_tree_suspend_children). A device whose user outside the subtree is live is
 * skipped, with everything only reachable through it. On any failure (an ioctl, a timeout, a
 * device replaced since the snapshot, the signal) everything this call suspended is resumed,
 * bottom-up, before the error is thrown: the stack is never left half-suspended by us.
 */
export async function suspendTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: SuspendTreeOptions = {}): Promise<SuspendTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  const o = stepOptions(options);
  const cleanup: unknown[] = [];
  return runOperation(dm[operationHost](), 'suspendTree', bounds(options), async (op) => {
  const tree = await snapshot(dm, options);
  const order = tree.subtree(refs).filter((n) => n.kind === 'dm');
  const set = new Set(order);
  const result = { suspended: [] as TreeNode[], alreadySuspended: [] as TreeNode[], skipped: [] as SuspendTreeResult['skipped'][number][], gone: [] as TreeNode[] };
  const down = new Set<TreeNode>(); // suspended now, by us or before
  try {
    for (const n of order) {
      op.checkpoint();
      op.progress(`suspend ${n.name}`, down.size + result.skipped.length + result.gone.length, order.length);
      const live: TreeNode[] = [];
      for (const p of n.parents) {
        if (set.has(p)) { if (!down.has(p) && !result.gone.includes(p)) live.push(p); continue; }
        // A user outside the subtree: only read, to see whether it is live.
        const s = p.kind === 'dm' ? await current(dm, p).catch((e) => { if (e instanceof DmIdentityError) return p.info; throw e; }) : undefined;
        if (s && !s.flags.suspended) live.push(p);
      }
      if (live.length) { result.skipped.push({ node: n, users: live }); continue; }
      const info = await current(dm, n);
      if (!info) { result.gone.push(n); continue; }
      if (info.flags.suspended) { down.add(n); result.alreadySuspended.push(n); continue; }
      await suspendOne(op, dm, n, o);
      // Undone bottom-up (the journal runs last-in first-out) if the operation fails or is stopped, after close() too.
      op.undo(`resume ${n.name}`, async () => {
        try {
          await resumeForUndo(op, n, o);
        } catch (e) {
          if (isErrno(e, ERRNO.ENXIO)) return;
          cleanup.push(e);
          throw e;
        }
      });
      down.add(n);
      result.suspended.push(n);
    }
  } catch (e) {
    throw withProgress(e, result, []);
  }
  return result;
  }).catch((e: unknown) => {
    // Every resume the undo could not make, not only the first (the journal's cleanupError).
    if (cleanup.length && e !== null && typeof e === 'object') Object.assign(e, { cleanupErrors: cleanup });
    throw e;
  });
}

/**
 * Resumes the suspended devices among `devices` and everything below them, bottom-up
 * (dm_tree_activate_children): what a device uses first. A resume swaps in a device's
 * inactive table if it has one, as the kernel always does. Stops at the first failure.
 */
export async function resumeTree(dm: DeviceMapper, devices: readonly TreeDeviceRef[], options: ResumeTreeOptions = {}): Promise<ResumeTreeResult> {
  clientArg(dm);
  const refs = devicesArg(devices);
  const o = stepOptions(options);
  return runOperation(dm[operationHost](), 'resumeTree', bounds(options), async (op) => {
  const tree = await snapshot(dm, options);
  const result = { resumed: [] as TreeNode[], gone: [] as TreeNode[] };
  try {
    const order = tree.bottomUp(refs).filter((n) => n.kind === 'dm');
    for (const [i, n] of order.entries()) {
      op.checkpoint();
      op.progress(`resume ${n.name}`, i, order.length);
      const info = await current(dm, n);
      if (!info) { result.gone.push(n); continue; }
      if (!info.flags.suspended) continue;
      await resumeOne(op, dm, n, o);
      result.resumed.push(n);
    }
  } catch (e) {
    throw withProgress(e, result, []);
  }
  return result;
  });
}

// ------------------------------------------------------------------------------ reload ---

const tableSize = (t: readonly { readonly length: bigint | number | string }[]) => t.reduce((s, l) => s + BigInt(l.length), 0n);

/**
 * New tables for devices of a stack, with libdevmapper's rule for a table that changes under
 * live users: load every new table (bottom-up; a device that grows and has users is resumed
 * right after its load, so the tables above can use its new size), then suspend the changed
 * devices and every device that uses them from the top, then resume from the bottom, which
 * makes the new tables live. On failure before the resumes: the staged tables are cleared and
 * what was suspended is resumed with its old table; a failed resume is retried once with the
 * device's table cleared, and the remaining resumes still run.
 */
export async function reloadTree(dm: DeviceMapper, reloads: readonly TreeReload[], options: SuspendTreeOptions = {}): Promise<ReloadTreeResult> {
  clientArg(dm);
  if (!Array.isArray(reloads) || reloads.length === 0) throw new DmArgumentError('reloads', 'a non-empty array of { device, table }', describeValue(reloads));
  const checked: { device: TreeDeviceRef; table: TargetSpecInput[]; readOnly?: boolean; secure?: boolean }[] = [];
  for (let i = 0; i < reloads.length; i++) {
    if (!(i in reloads)) throw new DmArgumentError(`reloads[${i}]`, 'a { device, table } (the array has a hole here)', 'a hole');
    const r = optionsArg(reloads[i], `reloads[${i}]`, { device: 'any', table: 'any', readOnly: 'boolean', secure: 'boolean' }, ['device', 'table']);
    const device = isNode(r.device) ? r.device : deviceArg(r.device, `reloads[${i}].device`);
    checked.push({ device, table: targetsArg(r.table, `reloads[${i}].table`), readOnly: r.readOnly as boolean | undefined, secure: r.secure as boolean | undefined });
  }
  const o = stepOptions(options);
  return runOperation(dm[operationHost](), 'reloadTree', bounds(options), (op) => reloadTreeBody(op, dm, checked, o, options));
}

async function reloadTreeBody(
  op: Operation, dm: DeviceMapper, checked: readonly { device: TreeDeviceRef; table: TargetSpecInput[]; readOnly?: boolean; secure?: boolean }[],
  o: StepOptions, options: SuspendTreeOptions,
): Promise<ReloadTreeResult> {
  const tree = await snapshot(dm, options);
  const changes = new Map<TreeNode, { table: TargetSpecInput[]; readOnly?: boolean; secure?: boolean }>();
  checked.forEach((r, i) => {
    const n = tree.node(r.device, `reloads[${i}].device`);
    if (n.kind !== 'dm') throw new DmOperationError('WRONG_TARGET', `reloads[${i}].device: ${n.name || 'a block device'} (${n.key}) is not a mapped device`);
    if (changes.has(n)) throw new DmArgumentError(`reloads[${i}].device`, 'a device not given twice', `${n.name} (${n.key})`);
    changes.set(n, { table: r.table, readOnly: r.readOnly, secure: r.secure });
  });
  const changed = [...changes.keys()];
  const up = tree.above(changed).filter((n) => n.kind === 'dm'); // top-down
  const loadOrder = tree.bottomUp().filter((n) => changes.has(n));
  const result: ReloadTreeResult = { loaded: [], resumedEarly: [], suspended: [], resumed: [] };
  const staged: TreeNode[] = [];

  const clearStaged = async (): Promise<unknown[]> => {
    const errors: unknown[] = [];
    for (const n of staged.splice(0)) {
      try {
        checkReply('clear', n.identity!, await op.kernel.clear(addressOf(n.identity!)), true);
      } catch (e) {
        if (!isErrno(e, ERRNO.ENXIO)) errors.push(e);
      }
    }
    return errors;
  };

  // 1. Load, bottom-up.
  try {
    for (const n of loadOrder) {
      op.checkpoint();
      op.progress(`load ${n.name}`, result.loaded.length, loadOrder.length);
      const c = changes.get(n)!;
      const id = n.identity!;
      const at = addressOf(id);
      const before = await dm.table(at);
      checkReply('status', id, before.device, false);
      // A load that lands after the operation gave up is cleared then: a staged table would go live at the next resume, anyone's.
      const loaded = await op.step(`load ${n.name}`, () => dm.load(at, c.table, { readOnly: c.readOnly, secure: c.secure }), {
        onLate: (late) => { void op.kernel.clear(late.uuid ? { uuid: late.uuidBytes ?? late.uuid } : at).catch(() => {}); },
      });
      staged.push(n);
      checkReply('load', id, loaded, true);
      result.loaded.push(n);
      if (n.parents.length > 0 && tableSize(c.table) > tableSize(before.targets)) {
        // dm_tree_preload_children: a grown device with users is resumed now (they cannot see
        // past its old end yet), so that the tables above it can be loaded with the new size.
        await resumeOne(op, dm, n, o);
        staged.splice(staged.indexOf(n), 1);
        result.resumedEarly.push(n);
      }
    }
  } catch (e) {
    throw withProgress(e, result, await clearStaged());
  }

  // 2. Suspend the changed devices and their users, top-down.
  try {
    for (const n of up) {
      op.checkpoint();
      op.progress(`suspend ${n.name}`, result.suspended.length, up.length);
      const info = await current(dm, n);
      if (!info) throw new DmOperationError('NOT_FOUND', `${n.name} (${n.key}) was removed during the reload`, { errno: ERRNO.ENXIO });
      if (info.flags.suspended) continue; // suspended by someone else: left so (a staged table of it still goes live below)
      await suspendOne(op, dm, n, o);
      result.suspended.push(n);
    }
  } catch (e) {
    const cleanup = await clearStaged();
    cleanup.push(...await undoSuspend(op, result.suspended, o));
    throw withProgress(e, result, cleanup);
  }

  // 3. Resume, bottom-up: the new tables go live. Every device is resumed even if one fails,
  // and even once the operation was stopped (through the calls that work after close()):
  // nothing this operation suspended stays suspended.
  const errors: unknown[] = [];
  for (const n of [...up].reverse()) {
    if (!result.suspended.includes(n) && !staged.includes(n)) continue;
    op.progress(`resume ${n.name}`, result.resumed.length, up.length);
    try {
      await resumeForUndo(op, n, o);
      result.resumed.push(n);
    } catch (e) {
      errors.push(e);
      // A resume that failed (a target's preresume refused the new table) leaves the device
      // suspended: drop what is staged and resume its old table, so nothing stays suspended.
      try {
        await op.kernel.clear(addressOf(n.identity!)).catch(() => {});
        await resumeForUndo(op, n, o);
      } catch (again) {
        errors.push(again);
      }
    }
  }
  if (errors.length) throw withProgress(errors[0], result, errors.slice(1));
  return result;
}
