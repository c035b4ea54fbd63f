/**
 * Batch scheduling of infoMany and statusMany: every device argument checked before anything
 * is sent, then the calls run in lanes (a bounded number in flight), each entry settling on
 * its own; the caller's signal and timeout stop new entries from starting and end the wait,
 * and progress is reported as entries settle.
 */
import { CALLS_IN_FLIGHT } from '../../ffi/engine.js';
import type { DeviceId } from '../../codec/index.js';
import { DmArgumentError } from '../errors.js';
import { deviceArg } from './args.js';

/** One entry of a batch's result: its value, or the error of that entry alone. */
export type Settled<T> =
  | {
    /** This entry succeeded. */
    readonly ok: true;
    /** What the single call (`info()`, `status()`) would have returned for this device. */
    readonly value: T;
  }
  | {
    /** This entry failed; the other entries are unaffected. */
    readonly ok: false;
    /** What the single call would have thrown for this device (a typed error of this package). */
    readonly error: unknown;
  };

/** The device list of a batch, every entry checked and copied before anything is sent. */
export function manyArg(devices: readonly (DeviceId | string)[]): DeviceId[] {
  if (!Array.isArray(devices)) throw new DmArgumentError('devices', 'an array of devices', typeof devices);
  const ids: DeviceId[] = [];
  for (let i = 0; i < devices.length; i++) {
    if (!(i in devices)) throw new DmArgumentError(`devices[${i}]`, 'a device', 'a hole');
    ids.push(deviceArg(devices[i] as DeviceId | string, `devices[${i}]`));
  }
  return ids;
}

/**
 * Calls in flight at once in a batch: as many as the engine has slots (ffi/engine.ts,
 * CALLS_IN_FLIGHT), so the ring stays full, and no more, so that a 10,000-device batch does
 * not hold 10,000 request buffers at once.
 */
const BATCH_WINDOW = CALLS_IN_FLIGHT;

/** How a batch is stopped and observed: the stop signal (caller's signal or timeout) and the progress report. */
export interface BatchControl {
  /** Aborted when the caller stops waiting: no further entry starts. */
  readonly stop?: AbortSignal | undefined;
  /** Reports `done` of `total` entries as they settle. */
  readonly progress?: ((done: number, total: number) => void) | undefined;
}

/**
 * Runs `run` over `items` in BATCH_WINDOW lanes; each entry settles alone (its value or its
 * error). Once `control.stop` aborts no further entry starts (the caller's wait is ended by
 * boundedCall; the calls already under way finish in the kernel).
 */
export async function settleAll<I, T>(items: readonly I[], run: (item: I) => Promise<T>, control: BatchControl = {}): Promise<Settled<T>[]> {
  const out: Settled<T>[] = new Array(items.length);
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < items.length && !control.stop?.aborted) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await run(items[i]!) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
      done++;
      control.progress?.(done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_WINDOW, items.length) }, lane));
  return out;
}
