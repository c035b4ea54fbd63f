/**
 * The demo (`npm run demo`): a loop-backed linear device and a zero device, their
 * info/table/status, data written and read back through the mapping, a rename seen as an
 * event, and everything removed again — each step printed, the inspection steps as
 * `dmctl` (the package's dmsetup-compatible CLI) prints them. No losetup, no dmsetup:
 * the loop device comes from the package's loop API. Needs root and device-mapper;
 * `npm run demo` runs it in the project's VM when this machine has neither.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, DeviceMapper, detachLoop, type DeviceEvent } from '../lib/index.js';
import { run as dmctl } from '../cli/index.js';

const step = (s: string) => console.log(`\n▸ ${s}`);

/** Runs a dmctl command line in-process and prints it with its output, indented. */
async function sh(...argv: string[]): Promise<void> {
  console.log(`  $ dmctl ${argv.map((a) => (/[\s"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  let out = '';
  const code = await dmctl(argv, { stdout: (t) => { out += t; }, stderr: (t) => { out += t; } });
  if (out) console.log(out.replace(/\n$/, '').replace(/^/gm, '    '));
  if (code !== 0) throw new Error(`dmctl ${argv.join(' ')} exited ${code}`);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-demo-'));
  const backing = path.join(dir, 'disk.img');
  fs.writeFileSync(backing, Buffer.alloc(0));
  fs.truncateSync(backing, 16 * 1024 * 1024);
  const loop = await attachLoop(backing);
  const dm = await DeviceMapper.open();
  const id = process.pid;
  const lin = `demo-linear-${id}`;
  const zero = `demo-zero-${id}`;
  try {
    step(`loop device ${loop.path} (${loop.major}:${loop.minor}, ${loop.sizeSectors} sectors) on ${backing} — LOOP_CTL_GET_FREE + LOOP_CONFIGURE`);
    step('the kernel');
    await sh('version');
    await sh('targets');

    step(`a linear device over ${loop.path} and a zero device (create → load → resume, /dev/mapper nodes made)`);
    await sh('create', lin, '--table', `0 ${loop.sizeSectors} linear ${loop.path} 0`);
    await sh('create', zero, '--table', '0 2048 zero');

    step('info, table, status, deps, ls');
    await sh('info', lin);
    await sh('info', '-c', lin, zero);
    await sh('table', lin, zero);
    await sh('status', lin, zero);
    await sh('deps', lin);
    await sh('ls', '--json');

    const info = await dm.info(lin);
    if (!info.exists) throw new Error(`${lin} vanished`);
    step(`write through /dev/mapper/${lin} at sector 100, read it back from ${loop.path}`);
    const msg = Buffer.alloc(512);
    msg.write(`hello from devicemapper ${id}`);
    const fd = fs.openSync(`/dev/mapper/${lin}`, fs.constants.O_RDWR | fs.constants.O_SYNC);
    fs.writeSync(fd, msg, 0, 512, 100 * 512);
    fs.closeSync(fd);
    const back = Buffer.alloc(512);
    const lfd = fs.openSync(loop.path, 'r');
    fs.readSync(lfd, back, 0, 512, 100 * 512);
    fs.closeSync(lfd);
    console.log(`  read back: "${back.toString('utf8').replace(/\0+$/, '')}"`);

    step(`rename ${zero} → ${zero}-renamed, watched through events()`);
    const events = dm.events({ filter: { namePrefix: 'demo-zero' } });
    const got: DeviceEvent[] = [];
    const collecting = (async () => { for await (const e of events) { got.push(e); if (got.length >= 2) break; } })();
    await new Promise((r) => setTimeout(r, 50));
    await sh('rename', zero, `${zero}-renamed`);
    await collecting;
    for (const e of got) console.log(`  event: ${e.kind} ${e.kind === 'renamed' ? `${e.oldName} → ` : ''}${e.name} eventNr ${e.eventNr} delta ${e.delta}`);
    await sh('ls');

    step('the same request, not sent: dmctl info --dry-run --hex (the exact ioctl bytes)');
    await sh('info', lin, '--dry-run', '--hex');

    step('remove everything');
    await sh('remove', `${zero}-renamed`, lin);
    console.log(`  left: ${(await dm.list({ namePrefix: 'demo-' })).length} demo devices; /dev/mapper/${lin} ${fs.existsSync(`/dev/mapper/${lin}`) ? 'still there' : 'gone'}`);
  } finally {
    for (const n of [lin, zero, `${zero}-renamed`]) if ((await dm.info(n)).exists) await dm.removeDevice(n);
    dm.close();
    await detachLoop(loop);
    console.log(`  ${loop.path} detached`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
