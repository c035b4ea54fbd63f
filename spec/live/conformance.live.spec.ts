// The conformance suite (spec/conformance/suite.ts) on the real kernel in the VM, twice: with
// async calls through the ioctl engine (the default, ffi/engine.ts) and through the libuv
// pool (the fallback, asyncPath: 'pool').
import { beforeAll, expect, test } from '@jest/globals';
import { conformance } from '../conformance/suite.js';
import { engineOf } from '../../ffi/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { describeLive } from './live-env.js';
import { kernelEnv } from './kernel-env.js';

describeLive('conformance on a real kernel, async calls through the ioctl engine', () => {
  conformance(kernelEnv());
  test('the engine carried the async calls', () => {
    expect(engineOf()?.alive).toBe(true);
    expect(engineOf()!.completed).toBeGreaterThan(100);
  });
});

describeLive('conformance on a real kernel, async calls on the libuv pool (fallback)', () => {
  const env = kernelEnv();
  let before = 0;
  beforeAll(() => { before = engineOf()?.completed ?? 0; });
  conformance({ ...env, label: `${env.label} (pool)`, open: (options = {}) => DeviceMapper.open({ ...options, asyncPath: 'pool' }) });
  test('the engine carried none of them', () => {
    expect(engineOf()?.completed ?? 0).toBe(before);
  });
});
