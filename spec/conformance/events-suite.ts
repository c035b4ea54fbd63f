/**
 * The event stream's semantics, written once for the simulator and the real kernels:
 * added / removed / renamed / changed with deltas, nothing missed in a burst, prompt
 * cancellation, ref: false. Renames are the trigger here because every kernel has them;
 * target events (thin-pool low-water) are covered live in spec/live/events.live.spec.ts.
 */
import { describe, expect, test } from '@jest/globals';
import type { DeviceEvent, DeviceMapper } from '../../lib/index.js';
import type { ConformanceEnv } from './env.js';

const zero = [{ start: 0, length: 64, type: 'zero', params: '' }];

/** Resolves with `p`, or with 'timeout' after `ms`; the timer never outlives the race. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((res) => { timer = setTimeout(() => res('timeout'), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects events until `until` says enough (or the deadline passes). */
async function collect(it: AsyncIterator<DeviceEvent>, until: (seen: DeviceEvent[]) => boolean, ms = 30000): Promise<DeviceEvent[]> {
  const seen: DeviceEvent[] = [];
  const deadline = Date.now() + ms;
  while (!until(seen)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const r = await within(it.next(), left);
    if (r === 'timeout' || r.done) break;
    seen.push(r.value);
  }
  return seen;
}

export function eventSuite(env: ConformanceEnv, getDm: () => DeviceMapper): void {
  const P = `${env.prefix}ev${process.pid % 10000}-`;

  describe(`events [${env.label}]`, () => {
    test('added, renamed + changed (delta 1), removed — in order, for our devices only', async () => {
      const dm = getDm();
      const it = dm.events({ filter: { namePrefix: `${P}a-` } });
      try {
        const first = it.next(); // start listening before anything happens
        await new Promise((r) => setTimeout(r, 20));
        await dm.createDevice({ name: `${P}a-1`, table: zero });
        const added = await first;
        expect(added.value).toMatchObject({ kind: 'added', name: `${P}a-1`, delta: 0 });
        await dm.rename(`${P}a-1`, { newName: `${P}a-2` });
        const renamed = await collect(it, (s) => s.length >= 2);
        expect(renamed.map((e) => e.kind).sort()).toEqual(['changed', 'renamed']);
        expect(renamed.find((e) => e.kind === 'renamed')).toMatchObject({ name: `${P}a-2`, oldName: `${P}a-1` });
        expect(renamed.find((e) => e.kind === 'changed')).toMatchObject({ delta: 1, eventNr: 1 });
        await dm.remove(`${P}a-2`);
        const removed = await collect(it, (s) => s.some((e) => e.kind === 'removed'));
        expect(removed.at(-1)).toMatchObject({ kind: 'removed', name: `${P}a-2` });
      } finally {
        await it.return?.();
      }
      for (let i = 0; i < 100 && dm.pollerActive; i++) await new Promise((r) => setTimeout(r, 10));
      expect(dm.pollerActive).toBe(false);
    });

    test('no event missed: a burst of renames and removals on several devices', async () => {
      const dm = getDm();
      const names = [0, 1, 2, 3].map((i) => `${P}b-${i}`);
      for (const n of names) await dm.createDevice({ name: n, table: zero });
      const devs = new Map<string, string>(); // dev → current name
      for (const n of names) {
        const i = await dm.info(n);
        if (i.exists) devs.set(`${i.dev.major}:${i.dev.minor}`, n);
      }
      const it = dm.events({ filter: { namePrefix: `${P}b-` } });
      const triggered = new Map<string, number>();
      const deltas = new Map<string, number>();
      const seen: DeviceEvent[] = [];
      let stop = false;
      const reader = (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          seen.push(r.value);
          const key = `${r.value.dev.major}:${r.value.dev.minor}`;
          if (r.value.kind === 'changed') deltas.set(key, (deltas.get(key) ?? 0) + r.value.delta);
          if (stop && r.value.kind === 'removed' && [...devs.keys()].every((k) => seen.some((e) => e.kind === 'removed' && `${e.dev.major}:${e.dev.minor}` === k))) return;
        }
      })();
      await new Promise((r) => setTimeout(r, 20));
      const renames = 100;
      for (let i = 0; i < renames; i++) {
        const key = [...devs.keys()][i % devs.size]!;
        const from = devs.get(key)!;
        const to = `${P}b-${i % devs.size}-r${i}`;
        await dm.rename(from, { newName: to });
        devs.set(key, to);
        triggered.set(key, (triggered.get(key) ?? 0) + 1);
        if (i % 7 === 0) await new Promise((r) => setImmediate(r)); // let some polls interleave
      }
      const finalEventNr = new Map<string, number>();
      for (const [key, n] of devs) {
        const i = await dm.info(n);
        if (i.exists) finalEventNr.set(key, i.eventNr);
      }
      stop = true;
      for (const n of devs.values()) await dm.remove(n);
      await within(reader, 60000);
      await it.return?.();
      for (const [key, count] of triggered) {
        expect([key, deltas.get(key) ?? 0]).toEqual([key, count]);
        const lastChanged = seen.filter((e) => e.kind === 'changed' && `${e.dev.major}:${e.dev.minor}` === key).at(-1);
        expect([key, lastChanged?.eventNr]).toEqual([key, finalEventNr.get(key)]);
      }
      for (const key of devs.keys()) {
        expect(seen.some((e) => e.kind === 'removed' && `${e.dev.major}:${e.dev.minor}` === key)).toBe(true);
      }
      // every name a device had appears in a renamed event's name or oldName
      const renamedNames = new Set(seen.filter((e) => e.kind === 'renamed').flatMap((e) => [e.name, e.oldName]));
      for (const n of devs.values()) expect(renamedNames.has(n)).toBe(true);
    });

    test('cancellation: the signal ends the iterator promptly and the poller lets go', async () => {
      const dm = getDm();
      const ac = new AbortController();
      const it = dm.events({ signal: ac.signal });
      const pending = it.next();
      await new Promise((r) => setTimeout(r, 30));
      expect(dm.pollerActive).toBe(true);
      const t0 = performance.now();
      ac.abort();
      const e = await pending.catch((x: unknown) => x);
      const ms = performance.now() - t0;
      expect((e as Error).name).toBe('AbortError');
      expect(ms).toBeLessThan(1000);
      for (let i = 0; i < 100 && dm.pollerActive; i++) await new Promise((r) => setTimeout(r, 10));
      expect(dm.pollerActive).toBe(false);
    });

    test('break / return() ends a waiting iterator without an event', async () => {
      const dm = getDm();
      const it = dm.events();
      const pending = it.next();
      await new Promise((r) => setTimeout(r, 30));
      await it.return?.();
      expect(await pending).toEqual({ done: true, value: undefined });
      for (let i = 0; i < 100 && dm.pollerActive; i++) await new Promise((r) => setTimeout(r, 10));
      expect(dm.pollerActive).toBe(false);
    });

    test('ref: false sees events without parking a poll', async () => {
      const dm = getDm();
      const it = dm.events({ ref: false, pollIntervalMs: 20, filter: { namePrefix: `${P}c-` } });
      try {
        const first = it.next();
        await new Promise((r) => setTimeout(r, 50));
        await dm.createDevice({ name: `${P}c-1`, table: zero });
        expect(dm.pollerActive).toBe(false);
        expect((await first).value).toMatchObject({ kind: 'added', name: `${P}c-1` });
        await dm.remove(`${P}c-1`);
      } finally {
        await it.return?.();
      }
    });
  });
}
