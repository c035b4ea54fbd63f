/**
 * Child process of udev-process.spec.ts: one dmctl command line in a process of its own, on
 * this host's real SysV semaphores (udev reported running with its notify rule, which this
 * host lacks) and a simulated kernel for the version (this host has no device-mapper). The
 * process then ends as dmctl's bin ends it, so its 'exit' handlers run for real.
 * argv: one JSON array, the command line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../cli/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { realCookieHost } from '../../lib/udev/cookies.js';
import { SimulatedKernel } from '../../testing/index.js';

const argv = JSON.parse(process.argv[process.argv.length - 1]!) as string[];
const sysfs = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-cookie-child-'));
const kernel = new SimulatedKernel();
const cookieHost = async () => ({ ...(await realCookieHost({})), udevRunning: () => true, notifyRulesInstalled: () => true });
void run(argv, {
  env: {},
  // The client's udev calls (create --udevcookie) on the same real semaphores.
  open: () => DeviceMapper.open({ backend: { ...kernel.backend(), openCookieHost: cookieHost } }),
  sysfs,
  nodes: false,
  stdinIsTTY: true,
  cookieHost,
}).then((code) => {
  fs.rmSync(sysfs, { recursive: true, force: true });
  process.exitCode = code;
}, (e: unknown) => {
  fs.rmSync(sysfs, { recursive: true, force: true });
  process.stderr.write(`child failed: ${String(e)}\n`);
  process.exitCode = 2;
});
