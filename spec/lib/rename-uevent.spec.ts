// rename() resolves with the device as it now is (read back by info), and still says whether
// the kernel sent the rename's uevent: only DEV_RENAME's reply carries
// DM_UEVENT_GENERATED_FLAG, and renameNode() / udev sync decide on it. Found live (udev
// flavour): the read-back info dropped the flag, so renameNode made the node itself.
import { expect, test } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

for (const by of ['name', 'uuid'] as const) {
  test(`rename by ${by}: the new identity, with the reply's ueventGenerated`, async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      await dm.createDevice({ name: 'ru', uuid: 'RU-1', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
      const d = await dm.rename(by === 'name' ? 'ru' : { uuid: 'RU-1' }, { newName: 'ru2' }, { udev: 'none' });
      expect([d.name, d.uuid, d.flags.ueventGenerated]).toEqual(['ru2', 'RU-1', true]);
      const info = await dm.info('ru2');
      // A plain info never reports the flag: the rename's answer is the only source.
      expect(info.exists && info.flags.ueventGenerated).toBe(false);
    } finally {
      dm.close();
    }
  });
}
