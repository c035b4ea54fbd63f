// The conformance suite (spec/conformance/suite.ts) on the real kernel in the VM, twice: with
// every async call through the ioctl engine (asyncPath: 'engine', ffi/engine.ts) and every one
// through the libuv pool (asyncPath: 'pool'). The default, 'auto', sends each call down one
// of these two paths (batches and waits: the engine; single calls: the pool); the other live
// specs run on it.
import { beforeAll, expect, test } from '@jest/globals';
import { conformance } from '../conformance/suite.js';
import { engineOf } from '../../ffi/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { describeLive } from './live-env.js';
import { kernelEnv } from './kernel-env.js';

describeLive('conformance on a real kernel, async calls through the ioctl engine', () => {
  const env = kernelEnv();
  conformance({ ...env, label: `${env.label} (engine)`, open: (options = {}) => DeviceMapper.open({ ...options, asyncPath: 'engine' }) });
  test('the engine carried the async calls', () => {
    expect(engineOf()?.alive).toBe(true);
    expect(engineOf()!.completed).toBeGreaterThan(100);
  });
});

describeLive('conformance on a real kernel, async calls on the libuv pool', () => {
  const env = kernelEnv();
  let before = 0;
  beforeAll(() => { before = engineOf()?.completed ?? 0; });
  conformance({ ...env, label: `${env.label} (pool)`, open: (options = {}) => DeviceMapper.open({ ...options, asyncPath: 'pool' }) });
  test('the engine carried none of them', () => {
    expect(engineOf()?.completed ?? 0).toBe(before);
  });
});
