/**
 * removeMany and createMany: many devices removed or created at once, each by the very
 * operation a single device takes (removeDevice, createDevice: the same identity-checked
 * steps, EBUSY retries and rollback), with a bounded number of devices in flight.
 *
 * Why in parallel: DM_DEV_REMOVE waits in the kernel for an RCU grace period (docs/scale.md),
 * so one device after another spends most of its time asleep. With
 * several devices in flight their calls sleep on several kernel-facing threads at once and
 * the waits overlap (docs/scale.md). Every kernel call still goes through the runner, whose
 * async slots (CALLS_IN_FLIGHT) keep the process below koffi's limit on async calls, so
 * `concurrency` is capped there.
 *
 * Results are settled per device (`{ ok, value | error }`, in input order). The caller's
 * `signal` or `timeoutMs` stops the batch: no further device starts (those settle with the
 * stop's error), each one in flight stops at its next step and undoes what it did (a
 * half-made device is removed, by its own identity), and the batch rejects with the stop's
 * error once every started device has settled, the results attached as `results`.
 */
import type { DeviceId, DeviceInfo } from '../../codec/index.js';
import { CALLS_IN_FLIGHT } from '../../ffi/engine.js';
import { createDeviceArg, deviceArg, describeValue, optionsArg } from '../client/args.js';
import type { Settled } from '../client/batch.js';
import type { CreateDeviceOptions, RemoveDeviceOptions, RemoveResult } from '../client/command-types.js';
import type { DeviceMapper } from '../client/client.js';
import { DmAbortError, DmArgumentError, DmClosedError, DmOperationError } from '../errors.js';
import { operationHost } from '../client/internal-keys.js';
import { linkedSignal } from '../events/abort-fanout.js';
import { udevOptionsArg, UDEV_OPTION_KINDS } from '../udev/cookie-call.js';
import { createDevice } from './create-device.js';
import { addressOf, identityOf, type DeviceIdentity } from './identity.js';
import { operationOptions, withCallerStack, type OperationProgress } from './operation.js';
import { removeDevice } from './remove-device.js';
import { retryPolicy } from './retry.js';

/**
 * Devices in flight at once when `concurrency` is not given: enough for the grace periods of
 * many removals to overlap on every kernel-facing thread the process has, few enough that a
 * batch leaves most of the runner's async slots to the rest of the process.
 */
export const DEFAULT_MANY_CONCURRENCY = 32;

/** What removeMany and createMany take besides their own options. */
export interface ManyOptions {
  /**
   * Devices in flight at once (1…128; default 32). Each device's calls run one after another;
   * the kernel calls of different devices overlap.
   */
  readonly concurrency?: number | undefined;
  /** Start no further device once one has failed (default false: every device is tried). */
  readonly stopOnError?: boolean | undefined;
  /** Stops the batch: see {@link DeviceMapper.removeMany}. */
  readonly signal?: AbortSignal | undefined;
  /** The whole batch's bound in ms (1…3600000): past it the batch stops as with `signal` and rejects with DmOperationError TIMEOUT. */
  readonly timeoutMs?: number | undefined;
  /** Called as each device settles (`done` of `total`, `step` names the device and its outcome). Must not throw; a throw is ignored. */
  readonly onProgress?: ((progress: OperationProgress) => void) | undefined;
}

/** Options of {@link DeviceMapper.removeMany}: the batch's, and those of each removeDevice. */
export interface RemoveManyOptions extends ManyOptions, Pick<RemoveDeviceOptions, 'deferred' | 'retries' | 'delayMs' | 'udev' | 'udevFlags' | 'udevTimeoutMs'> {}

/**
 * One device of {@link DeviceMapper.removeMany}: a name, a {@link DeviceId}, or a device's
 * identity (`{ name, uuid, dev }`, e.g. the DeviceInfo createDevice or createMany returned),
 * which removes only that very device (removeDevice's `expect`).
 */
export type RemoveManyEntry = DeviceId | string | DeviceIdentity;

/** One device of {@link DeviceMapper.createMany}: createDevice's options without the batch's `signal` and `timeoutMs`. */
export type CreateManySpec = Omit<CreateDeviceOptions, 'signal' | 'timeoutMs'>;

/** Options of {@link DeviceMapper.createMany}. */
export interface CreateManyOptions extends ManyOptions {}

/** The error a batch rejects with when it was stopped: the stop's own error, with every device's result. */
export interface ManyStopped {
  /** One entry per device, in input order; devices never started settle with the stop's error. */
  readonly results: readonly Settled<unknown>[];
}

const MANY_KINDS = { concurrency: 'uint', stopOnError: 'boolean', signal: 'signal', timeoutMs: 'any', onProgress: 'function' } as const;

/** `concurrency` (removeMany's, createMany's and the tree operations'), checked before any syscall. */
export function concurrencyArg(v: number | undefined): number {
  if (v === undefined) return DEFAULT_MANY_CONCURRENCY;
  if (v < 1 || v > CALLS_IN_FLIGHT) throw new DmArgumentError('options.concurrency', `an integer from 1 to ${CALLS_IN_FLIGHT}`, describeValue(v));
  return v;
}

function isIdentity(v: unknown): v is DeviceIdentity {
  return typeof v === 'object' && v !== null && 'dev' in v && 'name' in v && 'uuid' in v;
}

/** See {@link DeviceMapper.removeMany}. */
export async function removeMany(dm: DeviceMapper, devices: readonly RemoveManyEntry[], options: RemoveManyOptions = {}): Promise<Settled<RemoveResult>[]> {
  const o = optionsArg(options, 'options', { ...MANY_KINDS, deferred: 'boolean', retries: 'any', delayMs: 'any', udev: 'any', udevFlags: 'any', udevTimeoutMs: 'uint' });
  if ((options as { udevCookie?: unknown }).udevCookie !== undefined) throw new DmArgumentError('options.udevCookie', 'no shared cookie (each removal makes its own)', 'a cookie');
  udevOptionsArg(options);
  retryPolicy(options);
  const concurrency = concurrencyArg(o.concurrency as number | undefined);
  const bounds = operationOptions({ signal: options.signal, timeoutMs: options.timeoutMs });
  if (!Array.isArray(devices)) throw new DmArgumentError('devices', 'an array of devices', describeValue(devices));
  // Every entry checked and copied before the first ioctl.
  // (A loop, not map(): map skips the holes of a sparse array.)
  const entries: { id: DeviceId; expect?: DeviceIdentity }[] = [];
  for (let i = 0; i < devices.length; i++) {
    if (!(i in devices)) throw new DmArgumentError(`devices[${i}]`, 'a device', 'a hole');
    const d = devices[i];
    if (isIdentity(d)) {
      const expect = identityOf(d, `devices[${i}]`);
      entries.push({ id: addressOf(expect), expect });
    } else {
      entries.push({ id: deviceArg(d, `devices[${i}]`) });
    }
  }
  const { deferred, retries, delayMs, udev, udevFlags, udevTimeoutMs } = options;
  return runMany(dm, 'removeMany', entries, concurrency, options, bounds, (e) => describe(e.id), (e, signal, lane) =>
    removeDevice(dm, e.id, { deferred, retries, delayMs, udev, udevFlags, udevTimeoutMs, signal, ...(e.expect ? { expect: e.expect } : {}) }, lane));
}

/** See {@link DeviceMapper.createMany}. */
export async function createMany(dm: DeviceMapper, specs: readonly CreateManySpec[], options: CreateManyOptions = {}): Promise<Settled<DeviceInfo>[]> {
  const o = optionsArg(options, 'options', MANY_KINDS);
  const concurrency = concurrencyArg(o.concurrency as number | undefined);
  const bounds = operationOptions({ signal: options.signal, timeoutMs: options.timeoutMs });
  if (!Array.isArray(specs)) throw new DmArgumentError('specs', 'an array of createDevice options', describeValue(specs));
  // Each spec is checked in full by its createDevice before its first ioctl; the shape of all
  // of them here, so that a batch with a bad entry sends nothing at all (a loop: map skips holes).
  const checked: CreateManySpec[] = [];
  for (let i = 0; i < specs.length; i++) {
    if (!(i in specs)) throw new DmArgumentError(`specs[${i}]`, 'createDevice options', 'a hole');
    const s = specs[i]!;
    const spec = optionsArg(s, `specs[${i}]`, {
      name: 'kernelString', uuid: 'kernelString', table: 'any', readOnly: 'boolean', secure: 'boolean', minor: 'uint', rollback: 'object', ...UDEV_OPTION_KINDS,
    }, ['name', 'table']);
    if (!Array.isArray(spec.table) || spec.table.length === 0) throw new DmArgumentError(`specs[${i}].table`, 'at least one table line', describeValue(spec.table));
    if (spec.udevCookie !== undefined) throw new DmArgumentError(`specs[${i}].udevCookie`, 'no shared cookie (each creation makes its own)', 'a cookie');
    // The copy is what runs, so the copy is what is checked: every table line, the udev
    // options and the rollback policy, as createDevice checks them (its own check repeats it).
    const copy: CreateManySpec = { ...s };
    createDeviceArg(copy, `specs[${i}]`);
    udevOptionsArg(copy, `specs[${i}]`);
    retryPolicy(copy.rollback ?? {}, `specs[${i}].rollback`);
    checked.push(copy);
  }
  return runMany(dm, 'createMany', checked, concurrency, options, bounds, (s) => s.name, (s, signal, lane) => createDevice(dm, { ...s, signal }, lane));
}

function describe(id: DeviceId): string {
  if (id.uuid !== undefined) return `uuid ${typeof id.uuid === 'string' ? id.uuid : '(bytes)'}`;
  if (id.name !== undefined) return typeof id.name === 'string' ? id.name : '(bytes)';
  return `${id.dev.major}:${id.dev.minor}`;
}

/**
 * The scheduler both share: `concurrency` lanes take the next entry until none is left, the
 * batch is stopped or (with `stopOnError`) an entry failed. Each entry's operation gets the
 * batch's signal (the caller's, the timeout's), so a stop reaches the steps in flight, and
 * the batch settles only once every started entry has.
 */
async function runMany<I, T>(
  dm: DeviceMapper, name: string, items: readonly I[], concurrency: number, options: ManyOptions, bounds: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined },
  label: (item: I) => string, run: (item: I, signal: AbortSignal, lane: number) => Promise<T>,
): Promise<Settled<T>[]> {
  const site = new Error();
  Error.captureStackTrace(site, runMany);
  const out: Settled<T>[] = new Array(items.length);
  const stop = new AbortController();
  // close() stops the batch as the caller's signal does (each operation in flight sees it too).
  const closing = dm[operationHost]().closing;
  const link = linkedSignal([bounds.signal, closing], stop);
  const stopError = (reason: unknown): Error => {
    if (reason instanceof DmOperationError && reason.code === 'TIMEOUT') return new DmOperationError('TIMEOUT', reason.message);
    if (closing.aborted && !bounds.signal?.aborted) return new DmClosedError('the device-mapper client');
    return new DmAbortError(reason);
  };
  const timeout = bounds.timeoutMs === undefined ? undefined : setTimeout(() => {
    stop.abort(new DmOperationError('TIMEOUT', `${name} did not finish within ${bounds.timeoutMs} ms`));
  }, bounds.timeoutMs);
  let next = 0;
  let done = 0;
  let failed = false;
  const report = (step: string) => {
    try { options.onProgress?.({ operation: name, step, done, total: items.length }); } catch { /* a progress callback cannot break the batch */ }
  };
  const lane = async (_: unknown, n: number) => {
    while (next < items.length && !link.signal.aborted && !(failed && options.stopOnError)) {
      const i = next++;
      const item = items[i]!;
      try {
        out[i] = { ok: true, value: await run(item, link.signal, n) };
        done++;
        report(`${name === 'removeMany' ? 'removed' : 'created'} ${label(item)}`);
      } catch (error) {
        // A device's operation may start after an await (the lane's previous device): its own
        // stack then starts in the lane, so the batch's caller is added here.
        out[i] = { ok: false, error: withCallerStack(error, site) };
        failed = true;
        done++;
        report(`failed ${label(item)}`);
      }
    }
  };
  try {
    if (link.signal.aborted) throw stopError(link.signal.reason);
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
    const stopped = link.signal.aborted ? stopError(link.signal.reason) : undefined;
    // Each device never started gets an error of its own, not `stopped` itself: that one
    // carries `results`, and an entry holding it would make the error a cycle (a logger's
    // JSON.stringify of it throws).
    const notStarted = (): Error => withCallerStack(stopped ? stopError(link.signal.reason) : new DmAbortError(new Error(`${name}: not started, an earlier device failed (stopOnError)`)), site);
    for (let i = 0; i < items.length; i++) if (!(i in out)) out[i] = { ok: false, error: notStarted() };
    if (stopped) throw Object.assign(stopped, { results: out } satisfies ManyStopped);
    return out;
  } catch (e) {
    throw withCallerStack(e, site);
  } finally {
    if (timeout) clearTimeout(timeout);
    link.release();
  }
}
