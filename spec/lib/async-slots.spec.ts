/**
 * koffi throws once more than 256 async calls are in flight; the runner queues async ioctls
 * beyond CALLS_IN_FLIGHT instead (found by bench:live: 1,000 waits woken at once).
 */
import { describe, expect, it } from '@jest/globals';
import { IoctlRunner } from '../../lib/client/runner.js';
import { CALLS_IN_FLIGHT } from '../../ffi/engine.js';
import type { AsyncCallKind, ControlTransport, IoctlResult } from '../../lib/kernel/backend.js';

describe('async ioctl slots', () => {
  it('never has more than CALLS_IN_FLIGHT async ioctls in flight, and runs them all', async () => {
    let inFlight = 0;
    let peak = 0;
    let done = 0;
    const transport: ControlTransport = {
      fd: 3,
      ioctl: () => ({ ret: 0, errno: 0 }),
      ioctlAsync: async (_req: number, buf: Uint8Array): Promise<IoctlResult> => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setImmediate(r));
        buf[0] = 4; // the kernel writes its version back
        inFlight--;
        done++;
        return { ret: 0, errno: 0 };
      },
      close: () => undefined,
    };
    const runner = new IoctlRunner(transport, undefined);
    const n = 1000;
    await Promise.all(Array.from({ length: n }, () => runner.runAsync('version', {})));
    expect(done).toBe(n);
    expect(peak).toBe(CALLS_IN_FLIGHT);
    expect(runner.calls.get('version')).toBe(n);
  });

  it('waits that sleep in the kernel hold slots of their own: other calls still run, and all stay below koffi\'s 256', async () => {
    let waitsIn = 0, waitsPeak = 0, othersIn = 0, totalPeak = 0, done = 0;
    const parked: (() => void)[] = [];
    const transport: ControlTransport = {
      fd: 3,
      ioctl: () => ({ ret: 0, errno: 0 }),
      ioctlAsync: async (_req: number, buf: Uint8Array, kind?: AsyncCallKind): Promise<IoctlResult> => {
        if (kind === 'wait') waitsIn++; else othersIn++;
        waitsPeak = Math.max(waitsPeak, waitsIn);
        totalPeak = Math.max(totalPeak, waitsIn + othersIn);
        // A DM_DEV_WAIT sleeps until released; every other call returns at once.
        await new Promise<void>((r) => (kind === 'wait' ? parked.push(r) : setImmediate(r)));
        if (kind === 'wait') waitsIn--; else othersIn--;
        buf[0] = 4;
        done++;
        return { ret: 0, errno: 0 };
      },
      close: () => undefined,
    };
    const runner = new IoctlRunner(transport, undefined);
    const id = { dev: { major: 253, minor: 0 } };
    const waits = Array.from({ length: 300 }, () => runner.runAsync('wait', { id, eventNr: 0 }).catch(() => undefined));
    await new Promise((r) => setImmediate(r));
    await Promise.all(Array.from({ length: 1000 }, () => runner.runAsync('version', {})));
    expect(done).toBe(1000);
    expect(waitsPeak).toBe(CALLS_IN_FLIGHT / 2);
    expect(totalPeak).toBeLessThanOrEqual(CALLS_IN_FLIGHT + CALLS_IN_FLIGHT / 2);
    expect(totalPeak).toBeLessThan(256);
    while (parked.length > 0) {
      for (const r of parked.splice(0)) r();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waits);
    expect(done).toBe(1300);
  });

  it('frees the slot when an async ioctl throws', async () => {
    const transport: ControlTransport = {
      fd: 3,
      ioctl: () => ({ ret: 0, errno: 0 }),
      ioctlAsync: async () => { throw new Error('koffi said no'); },
      close: () => undefined,
    };
    const runner = new IoctlRunner(transport, undefined);
    for (let i = 0; i < CALLS_IN_FLIGHT + 10; i++) await expect(runner.runAsync('version', {})).rejects.toThrow('koffi said no');
    const ok: ControlTransport = { ...transport, ioctlAsync: async (_r: number, b: Uint8Array) => { b[0] = 4; return { ret: 0, errno: 0 }; } };
    await expect(new IoctlRunner(ok, undefined).runAsync('version', {})).resolves.toEqual({ version: [4, 0, 0] });
  });
});
