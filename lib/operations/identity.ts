/**
 * The identity rules of multi-step operations, in one place (docs/identity.md).
 *
 * A device-mapper device is found by uuid, name or dev at every ioctl; between two ioctls
 * another process may remove it and create another one under the same name, and the new
 * one gets the freed minor (the kernel hands out the lowest free minor). So every
 * operation of more than one ioctl (createDevice, removeDevice with retries, rename by
 * uuid or dev, `dmctl remove --force`):
 *   1. takes the identity (name, uuid, dev) its first step returned;
 *   2. addresses every later step by uuid when the device has one — the kernel keeps a
 *      uuid unique among live devices and never changes a device's uuid once set, so such a
 *      step can only reach our device (or one that took over our uuid after ours was gone,
 *      which by the uuid contract is indistinguishable) — otherwise by name;
 *   3. checks every reply's identity against the first one, comparing only the fields the
 *      kernel fills for that command (TRUSTED_REPLY_FIELDS), and stops with
 *      DmIdentityError on a mismatch without touching anything further;
 *   4. removes (rollback, retries) only a device proven ours: by uuid, or, without a uuid,
 *      verified by an info immediately before the remove (verify-then-remove; the window
 *      between the two ioctls remains and is documented);
 *   5. undoes only what its own step changed, on the device that step acted on: every undo
 *      (resumeOurs, clearOurs, removeOurs with verifyFirst) is addressed as in 2 and first
 *      reads the device, acting only if the reply names that device — uuid and dev — and it
 *      is still as the step left it (suspended, a table staged). A suspend whose reply names
 *      another device is never undone: the kernel suspends a suspended device without saying
 *      so, so resuming it could make its owner's staged table live.
 */
import type { CommandReplies, DeviceId, KernelString, RawNames } from '../../codec/index.js';
import { rawIfLossy, utf8Decode } from '../../codec/text.js';
import { TRUSTED_REPLY_FIELDS } from '../../codec/reply-fields.js';
import { identityMismatch } from '../../codec/identity-rule.js';
import { describeValue, objectArg, valueArg } from '../client/args.js';
import { DmArgumentError, DmIdentityError, DmOperationError, type DeviceIdentity } from '../errors.js';
import { retryOnBusy, type RetryPolicy } from './retry.js';
import type { CallContext, ChainOutcome, IoctlRunner } from '../client/runner.js';
import { referenceHeader, trustedBits } from '../kernel/chain-check.js';

export type { DeviceIdentity };

/** The identity of a device from a reply or a DeviceInfo (copies only name, uuid, dev). */
export function identityOf(d: { readonly name: string; readonly uuid: string | null; readonly dev: { readonly major: number; readonly minor: number } } & RawNames, argument = 'device'): DeviceIdentity {
  const o = objectArg(d, argument, 'a device identity ({ name, uuid, dev })');
  valueArg(o.name, `${argument}.name`, 'string');
  if (o.uuid !== null) valueArg(o.uuid, `${argument}.uuid`, 'string');
  const dev = objectArg(o.dev, `${argument}.dev`, 'a { major, minor } object');
  valueArg(dev.major, `${argument}.dev.major`, 'uint');
  valueArg(dev.minor, `${argument}.dev.minor`, 'uint');
  const id: { -readonly [K in keyof DeviceIdentity]: DeviceIdentity[K] } = {
    name: o.name as string, uuid: (o.uuid as string | null) || null, dev: { major: dev.major as number, minor: dev.minor as number },
  };
  // Names and uuids that are not UTF-8: the bytes are the identity (the strings are lossy).
  for (const k of ['nameBytes', 'uuidBytes'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (!(v instanceof Uint8Array)) throw new DmArgumentError(`${argument}.${k}`, 'a Uint8Array', describeValue(v));
    id[k] = v.slice();
  }
  return id;
}

/** How a later step addresses the device: by uuid when it has one, otherwise by name (never by dev: minors are reused at once). */
export function addressOf(id: DeviceIdentity): DeviceId {
  const { name, uuid, nameBytes, uuidBytes } = identityOf(id, 'identity');
  return uuid ? { uuid: uuidBytes ?? uuid } : { name: nameBytes ?? name };
}


/** A step of a multi-ioctl operation whose reply is checked against the device's identity. */
export type IdentityStep = keyof typeof TRUSTED_REPLY_FIELDS;

/**
 * Throws DmIdentityError when a reply names another device than `expected`. The uuid and
 * dev are compared wherever the kernel filled them; the name only for a device without a
 * uuid (with one, a rename by someone else does not make it another device). `acted`:
 * whether this step changed the device it reached (load/resume/rename/remove) or only
 * looked (info/status/table). `label` names the step in the error (default: `step`), e.g.
 * "resume origin" for a helper's step.
 */
export function checkReply(
  step: IdentityStep, expected: DeviceIdentity,
  reply: { readonly name?: string; readonly uuid?: string | null; readonly dev?: { readonly major: number; readonly minor: number } } & RawNames, acted: boolean,
  label: string = step,
): void {
  if (typeof step !== 'string' || !Object.hasOwn(TRUSTED_REPLY_FIELDS, step)) {
    throw new DmArgumentError('step', `one of ${Object.keys(TRUSTED_REPLY_FIELDS).join(', ')}`, describeValue(step));
  }
  expected = identityOf(expected, 'expected');
  objectArg(reply, 'reply', 'a reply header ({ name?, uuid?, dev? })');
  valueArg(acted, 'acted', 'boolean');
  valueArg(label, 'label', 'string');
  const f = TRUSTED_REPLY_FIELDS[step];
  // Lossy strings compare equal for different bytes: the bytes decide where a side has them.
  const differs = (a: string | null | undefined, aBytes: Uint8Array | undefined, b: string | null, bBytes: Uint8Array | undefined) =>
    a !== b || (aBytes !== undefined || bBytes !== undefined ? !sameBytes(aBytes, bBytes) : false);
  // The rule is codec/identity-rule.ts's, the same function the engine's worker runs on a
  // chain's reply bytes; here each field is compared where the decoded reply has it.
  const exp = expected;
  const bad = identityMismatch(f, !!exp.uuid, (field) =>
    field === 1 ? reply.uuid !== undefined && differs(reply.uuid, reply.uuidBytes, exp.uuid, exp.uuidBytes)
      : field === 2 ? reply.dev !== undefined && (reply.dev.major !== exp.dev.major || reply.dev.minor !== exp.dev.minor)
        : reply.name !== undefined && differs(reply.name, reply.nameBytes, exp.name, exp.nameBytes));
  if (bad === 0) return;
  const actual: { -readonly [K in keyof DeviceIdentity]?: DeviceIdentity[K] } = {};
  if (f.name && reply.name !== undefined) actual.name = reply.name;
  if (f.uuid && reply.uuid !== undefined) actual.uuid = reply.uuid;
  if (f.dev && reply.dev !== undefined) actual.dev = { major: reply.dev.major, minor: reply.dev.minor };
  throw new DmIdentityError(label, expected, actual, acted);
}

export interface RemoveOursOptions {
  readonly policy: RetryPolicy;
  readonly deferred?: boolean | undefined;
  /** The udev cookie sent with every attempt (event_nr; lib/udev/cookie-call.ts). */
  readonly cookie?: number;
  readonly ctx: CallContext;
  /** Verify a uuid-less device before the first attempt too (the caller's identity is older than this call). */
  readonly verifyFirst?: boolean;
  /** Runs between attempts (e.g. the client's closed check); may throw to stop. */
  readonly boundary?: () => void;
  /** Cuts the delay between attempts short (the client's close()). */
  readonly wake?: AbortSignal | undefined;
}

/**
 * DM_DEV_REMOVE of `expected` only, with the EBUSY retry policy. With a uuid every attempt
 * is addressed by it. Without, every attempt is an info by name checked against the
 * identity, then the remove by name (the window between those two ioctls remains: see
 * docs/identity.md); a stranger under the name gives DmIdentityError and is not touched.
 * With `verifyFirst`, every attempt is verified so, with a uuid too (uuid and dev).
 * A verified attempt goes to the ioctl engine as one chain where it can
 * ({@link removeVerifiedChain}); the delay between attempts stays on this thread.
 */
export async function removeOurs(runner: IoctlRunner, expected: DeviceIdentity, o: RemoveOursOptions): Promise<CommandReplies['remove']> {
  const at = addressOf(expected);
  return retryOnBusy(o.policy, async (n) => {
    if (n > 1) o.boundary?.();
    // Without a uuid every retry is verified; with `verifyFirst` (an identity older than this
    // call: a rollback, a removal the caller pinned) every attempt, with a uuid too — a device
    // that took over our uuid on another minor is not ours to remove.
    if (o.verifyFirst || (!expected.uuid && n > 1)) {
      const chained = await removeVerifiedChain(runner, expected, at, o);
      if (chained) return chained;
      checkReply('info', expected, runner.runSync('info', { id: at }, o.ctx).device, false);
    }
    const r = await runner.runAsync('remove', { id: at, deferred: o.deferred, cookie: o.cookie }, o.ctx);
    checkReply('remove', expected, r, true);
    return r;
  }, o.wake);
}

/**
 * One verified attempt of {@link removeOurs} as a chain on the ioctl engine (IoctlRunner.runChain):
 * DM_DEV_STATUS then DM_DEV_REMOVE, both addressed as the step-by-step attempt addresses them,
 * issued back to back by the worker, which checks each reply against `expected` (the chain's
 * reference header, the rule checkReply decides with) and issues the remove only when the
 * status named our device. This thread wakes once per attempt and judges both outcomes as the
 * step-by-step attempt does: a failed status (ENXIO: gone) or a stranger (DmIdentityError,
 * `acted: false`, nothing touched) throws before any remove; the remove's own error (EBUSY:
 * retried by removeOurs after its delay, here on this thread) or a reply naming another
 * device (`acted: true`) throws as its single call would. The delay between attempts is not
 * the worker's: its thread runs every other call of its engine in order (batches, other
 * lanes), which would wait behind a sleep. A udev cookie needs nothing of this thread between
 * the two ioctls (it is made and incremented once, before the first attempt), so it goes
 * along. Resolves with undefined, nothing sent, when the chain cannot run on the engine now.
 */
async function removeVerifiedChain(runner: IoctlRunner, expected: DeviceIdentity, at: DeviceId, o: RemoveOursOptions): Promise<CommandReplies['remove'] | undefined> {
  if (!runner.canChain(3, o.ctx.lane)) return undefined; // two steps and the reference
  const outcomes = await runner.runChain([
    { command: 'info', params: { id: at }, ctx: o.ctx, check: trustedBits('info') },
    { command: 'remove', params: { id: at, deferred: o.deferred, cookie: o.cookie }, ctx: o.ctx, check: trustedBits('remove') },
  ], referenceHeader(expected));
  if (!outcomes) return undefined;
  const [looked, removed] = outcomes as [ChainOutcome, ChainOutcome];
  judgeChained('info', expected, looked, false, (r) => (r as CommandReplies['info']).device);
  return judgeChained('remove', expected, removed, true, (r) => r as CommandReplies['remove']) as CommandReplies['remove'];
}

/**
 * A chain step's outcome judged as its single call is: its error thrown, its reply checked
 * with checkReply (the rule the worker ran; a mismatch the worker saw and checkReply did not
 * is still DmIdentityError, never silent). Resolves with the reply.
 */
export function judgeChained(
  step: IdentityStep, expected: DeviceIdentity, o: ChainOutcome, acted: boolean,
  header: (reply: unknown) => Parameters<typeof checkReply>[2], label: string = step,
): unknown {
  // Not possible: a step is skipped only after a failure or a mismatch, which threw first.
  if (!o.ran) throw new DmOperationError('INVALID_INPUT', `${label}: the chain did not issue this step`);
  if ('error' in o) throw o.error;
  checkReply(step, expected, header(o.reply), acted, label);
  if (o.mismatch !== 0) throw new DmIdentityError(label, expected, {}, acted);
  return o.reply;
}

/** The calls an undo makes (the operation core's UndoCalls: they still work after close()). */
export interface UndoKernel {
  info(device: DeviceId): Promise<CommandReplies['info']['device']>;
  resume(device: DeviceId, options?: { readonly noflush?: boolean; readonly skipLockfs?: boolean }): Promise<CommandReplies['info']['device']>;
  clear(device: DeviceId): Promise<CommandReplies['info']['device']>;
}

/**
 * An undo's look before it acts: a DM_DEV_STATUS addressed as every step is (by uuid where
 * there is one), whose reply must name `expected` — uuid and dev (the name too without a
 * uuid): a device that took over our uuid on another minor is not ours to undo on either.
 * DmIdentityError (`acted: false`) otherwise; ENXIO (DmError) when nothing answers.
 */
async function verifyForUndo(kernel: UndoKernel, expected: DeviceIdentity, label: string): Promise<CommandReplies['info']['device']> {
  const now = await kernel.info(addressOf(expected));
  checkReply('info', expected, now, false, label);
  return now;
}

/**
 * The undo of a suspend this operation made on `expected` (verify-then-resume): the device
 * is looked at first and resumed only if it is still that device and still suspended — one
 * that someone else resumed meanwhile is left alone (resuming it again would swap in a table
 * they staged since). Addressed by uuid where there is one; the resume's reply is checked
 * too. The window between the two ioctls remains (docs/identity.md, rule 7 and "What
 * remains by design"). Resolves with the resume's reply, or undefined when there was nothing to resume.
 */
export async function resumeOurs(kernel: UndoKernel, expected: DeviceIdentity, flags: { readonly noflush?: boolean | undefined; readonly skipLockfs?: boolean | undefined } = {}, label = 'resume'): Promise<CommandReplies['info']['device'] | undefined> {
  const now = await verifyForUndo(kernel, expected, label);
  if (!now.flags.suspended) return undefined;
  const r = await kernel.resume(addressOf(expected), { noflush: flags.noflush, skipLockfs: flags.skipLockfs });
  checkReply('resume', expected, r, true, label);
  return r;
}

/**
 * The undo of a load this operation made on `landed` (the device the load's reply named):
 * its inactive slot is cleared only if it is still that device and holds a table; verified
 * first as {@link resumeOurs} does. Resolves with whether it cleared.
 */
export async function clearOurs(kernel: UndoKernel, landed: DeviceIdentity, label = 'clear'): Promise<boolean> {
  const now = await verifyForUndo(kernel, landed, label);
  if (!now.flags.inactivePresent) return false;
  checkReply('clear', landed, await kernel.clear(addressOf(landed)), true, label);
  return true;
}

/** Whether a step's reply names `expected` (the identity rule of checkReply), without throwing. */
export function repliedBy(step: IdentityStep, expected: DeviceIdentity, reply: Parameters<typeof checkReply>[2]): boolean {
  try {
    checkReply(step, expected, reply, false);
    return true;
  } catch (e) {
    if (e instanceof DmIdentityError) return false;
    throw e;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `id` under a new name or uuid given as the kernel takes it (a string, or bytes that may not be UTF-8). */
export function renamedIdentity(id: DeviceIdentity, to: { readonly newName: KernelString } | { readonly newUuid: KernelString }): DeviceIdentity {
  const [str, bytes] = 'newName' in to ? split(to.newName) : split(to.newUuid);
  return 'newName' in to ? { ...id, name: str, nameBytes: bytes } : { ...id, uuid: str, uuidBytes: bytes };
}

/**
 * A DEV_RENAME reply as the device now is: the kernel echoes the request's (old) name and
 * uuid in the reply (it looks the device up by name without writing anything back), so the
 * new name or uuid replaces them, with its bytes when it is not UTF-8.
 */
export function renamedInfo<T extends { readonly name: string; readonly uuid: string | null } & RawNames>(
  d: T, to: { readonly newName: KernelString } | { readonly newUuid: KernelString },
): T {
  const [str, bytes] = 'newName' in to ? split(to.newName) : split(to.newUuid);
  const out: T & { nameBytes?: Uint8Array; uuidBytes?: Uint8Array } = { ...d };
  const key = 'newName' in to ? 'name' : 'uuid';
  (out as { name: string; uuid: string | null })[key] = str;
  if (bytes) out[`${key}Bytes`] = bytes;
  else delete out[`${key}Bytes`];
  return out;
}

/** Whether a device's info names exactly this identity: name, uuid and dev (bytes where they are not UTF-8). */
export function sameIdentity(id: DeviceIdentity, d: { readonly name: string; readonly uuid: string | null; readonly dev: { readonly major: number; readonly minor: number } } & RawNames): boolean {
  const same = (a: string | null, aBytes: Uint8Array | undefined, b: string | null, bBytes: Uint8Array | undefined) =>
    a === b && (aBytes === undefined && bBytes === undefined ? true : sameBytes(aBytes, bBytes));
  return same(id.name, id.nameBytes, d.name, d.nameBytes) && same(id.uuid, id.uuidBytes, d.uuid, d.uuidBytes)
    && id.dev.major === d.dev.major && id.dev.minor === d.dev.minor;
}

/** A KernelString as the codec decodes it: the string, and the bytes when they are not UTF-8. */
function split(v: KernelString): [string, Uint8Array | undefined] {
  if (typeof v === 'string') return [v, undefined];
  const s = utf8Decode(v, 0, v.length);
  return [s, rawIfLossy(s, v, 0, v.length)];
}
