// ThinPool.snapshot of an active origin as one chain (lib/operations/snapshot-chain.ts):
// suspend → create_snap → resume submitted together, the origin's identity checked against a
// reference header at the suspend and the resume. Each fault is run on the chained path and on
// the step-by-step path (a transport that cannot chain): the ioctls the kernel sees, the error
// and what is left must be the same. Then what only a chain has: a stranger reached by the
// suspend (nothing after it issued), the worker dying, abort and close() with the chain in flight.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmIdentityError, ThinPool } from '../../lib/index.js';
import { DmEngineError, ERRNO } from '../../ffi/errors.js';
import { codec, COMMANDS, DM_SUSPEND_FLAG, requestCode } from '../../codec/index.js';
import { dmTargetMsg } from '../../codec/records.js';
import type { Backend, IoctlResult } from '../../lib/kernel/backend.js';
import { SimulatedKernel, thinSim } from '../../testing/index.js';
import { chainedBackend, type ChainHooks } from './chain-transport.js';
import { Actor } from './actor.js';

const MiB = 1024n * 1024n;

interface Fault { readonly command: 'suspend' | 'resume' | 'message'; readonly times: number; readonly errno: number }

/** What a request asks, as the kernel reads it: suspend or resume; a message's text. */
function describeRequest(request: number, buf: Uint8Array): string {
  const name = COMMANDS[request & 0xff] ?? '?';
  const h = codec.decodeHeader(buf);
  if (name === 'suspend') return (h.flags & DM_SUSPEND_FLAG) !== 0 ? 'suspend:suspend' : 'suspend:resume';
  if (name !== 'message') return name;
  const at = h.data_start + dmTargetMsg.offsetOf.message;
  return `message ${new TextDecoder().decode(buf.subarray(at, buf.indexOf(0, at)))}`;
}

/**
 * A client on a simulated kernel whose transport records every request and fails the chosen
 * one (below the chain transport: a chain's steps are seen one by one, as the kernel sees the
 * worker's ioctls), with a pool, thin 1 and its activation `base` made step by step first.
 */
async function setup(hooks: ChainHooks, fault?: Fault) {
  const kernel = new SimulatedKernel();
  const calls: string[] = [];
  let recording = false;
  let left = fault?.times ?? 0;
  const base = kernel.backend({ label: 'me' });
  const observed: Backend = {
    ...base,
    openControl: async () => {
      const t = await base.openControl();
      const faulted = (request: number, buf: Uint8Array): IoctlResult | undefined => {
        if (!recording) return undefined;
        const what = describeRequest(request, buf);
        if (what.startsWith('version')) return undefined;
        calls.push(what);
        const hit = fault && left > 0 && (fault.command === 'message' ? what === 'message create_snap 2 1' : what === `suspend:${fault.command}`);
        if (!hit) return undefined;
        left--;
        return { ret: -1, errno: fault.errno };
      };
      return {
        get fd() { return t.fd; },
        ioctl: (request, buf) => faulted(request, buf) ?? t.ioctl(request, buf),
        ioctlAsync: async (request, buf, kind, lane) => faulted(request, buf) ?? t.ioctlAsync(request, buf, kind, lane),
        close: () => t.close(),
      };
    },
  };
  const wantGate = hooks.gate;
  delete hooks.gate;
  const dm = await DeviceMapper.open({ backend: chainedBackend(observed, hooks) });
  hooks.refuse = true; // the pool and the origin are made step by step
  const p = await ThinPool.create(dm, { name: 'pool', data: { file: '/d', sizeBytes: 64n * MiB }, metadata: { file: '/m', sizeBytes: 4n * MiB }, skipBlockZeroing: true, lowWaterMarkBlocks: 16 });
  await p.createThin(1);
  await p.activate(1, { name: 'base', sizeSectors: 8192 });
  const start = (refuse: boolean) => {
    hooks.refuse = refuse;
    if (wantGate) hooks.gate = wantGate;
    recording = true;
  };
  return { kernel, dm, p, calls, start, suspended: () => kernel.devices.get('base')!.suspended, a: new Actor(kernel) };
}

const scenarios: [string, Fault | undefined][] = [
  ['no fault', undefined],
  ['create_snap refused (EINVAL)', { command: 'message', times: 1, errno: ERRNO.EINVAL }],
  ['the suspend fails (EIO)', { command: 'suspend', times: 1, errno: ERRNO.EIO }],
  ['the resume fails once (EIO)', { command: 'resume', times: 1, errno: ERRNO.EIO }],
  ['the resume fails every time (EIO)', { command: 'resume', times: 99, errno: ERRNO.EIO }],
];

describe('ThinPool.snapshot as one chain: the same outcome as step by step', () => {
  test.each(scenarios)('%s', async (_label, fault) => {
    const outcome = async (chained: boolean) => {
      const hooks: ChainHooks = { chains: 0 };
      const s = await setup(hooks, fault);
      s.start(!chained);
      const err = await s.p.snapshot(2, 1).then(() => undefined, (e: unknown) => e);
      const r = {
        calls: s.calls, suspended: s.suspended(), snap: thinSim(s.kernel).pool('pool').thins.has(2),
        error: err === undefined ? undefined : { name: (err as Error).name, code: (err as { code?: string }).code, command: (err as { command?: string }).command, cleanup: (err as { cleanupError?: { code?: string } }).cleanupError?.code },
        chains: hooks.chains,
      };
      await s.dm.close();
      return r;
    };
    const stepwise = await outcome(false);
    const chained = await outcome(true);
    expect(stepwise.chains).toBe(0);
    expect(chained.chains).toBe(1);
    expect({ ...chained, chains: 0 }).toEqual({ ...stepwise, chains: 0 });
    if (!fault) {
      expect(chained.calls).toEqual(['message create_snap 2 2', 'info', 'info', 'suspend:suspend', 'message create_snap 2 1', 'suspend:resume']);
      expect(chained.snap).toBe(true);
    }
    expect(chained.suspended).toBe(fault?.command === 'resume' && fault.times > 1);
  });
});

describe('ThinPool.snapshot as one chain: what only a chain has', () => {
  test('the origin during create_snap is suspended; the reference is the origin', async () => {
    const hooks: ChainHooks = { chains: 0 };
    const s = await setup(hooks);
    const seen: boolean[] = [];
    s.kernel.intercept({ before: (e) => { if (e.label === 'me' && e.command === 'message' && s.calls.at(-1) === 'message create_snap 2 1') seen.push(s.suspended()); } });
    s.start(false);
    await s.p.snapshot(2, 1);
    expect(seen).toEqual([true]);
    expect([hooks.chains, hooks.referenced]).toEqual([1, 1]);
    expect(hooks.log?.at(-1) ?? [requestCode('suspend'), requestCode('message'), requestCode('suspend')]).toEqual([requestCode('suspend'), requestCode('message'), requestCode('suspend')]);
    await s.dm.close();
  });

  test('an origin without a uuid (activated by someone else) replaced before the suspend: DmIdentityError acted; no create_snap; the stranger stays suspended', async () => {
    const hooks: ChainHooks = { chains: 0, log: [] };
    const s = await setup(hooks);
    const pool = s.kernel.devices.get('pool')!;
    const thin = [{ start: 0, length: 8192, type: 'thin', params: `${s.kernel.major}:${pool.minor} 3` }];
    await s.p.createThin(3);
    s.a.call('create', { name: 'foreign' });
    s.a.call('load', { id: { name: 'foreign' }, targets: thin });
    s.a.call('suspend', { id: { name: 'foreign' }, action: 'resume' });
    let swapped = false;
    s.kernel.intercept({
      before: (e) => {
        if (e.label !== 'me' || e.command !== 'suspend' || s.calls.at(-1) !== 'suspend:suspend' || swapped) return;
        swapped = true;
        // Between our look at the origin and the worker's suspend, its name changes hands.
        s.a.call('suspend', { id: { name: 'foreign' }, action: 'suspend' });
        s.a.remove({ name: 'foreign' });
        s.a.create('filler');
        s.a.createLive('foreign');
      },
    });
    s.start(false);
    const err = await s.p.snapshot(4, 3).catch((e: unknown) => e);
    expect(swapped).toBe(true);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect((err as DmIdentityError).acted).toBe(true);
    expect(hooks.chains).toBe(1);
    expect(s.calls.filter((c) => c.startsWith('message create_snap 4 3'))).toEqual([]);
    expect(s.calls.filter((c) => c === 'suspend:resume')).toEqual([]);
    expect(thinSim(s.kernel).pool('pool').thins.has(4)).toBe(false);
    expect(s.kernel.devices.get('foreign')!.suspended).toBe(true); // the stranger's, left as it is
    await s.dm.close();
  });

  test('the worker dying after the suspend: DmEngineError (sent); the journal resumes the origin (verified first)', async () => {
    const hooks: ChainHooks = { chains: 0, dieAfter: 0 };
    const s = await setup(hooks);
    s.start(false);
    const err = await s.p.snapshot(2, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmEngineError);
    expect((err as DmEngineError).sent).toBe(true);
    // The suspend ran, the rest did not: the journal looked at the origin and resumed it.
    expect(s.calls).toEqual(['message create_snap 2 2', 'info', 'info', 'suspend:suspend', 'info', 'suspend:resume']);
    expect(s.suspended()).toBe(false);
    await s.dm.close();
  });

  test('the worker dying before it took the chain: step by step', async () => {
    const hooks: ChainHooks = { chains: 0, dieAfter: -1 };
    const s = await setup(hooks);
    s.start(false);
    await s.p.snapshot(2, 1);
    expect(hooks.chains).toBe(1);
    expect(s.calls.slice(-3)).toEqual(['suspend:suspend', 'message create_snap 2 1', 'suspend:resume']);
    expect(s.suspended()).toBe(false);
    await s.dm.close();
  });

  test('abort with the chain in flight: DmAbortError at once; the chain runs to its end (the origin resumed by it, the snapshot made, as a create_snap that lands late)', async () => {
    let open!: () => void;
    const hooks: ChainHooks = { chains: 0, gate: undefined };
    const s = await setup(hooks);
    hooks.gate = new Promise((r) => { open = r; });
    s.start(false);
    const ac = new AbortController();
    const p = s.p.snapshot(2, 1, { signal: ac.signal });
    for (let i = 0; i < 100 && hooks.chains === 0; i++) await new Promise((r) => setTimeout(r, 2));
    expect(hooks.chains).toBe(1);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(DmAbortError);
    open();
    await s.dm[Symbol.asyncDispose]();
    expect(s.calls.slice(-3)).toEqual(['suspend:suspend', 'message create_snap 2 1', 'suspend:resume']);
    expect(s.suspended()).toBe(false);
  });

  test('abort with the chain in flight and its resume failing: the late undo resumes the origin', async () => {
    let open!: () => void;
    const hooks: ChainHooks = { chains: 0 };
    const s = await setup(hooks, { command: 'resume', times: 1, errno: ERRNO.EIO });
    hooks.gate = new Promise((r) => { open = r; });
    s.start(false);
    const ac = new AbortController();
    const p = s.p.snapshot(2, 1, { signal: ac.signal });
    for (let i = 0; i < 100 && hooks.chains === 0; i++) await new Promise((r) => setTimeout(r, 2));
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(DmAbortError);
    open();
    await s.dm[Symbol.asyncDispose]();
    expect(s.calls.slice(-4)).toEqual(['message create_snap 2 1', 'suspend:resume', 'info', 'suspend:resume']);
    expect(s.suspended()).toBe(false);
  });

  test('close() with the chain in flight: it runs to its end; close() waits; the origin is running', async () => {
    let open!: () => void;
    const hooks: ChainHooks = { chains: 0 };
    const s = await setup(hooks);
    hooks.gate = new Promise((r) => { open = r; });
    s.start(false);
    const p = s.p.snapshot(2, 1).then(() => undefined, (e: unknown) => e);
    for (let i = 0; i < 100 && hooks.chains === 0; i++) await new Promise((r) => setTimeout(r, 2));
    const closing = s.dm[Symbol.asyncDispose]();
    open();
    await Promise.all([p, closing]);
    expect(s.suspended()).toBe(false);
    expect(thinSim(s.kernel).pool('pool').thins.has(2)).toBe(true);
    expect(s.kernel.openFds).toBe(0);
  });
});
