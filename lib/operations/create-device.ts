/**
 * createDevice: create → load → resume as one operation on the operation core. Every step
 * after the create is addressed by uuid when there is one and its reply checked against the
 * device the create made (lib/operations/identity.ts); if a step fails, the caller's signal
 * aborts, the time runs out or the client closes, the device is removed again — only ours,
 * with removeDevice's EBUSY retries, after close() too — and a create that lands after the
 * operation gave up is removed then. The whole request is checked before DM_DEV_CREATE.
 */
import type { DeviceId, DeviceInfo } from '../../codec/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { createDeviceArg } from '../client/args.js';
import { loadContext } from '../client/call-context.js';
import type { CreateDeviceOptions } from '../client/command-types.js';
import { FEATURES } from '../client/features.js';
import { clientParts, operationHost, type ClientParts } from '../client/internal-keys.js';
import type { DeviceMapper } from '../client/client.js';
import { DmAbortError, DmError, DmIdentityError } from '../errors.js';
import type { CommandReplies } from '../../codec/index.js';
import type { ChainOutcome } from '../client/runner.js';
import { trustedBits } from '../kernel/chain-check.js';
import { DmOperationError } from '../errors.js';
import { noCookieEventNr, udevMode, udevOptionsArg, udevTransaction } from '../udev/cookie-call.js';
import { addressOf, identityOf, removeOurs, type DeviceIdentity } from './identity.js';
import { operationOptions, runOperation, type Operation } from './operation.js';
import { retryPolicy, type RetryPolicy } from './retry.js';
import { intentDevice, slotOf } from './intent-record.js';
import { utf8Decode } from '../../codec/text.js';

/** See {@link DeviceMapper.createDevice}. `lane`: createMany's lane this creation runs in (lib/operations/many.ts). */
export async function createDevice(dm: DeviceMapper, options: CreateDeviceOptions, lane?: number): Promise<DeviceInfo> {
  createDeviceArg(options);
  udevOptionsArg(options);
  const bounds = operationOptions({ signal: options.signal, timeoutMs: options.timeoutMs });
  const parts = dm[clientParts]();
  const { runner } = parts;
  const secure = parts.secureFor(options.table, options.secure);
  const at: DeviceId = options.uuid ? { uuid: options.uuid } : { name: options.name };
  const requests = encodeRequests(parts, options, at, secure);
  // Each request is wiped here unless its call took it: the load's call wipes it when it ends
  // (it may hold key bytes), and a create request sent holds no more than the call says.
  let sent = 'none' as 'none' | 'create' | 'load';
  try {
    const rollback = retryPolicy(options.rollback ?? {}, 'rollback');
    if (options.secure) runner.require('secure data', FEATURES.secureData);
    // Decided before DM_DEV_CREATE: an impossible 'sync' fails with nothing made.
    const udevOptions = { ...options, udev: await udevMode(parts.udev(bounds.signal), options) };
    return await runOperation(dm[operationHost](), 'createDevice', bounds, (op) => createSteps(op, parts, options, udevOptions, rollback, at, secure, requests, (step) => { sent = step; }, lane));
  } finally {
    if (sent === 'none') requests.create.fill(0);
    if (sent !== 'load') requests.load.fill(0);
  }
}

/** The operation's body: create, load, resume, each step checked; see {@link createDevice}. */
async function createSteps(
  op: Operation, parts: ClientParts, options: CreateDeviceOptions, udevOptions: CreateDeviceOptions, rollback: RetryPolicy,
  at: DeviceId, secure: boolean, requests: EncodedRequests, sending: (step: 'none' | 'create' | 'load') => void, lane: number | undefined,
): Promise<DeviceInfo> {
  const { runner } = parts;
  // DEV_CREATE echoes the name and uuid we sent; only its dev is the kernel's word.
  const oursAt = (dev: { readonly major: number; readonly minor: number }) => identityOf({ name: options.name, uuid: options.uuid ?? null, dev });
  // Recorded before the create (its dev once the reply tells it): a process that dies before
  // the resume leaves a device nobody was told about, which recover() removes.
  const text = (v: string | Uint8Array) => (typeof v === 'string' ? v : utf8Decode(v, 0, v.length));
  const named = { name: text(options.name), uuid: options.uuid === undefined || options.uuid.length === 0 ? null : text(options.uuid) };
  const slot = slotOf('created', named);
  op.intent(slot, { kind: 'created', device: intentDevice(named) });
  // Without a udev cookie, the three ioctls can go to the engine as one chain (the cookie,
  // when there is one, is made and incremented on this thread right before the resume and
  // released after it: that path stays one step at a time).
  if (udevOptions.udev === 'none' && runner.canChain(3, lane)) {
    const chained = await createChained(op, parts, { options, udevOptions, rollback, at, secure, requests, sending, lane, oursAt, recordDev: (dev) => op.intent(slot, { kind: 'created', device: intentDevice({ ...named, dev }) }), settle: () => op.settle(slot) });
    if (chained) return chained;
  }
  const created = (await op.step('create', () => {
    sending('create');
    return runner.runAsync('create', { name: options.name, uuid: options.uuid, minor: options.minor }, { device: { name: options.name }, encoded: requests.create, lane });
  }, {
    onLate: (late) => removeRolledBack(parts, oursAt(late.device.dev), rollback),
  })).device;
  const ours = oursAt(created.dev);
  op.intent(slot, { kind: 'created', device: intentDevice({ ...named, dev: created.dev }) });
  op.undo(`remove ${options.name}`, () => removeRolledBack(parts, ours, rollback).then(() => op.settle(slot)));
  try {
    op.checkpoint();
    const loaded = await op.step('load', () => {
      sending('load');
      return runner.runAsync('load', { id: at, targets: options.table, readOnly: options.readOnly, secure }, { ...loadContext(at, options.table, secure), encoded: requests.load, lane });
    });
    op.check('load', ours, loaded.device);
    op.checkpoint();
    const udev = parts.udev(op.signal);
    return await udevTransaction(udev, udevOptions, async (cookie) => {
      const r = (await op.step('resume', () => runner.runAsync('suspend', { id: at, action: 'resume', cookie }, { device: at, lane }))).device;
      op.check('resume', ours, r); // a stranger's resume: thrown before waiting on udev for it
      op.settle(slot); // live and complete: from here a crash leaves the device the caller asked for
      return r;
    }, (d) => d.flags.ueventGenerated);
  } catch (e) {
    throw timedOut(op.signal, e);
  }
}

/** What {@link createChained} needs of createSteps. */
interface ChainedCreate {
  readonly options: CreateDeviceOptions;
  readonly udevOptions: CreateDeviceOptions;
  readonly rollback: RetryPolicy;
  readonly at: DeviceId;
  readonly secure: boolean;
  readonly requests: EncodedRequests;
  readonly sending: (step: 'none' | 'create' | 'load') => void;
  readonly lane: number | undefined;
  readonly oursAt: (dev: { readonly major: number; readonly minor: number }) => DeviceIdentity;
  /** The intent record learns the device's dev (as after the unchained create). */
  readonly recordDev: (dev: { readonly major: number; readonly minor: number }) => void;
  /** The device is live and complete: its intent record needs no recovery. */
  readonly settle: () => void;
}

/**
 * create → load → resume as one chain on the ioctl engine (IoctlRunner.runChain): the worker
 * issues them back to back, checks the load's and the resume's replies against the create's
 * (codec/identity-rule.ts, the rule op.check decides with here) and stops at the first failure
 * or mismatch; this thread wakes once. Every step's outcome is then judged as the step-by-step
 * path judges it, so the rollback is the same: a failed create made nothing; a failed load or
 * resume removes ours; a mismatch is DmIdentityError and no step after it was issued. A signal
 * that fires before the chain is sent stops it; once sent, the chain runs to its end, and if
 * the operation gave up meanwhile the device it made is removed then (`onLate`). Resolves with
 * undefined, nothing sent, when the chain cannot run on the engine now (the caller then goes
 * step by step).
 */
async function createChained(op: Operation, parts: ClientParts, c: ChainedCreate): Promise<DeviceInfo | undefined> {
  const { options } = c;
  const loadCtx = { ...loadContext(c.at, options.table, c.secure), encoded: c.requests.load, lane: c.lane };
  const outcomes = await op.step('create → load → resume', async () => {
    // The runner owns both requests from here (it wipes the load's once the chain settles,
    // which may be after this operation gave up): they are not wiped under it.
    c.sending('load');
    const r = await parts.runner.runChain([
      { command: 'create', params: { name: options.name, uuid: options.uuid, minor: options.minor }, ctx: { device: { name: options.name }, encoded: c.requests.create, lane: c.lane } },
      { command: 'load', params: { id: c.at, targets: options.table, readOnly: options.readOnly, secure: c.secure }, ctx: loadCtx, check: trustedBits('load') },
      { command: 'suspend', params: { id: c.at, action: 'resume', cookie: noCookieEventNr(c.udevOptions) }, ctx: { device: c.at, lane: c.lane }, check: trustedBits('resume') },
    ]);
    if (!r) {
      // Not sent: still ours, for the step-by-step path or createDevice's wipe — unless the
      // operation gave up meanwhile: createDevice's wipe has run (the chain had the requests)
      // and no step follows, so they are wiped here (the load's may hold key bytes).
      if (op.signal.aborted) { c.requests.create.fill(0); c.requests.load.fill(0); } else c.sending('none');
    }
    return r;
  }, {
    onLate: (late) => {
      const made = late?.[0];
      return made?.ran && 'reply' in made ? removeRolledBack(parts, c.oursAt((made.reply as CommandReplies['create']).device.dev), c.rollback) : undefined;
    },
  });
  if (!outcomes) return undefined;
  const [created, loaded, resumed] = outcomes as [ChainOutcome, ChainOutcome, ChainOutcome];
  if (!created.ran) throw new DmOperationError('INVALID_INPUT', 'createDevice: the chain did not issue its create'); // not possible: the first step is always issued
  if ('error' in created) throw created.error;
  const dev = (created.reply as CommandReplies['create']).device.dev;
  const ours = c.oursAt(dev);
  c.recordDev(dev);
  op.undo(`remove ${options.name}`, () => removeRolledBack(parts, ours, c.rollback).then(c.settle));
  try {
    const judge = (step: 'load' | 'resume', o: ChainOutcome): DeviceInfo => {
      if (!o.ran) throw new DmOperationError('INVALID_INPUT', `createDevice: the chain did not issue its ${step}`); // not possible: see below
      if ('error' in o) throw o.error;
      const device = (o.reply as CommandReplies['load']).device;
      op.check(step, ours, device); // the same rule the worker applied: a mismatch it saw throws here
      if (o.mismatch !== 0) throw new DmIdentityError(step, ours, {}, true); // the two agree by construction (one rule); never silent
      return device;
    };
    judge('load', loaded);
    const r = judge('resume', resumed);
    c.settle(); // live and complete: from here a crash leaves the device the caller asked for
    return r;
  } catch (e) {
    throw timedOut(op.signal, e);
  }
}

/** A wait the timeout cut short (a udev wait, an EBUSY delay) rejects as the timeout: DmOperationError TIMEOUT, not ABORT_ERR. */
export function timedOut(signal: AbortSignal, e: unknown): unknown {
  return e instanceof DmAbortError && signal.reason instanceof DmOperationError && signal.reason.code === 'TIMEOUT' ? signal.reason : e;
}

/** The requests createDevice encodes before its first ioctl and then sends as they are. */
interface EncodedRequests {
  readonly create: Uint8Array;
  /** May hold key bytes: wiped by its call, or by createDevice when the call never runs. */
  readonly load: Uint8Array;
}

/**
 * Encodes the create and load requests before DM_DEV_CREATE, so bad input fails with nothing
 * made (the codec's typed errors), and the calls then send these very bytes: a keyed table
 * is escaped, copied into a request and wiped once per createDevice, not once to check and
 * again to send. The resume request is not encoded ahead: it carries the udev cookie, made
 * only when it is sent, and its one other field, the device's name or uuid, is the create's.
 */
function encodeRequests(parts: ClientParts, o: CreateDeviceOptions, at: DeviceId, secure: boolean): EncodedRequests {
  const create = parts.runner.encode('create', { name: o.name, uuid: o.uuid, minor: o.minor });
  try {
    return { create, load: parts.runner.encode('load', { id: at, targets: o.table, readOnly: o.readOnly, secure }) };
  } catch (e) {
    create.fill(0); // every buffer the call made is wiped when it fails, even one with no key
    throw e;
  }
}

/** Removes our half-made device; never anything else, never by dev. Runs even after close(); a device already gone is fine. */
export async function removeRolledBack(parts: ClientParts, ours: DeviceIdentity, policy: RetryPolicy): Promise<void> {
  try {
    await removeOurs(parts.runner, ours, { policy, ctx: { device: addressOf(ours), afterClose: true }, verifyFirst: true });
  } catch (cleanup) {
    if (cleanup instanceof DmError && cleanup.errno === ERRNO.ENXIO) return; // already gone: nothing left behind
    throw cleanup;
  }
}
