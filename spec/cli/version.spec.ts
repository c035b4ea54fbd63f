// dmctl --version / -V: the package's version read from its own package.json at run time,
// the kernel driver's when there is one, and exit 0 even without device-mapper.
import { afterEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DeviceMapper, DmPermissionError, DmUnavailableError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { DmctlSchemas, runDmctl } from '../../cli/index.js';
import { packageInfo, packageRootFrom, versionAt } from '../../cli/package-info.js';

const ROOT = path.resolve(__dirname, '..', '..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** dmctl with the given client opener (the simulator, or one that fails like a host without dm). */
async function dmctl(argv: string[], open: () => Promise<DeviceMapper>) {
  let stdout = '';
  let stderr = '';
  const code = await runDmctl(argv, {
    stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; },
    readStdin: async () => '', stdinIsTTY: true, env: {}, open, nodes: false,
  });
  return { code, stdout, stderr };
}
const sim = () => DeviceMapper.open({ backend: new SimulatedKernel({ version: [4, 48, 0] }).backend() });
const noDm = () => Promise.reject(new DmUnavailableError({ errno: 2, path: '/dev/mapper/control' }));
const notRoot = () => Promise.reject(new DmPermissionError('opening /dev/mapper/control: EACCES', { errno: 13, path: '/dev/mapper/control' }));

describe('dmctl --version and -V', () => {
  test.each([['--version'], ['-V']])('%s: the library line names package.json\'s version, then the driver\'s', async (flag) => {
    const r = await dmctl([flag], sim);
    expect(r).toEqual({ code: 0, stdout: `Library version:   devicemapper ${VERSION} (dmctl)\nDriver version:    4.48.0\n`, stderr: '' });
  });

  test('--version wins over a verb, as in dmsetup (dmctl ls --version prints versions)', async () => {
    expect((await dmctl(['ls', '--version'], sim)).stdout).toMatch(/^Library version: {3}devicemapper /);
  });

  test.each([['no device-mapper', noDm, /device-mapper is not available/], ['not root', notRoot, /EACCES/]])(
    'without a driver (%s): the library version, the driver "unavailable" and why, exit 0', async (_what, open, why) => {
      const r = await dmctl(['--version'], open);
      expect(r.code).toBe(0);
      const [lib, drv, ...rest] = r.stdout.split('\n');
      expect(lib).toBe(`Library version:   devicemapper ${VERSION} (dmctl)`);
      expect(drv).toMatch(/^Driver version: {4}unavailable \(/);
      expect(drv).toMatch(why);
      expect(rest).toEqual(['']);
      const j = DmctlSchemas.version.parse(JSON.parse((await dmctl(['-V', '--json'], open)).stdout));
      expect(j).toMatchObject({ library: `devicemapper ${VERSION} (dmctl)`, driver: null, driverVersion: null });
      expect(j.driverError).toMatch(why);
    });

  test('the version verb itself still fails without a driver (as dmsetup version): library line, error, exit 1', async () => {
    const r = await dmctl(['version'], noDm);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`Library version:   devicemapper ${VERSION} (dmctl)\n`);
    expect(r.stderr).toMatch(/device-mapper is not available/);
  });
});

describe('the package finds its own package.json', () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });
  /** An installed copy: <app>/node_modules/devicemapper/dist/cli/package-info.js under an app package.json. */
  function installed(version: string) {
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-pkg-'));
    dirs.push(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.2.3' }));
    const pkg = path.join(app, 'node_modules', 'devicemapper');
    fs.mkdirSync(path.join(pkg, 'dist', 'lib', 'cli'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'devicemapper', version }));
    const file = path.join(pkg, 'dist', 'lib', 'cli', 'package-info.js');
    fs.writeFileSync(file, '');
    return { app, pkg, file };
  }

  test('from this checkout (the source jest runs): the repository root and its version', () => {
    expect(packageInfo()).toEqual({ root: ROOT, version: VERSION, checkout: true });
  });

  test('from an installed copy, by path or by file: URL (ESM), past the dist/ folders: that copy\'s version', () => {
    const { pkg, file } = installed('9.8.7-rc.1');
    expect(packageRootFrom(file)).toBe(pkg);
    expect(packageRootFrom(pathToFileURL(file).href)).toBe(pkg);
    expect(versionAt(pkg)).toBe('9.8.7-rc.1');
  });

  test('a package.json of another name (the consumer\'s app) is not taken for ours', () => {
    const { app } = installed('1.0.0');
    const stray = path.join(app, 'src', 'x.js');
    fs.mkdirSync(path.dirname(stray), { recursive: true });
    expect(packageRootFrom(stray)).toBeUndefined();
  });
});
