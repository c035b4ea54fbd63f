// events() must end promptly and give back everything it holds in every way an iterator can
// end — return() right after next(), a pre-aborted signal, an abort mid-wait or between
// events, the client's close() — with and without `ref`. Checked on the simulator:
// control fds (kernel.openFds), parked polls (kernel.pendingWaits), timers (jest's fake
// timers count unref'd ones too) and the client's own count of live iterators.
//
// No wall-clock waits: the simulator runs on microtasks and setImmediate, so "settles
// promptly" means "settles within a bounded number of event-loop turns".
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { getEventListeners } from 'node:events';
import { DeviceMapper, DmAbortError, DmClosedError, type DeviceEvent } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

/** Lets the simulator and the client run for `n` event-loop turns (no timers involved). */
async function turns(n = 30): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

interface Tracked<T> { settled: boolean; value?: T; error?: unknown }
function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { settled: false };
  p.then((value) => { t.settled = true; t.value = value; }, (error: unknown) => { t.settled = true; t.error = error; });
  return t;
}

/** Nothing of `kernel` is held by events any more: fds back to `fds`, no parked poll, no timer. */
function expectReleased(kernel: SimulatedKernel, fds: number): void {
  expect({ openFds: kernel.openFds, pendingWaits: kernel.pendingWaits, timers: jest.getTimerCount() })
    .toEqual({ openFds: fds, pendingWaits: 0, timers: 0 });
}

beforeEach(() => {
  // Only timers are faked: the simulator's setImmediate/microtasks run for real.
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'clearImmediate', 'queueMicrotask', 'nextTick', 'performance', 'Date', 'hrtime'] });
});
afterEach(() => {
  jest.useRealTimers();
});

for (const ref of [true, false]) {
  describe(`events({ ref: ${ref} }) ends and releases everything`, () => {
    let kernel: SimulatedKernel;
    let dm: DeviceMapper;
    /** Open fds while no iterator runs: the client's transport, plus the shared poller's fd once it exists (ref). */
    let idleFds: number;
    beforeEach(async () => {
      kernel = new SimulatedKernel();
      dm = await DeviceMapper.open({ backend: kernel.backend() });
      if (ref) {
        // The shared poller keeps its own fd for the client's lifetime (by design): open it once.
        const it = dm.events({ ref });
        const p = it.next();
        await turns();
        await it.return!();
        await p;
      }
      idleFds = kernel.openFds;
    });
    afterEach(() => {
      dm.close();
    });

    test('return() right after the first next(): the pending next resolves done, nothing is left', async () => {
      const it = dm.events({ ref, pollIntervalMs: 10 });
      const pending = track(it.next());
      const returned = track(it.return!());
      await turns();
      expect(pending).toEqual({ settled: true, value: { done: true, value: undefined } });
      expect(returned).toEqual({ settled: true, value: { done: true, value: undefined } });
      expectReleased(kernel, idleFds);
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });

    test('return() while next() waits for an event', async () => {
      const it = dm.events({ ref, pollIntervalMs: 10 });
      const pending = track(it.next());
      await turns();
      expect(pending.settled).toBe(false);
      await it.return!();
      await turns();
      expect(pending).toEqual({ settled: true, value: { done: true, value: undefined } });
      expectReleased(kernel, idleFds);
    });

    test('a pre-aborted signal: next() rejects with AbortError before anything is opened', async () => {
      const fdsBefore = kernel.openFds;
      const calls = kernel.calls.get('listDevices') ?? 0;
      const it = dm.events({ ref, pollIntervalMs: 10, signal: AbortSignal.abort() });
      const pending = track(it.next());
      await turns();
      expect(pending.settled).toBe(true);
      expect(pending.error).toBeInstanceOf(DmAbortError);
      expect(kernel.openFds).toBe(fdsBefore);
      expect(kernel.calls.get('listDevices') ?? 0).toBe(calls); // not even a snapshot was taken
      expectReleased(kernel, idleFds);
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });

    test('abort mid-wait: the pending next rejects with AbortError, everything is released', async () => {
      const ac = new AbortController();
      const it = dm.events({ ref, pollIntervalMs: 10, signal: ac.signal });
      const pending = track(it.next());
      await turns();
      expect(pending.settled).toBe(false);
      ac.abort();
      await turns();
      expect(pending.settled).toBe(true);
      expect(pending.error).toBeInstanceOf(DmAbortError);
      expectReleased(kernel, idleFds);
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });

    test('abort between events (no next() pending) releases at once, not at the next call', async () => {
      const ac = new AbortController();
      const it = dm.events({ ref, pollIntervalMs: 10, signal: ac.signal });
      const first = track(it.next());
      await turns();
      await dm.createDevice({ name: 'a', table: zero });
      for (let i = 0; i < 5 && !first.settled; i++) { jest.advanceTimersByTime(10); await turns(); }
      expect((first.value?.value as DeviceEvent | undefined)?.kind).toBe('added');
      ac.abort(); // the consumer is busy with the event: no next() is pending
      await turns();
      expectReleased(kernel, idleFds);
      await expect(it.next()).rejects.toBeInstanceOf(DmAbortError);
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });

    test('close() ends every live iterator: pending ones resolve done, idle ones are done', async () => {
      const pendingIts = Array.from({ length: 5 }, () => dm.events({ ref, pollIntervalMs: 10 }));
      const pending = pendingIts.map((it) => track(it.next()));
      const justStarted = dm.events({ ref, pollIntervalMs: 10 });
      const racing = track(justStarted.next()); // close() before it even opened
      const neverStarted = dm.events({ ref, pollIntervalMs: 10 });
      await turns(3);
      dm.close();
      await turns();
      for (const p of [...pending, racing]) expect(p).toEqual({ settled: true, value: { done: true, value: undefined } });
      expect(await neverStarted.next()).toEqual({ done: true, value: undefined });
      expectReleased(kernel, 0);
      expect(() => dm.events({ ref })).toThrow(DmClosedError);
    });

    test('300 iterators in the bad patterns, then close(): every fd, poll and timer is given back', async () => {
      const ac = new AbortController();
      const results: Tracked<IteratorResult<DeviceEvent>>[] = [];
      for (let i = 0; i < 100; i++) {
        const a = dm.events({ ref, pollIntervalMs: 10 });
        results.push(track(a.next()));
        void a.return!();
        const b = dm.events({ ref, pollIntervalMs: 10, signal: AbortSignal.abort() });
        results.push(track(b.next()));
        const c = dm.events({ ref, pollIntervalMs: 10, signal: ac.signal });
        results.push(track(c.next()));
      }
      await turns();
      dm.close();
      await turns();
      expect(results.filter((r) => !r.settled)).toHaveLength(0);
      expectReleased(kernel, 0);
      // A long-lived signal shared by many iterators keeps no listener of an ended one.
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    });
  });
}

test('iterators made but never started hold nothing (no listener on a shared signal); close() still ends them', async () => {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  const ac = new AbortController();
  const its = Array.from({ length: 100 }, (_, i) => dm.events({ ref: i % 2 === 0, signal: ac.signal }));
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  expect(kernel.openFds).toBe(1);
  dm.close();
  for (const it of its) expect(await it.next()).toEqual({ done: true, value: undefined });
  expectReleased(kernel, 0);
});

describe('wait()', () => {
  test('an abort settles it even while the poller is still opening its fd', async () => {
    const kernel = new SimulatedKernel();
    const real = kernel.backend();
    // A watcher that never finishes opening: only the signal can end the wait.
    const dm = await DeviceMapper.open({ backend: { ...real, openWatcher: () => new Promise(() => {}) } });
    await dm.createDevice({ name: 'w', table: zero });
    const ac = new AbortController();
    const waiting = track(dm.wait('w', { signal: ac.signal }));
    await turns();
    expect(waiting.settled).toBe(false);
    ac.abort();
    await turns();
    expect(waiting.settled).toBe(true);
    expect(waiting.error).toBeInstanceOf(DmAbortError);
    dm.close();
  });

  test('{ table: true, showKeys: true } is an accepted option', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const d = await dm.createDevice({ name: 'w', table: zero });
    kernel.triggerEvent('w');
    const r = await dm.wait('w', { eventNr: d.eventNr, table: true, showKeys: true });
    expect(r.targets.map((t) => t.type)).toEqual(['zero']);
    dm.close();
  });
});
