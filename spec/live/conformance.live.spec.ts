// The conformance suite (spec/conformance/suite.ts) on the real kernel in the VM, twice: with
// every async call through the ioctl engine (asyncPath: 'engine', ffi/engine.ts; createDevice's
// three ioctls as one chain there) and every one
// through the libuv pool (asyncPath: 'pool'). The default, 'auto', sends each call down one
// of these two paths (batches and waits: the engine; single calls: the pool); the other live
// specs run on it. Both transports are the real backend's (the identity rule for chains, the
// reply copy-back rule): only the path differs. On the engine run, the compound operations that
// go as one chain (createDevice, a removal pinned to an identity, a thin snapshot of an active
// origin) are also checked to wake the main thread once each.
import { beforeAll, expect, test } from '@jest/globals';
import { conformance } from '../conformance/suite.js';
import { DM_CONTROL_PATH, openControl, type IoctlEngine } from '../../ffi/index.js';
import { realBackend } from '../../lib/kernel/kernel-backend.js';
import { CHAIN_CHECK_SOURCE } from '../../lib/kernel/chain-check.js';
import { dmReplyBytes } from '../../lib/kernel/reply-bytes.js';
import { DeviceMapper, ThinPool } from '../../lib/index.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';
import { kernelEnv } from './kernel-env.js';

/** The real backend with every async call on `asyncPath`, and the engine its transports routed calls to. */
function observed(asyncPath: 'engine' | 'pool') {
  const seen: { engine?: IoctlEngine } = {};
  const backend = {
    ...realBackend(DM_CONTROL_PATH, asyncPath),
    // As realBackend opens it (the identity rule for chains, the reply copy-back rule), plus the engine's counters.
    openControl: () => openControl(DM_CONTROL_PATH, { asyncPath, chainCheck: CHAIN_CHECK_SOURCE, replyBytes: dmReplyBytes, onEngine: (e) => { seen.engine = e; } }),
  };
  return { backend, engine: () => seen.engine };
}
const engineRun = observed('engine');
const poolRun = observed('pool');

describeLive('conformance on a real kernel, async calls through the ioctl engine', () => {
  const env = kernelEnv();
  conformance({ ...env, label: `${env.label} (engine)`, open: (options = {}) => DeviceMapper.open({ ...options, backend: engineRun.backend }) });
  test('the engine carried the async calls', () => {
    expect(engineRun.engine()?.alive).toBe(true);
    expect(engineRun.engine()!.completed).toBeGreaterThan(100);
    // createDevice's create → load → resume went as one chain once the engine was up.
    expect(engineRun.engine()!.chains).toBeGreaterThan(0);
  });

  test('each chained operation is one chain and one wake-up of the main thread: createDevice, a pinned removeDevice (EBUSY retried), a thin snapshot', async () => {
    const dm = await DeviceMapper.open({ backend: engineRun.backend });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-chain-'));
    const tag = `dmts-chain-${process.pid}`;
    const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
    let pool: ThinPool | undefined;
    try {
      const e = engineRun.engine()!;
      for (let i = 0; i < 500 && !e.ready; i++) await new Promise((r) => setTimeout(r, 10));
      const counted = async <T>(run: () => Promise<T>): Promise<[T, { chains: number; wakeups: number; completed: number }]> => {
        const before = { chains: e.chains, wakeups: e.wakeups, completed: e.completed };
        const v = await run();
        return [v, { chains: e.chains - before.chains, wakeups: e.wakeups - before.wakeups, completed: e.completed - before.completed }];
      };
      const [made, create] = await counted(() => dm.createDevice({ name: `${tag}-a`, uuid: `DMTS-${tag}-a`, table }));
      expect(create).toEqual({ chains: 1, wakeups: 1, completed: 1 });
      const [, remove] = await counted(() => dm.removeDevice(`${tag}-a`, { expect: made }));
      expect(remove).toEqual({ chains: 1, wakeups: 1, completed: 1 });
      expect((await dm.info({ uuid: `DMTS-${tag}-a` })).exists).toBe(false);
      // A device held open: the pinned removal's attempts are one chain each, EBUSY until released.
      const held = await dm.createDevice({ name: `${tag}-b`, table });
      const fd = fs.openSync(`/dev/dm-${held.dev.minor}`, 'r');
      setTimeout(() => fs.closeSync(fd), 300);
      const [, busy] = await counted(() => dm.removeDevice(`${tag}-b`, { expect: held, delayMs: 100, retries: 50 }));
      expect(busy.chains).toBeGreaterThan(1);
      expect(busy.wakeups).toBe(busy.chains);
      // A snapshot of an active origin: suspend → create_snap → resume, one chain.
      pool = await ThinPool.create(dm, { name: `${tag}-pool`, data: { file: path.join(dir, 'data'), sizeBytes: 64n * 1024n * 1024n }, metadata: { file: path.join(dir, 'meta'), sizeBytes: 4n * 1024n * 1024n } });
      await pool.createThin(1);
      await pool.activate(1, { name: `${tag}-thin`, sizeSectors: 8192 });
      const before = e.chains;
      const [, snap] = await counted(() => pool!.snapshot(2, 1));
      expect(e.chains - before).toBe(1);
      // The snapshot's other calls (its probe and looks) are single calls on the engine too.
      expect(snap.wakeups).toBe(snap.completed);
      expect(await dm.info(`${tag}-thin`)).toMatchObject({ exists: true, flags: { suspended: false } });
      const counts = { createDevice: create, pinnedRemoveDevice: remove, pinnedRemoveWhileHeld: busy, thinSnapshot: snap };
      process.stderr.write(`chained operations [${kernelLabel}]: ${JSON.stringify(counts)}\n`);
      recordLiveFact('chainedOperations', counts);
    } finally {
      for (const d of await dm.list()) if (d.name.startsWith(tag) && d.name !== `${tag}-pool`) await dm.removeDevice(d.name).catch(() => {});
      if (pool) await pool.destroy().catch(() => {});
      await dm.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeLive('conformance on a real kernel, async calls on the libuv pool', () => {
  const env = kernelEnv();
  let before = 0;
  beforeAll(() => { before = engineRun.engine()?.completed ?? 0; });
  conformance({ ...env, label: `${env.label} (pool)`, open: (options = {}) => DeviceMapper.open({ ...options, backend: poolRun.backend }) });
  test('the engine carried none of them', () => {
    expect(poolRun.engine()).toBeUndefined();
    expect(engineRun.engine()?.completed ?? 0).toBe(before);
  });
});
