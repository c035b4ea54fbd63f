// infoMany / statusMany: one result per device in order, partial failure per entry, argument
// shape checked before any ioctl, and the calls of a batch in flight together.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmArgumentError, DmCodecError, DmError, type AsyncCallKind, type Backend } from '../../lib/index.js';
import { codec, requestCode } from '../../codec/index.js';
import { observeCopies } from '../../codec/copies.js';
import { SimulatedKernel } from '../../testing/index.js';
import { CALLS_IN_FLIGHT } from '../../ffi/engine.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

/** A backend over the simulator that records how many async ioctls are in flight at once. */
function tracking(kernel: SimulatedKernel): { backend: Backend; peak: () => number; asyncCalls: () => number; kinds: [number, AsyncCallKind | undefined][] } {
  const base = kernel.backend();
  let inFlight = 0, peak = 0, calls = 0;
  const kinds: [number, AsyncCallKind | undefined][] = [];
  return {
    peak: () => peak,
    asyncCalls: () => calls,
    kinds,
    backend: {
      ...base,
      async openControl() {
        const t = await base.openControl();
        return {
          get fd() { return t.fd; },
          ioctl: (r, b) => t.ioctl(r, b),
          ioctlAsync: async (r, b, kind) => {
            calls++;
            kinds.push([r, kind]);
            peak = Math.max(peak, ++inFlight);
            try {
              await new Promise((res) => setImmediate(res));
              return await t.ioctlAsync(r, b);
            } finally {
              inFlight--;
            }
          },
          close: () => t.close(),
        };
      },
    },
  };
}

describe('batched calls', () => {
  test("open(): asyncPath is 'auto', 'engine' or 'pool'; anything else is a DmArgumentError before any ioctl", async () => {
    const kernel = new SimulatedKernel();
    for (const asyncPath of ['auto', 'engine', 'pool'] as const) (await DeviceMapper.open({ backend: kernel.backend(), asyncPath })).close();
    for (const bad of ['Auto', 'worker', '']) {
      await expect(DeviceMapper.open({ backend: kernel.backend(), asyncPath: bad as 'auto' })).rejects.toBeInstanceOf(DmArgumentError);
    }
  });

  test("each async call tells the transport what it is: 'batch' (infoMany, statusMany), 'wait' (DM_DEV_WAIT), 'single' (the rest)", async () => {
    // The transport's asyncPath 'auto' routes by this (ffi/control.ts): batches and waits to the
    // ioctl engine, single calls to libuv's pool.
    const kernel = new SimulatedKernel();
    const tr = tracking(kernel);
    const dm = await DeviceMapper.open({ backend: tr.backend });
    try {
      await dm.createDevice({ name: 'a', table: zero });
      await dm.createDevice({ name: 'b', table: zero });
      const singles = tr.kinds.splice(0);
      expect(singles.length).toBeGreaterThan(0);
      expect(singles.every(([, k]) => k === 'single')).toBe(true);
      await dm.infoMany(['a', 'b']);
      await dm.statusMany(['a', 'b']);
      expect(tr.kinds.splice(0)).toEqual([
        [requestCode('info'), 'batch'], [requestCode('info'), 'batch'],
        [requestCode('status'), 'batch'], [requestCode('status'), 'batch'],
      ]);
      const { eventNr } = await dm.info('a') as { eventNr: number };
      const waiting = dm.wait('a', { eventNr });
      await new Promise((r) => setTimeout(r, 20));
      await dm.rename('a', { newName: 'a2' });
      await waiting;
      expect(tr.kinds.filter(([r]) => r === requestCode('wait'))).toEqual([[requestCode('wait'), 'wait']]);
      expect(tr.kinds.filter(([r]) => r === requestCode('rename'))).toEqual([[requestCode('rename'), 'single']]);
    } finally {
      dm.close();
    }
  });

  test('infoMany: one entry per device in order; a missing one is { exists: false }, a bad name fails alone', async () => {
    const kernel = new SimulatedKernel();
    const tr = tracking(kernel);
    const dm = await DeviceMapper.open({ backend: tr.backend });
    try {
      for (const n of ['a', 'b', 'c']) await dm.createDevice({ name: n, table: zero });
      const before = tr.asyncCalls();
      const r = await dm.infoMany(['a', 'gone', { name: 'x'.repeat(200) }, 'c', 'b']);
      expect(r.map((e) => e.ok)).toEqual([true, true, false, true, true]);
      expect(r[0]).toMatchObject({ ok: true, value: { exists: true, name: 'a' } });
      expect(r[1]).toEqual({ ok: true, value: { exists: false } });
      expect((r[2] as { error: unknown }).error).toBeInstanceOf(DmCodecError);
      expect(r[3]).toMatchObject({ ok: true, value: { name: 'c' } });
      expect(r[4]).toMatchObject({ ok: true, value: { name: 'b' } });
      expect(tr.asyncCalls() - before).toBe(4); // the bad name never reached the kernel
      expect(tr.peak()).toBeGreaterThanOrEqual(4); // submitted together, not one after another
    } finally {
      dm.close();
    }
  });

  test('statusMany: a device removed since the list fails alone with its DmError', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const names = Array.from({ length: 300 }, (_, i) => `s${i}`);
      for (const n of names) await dm.createDevice({ name: n, table: zero });
      await dm.remove('s7');
      const r = await dm.statusMany(names);
      expect(r).toHaveLength(300);
      r.forEach((e, i) => {
        if (i === 7) {
          expect(e.ok).toBe(false);
          expect((e as { error: unknown }).error).toBeInstanceOf(DmError);
          expect(((e as { error: DmError }).error).errno).toBe(6); // ENXIO
        } else {
          expect(e).toMatchObject({ ok: true, value: { device: { name: names[i] }, targets: [{ type: 'zero' }] } });
        }
      });
    } finally {
      dm.close();
    }
  });

  test('a malformed entry throws DmArgumentError before any ioctl; an empty batch is empty', async () => {
    const kernel = new SimulatedKernel();
    const tr = tracking(kernel);
    const dm = await DeviceMapper.open({ backend: tr.backend });
    try {
      const before = tr.asyncCalls();
      await expect(dm.statusMany(['a', { name: 'b', uuid: 'c' } as never])).rejects.toBeInstanceOf(DmArgumentError);
      await expect(dm.infoMany('a' as never)).rejects.toBeInstanceOf(DmArgumentError);
      // eslint-disable-next-line no-sparse-arrays
      await expect(dm.infoMany([, 'a'] as never)).rejects.toBeInstanceOf(DmArgumentError);
      expect(tr.asyncCalls()).toBe(before);
      expect(await dm.infoMany([])).toEqual([]);
    } finally {
      dm.close();
    }
  });
});

describe('batch request buffers (reused across the calls of a batch)', () => {
  /**
   * A transport that, for every batch ioctl, snapshots the request as handed over, lets other
   * calls run for a tick, then checks that nothing wrote into it meanwhile (a buffer reused
   * while its call is in flight) and that it is byte for byte a freshly encoded request
   * (a reused buffer keeping bytes of an earlier, longer name).
   */
  function checking(kernel: SimulatedKernel): { backend: Backend; checked: () => number; problems: string[] } {
    const base = kernel.backend();
    const problems: string[] = [];
    let checked = 0;
    return {
      checked: () => checked,
      problems,
      backend: {
        ...base,
        async openControl() {
          const t = await base.openControl();
          return {
            get fd() { return t.fd; },
            ioctl: (r, b) => t.ioctl(r, b),
            ioctlAsync: async (r, b, kind) => {
              if (kind === 'batch') {
                const sent = b.slice();
                await new Promise((res) => setImmediate(res));
                const h = codec.decodeHeader(sent);
                const command = r === requestCode('status') ? 'status' : 'info';
                const fresh = codec.encodeRequest(command, { id: { name: h.name } }, { bufferBytes: h.data_size });
                if (!Buffer.from(b).equals(Buffer.from(sent))) problems.push(`${h.name}: request changed while in flight`);
                if (!Buffer.from(sent).equals(Buffer.from(fresh))) problems.push(`${h.name}: request differs from a fresh encoding`);
                checked++;
              }
              return t.ioctlAsync(r, b);
            },
            close: () => t.close(),
          };
        },
      },
    };
  }

  test('infoMany/statusMany: every request is a fresh encoding, untouched while in flight; results equal one call per device', async () => {
    const kernel = new SimulatedKernel();
    const c = checking(kernel);
    const dm = await DeviceMapper.open({ backend: c.backend });
    try {
      // Long names then short ones (and the reverse below): a reused buffer must not keep a tail.
      const names = Array.from({ length: 300 }, (_, i) => `${'x'.repeat(120 - (i % 120))}-${i}`.slice(-(127 - (i % 100))));
      for (const [i, name] of names.entries()) {
        if (i % 3 === 0) await dm.createDevice({ name, table: zero });
        else await dm.create({ name });
      }
      for (const order of [names, [...names].reverse()]) {
        const st = await dm.statusMany(order);
        const inf = await dm.infoMany(order);
        for (const [i, name] of order.entries()) {
          expect(st[i]).toEqual({ ok: true, value: await dm.status(name) });
          expect(inf[i]).toEqual({ ok: true, value: await dm.info(name) });
        }
      }
      expect(c.problems).toEqual([]);
      expect(c.checked()).toBe(4 * names.length);
    } finally {
      dm.close();
    }
  });

  test('a batch of 1,000 makes at most one request buffer per call in flight, not one per device', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const names = Array.from({ length: 1000 }, (_, i) => `d${i}`);
      for (const name of names) await dm.create({ name });
      let made = 0;
      const stop = observeCopies((b) => { if (b.length >= 16 * 1024) made++; });
      try {
        await dm.statusMany(names);
        await dm.infoMany(names);
      } finally {
        stop();
      }
      expect(made).toBeLessThanOrEqual(CALLS_IN_FLIGHT);
    } finally {
      dm.close();
    }
  });
});
