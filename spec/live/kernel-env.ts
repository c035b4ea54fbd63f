/**
 * The conformance environment on a real kernel (run as root in the VM): loop devices
 * through the package's own loop API (LOOP_CONFIGURE, no losetup), /dev/dm-N to hold a device open, a child process that drops
 * root after opening the control node for the CAP_SYS_ADMIN check.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, DeviceMapper, detachLoop } from '../../lib/index.js';
import { openControl } from '../../ffi/index.js';
import type { BlockDev, ConformanceEnv } from '../conformance/env.js';
import { kernelLabel } from './live-env.js';

const REPO = path.resolve(__dirname, '..', '..');

export function kernelEnv(): ConformanceEnv {
  return {
    kind: 'kernel',
    label: `kernel ${kernelLabel}`,
    prefix: 'dmts-',
    open: (options = {}) => DeviceMapper.open(options),
    transport: () => openControl(),
    async blockDevice(sectors: number): Promise<BlockDev> {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-'));
      const file = path.join(dir, 'backing.img');
      fs.writeFileSync(file, '');
      fs.truncateSync(file, sectors * 512);
      const loop = await attachLoop(file);
      const { major, minor } = loop;
      return {
        path: loop.path, major, minor, sectors,
        release: async () => {
          await detachLoop(loop);
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    async holdOpen(_name: string, dev: { major: number; minor: number }) {
      // devtmpfs creates /dev/dm-N once the first table is loaded.
      const fd = fs.openSync(`/dev/dm-${dev.minor}`, 'r');
      let open = true;
      return async () => { if (open) { open = false; fs.closeSync(fd); } };
    },
    async unprivilegedIoctlError() {
      // Root opens the control node, then the process drops to nobody: the ioctl itself must refuse.
      const script = `
        import { DeviceMapper } from ${JSON.stringify(path.join(REPO, 'dist/lib/index.js'))};
        const dm = await DeviceMapper.open();
        process.setgid(65534); process.setuid(65534);
        try { await dm.info('x'); console.log('none'); } catch (e) { console.log(e.code); }
      `;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
      return r.stdout.trim();
    },
    openFdCount: () => fs.readdirSync('/proc/self/fd').length,
  };
}
