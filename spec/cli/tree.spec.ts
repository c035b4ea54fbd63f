// dmctl ls --tree: dmsetup's drawing (LVM2 2.03.16 dmsetup.c, _display_tree*), byte for byte,
// on the simulator. The same outputs are compared with the real dmsetup on real kernels in
// spec/live/device-tree.live.spec.ts; these pin the rules: non-dm leaves as " (7:0)" (libdm
// names them ""), every tree option, abbreviations, the locale's symbols, the cut at 80
// columns, the terminal width, and the error for an unknown option.
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { cliEnv, fakeSysfs } from './harness.js';

let env: ReturnType<typeof cliEnv>;
const LONG = `b-${'x'.repeat(90)}`;

beforeEach(async () => {
  env = cliEnv();
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  env.kernel.addBlockDevice('/dev/loop1', 7, 1, 1 << 20);
  for (const [name, table, uuid] of [
    ['meta', '0 2048 linear /dev/loop0 0'], ['data', '0 8192 linear /dev/loop1 0'], ['pool', '0 8192 thin-pool /dev/mapper/meta /dev/mapper/data 128 0', 'POOL-1'],
    ['thin', '0 8192 thin /dev/mapper/pool 1', 'THIN-1'], ['shared', '0 4096 linear /dev/loop1 8192'], ['a', '0 100 linear /dev/mapper/shared 0'],
    [LONG, '0 100 linear /dev/mapper/shared 100'], ['z', '0 100 zero'],
  ] as const) {
    if (name === 'thin') expect((await env.dmctl(['message', 'pool', '0', 'create_thin 1'])).code).toBe(0);
    const r = await env.dmctl(['create', name, '--table', table, ...(uuid ? ['-u', uuid] : [])]);
    expect(r).toMatchObject({ code: 0 });
  }
  expect((await env.dmctl(['suspend', 'a'])).code).toBe(0);
  fakeSysfs(env.sysfs, { major: 7, minor: 0 }, 'loop0');
  fakeSysfs(env.sysfs, { major: 254, minor: 3 }, 'dm-3', 'thin');
});
afterEach(() => env.cleanup());

const tree = async (o?: string, vars: Record<string, string> = {}) => {
  const r = await env.dmctl(o === undefined ? ['ls', '--tree'] : ['ls', '--tree', '-o', o], { env: vars });
  return r.code === 0 ? r.stdout : `exit ${r.code}: ${r.stdout}${r.stderr.split('\n')[0]}`;
};

const CUT = `b-${'x'.repeat(77)}...`; // 79 columns and "..."

test('default: ascii in the C locale, major:minor, non-dm leaves as " (M:m)", lines cut at 80 columns', async () => {
  expect(await tree()).toBe([
    'a (254:5)', ' `-shared (254:4)', '    `- (7:1)',
    CUT, ' `-shared (254:4)', '    `- (7:1)',
    'thin (254:3)', ' `-pool (254:2)', '    |-meta (254:0)', '    |  `- (7:0)', '    `-data (254:1)', '       `- (7:1)',
    'z (254:7)', '',
  ].join('\n'));
  expect(await tree('table')).toBe(await tree()); // accepted, prints nothing more (as dmsetup)
  // --json: the same trees as data, non-dm leaves with a null name.
  const t = JSON.parse((await env.dmctl(['ls', '--tree', '--json'])).stdout).tree as { name: string | null; children: unknown[] }[];
  expect(t.map((n) => n.name)).toEqual(['a', LONG, 'thin', 'z']);
  expect(JSON.stringify(t[2])).toBe(JSON.stringify({ name: 'thin', major: 254, minor: 3, children: [{ name: 'pool', major: 254, minor: 2, children: [
    { name: 'meta', major: 254, minor: 0, children: [{ name: null, major: 7, minor: 0, children: [] }] },
    { name: 'data', major: 254, minor: 1, children: [{ name: null, major: 7, minor: 1, children: [] }] }] }] }));
});

test('inverted: from the bottom level (devices that use nothing), in the order they were found', async () => {
  expect(await tree('inverted')).toBe([
    ' (7:1)', ' |-shared (254:4)', ' |  |-a (254:5)', ` |  \`-b-${'x'.repeat(71)}...`, ' `-data (254:1)', '    `-pool (254:2)', '       `-thin (254:3)',
    ' (7:0)', ' `-meta (254:0)', '    `-pool (254:2)', '       `-thin (254:3)',
    'z (254:7)', '',
  ].join('\n'));
  // nodevice: the nameless non-dm lines are left out, their subtrees are not.
  expect((await tree('inverted,nodevice')).split('\n').slice(0, 2)).toEqual([' |-shared', ' |  |-a']);
});

test('compact, attributes, blkdevname, notrunc, abbreviations', async () => {
  expect(await tree('compact')).toBe([
    'a (254:5)---shared (254:4)--- (7:1)', CUT,
    'thin (254:3)---pool (254:2)-+-meta (254:0)--- (7:0)', '                               `-data (254:1)--- (7:1)', 'z (254:7)', '',
  ].join('\n'));
  expect((await tree('active,open,rw,uuid')).split('\n').filter((l) => l.includes('['))).toEqual([
    'a (254:5) [SUSPENDED, RW, 0, ]', ' `-shared (254:4) [ACTIVE, RW, 2, ]', ' `-shared (254:4) [ACTIVE, RW, 2, ]',
    'thin (254:3) [ACTIVE, RW, 0, THIN-1]', ' `-pool (254:2) [ACTIVE, RW, 1, POOL-1]', '    |-meta (254:0) [ACTIVE, RW, 1, ]', '    `-data (254:1) [ACTIVE, RW, 1, ]', 'z (254:7) [ACTIVE, RW, 0, ]',
  ]);
  expect((await tree('blkdevname')).split('\n')).toEqual(expect.arrayContaining(['thin <dm-3> (254:3)', '    |  `- <loop0> (7:0)']));
  expect(await tree('notrunc')).toContain(`${LONG} (254:6)\n`);
  // 2.03.16 matches a prefix, first in its own order: "i" = inverted, "c" = compact, "a" = active (not ascii).
  expect((await tree('i,c')).split('\n')[0]).toBe(' (7:1)-+-shared (254:4)-+-a (254:5)');
  expect((await tree('a')).split('\n')[0]).toBe('a (254:5) [SUSPENDED]');
  expect((await tree('nodevice')).split('\n').slice(0, 2)).toEqual(['a', ' `-shared']);
});

test('the locale picks the symbols; a terminal\'s width moves the cut; an unknown option fails like dmsetup', async () => {
  expect((await tree(undefined, { LANG: 'C.UTF-8' })).split('\n').slice(0, 3)).toEqual(['a (254:5)', ' \u2514\u2500shared (254:4)', '    \u2514\u2500 (7:1)']);
  expect((await tree('ascii', { LC_ALL: 'en_US.UTF-8' })).split('\n')[1]).toBe(' `-shared (254:4)');
  expect((await tree('vt100')).split('\n')[1]).toBe(' \x1b(0\x0fmq\x1b(Bshared (254:4)');
  const narrow = await env.dmctl(['ls', '--tree'], { columns: 20 });
  // 17 columns: a line of 18 or more keeps 16 and "...", one of exactly 17 is whole.
  expect(narrow.stdout.split('\n').slice(8, 12)).toEqual(['    |-meta (254:...', '    |  `- (7:0)', '    `-data (254:...', '       `- (7:1)']);
  expect(narrow.stdout.split('\n')[3]).toBe(`b-${'x'.repeat(14)}...`);
  const bad = await env.dmctl(['ls', '--tree', '-o', 'bogus,x']);
  expect(bad.code).toBe(1);
  expect(bad.stdout).toBe('');
  expect(bad.stderr).toContain('Tree options not recognised: bogus,x.');
});
