// Hints that fit where dmctl runs: root/CAP_SYS_ADMIN and the dm_mod module for everyone,
// the repository's test VM (npm run vm) only from this repository's checkout.
import { afterEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, DmError, DmPermissionError, DmUnavailableError } from '../../lib/index.js';
import { runDmctl } from '../../cli/index.js';
import { errorJson, formatError, hintFor } from '../../cli/errors.js';
import { isRepositoryCheckout } from '../../cli/package-info.js';
import { cliEnv } from './harness.js';

const unavailable = new DmUnavailableError({ errno: 2, path: '/dev/mapper/control' });
const permission = new DmPermissionError('opening /dev/mapper/control: EACCES', { errno: 13, path: '/dev/mapper/control' });

describe('no device-mapper, no permission', () => {
  test('installed package: load dm_mod, no npm run vm', () => {
    const text = formatError(unavailable, 'ls', false);
    expect(text).toMatch(/try: load the device-mapper module \(sudo modprobe dm_mod\)/);
    expect(text).not.toMatch(/npm run vm|repository/);
    expect(errorJson(unavailable, 'ls', false).error.hint).not.toMatch(/npm run vm/);
  });

  test('this repository\'s checkout: the same, plus the test VM', () => {
    expect(hintFor(unavailable, 'ls', true)).toMatch(/sudo modprobe dm_mod[\s\S]*in this repository, run it in the test VM: npm run vm -- npx dmctl ls$/);
  });

  test('permission: root or CAP_SYS_ADMIN, with sudo, wherever dmctl runs', () => {
    for (const checkout of [false, true]) {
      const h = hintFor(permission, 'info', checkout)!;
      expect(h).toMatch(/^run as root or with CAP_SYS_ADMIN/);
      expect(h).toMatch(/sudo dmctl info/);
      expect(h).not.toMatch(/npm run vm/);
    }
  });

  test('a non-root simulator (DmPermissionError), and a kernel refusing an ioctl (DmError EACCES/EPERM): root or CAP_SYS_ADMIN, through sudo', async () => {
    const env = cliEnv();
    env.kernel.privileged = false;
    // `status` needs the control node (ls, info and deps fall back to sysfs: spec/cli/sysfs-fallback.spec.ts).
    const r = await env.dmctl(['status']);
    env.cleanup();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/try: run as root or with CAP_SYS_ADMIN: .*sudo dmctl status/);
    expect(r.stderr).not.toMatch(/npm run vm/);
    for (const errno of [13, 1]) {
      const h = hintFor(new DmError({ command: 'listDevices', errno }), 'ls', true)!;
      expect(h).toBe('run as root or with CAP_SYS_ADMIN (e.g. through sudo): device-mapper refuses every other caller');
    }
  });

  test('end to end from this checkout (where jest runs): the hint names the VM', async () => {
    let stderr = '';
    const code = await runDmctl(['ls'], {
      stdout: () => {}, stderr: (t) => { stderr += t; }, readStdin: async () => '', stdinIsTTY: true, env: {}, nodes: false,
      open: (): Promise<DeviceMapper> => Promise.reject(unavailable),
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^dmctl ls: device-mapper is not available/);
    expect(stderr).toMatch(/try: load the device-mapper module .*npm run vm -- npx dmctl ls\n$/);
  });
});

describe('isRepositoryCheckout', () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });
  const tree = (files: string[]) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-checkout-'));
    dirs.push(root);
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.writeFileSync(path.join(root, f), '');
    }
    return root;
  };

  test('the repository root: package.json with vm/run-in-vm.sh beside it', () => {
    expect(isRepositoryCheckout(path.resolve(__dirname, '..', '..'))).toBe(true);
    expect(isRepositoryCheckout(tree(['package.json', 'vm/run-in-vm.sh']))).toBe(true);
  });

  test('an installed tarball (no vm/), or any copy inside node_modules (a git dependency has vm/): not a checkout', () => {
    expect(isRepositoryCheckout(tree(['package.json', 'dist/lib/index.js']))).toBe(false);
    const app = tree(['node_modules/devicemapper/package.json', 'node_modules/devicemapper/vm/run-in-vm.sh']);
    expect(isRepositoryCheckout(path.join(app, 'node_modules', 'devicemapper'))).toBe(false);
  });
});
