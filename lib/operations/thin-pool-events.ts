/**
 * Pool conditions as events: what the README's low-water loop did by hand. dm-thin raises a
 * table event (the pool device's event number moves) when free data blocks fall to the
 * low-water mark and on every pool mode change (out_of_data_space, read-only, fail); this
 * waits for those with the client's shared event poller (`wait`, race-free: it waits for
 * the event number to move past the one the last status carried), reads the typed status,
 * and reports each condition when it starts and when it ends. Which kernel paths raise the
 * events: docs/thin-and-faults.md.
 */
import { linkedSignal } from '../events/abort-fanout.js';
import type { DeviceId } from '../../codec/index.js';
import type { DeviceMapper } from '../client/client.js';
import { DmAbortError, DmError, DmIdentityError, DmOperationError } from '../errors.js';
import { callOptionsArg } from '../client/call-bounds.js';
import { DmClosedError, ERRNO } from '../../ffi/errors.js';
import { parseStatus, parseTarget } from '../targets/table.js';
import type { ThinPoolStatus } from '../targets/thin.js';

/** The pool conditions {@link ThinPool.conditions} reports. */
export type PoolConditionKind =
  /** Free data blocks at or below the pool's low-water mark. */
  | 'low-water'
  /** Free metadata blocks at or below the kernel's metadata threshold. */
  | 'metadata-low-water'
  /** The pool is full: writes to unprovisioned blocks queue or fail (error_if_no_space). */
  | 'out-of-data-space'
  /** The pool is read-only (metadata errors, out of metadata space, or the read_only feature). */
  | 'read-only'
  /** The metadata needs thin_check before the pool can be written again. */
  | 'needs-check'
  /** The pool failed (status `Fail` or `Error`). */
  | 'failed';

/** A pool condition entered or cleared, with the status that showed it. */
export interface PoolCondition {
  readonly kind: PoolConditionKind;
  /** `entered` when the condition starts (or holds when watching starts), `cleared` when it ends. */
  readonly state: 'entered' | 'cleared';
  /** The status that showed it. */
  readonly status: ThinPoolStatus;
  /** The pool's low-water mark, in data blocks, from its live table at that time. */
  readonly lowWaterMarkBlocks: bigint;
  /** The pool's data block size in 512-byte sectors (the unit of the status's data block counts and of the mark). */
  readonly blockSizeSectors: bigint;
  /** The same in bytes (to size a backing file from block counts). */
  readonly blockSizeBytes: bigint;
}

/** Options of {@link ThinPool.conditions}. */
export interface PoolConditionsOptions {
  /** Ends the iteration (the iterator then rejects a pending `next()` with DmAbortError). */
  readonly signal?: AbortSignal;
  /**
   * Ends the iteration this long after the call: the pending `next()` (or the next one)
   * rejects with DmOperationError `TIMEOUT`, as the client's `events()` does.
   */
  readonly timeoutMs?: number;
  /** Report conditions that already hold when watching starts (default true). */
  readonly initial?: boolean;
}

type State = Record<PoolConditionKind, boolean>;
const KINDS: readonly PoolConditionKind[] = ['failed', 'needs-check', 'read-only', 'out-of-data-space', 'low-water', 'metadata-low-water'];

/** Which conditions a status shows. */
export function poolConditionState(status: ThinPoolStatus, lowWaterMarkBlocks: bigint): State {
  if (status.health !== 'ok') {
    return { failed: true, 'needs-check': false, 'read-only': false, 'out-of-data-space': false, 'low-water': false, 'metadata-low-water': false };
  }
  const freeData = status.totalDataBlocks - status.usedDataBlocks;
  const freeMeta = status.totalMetadataBlocks - status.usedMetadataBlocks;
  return {
    failed: false,
    'needs-check': status.needsCheck,
    'read-only': status.mode === 'ro',
    'out-of-data-space': status.mode === 'out_of_data_space',
    // check_low_water_mark(): free <= low_water_blocks (a mark of 0 means "when full").
    'low-water': freeData <= lowWaterMarkBlocks,
    'metadata-low-water': status.metadataLowWatermarkBlocks !== undefined && freeMeta <= status.metadataLowWatermarkBlocks,
  };
}

/**
 * The conditions of the pool device `pool` as they change, until the signal aborts, the
 * iterator is closed, or the pool device goes away — removed, or replaced by another device
 * at its number (the iterator then ends).
 *
 * ```ts
 * for await (const c of pool.conditions({ signal })) {
 *   if (c.kind === 'low-water' && c.state === 'entered') await pool.resize({ dataBytes: c.status.totalDataBlocks * 2n * c.blockSizeBytes });
 * }
 * ```
 */
export function poolConditions(
  dm: DeviceMapper, pool: { readonly name: string; readonly uuid: string | null; readonly dev: { readonly major: number; readonly minor: number } },
  options: PoolConditionsOptions = {},
): AsyncIterableIterator<PoolCondition> {
  callOptionsArg({ timeoutMs: options.timeoutMs });
  const inner = new AbortController();
  // Made here, so its stack is the caller's; reported once, by the next() the timer ends.
  let timeout = options.timeoutMs === undefined ? undefined : new DmOperationError('TIMEOUT', `conditions() ended after ${options.timeoutMs} ms`);
  if (timeout) Error.captureStackTrace(timeout, poolConditions);
  let timedOut = false;
  const timer = timeout === undefined ? undefined : setTimeout(() => { timedOut = true; inner.abort(timeout); }, options.timeoutMs);
  // Unref'd, as events()' is: the bound alone must not keep the process alive (an iterator left
  // unstarted, or dropped without return(), would hold it until the timeout).
  timer?.unref?.();
  const report = (): void => {
    if (!timedOut || timeout === undefined) return;
    const e = timeout;
    timeout = undefined;
    throw e;
  };
  // One listener on the caller's signal however many iterators share it (lib/events/abort-fanout.ts),
  // let go when the iterator ends: AbortSignal.any would keep a reference per iterator in it.
  const linked = linkedSignal([options.signal], inner);
  const signal = linked.signal;
  const address: DeviceId = pool.uuid ? { uuid: pool.uuid } : { name: pool.name };
  const gen = watch(dm, address, pool.dev, options.initial ?? true, signal, inner.signal);
  const release = (): void => { clearTimeout(timer); linked.release(); };
  const ended = <T>(r: IteratorResult<T>): IteratorResult<T> => { if (r.done) { release(); report(); } return r; };
  const failed = (e: unknown): never => { release(); report(); throw e; };
  const it: AsyncIterableIterator<PoolCondition> = {
    next: () => gen.next().then(ended, failed),
    return: (value?: unknown) => { inner.abort(); release(); return gen.return(value as undefined); },
    throw: (e?: unknown) => gen.throw(e).then(ended, failed),
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

interface Mark { readonly lowWaterMarkBlocks: bigint; readonly blockSizeSectors: bigint }

/** The low-water mark and block size of the pool's live table (the one place that reads the target's field names). */
function readMark(dm: DeviceMapper, address: DeviceId): Mark {
  const line = dm.tableSync(address).targets[0];
  const p = line && line.type === 'thin-pool' ? parseTarget(line) : undefined;
  return p && p.type === 'thin-pool' ? { lowWaterMarkBlocks: BigInt(p.lowWaterMarkBlocks), blockSizeSectors: BigInt(p.blockSizeSectors) } : { lowWaterMarkBlocks: 0n, blockSizeSectors: 0n };
}

function poolStatusOf(targets: readonly { start: number | bigint; length: number | bigint; type: string; params: string }[]): ThinPoolStatus | undefined {
  const line = targets[0];
  if (!line || line.type !== 'thin-pool') return undefined;
  const s = parseStatus(line);
  return s.type === 'thin-pool' ? s.status : undefined;
}

async function* watch(
  dm: DeviceMapper, address: DeviceId, dev: { major: number; minor: number }, initial: boolean, signal: AbortSignal, closed: AbortSignal,
): AsyncGenerator<PoolCondition, void, undefined> {
  const gone = (e: unknown) => e instanceof DmError && e.errno === ERRNO.ENXIO;
  let prev: State | undefined;
  let eventNr: number;
  let status: ThinPoolStatus | undefined;
  // An aborted signal ends it before anything is sent, as the client's events() does.
  if (signal.aborted) throw new DmAbortError(signal.reason);
  try {
    const r = await dm.status(address);
    if (r.device.dev.major !== dev.major || r.device.dev.minor !== dev.minor) return; // another device took the uuid: ours is gone
    eventNr = r.device.eventNr;
    status = poolStatusOf(r.targets);
  } catch (e) {
    if (gone(e)) return;
    throw e;
  }
  const emit = function* (s: ThinPoolStatus, mark: Mark): Generator<PoolCondition> {
    const now = poolConditionState(s, mark.lowWaterMarkBlocks);
    const facts = { lowWaterMarkBlocks: mark.lowWaterMarkBlocks, blockSizeSectors: mark.blockSizeSectors, blockSizeBytes: mark.blockSizeSectors * 512n };
    for (const k of KINDS) {
      const was = prev ? prev[k] : false;
      if (now[k] && !was && (prev || initial)) yield { kind: k, state: 'entered', status: s, ...facts };
      if (!now[k] && was) yield { kind: k, state: 'cleared', status: s, ...facts };
    }
    prev = now;
  };
  if (status) yield* emit(status, readMark(dm, address));
  for (;;) {
    let r;
    try {
      r = await dm.wait(address, { eventNr, signal });
    } catch (e) {
      if (closed.aborted && e instanceof DmAbortError) return;
      // close() of the client ends the iterator ({ done: true }), as it ends events() iterators.
      if (e instanceof DmClosedError) return;
      if (gone(e)) return;
      // wait() met another device at the pool's number (removed, and a stranger made there):
      // for this iterator that is the pool going away, as a removal is.
      if (e instanceof DmIdentityError) return;
      throw e;
    }
    if (r.device.dev.major !== dev.major || r.device.dev.minor !== dev.minor) return;
    eventNr = r.device.eventNr;
    const s = poolStatusOf(r.targets);
    if (!s) continue;
    let mark: Mark;
    try { mark = readMark(dm, address); } catch (e) { if (gone(e)) return; throw e; }
    yield* emit(s, mark);
  }
}
