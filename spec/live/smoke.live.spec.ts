// Smoke test of the FFI path against a real device-mapper: a hand-built
// DM_VERSION request, no codec. Proves the VM, koffi and the ioctl plumbing work.
import { expect, it } from '@jest/globals';
import * as os from 'node:os';
import { openControl } from '../../ffi/index.js';
import { describeLive, dmMinorFloor, kernelLabel, recordLiveFact } from './live-env.js';

const DM_VERSION = 0xc138fd00; // _IOWR(0xfd, 0, struct dm_ioctl), sizeof = 312
const BUF_SIZE = 16384;
const DATA_START = 312;
const ENOTTY = 25;

/** struct dm_ioctl header for DM_VERSION: version [4,0,0], data_size, data_start. */
function versionRequest(): { buf: Uint8Array; view: DataView } {
  const buf = new Uint8Array(BUF_SIZE);
  const view = new DataView(buf.buffer);
  view.setUint32(0, 4, true);
  view.setUint32(4, 0, true);
  view.setUint32(8, 0, true);
  view.setUint32(12, BUF_SIZE, true);
  view.setUint32(16, DATA_START, true);
  return { buf, view };
}

describeLive(`smoke: control node through ffi [kernel ${kernelLabel}]`, () => {
  it(`DM_VERSION (sync) reads back version 4.>=${dmMinorFloor}`, async () => {
    const t = await openControl();
    try {
      const { buf, view } = versionRequest();
      expect(t.ioctl(DM_VERSION, buf)).toEqual({ ret: 0, errno: 0 });
      const version = [view.getUint32(0, true), view.getUint32(4, true), view.getUint32(8, true)];
      expect(version[0]).toBe(4);
      expect(version[1]).toBeGreaterThanOrEqual(dmMinorFloor);
      expect(view.getUint32(16, true)).toBe(DATA_START);
      recordLiveFact('dmVersion', version.join('.'));
      recordLiveFact('kernelRelease', os.release());
      recordLiveFact('kernelLabel', kernelLabel);
    } finally {
      t.close();
    }
  });

  it('DM_VERSION (async, libuv pool) reads back the same version', async () => {
    const t = await openControl();
    try {
      const { buf, view } = versionRequest();
      expect(await t.ioctlAsync(DM_VERSION, buf)).toEqual({ ret: 0, errno: 0 });
      expect(view.getUint32(0, true)).toBe(4);
      expect(view.getUint32(4, true)).toBeGreaterThanOrEqual(dmMinorFloor);
    } finally {
      t.close();
    }
  });

  it('the same request to /dev/null fails with ENOTTY through the same path', async () => {
    const t = await openControl('/dev/null');
    try {
      const { buf } = versionRequest();
      expect(t.ioctl(DM_VERSION, buf)).toEqual({ ret: -1, errno: ENOTTY });
      expect(await t.ioctlAsync(DM_VERSION, buf)).toEqual({ ret: -1, errno: ENOTTY });
    } finally {
      t.close();
    }
  });
});
