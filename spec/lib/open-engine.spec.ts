// DeviceMapper.open({ engine }): when the ioctl engine's worker starts. The transport's side
// (what startEngine does) is spec/ffi/engine-start.spec.ts; here, when the client asks for it.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmArgumentError, DmError, type Backend, type ControlTransport } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

/** The simulator's transport, recording the calls the client makes on it (startEngine among them). */
function recorded(opts: { failVersion?: boolean } = {}) {
  const log: string[] = [];
  const kernel = new SimulatedKernel();
  const sim = kernel.backend();
  const backend: Backend = {
    ...sim,
    async openControl(): Promise<ControlTransport> {
      log.push('openControl');
      const t = await sim.openControl();
      return {
        get fd() { return t.fd; },
        ioctl: (r, b) => {
          log.push('ioctl');
          if (opts.failVersion) return { ret: -1, errno: 13 };
          return t.ioctl(r, b);
        },
        ioctlAsync: (r, b, kind, lane) => { log.push(`ioctlAsync ${kind ?? 'single'}`); return t.ioctlAsync(r, b, kind, lane); },
        close: () => { log.push('close'); t.close(); },
        startEngine: () => { log.push('startEngine'); },
      } as ControlTransport;
    },
  };
  return { backend, log };
}

describe('DeviceMapper.open({ engine })', () => {
  test("'eager' starts the engine once, after the version check and before any other call", async () => {
    const { backend, log } = recorded();
    const dm = await DeviceMapper.open({ backend, engine: 'eager' });
    expect(log).toEqual(['openControl', 'ioctl', 'startEngine']);
    await dm.statusMany([{ name: 'none' }]);
    expect(log.filter((l) => l === 'startEngine')).toHaveLength(1);
    dm.close();
  });

  test("the default and 'lazy' start nothing at open (the first batch does, in the transport)", async () => {
    for (const engine of [undefined, 'lazy'] as const) {
      const { backend, log } = recorded();
      const dm = await DeviceMapper.open({ backend, ...(engine ? { engine } : {}) });
      dm.infoSync('none');
      expect(log).not.toContain('startEngine');
      dm.close();
    }
  });

  test("a blocking client never calls off its thread: 'eager' starts nothing", async () => {
    const { backend, log } = recorded();
    const dm = await DeviceMapper.open({ backend, engine: 'eager', blocking: true });
    expect(log).not.toContain('startEngine');
    dm.close();
  });

  test('a node that fails the version check starts no engine', async () => {
    const { backend, log } = recorded({ failVersion: true });
    await expect(DeviceMapper.open({ backend, engine: 'eager' })).rejects.toBeInstanceOf(DmError);
    expect(log).toEqual(['openControl', 'ioctl', 'close']);
  });

  test('a transport without startEngine (a custom backend) is opened as before', async () => {
    const dm = await DeviceMapper.open({ backend: new SimulatedKernel().backend(), engine: 'eager' });
    expect(dm.infoSync('none').exists).toBe(false);
    dm.close();
  });

  test('a bad value is a DmArgumentError before the control node is opened', async () => {
    const { backend, log } = recorded();
    await expect(DeviceMapper.open({ backend, engine: 'soon' as 'eager' })).rejects.toBeInstanceOf(DmArgumentError);
    expect(log).toEqual([]);
  });
});
