// The udev flavour (DMVM_UDEV=1): systemd-udevd runs in the guest with dmsetup's rules, so
// /dev/mapper belongs to udev. No cookie is sent; with DM_UEVENT_GENERATED_FLAG the library
// waits for udev's node instead of making it (lib/nodes.ts). Outside that flavour the file
// registers one visibly skipped test.
import { describe, expect, it, test } from '@jest/globals';
import * as fs from 'node:fs';
import { DeviceMapper, addNode, removeNode, renameNode, udevActive } from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

if (process.env.DMVM_UDEV !== '1') {
  describe('udev flavour', () => {
    it.skip('skipped: runs only in the udev flavour of the VM (DMVM_UDEV=1 npm run test:live -- spec/live/udev)', () => {});
  });
} else {
  describeLive(`udev flavour [kernel ${kernelLabel}]`, () => {
    test('resume, rename and remove: udev makes, moves and drops /dev/mapper/<name>; no cookie, no fallback', async () => {
      expect(udevActive()).toBe(true);
      const dm = await DeviceMapper.open();
      const name = `dmts-udev-${process.pid}`;
      try {
        const info = await dm.createDevice({ name, table: [{ start: 0, length: 64, type: 'zero', params: '' }] });
        expect(info.flags.ueventGenerated).toBe(true);
        const added = await addNode(name, info.dev, { ueventGenerated: info.flags.ueventGenerated, timeoutMs: 20000 });
        expect(added.action).toBe('udev');
        expect(fs.lstatSync(`/dev/mapper/${name}`).isSymbolicLink()).toBe(true);
        expect(fs.readlinkSync(`/dev/mapper/${name}`)).toBe(`../dm-${info.dev.minor}`);

        const renamed = await dm.rename(name, { newName: `${name}-r` });
        expect(renamed.flags.ueventGenerated).toBe(true);
        expect((await renameNode(name, `${name}-r`, info.dev, { ueventGenerated: true, timeoutMs: 20000 })).action).toBe('udev');
        expect(fs.existsSync(`/dev/mapper/${name}`)).toBe(false);

        const removed = await dm.removeDevice(`${name}-r`);
        expect(removed.ueventGenerated).toBe(true);
        expect((await removeNode(`${name}-r`, { ueventGenerated: true, timeoutMs: 20000 })).action).toBe('udev');
        expect(fs.existsSync(`/dev/mapper/${name}-r`)).toBe(false);
        recordLiveFact('udev', { add: added.action, node: `../dm-${info.dev.minor}` });
      } finally {
        for (const n of [name, `${name}-r`]) if ((await dm.info(n)).exists) await dm.removeDevice(n);
        dm.close();
      }
    });
  });
}
