/**
 * The demo (`npm run demo`): a loop-backed linear device and a zero device, their
 * info/table/status, data written and read back through the mapping, a rename seen as an
 * event, and everything removed again — each step printed. Needs root and device-mapper;
 * `npm run demo` runs it in the project's VM when this machine has neither.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, type DeviceEvent } from '../lib/index.js';

const step = (s: string) => console.log(`\n▸ ${s}`);
const show = (o: unknown) => console.log(JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2).replace(/^/gm, '  '));

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-demo-'));
  const backing = path.join(dir, 'disk.img');
  fs.writeFileSync(backing, Buffer.alloc(0));
  fs.truncateSync(backing, 16 * 1024 * 1024);
  const loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  const dm = await DeviceMapper.open();
  const id = process.pid;
  const lin = `demo-linear-${id}`;
  const zero = `demo-zero-${id}`;
  try {
    step(`device-mapper ${dm.kernelVersion.join('.')}; targets: ${(await dm.listVersions()).map((t) => `${t.name} ${t.version.join('.')}`).join(', ')}`);

    step(`createDevice ${lin}: 0 32768 linear ${loop} 0   (create → load → resume)`);
    const info = await dm.createDevice({ name: lin, table: [{ start: 0, length: 32768, type: 'linear', params: `${loop} 0` }] });
    show({ name: info.name, dev: `${info.dev.major}:${info.dev.minor}`, eventNr: info.eventNr, flags: info.flags });
    step(`createDevice ${zero}: 0 2048 zero`);
    await dm.createDevice({ name: zero, table: [{ start: 0, length: 2048, type: 'zero', params: '' }] });

    step('table and status (devices are printed as major:minor)');
    for (const n of [lin, zero]) {
      const t = await dm.table(n);
      const s = await dm.status(n);
      console.log(`  ${n}: table "${t.targets.map((x) => `${x.start} ${x.length} ${x.type} ${x.params}`).join('; ')}"  status "${s.targets.map((x) => `${x.type} ${x.params}`).join('; ')}"`);
    }
    step('deps and list');
    console.log(`  ${lin} uses ${(await dm.deps(lin)).map((d) => `${d.major}:${d.minor}`).join(', ')}`);
    for (const d of await dm.list({ namePrefix: 'demo-' })) console.log(`  ${d.name} (${d.dev.major}:${d.dev.minor}) event ${d.eventNr}`);

    step(`write through /dev/dm-${info.dev.minor} at sector 100, read it back from ${loop}`);
    const msg = Buffer.alloc(512);
    msg.write(`hello from devicemapper ${id}`);
    const fd = fs.openSync(`/dev/dm-${info.dev.minor}`, fs.constants.O_RDWR | fs.constants.O_SYNC);
    fs.writeSync(fd, msg, 0, 512, 100 * 512);
    fs.closeSync(fd);
    const back = Buffer.alloc(512);
    const lfd = fs.openSync(loop, 'r');
    fs.readSync(lfd, back, 0, 512, 100 * 512);
    fs.closeSync(lfd);
    console.log(`  read back: "${back.toString('utf8').replace(/\0+$/, '')}"`);

    step(`rename ${zero} → ${zero}-renamed, watched through events()`);
    const events = dm.events({ filter: { namePrefix: 'demo-zero' } });
    const got: DeviceEvent[] = [];
    const collecting = (async () => { for await (const e of events) { got.push(e); if (got.length >= 2) break; } })();
    await new Promise((r) => setTimeout(r, 50));
    await dm.rename(zero, { newName: `${zero}-renamed` });
    await collecting;
    for (const e of got) console.log(`  event: ${e.kind} ${e.oldName ? `${e.oldName} → ` : ''}${e.name} eventNr ${e.eventNr} delta ${e.delta}`);

    step('remove everything');
    await dm.removeDevice(`${zero}-renamed`);
    await dm.removeDevice(lin);
    console.log(`  left: ${(await dm.list({ namePrefix: 'demo-' })).length} demo devices`);
  } finally {
    for (const n of [lin, zero, `${zero}-renamed`]) if ((await dm.info(n)).exists) await dm.removeDevice(n);
    dm.close();
    execFileSync('losetup', ['-d', loop]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
