/**
 * reloadTree: load bottom-up, suspend the changed devices and their users top-down, resume
 * bottom-up, as dm_tree_preload_children and its callers do (tree-operations.ts says the
 * rule; docs/device-tree.md).
 */
import type { DeviceInfo, TargetSpecInput } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { describeValue, deviceArg, optionsArg, targetsArg } from '../client/args.js';
import type { DeviceMapper } from '../client/client.js';
import { clientArg, isNode, type TreeDeviceRef, type TreeNode } from './device-tree.js';
import { DmArgumentError } from '../errors.js';
import { addressOf, checkReply, clearOurs, identityOf, repliedBy } from './identity.js';
import { DmOperationError } from '../errors.js';
import { runOperation, type Operation } from './operation.js';
import { operationHost } from '../client/internal-keys.js';
import type { SuspendTreeOptions, TreeReload, ReloadTreeResult } from './tree-operations.js';
import { intentDevice, slotOf } from './intent-record.js';
import { withProgress, isErrno, snapshot, current, type StepOptions, suspendOne, resumeOne, resumeForUndo, undoSuspend, stepOptions, bounds } from './tree-plan.js';

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
        await clearOurs(op.kernel, n.identity!, `clear ${n.name}`);
        op.settle(slotOf('loaded', n.identity!));
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
      // A load that lands after the operation gave up is cleared then (a staged table would go
      // live at the next resume, anyone's): on the device its reply names, verified right
      // before the clear, never on whoever holds the name by then.
      const clearLanded = (landed: DeviceInfo) => clearOurs(op.kernel, identityOf(landed), `clear ${n.name}`).then(() => {}, () => {});
      // Recorded first: a process that dies with the table staged leaves it to recover(), which clears it.
      op.intent(slotOf('loaded', id), { kind: 'loaded', device: intentDevice(id) });
      const loaded = await op.step(`load ${n.name}`, () => dm.load(at, c.table, { readOnly: c.readOnly, secure: c.secure }), {
        onLate: (late) => { void clearLanded(late); },
      });
      if (!repliedBy('load', id, loaded)) await clearLanded(loaded); // our table, staged on another device: taken back from that one
      checkReply('load', id, loaded, true);
      staged.push(n);
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
      if (!info) throw new DmOperationError('ENXIO', `${n.name} (${n.key}) was removed during the reload`);
      if (info.flags.suspended) continue; // suspended by someone else: left so (a staged table of it still goes live below)
      await suspendOne(op, dm, n, o);
      result.suspended.push(n);
    }
  } catch (e) {
    const cleanup = await clearStaged();
    cleanup.push(...await undoSuspend(op, result.suspended, o));
    throw withProgress(e, result, cleanup);
  }

  // Past this point the reload goes forward: a process that dies now leaves recover() the
  // resumes alone, which make the staged tables live as this step would.
  for (const n of staged) op.settle(slotOf('loaded', n.identity!));
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
        await clearOurs(op.kernel, n.identity!, `clear ${n.name}`).catch(() => {});
        await resumeForUndo(op, n, o);
      } catch (again) {
        errors.push(again);
      }
    }
  }
  if (errors.length) throw withProgress(errors[0], result, errors.slice(1));
  return result;
}
