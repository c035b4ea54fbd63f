// dmctl's report engine against real dmsetup (Debian's 1.02.185, DM_DISABLE_UDEV=1) on the
// same devices: `info -c` with -o (every field but the statistics ones), -O, -S and the
// output switches, byte for byte, in the C and a UTF-8 locale. The selection keeps both
// tools to this spec's devices.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, DeviceMapper, detachLoop, type LoopDevice } from '../../lib/index.js';
import { run } from '../../cli/index.js';
import { describeLiveOn, kernelLabel } from './live-env.js';

const env = { ...process.env, DM_DISABLE_UDEV: '1' };
process.env.DM_DISABLE_UDEV = '1';

interface Out { code: number; stdout: string; stderr: string }

function dmsetup(args: string[], locale: string): Out {
  const r = spawnSync('dmsetup', args, { encoding: 'utf8', env: { ...env, LC_ALL: locale } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function dmctl(args: string[], locale: string): Promise<Out> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: { ...env, LC_ALL: locale }, stdinIsTTY: true });
  return { code, stdout, stderr };
}

describeLiveOn(['6.1', 'newest'], `dmctl info -c reports as dmsetup's [kernel ${kernelLabel}]`, () => {
  const p = `rp${process.pid % 10000}`;
  const mine = `name=~^${p}`;
  let dir: string;
  let loop: LoopDevice;
  let dm: DeviceMapper;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-rp-'));
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 8 * 1024 * 1024);
    loop = await attachLoop(file);
    dm = await DeviceMapper.open();
    const create = (...a: string[]) => expect(dmsetup(['create', ...a], 'C')).toMatchObject({ code: 0 });
    create(`${p}-lower`, '-u', `LVM-${p}lower`, '--table', `0 8192 linear ${loop.major}:${loop.minor} 0`);
    create(`${p}vg-lv--x-_tmeta`, '-u', `LVM-${p}meta`, '--table', `0 4096 linear /dev/mapper/${p}-lower 0`);
    create(`${p}-two`, '--table', `0 2048 linear /dev/mapper/${p}-lower 4096\n2048 2048 zero`);
    create(`${p}-ro`, '-r', '--table', '0 64 zero');
    expect(dmsetup(['suspend', `${p}-ro`], 'C').code).toBe(0);
  });

  afterAll(async () => {
    for (const n of [`${p}-two`, `${p}vg-lv--x-_tmeta`, `${p}-ro`, `${p}-lower`]) await dm.removeDevice({ name: n }).catch(() => undefined);
    dm.close();
    await detachLoop(loop);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const FIELDS = 'name,mangled_name,unmangled_name,uuid,mangled_uuid,unmangled_uuid,read_ahead,blkdevname,attr,tables_loaded,suspended,readonly,devno,major,minor,open,segments,events';
  const CASES: string[][] = [
    ['-O', 'name'],
    ['-o', FIELDS, '-O', '-name'],
    ['-o', 'name,device_count,devnos_used,blkdevs_used,devs_used,device_ref_count,names_using_dev,devnos_using_dev', '-O', 'name'],
    ['-o', 'name,subsystem,vg_name,lv_name,lv_layer', '-O', 'name'],
    ['-o', 'name_all,info_all', '-O', 'minor'],
    ['-o', 'deps_all,tree_all,splitname_all', '-O', 'name'],
    ['-o', '+devno,selected', '-O', 'open,-minor'],
    ['-o', 'name,open', '-O', 'name', '--nameprefixes'],
    ['-o', 'name,open,uuid', '-O', 'name', '--nameprefixes', '--unquoted', '--noheadings'],
    ['-o', 'name,minor,attr', '-O', 'minor', '--rows'],
    ['-o', 'name,minor,attr', '-O', 'minor', '--rows', '--noheadings', '--separator', '|'],
    ['-o', 'name,uuid,events', '-O', 'name', '--separator', ' :: '],
    ['-o', 'name,segments', '-O', 'name', '--noheadings'],
    ['-o', 'name,segments', '-O', 'name', '--unbuffered'],
    ['-o', 'name', '-O', 'name', '-S', `${mine} && (open>0 || segments=2)`],
    ['-o', 'name', '-O', 'name', '-S', `${mine} && !(uuid="")`],
    ['-o', 'name', '-O', 'name', '-S', `${mine} && suspended=Suspended`],
    ['-o', 'name', '-O', 'name', '-S', `${mine} && vg_name=${p}vg`],
    ['-o', 'name,selected', '-O', 'name', '-S', `${mine} , device_count>=1`],
    ['-o', 'name', '-O', 'name', '-S', `${mine} && names_using_dev=~two`],
    ['-o', 'name', '-O', 'name', '-S', `${mine} && attr=~^L.sr # minor<0`],
  ];

  for (const locale of ['C', 'C.UTF-8']) {
    test.each(CASES.map((c) => [c.join(' '), c]))(`${locale}: info -c %s`, async (_label, args) => {
      // Every case keeps to this spec's devices (a case with its own -S names them itself).
      const a = args as string[];
      const full = ['info', '-c', ...a, ...(a.includes('-S') ? [] : ['-S', mine])];
      const want = dmsetup(full, locale);
      const got = await dmctl(full, locale);
      expect(want.code).toBe(0);
      expect(want.stdout).not.toBe('');
      expect({ code: got.code, stdout: got.stdout, stderr: got.stderr }).toEqual(want);
    });
  }
});
