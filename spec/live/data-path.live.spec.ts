// Bytes written through a loop-backed linear mapping land at the right offset of the backing file.
import { expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, detachLoop, DeviceMapper } from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

describeLive(`data path through a linear mapping [kernel ${kernelLabel}]`, () => {
  test('a write at sector 100 of /dev/dm-N lands at sector 128 + 100 of the backing file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-data-'));
    const file = path.join(dir, 'backing.img');
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, 8 * 1024 * 1024);
    const loop = (await attachLoop(file)).path;
    const dm = await DeviceMapper.open();
    const name = `dmts-data-${process.pid}`;
    try {
      recordLiveFact('dmVersion', dm.kernelVersion.join('.'));
      const info = await dm.createDevice({ name, table: [{ start: 0, length: 8192, type: 'linear', params: `${loop} 128` }] });
      const node = `/dev/dm-${info.dev.minor}`;
      const payload = Buffer.from(`hello-dm-linear-${process.pid}`);
      const fd = fs.openSync(node, fs.constants.O_RDWR | fs.constants.O_SYNC);
      try {
        const block = Buffer.alloc(512);
        payload.copy(block);
        fs.writeSync(fd, block, 0, 512, 100 * 512);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      await dm.removeDevice(name);
      await detachLoop(loop);
      const back = Buffer.alloc(payload.length);
      const bfd = fs.openSync(file, 'r');
      fs.readSync(bfd, back, 0, back.length, (128 + 100) * 512);
      fs.closeSync(bfd);
      expect(back.toString()).toBe(payload.toString());
    } finally {
      if ((await dm.info(name)).exists) await dm.removeDevice(name);
      dm.close();
      await detachLoop(loop); // ENXIO (already detached) is not an error
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
