/**
 * The scenario of shared-signal.spec.ts (also run whole in a child process, where Node's
 * 'warning' event can be watched: jest's sandboxed `process` does not receive it): 1,000
 * calls of the client's async methods and operations, all in flight at once and all given
 * one AbortSignal, on one client whose closing signal every operation watches. Counts the
 * 'abort' listeners on both signals while the calls run (their peak) and after they settled.
 */
import { getEventListeners } from 'node:events';
import { DeviceMapper } from '../../lib/index.js';
import { operationHost } from '../../lib/client/internal-keys.js';
import { SimulatedKernel } from '../../testing/index.js';

const zero = () => [{ start: 0, length: 8, type: 'zero', params: '' }];

/** Live 'abort' listeners of a signal, and the most it had at once. */
function countListeners(signal: AbortSignal): { peak: () => number; stop: () => void } {
  let live = 0;
  let peak = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, fn: never, o?: never) => { if (type === 'abort') peak = Math.max(peak, ++live); add(type, fn, o); }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, fn: never, o?: never) => { if (type === 'abort') live--; remove(type, fn, o); }) as typeof signal.removeEventListener;
  return { peak: () => peak, stop: () => { delete (signal as { addEventListener?: unknown }).addEventListener; delete (signal as { removeEventListener?: unknown }).removeEventListener; } };
}

/** Weak references Node keeps in a signal for each AbortSignal.any() made from it (an internal; 0 when absent). */
function dependants(signal: AbortSignal): number {
  const sym = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = sym ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[sym] : undefined;
  return set?.size ?? 0;
}

export interface ScenarioResult {
  calls: number;
  failures: string[];
  peak: { shared: number; closing: number };
  after: { shared: number; closing: number };
  dependants: { shared: number; closing: number };
}

export async function sharedSignalScenario(calls = 1000): Promise<ScenarioResult> {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.createDevice({ name: 'd', uuid: 'SHARED-d', table: zero() });
  for (let i = 0; i < 10; i++) await dm.createDevice({ name: `r${i}`, table: zero() });
  const shared = new AbortController().signal;
  const closing = dm[operationHost]().closing;
  const onShared = countListeners(shared);
  const onClosing = countListeners(closing);
  const o = { signal: shared, timeoutMs: 3_600_000 };
  const kinds: ((i: number) => Promise<unknown>)[] = [
    () => dm.info('d', o), () => dm.status('d', o), () => dm.table('d', o), () => dm.list(o), () => dm.version(o),
    () => dm.resume('d', o), () => dm.suspend('d', o).then(() => dm.resume('d', o)), () => dm.deps('d', o),
    () => dm.infoMany(['d', 'r0'], o), () => dm.statusMany(['d'], o), () => dm.message('d', 0, 'hello', o).catch(() => undefined),
    (i) => dm.createDevice({ name: `c${i}`, table: zero(), ...o }).then(() => dm.removeDevice(`c${i}`, o)),
    (i) => dm.createDevice({ name: `u${i}`, uuid: `SHARED-u${i}`, table: zero(), ...o }).then(() => dm.rename({ uuid: `SHARED-u${i}` }, { newName: `v${i}` }, o)),
    () => dm.wait('d', { eventNr: 0, ...o }),
  ];
  const failures: string[] = [];
  const started = Array.from({ length: calls }, (_, i) => kinds[i % kinds.length]!(i).catch((e: unknown) => { failures.push(`${i % kinds.length}: ${String(e)}`); }));
  // events() streams on the same signal, each ended after its first event.
  const streams = Array.from({ length: 20 }, () => dm.events({ signal: shared, timeoutMs: 3_600_000 }));
  const firsts = streams.map((s) => s.next());
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  kernel.triggerEvent('d'); // wakes the waits (eventNr 0 may already be past: then they returned at once)
  await Promise.all(started);
  kernel.triggerEvent('d');
  await Promise.all(firsts);
  await Promise.all(streams.map((s) => s.return!()));
  const result: ScenarioResult = {
    calls,
    failures,
    peak: { shared: onShared.peak(), closing: onClosing.peak() },
    after: { shared: getEventListeners(shared, 'abort').length, closing: getEventListeners(closing, 'abort').length },
    dependants: { shared: dependants(shared), closing: dependants(closing) },
  };
  onShared.stop();
  onClosing.stop();
  dm.close();
  return result;
}
