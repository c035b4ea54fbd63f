// The conformance suite (spec/conformance/suite.ts) on the real kernel in the VM, twice: with
// every async call through the ioctl engine (asyncPath: 'engine', ffi/engine.ts; createDevice's
// three ioctls as one chain there) and every one
// through the libuv pool (asyncPath: 'pool'). The default, 'auto', sends each call down one
// of these two paths (batches and waits: the engine; single calls: the pool); the other live
// specs run on it.
import { beforeAll, expect, test } from '@jest/globals';
import { conformance } from '../conformance/suite.js';
import { DM_CONTROL_PATH, openControl, type IoctlEngine } from '../../ffi/index.js';
import { realBackend } from '../../lib/kernel/kernel-backend.js';
import { CHAIN_CHECK_SOURCE } from '../../lib/kernel/chain-check.js';
import { DeviceMapper } from '../../lib/index.js';
import { describeLive } from './live-env.js';
import { kernelEnv } from './kernel-env.js';

/** The real backend with every async call on `asyncPath`, and the engine its transports routed calls to. */
function observed(asyncPath: 'engine' | 'pool') {
  const seen: { engine?: IoctlEngine } = {};
  const backend = {
    ...realBackend(DM_CONTROL_PATH, asyncPath),
    openControl: () => openControl(DM_CONTROL_PATH, { asyncPath, chainCheck: CHAIN_CHECK_SOURCE, onEngine: (e) => { seen.engine = e; } }),
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
