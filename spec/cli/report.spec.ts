// dmctl info -c through libdm's report engine on the simulated kernel: sorting, selection,
// the deps, tree and split-name fields, the output switches and --json.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { SimulatedKernel } from '../../testing/index.js';
import { DmctlSchemas } from './imports.js';
import { cliEnv, fakeSysfs } from './harness.js';

let env: ReturnType<typeof cliEnv>;
beforeEach(async () => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
  await ok('create', 'lower', '--table', '0 64 linear 7:0 0', '-u', 'LVM-aaa-lower');
  await ok('create', 'vg--x-lv-_tmeta', '--table', '0 8 linear 254:0 0', '-u', 'LVM-bbb');
  await ok('create', 'b', '--table', '0 8 zero');
});
afterEach(() => env.cleanup());

async function ok(...argv: string[]): Promise<string> {
  const r = await env.dmctl(argv);
  if (r.code !== 0) throw new Error(`dmctl ${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

describe('info -c: -O and -S', () => {
  test('no -O: the kernel\'s order; -O name, -O -minor, -O two keys', async () => {
    const names = async (...a: string[]) => (await ok('info', '-c', '--noheadings', '-o', 'name', ...a)).split('\n').filter(Boolean);
    expect(await names('-O', 'name')).toEqual(['b', 'lower', 'vg--x-lv-_tmeta']);
    expect(await names('-O', '-minor')).toEqual(['b', 'vg--x-lv-_tmeta', 'lower']);
    expect(await names('-O', 'open,-name')).toEqual(['vg--x-lv-_tmeta', 'b', 'lower']);
    // A sort key that is not shown is sorted on, not printed.
    expect(await ok('info', '-c', '-o', 'minor', '-O', '-name')).toBe('Min\n  1\n  0\n  2\n');
  });

  test('-S: numbers, strings, regexes, &&, ||, !( ), and a selected field', async () => {
    const names = async (sel: string) => (await ok('info', '-c', '--noheadings', '-o', 'name', '-S', sel)).split('\n').filter(Boolean).sort();
    expect(await names('minor>0')).toEqual(['b', 'vg--x-lv-_tmeta']);
    // Two fields only the selection names: both are fetched, hidden, and each compared with its own value.
    expect(await names('minor>=1 && uuid=""')).toEqual(['b']);
    expect(await names('name=~^v || open>0')).toEqual(['lower', 'vg--x-lv-_tmeta']);
    expect(await names('!(subsystem=LVM)')).toEqual(['b']);
    expect(await names('vg_name=vg-x')).toEqual(['vg--x-lv-_tmeta']);
    expect(await names('segments=1,attr=L--w,events=0')).toEqual(['b', 'lower', 'vg--x-lv-_tmeta']);
    expect(await names('name!~e')).toEqual(['b']);
    expect(await ok('info', '-c', '-o', 'name,selected', '-S', 'minor=1', '-O', 'name')).toBe(
      'Name             Selected\nb                       0\nlower                   0\nvg--x-lv-_tmeta         1\n',
    );
    // Nothing selected: no headings either.
    expect(await ok('info', '-c', '-S', 'name=nothing')).toBe('');
  });

  test('a bad selection fails before any device is asked, with libdm\'s lines', async () => {
    const r = await env.dmctl(['info', '-c', '-S', 'name=x lv_name=y']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Expecting logical operator\nSelection syntax error at \'lv_name=y\'.\nUse \'help\' for selection to get more help.\n' });
  });
});

describe('info -c: fields', () => {
  test('deps and tree fields: what each device uses and what uses it', async () => {
    const out = await ok('info', '-c', '-o', 'name,device_count,devnos_used,devs_used,device_ref_count,names_using_dev,devnos_using_dev', '-O', 'name');
    expect(out).toBe(
      'Name             #Devs DevNosUsed       DevNamesUsed     #Refs RefNames        RefDevNos\n'
      + 'b                    0                                       0                          \n'
      + 'lower                1 7:0                                   1 vg--x-lv-_tmeta 254:1    \n'
      + 'vg--x-lv-_tmeta      1 254:0            lower                0                          \n',
    );
  });

  test('split-name fields from the uuid\'s subsystem; mangled and unmangled uuids', async () => {
    expect(await ok('info', '-c', '--separator', '|', '-o', 'name,subsystem,vg_name,lv_name,lv_layer,mangled_uuid,unmangled_uuid', '-O', 'name')).toBe(
      'Name|Subsys|VG|LV|LVLayer|MangledUUID|UnmangledUUID\nb||||||\nlower|LVM|lower|||LVM-aaa-lower|LVM-aaa-lower\nvg--x-lv-_tmeta|LVM|vg-x|lv|_tmeta|LVM-bbb|LVM-bbb\n',
    );
  });

  test('+fields, <type>_all, --nameprefixes, --unquoted, --rows', async () => {
    expect(await ok('info', '-c', '-o', '+devno', '--noheadings', 'b')).toBe('b:254:2:L--w:0:1:0::254:2\n');
    fakeSysfs(env.sysfs, { major: 254, minor: 2 }, 'dm-2', 'b', 64);
    expect(await ok('info', '-c', '-o', 'info_all', '--noheadings', 'b')).toBe('dm-2:L--w:Live:Active:Writeable:254:2:254:2:0:1:0\n');
    expect(await ok('info', '-c', '-o', 'name,open', '--nameprefixes', 'b')).toBe('Name Open\nDM_NAME=\'b\' DM_OPEN=\'0\'\n');
    expect(await ok('info', '-c', '-o', 'name,open', '--nameprefixes', '--unquoted', '--noheadings', 'b')).toBe('DM_NAME=b:DM_OPEN=0\n');
    expect(await ok('info', '-c', '-o', 'name,minor', '--rows', '-O', 'minor')).toBe('Name lower vg--x-lv-_tmeta b\nMin 0 1 2\n');
  });

  test('--json: the shown fields and a record per row', async () => {
    const j = DmctlSchemas.report.parse(JSON.parse(await ok('info', '-c', '-o', 'name,minor,vg_name', '-O', '-name', '--json')));
    expect(j).toEqual({
      schemaVersion: 3, fields: ['name', 'minor', 'vg_name'],
      rows: [{ name: 'vg--x-lv-_tmeta', minor: '1', vg_name: 'vg-x' }, { name: 'lower', minor: '0', vg_name: 'lower' }, { name: 'b', minor: '2', vg_name: '' }],
    });
    // --unbuffered prints rows as they come; the --json document still holds them all.
    expect(DmctlSchemas.report.parse(JSON.parse(await ok('info', '-c', '-o', 'name', '--unbuffered', '--json'))).rows).toHaveLength(3);
    const s = DmctlSchemas.report.parse(JSON.parse(await ok('splitname', 'a--b-c', '--json')));
    expect(s.rows).toEqual([{ vg_name: 'a-b', lv_name: 'c', lv_layer: '' }]);
  });

  test('-o help asks the kernel nothing; a statistics field is the stats command\'s', async () => {
    const r = await env.dmctl(['info', '-c', '-o', 'help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Mapped Device Name Fields\n/);
    // -vv would show every ioctl sent: there is none.
    expect((await env.dmctl(['info', '-c', '-o', 'help', '-vv'])).stdout).toBe('');
    expect((await env.dmctl(['info', '-c', '-o', 'name', '-vv', 'b'])).stdout).not.toBe('b\n');
    const s = await env.dmctl(['info', '-c', '-o', 'name,read_count']);
    expect(s).toMatchObject({ code: 1, stdout: '' });
    expect(s.stderr).toMatch(/statistics fields are reported by the stats command/);
  });

  test('splitname: a field of another report type has no data, as in dmsetup', async () => {
    expect(await env.dmctl(['splitname', 'vg-lv', '-o', 'name'])).toEqual({ code: 1, stdout: '', stderr: '_do_report_object: no data assigned to field name\nCommand failed.\n' });
    const r = await env.dmctl(['splitname']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Incorrect number of arguments/);
  });
});

describe('-S on a verb over devices: an info -c selection picks them', () => {
  test('table, status, deps: each selected device as one of several; none selected prints nothing', async () => {
    expect(await ok('table', '-S', 'name=~^l')).toBe('lower: 0 64 linear 7:0 0\n');
    // The verb runs in the kernel's order: -O sorts a report, and this one prints nothing.
    expect((await ok('table', '-S', 'minor>0', '-O', 'name')).split('\n').filter(Boolean).sort()).toEqual(['b: 0 8 zero ', 'vg--x-lv-_tmeta: 0 8 linear 254:0 0']);
    expect(await ok('deps', '-S', 'subsystem=LVM && open=0')).toBe('vg--x-lv-_tmeta: 1 dependencies\t: (254, 0)\n');
    expect(await ok('status', '-S', 'name=nothing')).toBe('');
    // Device arguments narrow the set the selection looks at.
    expect(await ok('table', 'lower', 'b', '-S', 'uuid=""')).toBe('b: 0 8 zero \n');
  });

  test('remove -S removes what it selects, and only that', async () => {
    await ok('remove', '-S', 'segments=1 && uuid=""');
    expect((await ok('ls')).split('\n').filter(Boolean).map((l) => l.split('\t')[0]).sort()).toEqual(['lower', 'vg--x-lv-_tmeta']);
  });

  test('a bad selection fails before anything runs', async () => {
    const r = await env.dmctl(['remove', '-S', 'name>x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Operator can be used only with number, size, time or percent fields: name>x\n/);
    expect((await ok('ls')).split('\n').filter(Boolean)).toHaveLength(3);
  });
});
