// events() on a real kernel gives back every fd it opened: 300 iterators in the
// patterns that used to leak — return() right after next(), an already aborted signal, a
// next() left pending until close() — then close(): no fd is open that was not open before
// the client opened, and no pool thread is left in poll(). Compared as sets of "fd -> target"
// rather than counts: an unrelated fd closing meanwhile (jest, a previous suite's handle being
// collected) once made a count-based check fail with fewer fds than the baseline, and would
// equally have hidden a leak of the same size.
import { expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import { DeviceMapper, type DeviceEvent } from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact, threadsInPoll } from './live-env.js';

/** Every open fd as "fd -> target" (the target tells a pipe from the control node). */
function openFds(): Set<string> {
  const out = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out.add(`${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // The fd readdir itself used, closed by now.
    }
  }
  return out;
}

/** fds open now that were not open in `before` (a leak, whatever else closed meanwhile). */
function openedSince(before: Set<string>): string[] {
  return [...openFds()].filter((f) => !before.has(f));
}

/** Polls `f` until it returns true or `ms` pass (a hang guard, not a timing assertion). */
async function eventually(f: () => boolean, ms = 10000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

describeLive(`events() releases its watchers [kernel ${kernelLabel}]`, () => {
  for (const ref of [false, true]) {
    test(`ref: ${ref} — 300 iterators (return after next, pre-aborted, pending at close), close(): fds back to the baseline`, async () => {
      const baseline = openFds();
      const pollingBefore = threadsInPoll();
      const dm = await DeviceMapper.open();
      const settled: Promise<unknown>[] = [];
      const outcomes = { done: 0, abort: 0, other: [] as string[] };
      const watch = (p: Promise<IteratorResult<DeviceEvent>>) => settled.push(p.then(
        (r) => { if (r.done) outcomes.done++; else outcomes.other.push(`event ${r.value.kind}`); },
        (e: unknown) => { if ((e as Error).name === 'AbortError') outcomes.abort++; else outcomes.other.push(String(e)); },
      ));
      for (let i = 0; i < 100; i++) {
        const a = dm.events({ ref, pollIntervalMs: 50 });
        watch(a.next());
        void a.return!();
        const b = dm.events({ ref, pollIntervalMs: 50, signal: AbortSignal.abort() });
        watch(b.next());
        const c = dm.events({ ref, pollIntervalMs: 50 });
        watch(c.next());
      }
      // Let every iterator get as far as it goes (under TCG 300 of them take seconds): until
      // the fd count has not moved for half a second. A readiness guard, not an assertion.
      let last = -1;
      let still = 0;
      for (let i = 0; i < 300 && still < 5; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const n = openFds().size;
        still = n === last ? still + 1 : 0;
        last = n;
      }
      const during = openFds().size;
      dm.close();
      const allSettled = await Promise.race([Promise.all(settled).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 20000))]);
      await eventually(() => openedSince(baseline).length === 0);
      const leaked = openedSince(baseline);
      const idle = await eventually(() => threadsInPoll() === pollingBefore);
      recordLiveFact(`eventsLifetime.ref${ref}`, { baseline: baseline.size, during, after: openFds().size, leaked, threadsInPoll: threadsInPoll() });
      expect({ allSettled, outcomes, leaked, idle }).toEqual({ allSettled: true, outcomes: { done: 200, abort: 100, other: [] }, leaked: [], idle: true });
    });
  }
});
