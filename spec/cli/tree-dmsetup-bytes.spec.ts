// Exact bytes of dmsetup 1.02.185's `ls --tree` (Debian 12), captured in the VM on 6.1 for a
// thin-pool over two linears over two loop devices plus a zero device (meta 254:0 on
// loop0, data 254:1 on loop1, pool 254:2, z 254:3; dmctl printed the same bytes there):
// the pool's devices come data first (the kernel's DM_TABLE_DEPS order, newest first), and
// in the inverted drawing the loop devices are top-level lines " (7:1)" — a leading space and
// no name (libdm names non-dm nodes ""). The live test reads such drawings with
// topLevelLabels(), which must count those lines as top-level entries.
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { cliEnv, fakeSysfs } from './harness.js';
import { topLevelLabels } from '../live/tree-drawing.js';

const DMSETUP: Record<string, string> = {
  'ascii': 't2pool (254:2)\n |-t2data (254:1)\n |  `- (7:1)\n `-t2meta (254:0)\n    `- (7:0)\nt2z (254:3)\n',
  'ascii,inverted': ' (7:1)\n `-t2data (254:1)\n    `-t2pool (254:2)\n (7:0)\n `-t2meta (254:0)\n    `-t2pool (254:2)\nt2z (254:3)\n',
  'inverted,blkdevname,nodevice': ' <loop1>\n `-t2data <dm-1>\n    `-t2pool <dm-2>\n <loop0>\n `-t2meta <dm-0>\n    `-t2pool <dm-2>\nt2z <dm-3>\n',
};

let env: ReturnType<typeof cliEnv>;
beforeEach(async () => {
  env = cliEnv();
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  env.kernel.addBlockDevice('/dev/loop1', 7, 1, 1 << 20);
  for (const [name, table] of [
    ['t2meta', '0 2048 linear /dev/loop0 0'], ['t2data', '0 8192 linear /dev/loop1 0'],
    ['t2pool', '0 8192 thin-pool /dev/mapper/t2meta /dev/mapper/t2data 128 0'], ['t2z', '0 8 zero'],
  ] as const) expect((await env.dmctl(['create', name, '--table', table])).code).toBe(0);
  fakeSysfs(env.sysfs, { major: 7, minor: 0 }, 'loop0');
  fakeSysfs(env.sysfs, { major: 7, minor: 1 }, 'loop1');
  ['t2meta', 't2data', 't2pool', 't2z'].forEach((n, i) => fakeSysfs(env.sysfs, { major: 254, minor: i }, `dm-${i}`, n));
});
afterEach(() => env.cleanup());

test('dmctl ls --tree prints dmsetup\'s bytes (pool devices data first; loop leaves as " (7:1)" at the inverted top level)', async () => {
  for (const [o, bytes] of Object.entries(DMSETUP)) {
    const r = await env.dmctl(['ls', '--tree', '-o', o], { env: { LANG: 'C' } });
    expect({ o, code: r.code, stdout: r.stdout }).toEqual({ o, code: 0, stdout: bytes });
  }
});

test('topLevelLabels: the top-level entries of dmsetup\'s drawings, a non-dm device as \'\'', () => {
  expect(topLevelLabels(DMSETUP.ascii!)).toEqual(['t2pool', 't2z']);
  expect(topLevelLabels(DMSETUP['ascii,inverted']!)).toEqual(['', '', 't2z']);
});
