// wait()'s wake-up path, attacked where it was restructured: one AbortSignal
// shared by many waits, each waiter's own signal, results shared between waiters, close()
// and abort at every step of a wake-up, and the race-free rule (an event after a wait
// started is never lost) at every step of a start. Simulator only; no wall-clock waits:
// "settles" means "within a bounded number of event-loop turns".
import { describe, expect, test } from '@jest/globals';
import { getEventListeners } from 'node:events';
import { DeviceMapper, DmAbortError, DmClosedError, type DeviceEvent } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

async function turns(n = 30): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}
async function microtasks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

interface Tracked<T> { settled: boolean; value?: T; error?: unknown }
function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { settled: false };
  p.then((value) => { t.settled = true; t.value = value; }, (error: unknown) => { t.settled = true; t.error = error; });
  return t;
}

async function setup(name = 'w'): Promise<{ kernel: SimulatedKernel; dm: DeviceMapper }> {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.createDevice({ name, table: zero });
  return { kernel, dm };
}

describe('one AbortSignal shared by many waits', () => {
  test('50 waits and 20 events() streams on one signal: one abort listener, no MaxListenersExceededWarning, the abort ends them all', async () => {
    const { dm } = await setup();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => { warnings.push(w); };
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const waits = Array.from({ length: 50 }, () => track(dm.wait('w', { signal: ac.signal })));
      const streams = Array.from({ length: 20 }, () => dm.events({ signal: ac.signal }));
      const firsts = streams.map((it) => track(it.next()));
      await turns();
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
      expect(waits.some((w) => w.settled) || firsts.some((f) => f.settled)).toBe(false);
      ac.abort();
      await turns();
      for (const w of waits) expect(w.error).toBeInstanceOf(DmAbortError);
      for (const f of firsts) expect(f.error).toBeInstanceOf(DmAbortError);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      dm.close();
    }
  });

  test('waits that end by an event give the shared listener back; a waiter\'s own signal cuts only its own wait', async () => {
    const { kernel, dm } = await setup();
    try {
      const shared = new AbortController();
      const own = new AbortController();
      const many = Array.from({ length: 20 }, () => track(dm.wait('w', { signal: shared.signal })));
      const mine = track(dm.wait('w', { signal: own.signal }));
      await turns();
      own.abort();
      await turns();
      expect(mine.error).toBeInstanceOf(DmAbortError);
      expect(many.some((w) => w.settled)).toBe(false);
      kernel.triggerEvent('w');
      await turns();
      for (const w of many) expect(w.value?.device.name).toBe('w');
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
      expect(getEventListeners(own.signal, 'abort')).toHaveLength(0);
      // The signal still works for a later wait after its group emptied.
      const later = track(dm.wait('w', { signal: shared.signal }));
      await turns();
      shared.abort();
      await turns();
      expect(later.error).toBeInstanceOf(DmAbortError);
    } finally {
      dm.close();
    }
  });
});

describe('results woken together', () => {
  test('a waiter mutating its result (device, dev, flags, targets) changes no other waiter\'s', async () => {
    const { kernel, dm } = await setup();
    try {
      const waits = [dm.wait('w'), dm.wait('w'), dm.wait('w', { table: true }), dm.wait('w', { table: true })];
      await turns();
      kernel.triggerEvent('w');
      const [a, b, c, d] = await Promise.all(waits);
      // Each copy is whole: what a lone wait, whose reply nobody shares, returns now.
      const nr = a!.device.eventNr;
      const alone = await dm.wait('w', { eventNr: nr - 1 });
      const aloneTable = await dm.wait('w', { eventNr: nr - 1, table: true });
      expect(alone.device.eventNr).toBe(nr);
      for (const r of [a!, b!]) expect(r).toStrictEqual(alone);
      // … with every field info() has (a copy that drops one would drop it for the lone wait too).
      const now = await dm.info('w') as unknown as { flags: object; dev: object };
      const keys = (o: object) => Object.keys(o).sort();
      for (const r of [a!, c!]) {
        expect(keys(r.device)).toEqual(keys(now).filter((k) => k !== 'exists'));
        expect(keys(r.device.flags)).toEqual(keys(now.flags));
        expect(keys(r.device.dev)).toEqual(keys(now.dev));
      }
      for (const r of [c!, d!]) expect(r).toStrictEqual(aloneTable);
      const snapshot = JSON.stringify([b, d], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
      for (const r of [a!, c!]) {
        const dev = r.device as unknown as { name: string; dev: { minor: number; raw: bigint }; flags: { suspended: boolean } };
        dev.name = 'mutated';
        dev.dev.minor = 12345;
        dev.dev.raw = 1n;
        dev.flags.suspended = !dev.flags.suspended;
        (r.targets as unknown as { params: string }[])[0]!.params = 'mutated';
        (r.targets as unknown as unknown[]).push('extra');
      }
      expect(JSON.stringify([b, d], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toBe(snapshot);
    } finally {
      dm.close();
    }
  });
});

describe('close() and abort at every step of a wake-up', () => {
  for (let k = 0; k <= 24; k += 2) {
    test(`close() ${k} microtasks after the event: every wait settles, with its result or DmClosedError`, async () => {
      const { kernel, dm } = await setup();
      const waits = Array.from({ length: 6 }, (_, i) => track(dm.wait('w', { table: i % 2 === 0 })));
      await turns();
      kernel.triggerEvent('w');
      await microtasks(k);
      dm.close();
      await turns();
      for (const w of waits) {
        expect(w.settled).toBe(true);
        if (w.error !== undefined) expect(w.error).toBeInstanceOf(DmClosedError);
        else expect(w.value?.device.name).toBe('w');
      }
      // A wait after close() is refused, not parked.
      await expect(dm.wait('w')).rejects.toBeInstanceOf(DmClosedError);
    });

    test(`each waiter's own abort ${k} microtasks after the event: it settles, the others get their result`, async () => {
      const { kernel, dm } = await setup();
      try {
        const acs = Array.from({ length: 4 }, () => new AbortController());
        const cut = acs.map((ac) => track(dm.wait('w', { signal: ac.signal })));
        const plain = Array.from({ length: 4 }, () => track(dm.wait('w')));
        await turns();
        kernel.triggerEvent('w');
        await microtasks(k);
        for (const ac of acs) ac.abort();
        await turns();
        for (const w of cut) {
          expect(w.settled).toBe(true);
          if (w.error !== undefined) expect(w.error).toBeInstanceOf(DmAbortError);
          else expect(w.value?.device.name).toBe('w');
        }
        for (const w of plain) expect(w.value?.device.name).toBe('w');
      } finally {
        dm.close();
      }
    });
  }
});

describe('abort at every step of a wake-up that is not the device\'s own', () => {
  for (let k = 0; k <= 24; k += 2) {
    test(`an event of another device, then each waiter's own abort ${k} microtasks later: the cut waits reject, the others stay parked`, async () => {
      const { kernel, dm } = await setup();
      try {
        await dm.createDevice({ name: 'v', table: zero });
        const acs = Array.from({ length: 4 }, () => new AbortController());
        const cut = acs.map((ac) => track(dm.wait('w', { signal: ac.signal })));
        const plain = Array.from({ length: 4 }, () => track(dm.wait('w')));
        await turns();
        kernel.triggerEvent('v'); // wakes the poller; w's event number is unchanged: all loop
        await microtasks(k);
        for (const ac of acs) ac.abort();
        await turns();
        for (const w of cut) expect(w.error).toBeInstanceOf(DmAbortError);
        expect(plain.some((w) => w.settled)).toBe(false);
        kernel.triggerEvent('w');
        await turns();
        for (const w of plain) expect(w.value?.device.name).toBe('w');
      } finally {
        dm.close();
      }
    });
  }
});

describe('the race-free rule at every step of a start', () => {
  for (let k = 0; k <= 30; k += 3) {
    test(`an event ${k} microtasks after wait() started is not lost (waits sharing the wake-up, started before and after it)`, async () => {
      const { kernel, dm } = await setup();
      try {
        const early = Array.from({ length: 3 }, () => track(dm.wait('w')));
        await turns();
        // A second group starts just before a wake-up of the first, then the event.
        kernel.triggerEvent('w');
        const late = Array.from({ length: 3 }, () => track(dm.wait('w')));
        await microtasks(k);
        kernel.triggerEvent('w');
        await turns();
        for (const w of [...early, ...late]) expect(w.value?.device.name).toBe('w');
        const nr = (await dm.info('w') as { eventNr: number }).eventNr;
        for (const w of late) expect(w.value?.device.eventNr).toBe(nr);
      } finally {
        dm.close();
      }
    });
  }

  test('a wait started right after a wake-up\'s shared check, after another event, does not take that check as its own', async () => {
    const { kernel, dm } = await setup();
    try {
      const info = () => dm.ioctlCounts.get('info') ?? 0;
      const early = Array.from({ length: 3 }, () => track(dm.wait('w')));
      await turns();
      const before = info();
      kernel.triggerEvent('w');
      // Step until the wake-up's check has run, staying in its macrotask (checks live until the next one).
      let steps = 0;
      while (info() === before && steps++ < 5000) {
        if (steps % 100 === 0) await new Promise((r) => setImmediate(r));
        else await Promise.resolve();
      }
      expect(info()).toBe(before + 1);
      kernel.triggerEvent('w'); // an event before the late wait starts: not one it waits for
      const late = track(dm.wait('w'));
      await turns();
      for (const w of early) expect(w.value?.device.name).toBe('w');
      expect(late.settled).toBe(false);
      kernel.triggerEvent('w');
      await turns();
      expect(late.value?.device.name).toBe('w');
    } finally {
      dm.close();
    }
  });

  test('waits racing a rename and a remove: followed by number through the rename, a typed error after the remove', async () => {
    const { dm } = await setup();
    try {
      const before = Array.from({ length: 5 }, () => track(dm.wait('w')));
      await turns();
      await dm.rename('w', { newName: 'x' });
      await dm.createDevice({ name: 'w', table: zero }); // a new device under the old name
      await turns();
      const x = await dm.info('x') as { dev: { minor: number } };
      for (const w of before) expect(w.value?.device).toMatchObject({ name: 'x', dev: { minor: x.dev.minor } });
      const parked = Array.from({ length: 5 }, () => track(dm.wait('x')));
      await turns();
      await dm.removeDevice('x');
      await turns();
      for (const w of parked) {
        expect(w.settled).toBe(true);
        expect(w.error).toBeInstanceOf(Error);
        expect(w.error).not.toBeInstanceOf(DmClosedError);
      }
    } finally {
      dm.close();
    }
  });
});

// Keeps the import of DeviceEvent meaningful for type checks of events() above.
export type { DeviceEvent };
