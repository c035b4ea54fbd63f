/**
 * `dm.recover()`: finishes or takes back what multi-step operations of dead processes left
 * half-done, from their intent records (lib/kernel/intent-store.ts, docs/crash-safety.md).
 *
 * A record is recovered only when the process that wrote it is gone (its pid does not run,
 * or runs with another start time) and after it was claimed atomically (a record claimed by
 * a recoverer that died too is claimed again). Each effect is acted on only when the device
 * found now is the one recorded (uuid, and dev once known; the name where there is no uuid),
 * addressed by uuid where there is one, and each reply checked again. The order takes the
 * operation back (or, for removeTree, forward) to a state its caller could have seen had it
 * completed or never started:
 *
 *   1. staged tables it loaded are cleared (a resume would otherwise swap them in);
 *   2. devices it suspended are resumed, last suspended first (bottom-up for a tree);
 *   3. temporary devices and devices createDevice was making are removed;
 *   4. thin ids it created and never reported are deleted (`delete <id>`; the kernel refuses
 *      one an active thin device maps: then it is reported, not deleted), and so is a thin
 *      whose delete had begun discarding it (forward: its data is already going); a create
 *      whose reply was never seen is probed and reported, never deleted (unconfirmedCreate);
 *   5. a half-done removeTree is completed, top-down;
 *   6. udev semaphores it made for its own calls are removed.
 *
 * A step that fails leaves the record, with a note, for a later recovery.
 */
import type { DeviceId, DeviceInfo } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { optionsArg } from '../client/args.js';
import type { DeviceMapper } from '../client/client.js';
import { clientParts, operationHost } from '../client/internal-keys.js';
import { DmError } from '../errors.js';
import { thinPoolMessage } from '../targets/thin.js';
import { judgeRecordedCookie } from '../udev/cookie-leftover.js';
import { abortableSleep } from './retry.js';
import { intentRecordProblem, type IntentDevice, type IntentEffect, type IntentRecord, type IntentStore, type StoredIntent } from '../kernel/intent-store.js';
import { operationOptions, runOperation, type Operation, type OperationOptions } from './operation.js';

/** Options of {@link DeviceMapper.recover}. */
export interface RecoverOptions extends OperationOptions {
  /** Report what would be done, claim nothing and change nothing. */
  readonly dryRun?: boolean;
}

/** One action of a recovery. */
export interface RecoveryAction {
  /** What was (or would be) done. */
  readonly action: 'clear' | 'resume' | 'remove' | 'delete-thin' | 'release-cookie';
  /** The device, thin id or semaphore it concerns, as text (`vg-lv (uuid …, 254:3)`, `thin 7 of pool`, `semid 12`). */
  readonly target: string;
  /**
   * `done`: done now; `planned`: a dry run would do it; `not-needed`: the state is already
   * right (gone, not suspended, never created); `skipped`: not ours to touch (another device
   * under the name or uuid, in use, unidentifiable), with a note; `failed`: the step failed,
   * the record stays.
   */
  readonly outcome: 'done' | 'planned' | 'not-needed' | 'skipped' | 'failed';
  /** Why, for skipped and failed actions. */
  readonly note?: string;
}

/** What recovery did for one dead process's operation. */
export interface RecoveredOperation {
  /** The record's key in the store. */
  readonly key: string;
  /** The operation (`'ThinPool.snapshot'` …). */
  readonly operation: string;
  /** The dead process. */
  readonly pid: number;
  /** When its operation started (ms since the epoch). */
  readonly startedAtMs: number;
  /** `recovered`: the record is gone; `failed`: a step failed and the record stays (see the actions' notes); `planned`: a dry run. */
  readonly outcome: 'recovered' | 'failed' | 'planned';
  /** Each action, in the order taken. */
  readonly actions: readonly RecoveryAction[];
}

/** What {@link DeviceMapper.recover} did. */
export interface RecoveryReport {
  /** Where the records are (a directory, or the simulator's store). */
  readonly location: string;
  /** One entry per record of a dead process that was recovered (or, in a dry run, would be). */
  readonly operations: readonly RecoveredOperation[];
  /** Records of live processes, never touched. */
  readonly live: number;
  /** Records another live recoverer has claimed, left to it. */
  readonly claimedElsewhere: number;
}

/** Which records a recovery takes (the handles take those naming their own devices). */
export type RecordFilter = (record: IntentRecord) => boolean;

/** See {@link DeviceMapper.recover}. */
export async function recover(dm: DeviceMapper, options: RecoverOptions = {}, filter?: RecordFilter): Promise<RecoveryReport> {
  optionsArg(options, 'options', { signal: 'signal', timeoutMs: 'any', onProgress: 'function', dryRun: 'boolean' });
  operationOptions(options);
  const host = dm[operationHost]();
  const store = host.intents;
  // Nothing recorded (the usual case, and every handle's open): no operation to run.
  if (!options.signal?.aborted && (!store || store.list().length === 0)) return { location: store?.location ?? 'none', operations: [], live: 0, claimedElsewhere: 0 };
  return runOperation(host, 'recover', options, async (op) => {
    if (!store) return { location: 'none', operations: [], live: 0, claimedElsewhere: 0 };
    let live = 0;
    let claimedElsewhere = 0;
    const todo: StoredIntent[] = [];
    for (const e of store.list()) {
      // An invalid record is not provably any handle's: only dm.recover() (no filter) reports it.
      if (filter && (intentRecordProblem(e.record) !== undefined || !filter(e.record))) continue;
      if (e.claimedBy) {
        if (store.alive(e.claimedBy)) { claimedElsewhere++; continue; }
      } else if (intentRecordProblem(e.record) === undefined && store.alive({ pid: e.record.pid, startTime: e.record.startTime, pidNs: e.record.pidNs })) {
        live++;
        continue;
      }
      todo.push(e);
    }
    const operations: RecoveredOperation[] = [];
    for (const [i, found] of todo.entries()) {
      op.checkpoint();
      const problem = intentRecordProblem(found.record);
      if (problem !== undefined) {
        // Corrupt or planted: not claimed, not acted on, reported (a person must look at it).
        const r = found.record as Partial<IntentRecord> | null;
        operations.push({
          key: found.key, operation: String(r?.op).slice(0, 64), pid: typeof r?.pid === 'number' ? r.pid : 0, startedAtMs: typeof r?.startedAtMs === 'number' ? r.startedAtMs : 0,
          outcome: 'failed', actions: [{ action: 'remove', target: `record ${found.key}`, outcome: 'skipped', note: `invalid record (${problem}): left in ${store.location}` }],
        });
        continue;
      }
      op.progress(`recover ${found.record.op} of pid ${found.record.pid}`, i, todo.length);
      const entry = options.dryRun ? found : store.claim(found);
      if (!entry) { claimedElsewhere++; continue; }
      operations.push(await recoverOne(dm, op, store, entry, options.dryRun === true));
    }
    op.progress('recovered', todo.length, todo.length);
    return { location: store.location, operations, live, claimedElsewhere };
  });
}

/** The order effects are acted on (see the header). */
const ORDER: readonly IntentEffect['kind'][] = ['loaded', 'suspended', 'temporary', 'created', 'thin-id', 'removing', 'cookie'];

async function recoverOne(dm: DeviceMapper, op: Operation, store: IntentStore, entry: StoredIntent, dryRun: boolean): Promise<RecoveredOperation> {
  const actions: RecoveryAction[] = [];
  const left: IntentEffect[] = [];
  const r = entry.record;
  const effects = Array.isArray(r.effects) ? r.effects : [];
  const handled = new Set<IntentEffect>();
  for (const kind of ORDER) {
    // Last recorded first: a stack is resumed bottom-up, as the operation's own undo would.
    for (const effect of [...effects].reverse()) {
      if (effect?.kind !== kind) continue;
      const before = actions.length;
      try {
        await act(dm, op, effect, actions, dryRun, r.pid);
      } catch (e) {
        if (op.signal.aborted) {
          // Stopped (signal, timeout, close()): what is not done yet goes back to the store as it was, for a later recovery.
          if (!dryRun) store.unclaim(entry, { ...r, effects: effects.filter((x) => !handled.has(x) || left.includes(x)) });
          throw e;
        }
        actions.push({ action: actionOf(effect), target: describeEffect(effect), outcome: 'failed', note: e instanceof Error ? e.message : String(e) });
      }
      handled.add(effect);
      if (actions.slice(before).some((a) => a.outcome === 'failed')) left.push(effect);
    }
  }
  const base = { key: entry.key, operation: String(r.op), pid: r.pid, startedAtMs: r.startedAtMs };
  if (dryRun) return { ...base, outcome: 'planned', actions };
  if (left.length === 0) {
    store.removeClaimed(entry);
    return { ...base, outcome: 'recovered', actions };
  }
  const notes = actions.filter((a) => a.outcome === 'failed').map((a) => `${a.action} ${a.target}: ${a.note ?? 'failed'}`);
  store.unclaim(entry, { ...r, effects: effects.filter((e) => left.includes(e)), notes: [...(r.notes ?? []), ...notes] });
  return { ...base, outcome: 'failed', actions };
}

function actionOf(e: IntentEffect): RecoveryAction['action'] {
  switch (e.kind) {
    case 'loaded': return 'clear';
    case 'suspended': return 'resume';
    case 'created': case 'temporary': case 'removing': return 'remove';
    case 'thin-id': return 'delete-thin';
    case 'cookie': return 'release-cookie';
  }
}

function describe(d: IntentDevice): string {
  const parts = [d.uuid ? `uuid ${d.uuid}` : '', d.dev ? `${d.dev.major}:${d.dev.minor}` : ''].filter(Boolean);
  return parts.length ? `${d.name} (${parts.join(', ')})` : d.name;
}

function describeEffect(e: IntentEffect): string {
  switch (e.kind) {
    case 'thin-id': return `thin ${e.id} of pool ${describe(e.pool)}`;
    case 'removing': return e.devices.map(describe).join(', ');
    case 'cookie': return e.semid !== undefined ? `semid ${e.semid} (cookie 0x${e.cookie.toString(16)})` : `cookie 0x${e.cookie.toString(16)} (being made)`;
    default: return describe(e.device);
  }
}

/** How a recorded device is reached: by uuid where it has one, else by name. */
function addressOf(d: IntentDevice): DeviceId {
  return d.uuid ? { uuid: d.uuid } : { name: d.name };
}

/**
 * Whether `info` is the recorded device: the same uuid (or, without one, the same name), and
 * the same dev once the record knows it. A device recorded before its create landed (no dev)
 * must match uuid and name both; without a uuid it cannot be told apart from another process's.
 */
export function isRecorded(d: IntentDevice, info: Pick<DeviceInfo, 'name' | 'uuid' | 'dev'>): 'yes' | 'no' | 'unknown' {
  if (d.uuid ? info.uuid !== d.uuid : info.name !== d.name) return 'no';
  if (d.dev) return info.dev.major === d.dev.major && info.dev.minor === d.dev.minor ? 'yes' : 'no';
  if (!d.uuid) return 'unknown';
  return info.name === d.name ? 'yes' : 'no';
}

const isErrno = (e: unknown, errno: number) => e instanceof DmError && e.errno === errno;

/** The recorded device as it is now, or why it is not ours to touch. */
async function find(dm: DeviceMapper, op: Operation, d: IntentDevice): Promise<{ info: DeviceInfo } | { gone: true } | { other: string }> {
  const r = await op.step(`info ${d.name}`, () => dm.info(addressOf(d), { signal: op.signal }));
  if (!r.exists) return { gone: true };
  const same = isRecorded(d, r);
  if (same === 'yes') return { info: r };
  return { other: same === 'unknown' ? 'recorded without a uuid or device number: cannot be told from another process\'s device' : `another device now: ${describe({ name: r.name, uuid: r.uuid, dev: r.dev })}` };
}

async function act(dm: DeviceMapper, op: Operation, e: IntentEffect, out: RecoveryAction[], dryRun: boolean, pid: number): Promise<void> {
  const push = (action: RecoveryAction['action'], target: string, outcome: RecoveryAction['outcome'], note?: string) => {
    out.push(note === undefined ? { action, target, outcome } : { action, target, outcome, note });
  };
  switch (e.kind) {
    case 'loaded':
    case 'suspended': {
      const action = e.kind === 'loaded' ? 'clear' : 'resume';
      const target = describe(e.device);
      const f = await find(dm, op, e.device);
      if ('gone' in f) return push(action, target, 'not-needed', 'gone');
      if ('other' in f) return push(action, target, 'skipped', f.other);
      const needed = e.kind === 'loaded' ? f.info.flags.inactivePresent : f.info.flags.suspended;
      if (!needed) return push(action, target, 'not-needed');
      if (dryRun) return push(action, target, 'planned');
      const at = addressOf(e.device);
      const reply = e.kind === 'loaded'
        ? await op.step(`clear ${e.device.name}`, () => dm.clear(at, { signal: op.signal }))
        : await op.step(`resume ${e.device.name}`, () => dm.resume(at, { noflush: e.noflush, skipLockfs: e.skipLockfs, signal: op.signal }));
      if (isRecorded(e.device, reply) === 'no') throw new Error(`the ${action} reached another device: ${describe({ name: reply.name, uuid: reply.uuid, dev: reply.dev })}`);
      return push(action, target, 'done');
    }
    case 'created':
      // Recorded before the create told its dev, the record is rewritten with it before the
      // load: a device ours left then has no table. One with a table is someone's made since.
      return removeRecorded(dm, op, e.device, push, dryRun, e.device.dev === undefined);
    case 'temporary':
      return removeRecorded(dm, op, e.device, push, dryRun);
    case 'thin-id': {
      const target = describeEffect(e);
      const f = await find(dm, op, e.pool);
      if ('gone' in f) return push('delete-thin', target, 'skipped', 'the pool is not active: activate it and recover again');
      if ('other' in f) return push('delete-thin', target, 'skipped', f.other);
      if (e.phase === 'sending') return unconfirmedCreate(dm, op, e, target, push);
      if (dryRun) return push('delete-thin', target, 'planned');
      try {
        await op.step(`delete thin ${e.id}`, () => dm.message(addressOf(e.pool), 0, thinPoolMessage.delete(e.id), { signal: op.signal }));
      } catch (x) {
        if (isErrno(x, ERRNO.ENODATA)) return push('delete-thin', target, 'not-needed', 'never created');
        if (isErrno(x, ERRNO.EBUSY)) return push('delete-thin', target, 'skipped', 'an active thin device maps it: reported, not deleted');
        throw x;
      }
      return push('delete-thin', target, 'done');
    }
    case 'removing': {
      const devices = Array.isArray(e.devices) ? e.devices : [];
      for (const [i, d] of devices.entries()) {
        if (e.removed?.includes(i)) continue;
        // A suspended device below could make the removal sleep in the kernel (docs/kernel-facts.md): stop there.
        let blocked: IntentDevice | undefined;
        for (const below of devices.slice(i + 1)) {
          const f = await find(dm, op, below);
          if ('info' in f && f.info.flags.suspended) { blocked = below; break; }
        }
        if (blocked) { push('remove', describe(d), 'skipped', `${describe(blocked)} below it is suspended`); continue; }
        await removeRecorded(dm, op, d, push, dryRun);
      }
      return;
    }
    case 'cookie': {
      const target = describeEffect(e);
      const cookies = await dm[clientParts]().udev(op.signal).cookies();
      if (!cookies) return push('release-cookie', target, 'skipped', 'no udev cookie host on this backend');
      const verdict = await judgeRecordedCookie(cookies, e, pid, (ms) => abortableSleep(ms, op.signal));
      if (!('remove' in verdict)) return push('release-cookie', target, verdict.outcome, verdict.note);
      if (dryRun) return push('release-cookie', target, 'planned');
      try {
        cookies.host.sems.remove(verdict.remove);
      } catch (x) {
        const errno = (x as { errno?: unknown }).errno;
        if (errno === ERRNO.EINVAL || errno === ERRNO.EIDRM) return push('release-cookie', target, 'not-needed', 'gone');
        throw x;
      }
      return push('release-cookie', target, 'done');
    }
    default:
      return push('remove', JSON.stringify(e), 'skipped', 'an effect this version does not know');
  }
}

/**
 * A thin id whose create the dead process sent (or was about to send) and never saw answered.
 * It is never deleted: the id found now may be that create's, or another process's made after
 * the dead one's probe (the create never landed) or before its create (which then failed
 * with EEXIST). Nothing the kernel answers to a message tells them apart: a thin's details
 * name the transaction id it was made under only in the on-disk metadata, and a marker sent
 * after the create would prove only that its reply was seen, which the record's `created`
 * already says (docs/crash-safety.md). So the id is probed (`create_snap <id> <id>` changes
 * nothing: ENODATA when absent, EEXIST when present) and reported.
 */
async function unconfirmedCreate(
  dm: DeviceMapper, op: Operation, e: Extract<IntentEffect, { kind: 'thin-id' }>, target: string, push: (a: RecoveryAction['action'], t: string, o: RecoveryAction['outcome'], n?: string) => void,
): Promise<void> {
  try {
    await op.step(`probe thin ${e.id}`, () => dm.message(addressOf(e.pool), 0, thinPoolMessage.createSnap(e.id, e.id), { signal: op.signal }));
  } catch (x) {
    if (isErrno(x, ERRNO.ENODATA)) return push('delete-thin', target, 'not-needed', 'never created');
    if (!isErrno(x, ERRNO.EEXIST)) throw x;
    const before = e.absentBefore ? 'absent before the dead operation\'s create' : 'not proven absent before the dead operation\'s create';
    return push('delete-thin', target, 'skipped', `thin ${e.id} exists (${before}), and that create was never confirmed: it may be its or another process's made since; reported, not deleted (send \`delete ${e.id}\` to the pool once you know it is nobody's)`);
  }
  // An id cannot be its own origin: a probe that succeeds is a kernel this code does not know.
  throw new Error(`probe of thin ${e.id}: create_snap ${e.id} ${e.id} was accepted`);
}

async function removeRecorded(
  dm: DeviceMapper, op: Operation, d: IntentDevice, push: (a: RecoveryAction['action'], t: string, o: RecoveryAction['outcome'], n?: string) => void, dryRun: boolean,
  onlyTableLess = false,
): Promise<void> {
  const target = describe(d);
  const f = await find(dm, op, d);
  if ('gone' in f) return push('remove', target, 'not-needed', 'gone');
  if ('other' in f) return push('remove', target, 'skipped', f.other);
  if (onlyTableLess && (f.info.flags.activePresent || f.info.flags.inactivePresent)) {
    return push('remove', target, 'skipped', 'recorded before its create told the device number, and it has a table now: made again since, not the one the dead create left');
  }
  if (dryRun) return push('remove', target, 'planned');
  try {
    await op.step(`remove ${d.name}`, () => dm.removeDevice(addressOf(d), { expect: { name: f.info.name, uuid: f.info.uuid, dev: f.info.dev }, retries: 5, delayMs: 50, signal: op.signal }));
  } catch (x) {
    if (isErrno(x, ERRNO.ENXIO)) return push('remove', target, 'not-needed', 'gone');
    if (isErrno(x, ERRNO.EBUSY)) return push('remove', target, 'skipped', 'in use (open): left in place');
    throw x;
  }
  return push('remove', target, 'done');
}

/** Every device an effect names (a thin id's pool included). */
export function devicesOf(e: IntentEffect): IntentDevice[] {
  switch (e.kind) {
    case 'thin-id': return [e.pool];
    case 'removing': return Array.isArray(e.devices) ? [...e.devices] : [];
    case 'cookie': return [];
    default: return e.device ? [e.device] : [];
  }
}

/** A filter taking the records that name a device `mine` accepts (what a handle recovers when it is opened). */
export function recordsNaming(mine: (d: IntentDevice) => boolean): RecordFilter {
  return (r) => Array.isArray(r.effects) && r.effects.some((e) => devicesOf(e).some(mine));
}
