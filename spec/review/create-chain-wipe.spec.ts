// Review of createDevice's chain (lib/operations/create-device.ts createChained): a chain the
// operation gave up on (abort) that then comes back unsent (the engine's worker died before
// taking it: runChain resolves undefined) must still leave the load request wiped — it may
// hold key bytes, and neither createDevice (it had handed the request to the chain) nor the
// runner (nothing was sent) wipes it then.
import { expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import type { ChainStep } from '../../ffi/types.js';
import { chainedBackend, type ChainHooks } from '../lib/chain-transport.js';

test('abort with the chain held, then the worker dies before taking it: the load request is wiped', async () => {
  let open!: () => void;
  const hooks: ChainHooks = { chains: 0, gate: new Promise((r) => { open = r; }), dieAfter: -1 };
  const kernel = new SimulatedKernel();
  const base = chainedBackend(kernel.backend(), hooks);
  let loadBuf: Uint8Array | undefined;
  const dm = await DeviceMapper.open({
    backend: {
      ...base,
      openControl: async () => {
        const t = await base.openControl() as Awaited<ReturnType<typeof base.openControl>> & { ioctlChain(s: readonly ChainStep[]): unknown; chainReady(): boolean };
        const inner = t.ioctlChain.bind(t);
        return Object.assign(t, { ioctlChain: (steps: readonly ChainStep[]) => { loadBuf = steps[1]!.buf; return inner(steps); } });
      },
    },
  });
  const ac = new AbortController();
  const p = dm.createDevice({ name: 'a', uuid: 'U-a', table: [{ start: 0, length: 8, type: 'zero', params: '' }], signal: ac.signal });
  await new Promise((r) => setTimeout(r, 5));
  expect(hooks.chains).toBe(1);
  ac.abort();
  await expect(p).rejects.toBeInstanceOf(DmAbortError);
  open();
  await dm[Symbol.asyncDispose]();
  expect(kernel.devices.size).toBe(0);
  expect(loadBuf).toBeDefined();
  expect(loadBuf!.every((b) => b === 0)).toBe(true);
});
