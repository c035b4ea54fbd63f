// events({ timeoutMs }) ends as every timeout of the package does (docs/conventions.md,
// "Errors"): the pending next() rejects with DmOperationError TIMEOUT carrying the frames of
// the code that called events(), not a DmAbortError; the stream gives its poller back.
import { expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmOperationError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

async function open() {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.createDevice({ name: 'd', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
  return { kernel, dm };
}

test("events({ timeoutMs }): the pending next() rejects with DmOperationError TIMEOUT, with the caller's frames; the poller is given back", async () => {
  const { dm } = await open();
  function listenerWithAName() { return dm.events({ timeoutMs: 30 }); }
  const it = listenerWithAName();
  const e = await it.next().catch((x: unknown) => x);
  expect(e).toBeInstanceOf(DmOperationError);
  expect(e).not.toBeInstanceOf(DmAbortError);
  expect((e as DmOperationError).code).toBe('TIMEOUT');
  expect((e as Error).stack).toContain('listenerWithAName');
  expect(await it.next()).toEqual({ done: true, value: undefined });
  expect(dm.pollerActive).toBe(false);
  dm.close();
});

test('events({ timeoutMs, ref: false }) times out the same way', async () => {
  const { dm } = await open();
  const e = await dm.events({ timeoutMs: 30, ref: false, pollIntervalMs: 5 }).next().catch((x: unknown) => x);
  expect(e).toMatchObject({ name: 'DmOperationError', code: 'TIMEOUT' });
  dm.close();
});

test('events({ timeoutMs }) started after its bound passed ends at the first next() with TIMEOUT, nothing opened', async () => {
  const { dm } = await open();
  const it = dm.events({ timeoutMs: 1 });
  await new Promise((r) => setTimeout(r, 20));
  await expect(it.next()).rejects.toMatchObject({ code: 'TIMEOUT' });
  expect(dm.pollerActive).toBe(false);
  dm.close();
});

test('events({ signal, timeoutMs }): the signal still ends it with DmAbortError; events arriving in time are delivered', async () => {
  const { kernel, dm } = await open();
  const ac = new AbortController();
  const it = dm.events({ signal: ac.signal, timeoutMs: 60_000 });
  const first = it.next();
  await new Promise((r) => setTimeout(r, 10));
  kernel.triggerEvent('d');
  expect((await first).value).toMatchObject({ kind: 'changed', name: 'd' });
  const second = it.next();
  ac.abort();
  await expect(second).rejects.toBeInstanceOf(DmAbortError);
  dm.close();
});
