/**
 * Fake kernels for bench/first-call.bench.ts: DM_VERSION and a DM_DEV_STATUS /
 * DM_TABLE_STATUS of a tableless device found by name, answered in JavaScript, so that only
 * the library's own start-up and code are timed.
 */
import os from 'node:os';
import { requestCode } from '../codec/index.js';
import { dmIoctl } from '../codec/records.js';
import { openControl } from '../ffi/control.js';
import type { Backend, ControlTransport, IoctlResult } from '../lib/index.js';
import type { EngineStarter } from '../ffi/types.js';

const le = os.endianness() === 'LE';
const H = dmIoctl.offsetOf;
const HEADER = dmIoctl.size;
const VERSION = requestCode('version');

/** The reply of a found, tableless device (any request but DM_VERSION). */
function fakeIoctl(request: number, buf: Uint8Array): IoctlResult {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  v.setUint32(0, 4, le); v.setUint32(4, 48, le); v.setUint32(8, 0, le);
  v.setUint32(H.data_size, HEADER, le);
  if (request === VERSION) return { ret: 0, errno: 0 };
  v.setUint32(H.target_count, 0, le);
  v.setInt32(H.open_count, 0, le);
  v.setUint32(H.flags, (v.getUint32(H.flags, le) | (1 << 2)) >>> 0, le);
  v.setUint32(H.event_nr, 0, le);
  v.setBigUint64(H.dev, BigInt((253 << 8) | (buf[H.name + 3]! & 0xff)), le);
  return { ret: 0, errno: 0 };
}

export const deviceNames = (n: number): string[] => Array.from({ length: n }, (_, i) => `vg${i % 7}-lv_data_${i}`);

/** A backend with no native code: every ioctl answered by {@link fakeIoctl}. */
export function fakeBackend(): Backend {
  return {
    description: 'first-call bench fake',
    async openControl(): Promise<ControlTransport> {
      return { fd: 3, ioctl: fakeIoctl, ioctlAsync: async (r, b) => fakeIoctl(r, b), close() {} };
    },
    openWatcher: () => Promise.reject(new Error('no events in this bench')),
  };
}

/**
 * A backend whose transport is the real one (koffi, the engine) on /dev/null, with its
 * ioctls answered by {@link fakeIoctl}: what `open({ engine })` starts is real, and the
 * device-mapper calls need no kernel.
 */
export function engineBackend(): Backend {
  return {
    description: 'first-call bench, real transport on /dev/null',
    async openControl(): Promise<ControlTransport> {
      const real = await openControl('/dev/null') as ControlTransport & EngineStarter;
      return {
        get fd() { return real.fd; },
        ioctl: fakeIoctl,
        ioctlAsync: async (r: number, b: Uint8Array) => fakeIoctl(r, b),
        close: () => real.close(),
        startEngine: () => real.startEngine(),
      } as ControlTransport;
    },
    openWatcher: () => Promise.reject(new Error('no events in this bench')),
  };
}
