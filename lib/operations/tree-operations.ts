/**
 * Operations on a stack of mapped devices, in libdevmapper's orders (libdm/libdm-deptree.c;
 * docs/device-tree.md):
 *
 * - `removeTree`: top-down (dm_tree_deactivate_children): a device is removed once every user
 *   of it in the subtree is gone, then what it uses; a device still used by something outside
 *   the subtree (a mapped device outside it, or an open count beyond its users in the tree) is
 *   kept, and so is everything below it. So is a device with a suspended device below it: its
 *   removal could sleep in the kernel until that device is resumed (a thin-pool commits its
 *   metadata when it goes). Each removal is bounded (`stepTimeoutMs`; `timeoutMs` bounds the whole operation).
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
 *
 * This file holds their options and results; each operation is in a file of its own
 * (tree-remove.ts, tree-suspend.ts, tree-reload.ts) and what they share in tree-plan.ts.
 */
import type { TargetSpecInput } from '../../codec/index.js';
import { DeviceTree, type TreeDeviceRef, type TreeNode } from './device-tree.js';
import { DmOperationError } from '../errors.js';
import { type OperationProgress } from './operation.js';

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
  /**
   * suspendTree and resumeTree: devices suspended or resumed at once (1…128; default 32, as
   * removeMany's). Those whose turn has come in tree order (for suspend, every user in the
   * subtree suspended; for resume, everything it uses resumed) go in parallel, each on a lane
   * of its own, so that the kernel's waits overlap (docs/scale.md). `1`: one at a time.
   * reloadTree goes one device at a time and refuses this option.
   */
  readonly concurrency?: number | undefined;
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
  /**
   * Devices removed at once (1…128; default 32, as removeMany's): the devices whose users in
   * the subtree are all gone are removed in parallel, each on a lane of its own, so that the
   * kernel's grace-period waits overlap (docs/scale.md). Tree order is kept: a device is tried
   * only once every user of it in the subtree is dealt with. `1` removes one at a time.
   */
  readonly concurrency?: number | undefined;
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

export { removeTree } from './tree-remove.js';
export { resumeTree, suspendTree } from './tree-suspend.js';
export { reloadTree } from './tree-reload.js';
