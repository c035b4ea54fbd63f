/**
 * Child process of udev-process.spec.ts: one dmctl command line in a process of its own, on
 * this host's real SysV semaphores (udev reported running with its notify rule, which this
 * host lacks) and a simulated kernel for the version (this host has no device-mapper). The
 * process then ends as dmctl's bin ends it, so its 'exit' handlers run for real.
 * argv: one JSON array, the command line; then, optionally, milliseconds after which the
 * process exits mid-command (process.exit), reporting on stdout the cookies it made and
 * whether each was still there when 'exit' began (`held <key> <value>` / `gone <key>`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../cli/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { realCookieHost } from '../../lib/udev/cookies.js';
import { openSemOps } from '../../ffi/sem.js';
import { SimulatedKernel } from '../../testing/index.js';

const [argvJson, exitAfter] = process.argv.slice(process.argv.findIndex((a) => a.startsWith('[')));
const argv = JSON.parse(argvJson!) as string[];
const made: number[] = [];
if (exitAfter !== undefined) {
  // Registered before the library's handler (installed with the first cookie): runs first.
  process.on('exit', () => {
    for (const key of made) {
      let line = `gone 0x${key.toString(16)}`;
      try { const id = semOps.get(key); line = `held 0x${key.toString(16)} ${semOps.getVal(id)}`; } catch { /* gone */ }
      process.stdout.write(`${line}\n`);
    }
  });
  setTimeout(() => process.exit(7), Number(exitAfter));
}
const sysfs = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-cookie-child-'));
const kernel = new SimulatedKernel();
const semOpsReady = openSemOps();
let semOps: Awaited<typeof semOpsReady>;
const cookieHost = async () => {
  const h = await realCookieHost({});
  semOps = await semOpsReady;
  const sems = { ...h.sems, create: (key: number, mode: number) => { const id = h.sems.create(key, mode); made.push(key); return id; } };
  return { ...h, sems, udevRunning: () => true, notifyRulesInstalled: () => true };
};
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
