/**
 * A thin snapshot of an active origin as one chain on the ioctl engine: suspend the origin →
 * `create_snap` to the pool → resume the origin, issued back to back by the engine's worker,
 * which checks the suspend's and the resume's replies against the origin's identity (a
 * reference header: lib/kernel/chain-check.ts) and stops at the first failure or mismatch.
 * The main thread wakes once and then judges every step as the step-by-step path
 * (ThinPool.snapshot: suspendStep, #createId, resumeStep in handle-steps.ts) judges it, so
 * the rollback is the same: a suspend that failed changed nothing; one that reached another
 * device is DmIdentityError (`acted: true`) and that device is left as it is, with no message
 * sent; a message that failed resumes the origin (the journal's verify-then-resume); a resume
 * that failed is tried again step by step (the same number of attempts in all).
 */
import type { DeviceId } from '../../codec/index.js';
import { scrubLogLines } from '../../codec/index.js';
import type { DeviceMapper } from '../client/client.js';
import { clientParts } from '../client/internal-keys.js';
import { DmEngineError, DmOperationError } from '../errors.js';
import type { ChainOutcome } from '../client/runner.js';
import { referenceHeader, trustedBits } from '../kernel/chain-check.js';
import { udevMode } from '../udev/cookie-call.js';
import { addressOf, judgeChained, repliedBy, resumeOurs, type DeviceIdentity } from './identity.js';
import { isGone, RESUME_ATTEMPTS, resumeStep } from './handle-steps.js';
import { slotOf, suspendedEffect } from './intent-record.js';
import type { Operation } from './operation.js';
import type { CommandReplies } from '../../codec/index.js';

export interface ChainedSnapshot {
  /** The active origin, as its info showed it (not suspended). */
  readonly origin: DeviceIdentity;
  /** Where the pool is addressed. */
  readonly pool: DeviceId;
  /** The `create_snap` message. */
  readonly message: string;
  /** The thin id's intent record (ThinPool #createId): written before the chain, and once the message is confirmed; undefined when the id is known to exist. */
  readonly thinIntent?: ((phase: 'sending' | 'created') => void) | undefined;
  /** The thin id's record settled: the message was refused, nothing was made. */
  readonly settleThin?: (() => void) | undefined;
}

/**
 * Runs the snapshot as one chain; resolves with false, nothing sent and nothing recorded,
 * when it cannot go to the engine now (not ready, the pool path, udev cookies: a resume with a
 * cookie waits for udev on this thread) — the caller then goes step by step.
 */
export async function snapshotChained(op: Operation, dm: DeviceMapper, c: ChainedSnapshot): Promise<boolean> {
  const { runner, udev } = dm[clientParts]();
  if (!runner.canChain(4)) return false; // three steps and the reference
  if (await udevMode(udev(op.signal), {}) !== 'none') return false;
  const id = c.origin;
  const at = addressOf(id);
  const suspendLabel = `suspending ${id.name}`, resumeLabel = `resuming ${id.name}`;
  const suspended = slotOf('suspended', id);
  const back = async () => {
    await resumeOurs(op.kernel, id, {}, suspendLabel);
    op.settle(suspended);
  };
  // Recorded first, as the step-by-step path records them before its suspend and its message.
  op.intent(suspended, suspendedEffect(id, {}));
  c.thinIntent?.('sending');
  const scrubLog = (lines: string[]) => scrubLogLines(lines, [{ params: c.message }], true);
  const suspendedOurs = (o: ChainOutcome | undefined) => !!o?.ran && 'reply' in o && o.mismatch === 0 && repliedBy('suspend', id, (o.reply as CommandReplies['suspend']).device);
  const resumedOurs = (o: ChainOutcome | undefined) => !!o?.ran && 'reply' in o && o.mismatch === 0;
  const outcomes = await op.step(`${suspendLabel}, create_snap, ${resumeLabel}`, () => runner.runChain([
    { command: 'suspend', params: { id: at, action: 'suspend' }, ctx: { device: at, stop: op.signal }, check: trustedBits('suspend') },
    { command: 'message', params: { id: c.pool, sector: 0, message: c.message }, ctx: { device: c.pool, wipe: true, scrubLog, message: c.message } },
    { command: 'suspend', params: { id: at, action: 'resume' }, ctx: { device: at }, check: trustedBits('resume') },
  ], referenceHeader(id)), {
    // The operation gave up with the chain in flight: it ran to its end; an origin it
    // suspended and did not resume is resumed now (verified first, as every undo).
    onLate: async (late) => { if (late && suspendedOurs(late[0]) && !resumedOurs(late[2])) await back().catch(() => {}); },
  }).catch((e: unknown) => {
    // The worker died with the chain in it: any step may have run. The origin is not left
    // suspended: the journal resumes it if it is ours and suspended (verified first), as
    // when a step-by-step create_snap fails so.
    if (e instanceof DmEngineError && e.sent) op.undo(`resume ${id.name}`, back);
    throw e;
  });
  if (!outcomes) {
    // Not sent: the step-by-step path records its own effects again.
    op.settle(suspended);
    c.settleThin?.();
    return false;
  }
  const [s, m, r] = outcomes as [ChainOutcome, ChainOutcome, ChainOutcome];
  judgeChained('suspend', id, s, true, (x) => (x as CommandReplies['suspend']).device, suspendLabel);
  op.undo(`resume ${id.name}`, back);
  if (m.ran && 'error' in m) {
    if (!op.signal.aborted) c.settleThin?.(); // refused by the kernel: nothing was made
    throw m.error;
  }
  if (!m.ran) throw new DmOperationError('INVALID_INPUT', 'create_snap: the chain did not issue this step'); // not possible: the suspend matched
  c.thinIntent?.('created');
  if (r.ran && 'error' in r) {
    // As resumeStep after its first attempt failed: not again for a device that is gone or
    // an operation that gave up; otherwise the remaining attempts, step by step.
    if (isGone(r.error) || op.signal.aborted) throw r.error;
    await resumeStep(op, dm, id, {}, resumeLabel, RESUME_ATTEMPTS - 1);
    return true;
  }
  judgeChained('resume', id, r, true, (x) => (x as CommandReplies['suspend']).device, resumeLabel);
  op.settle(suspended);
  op.settle(slotOf('loaded', id));
  return true;
}
