// dmctl's report engine against the host's dmsetup, byte for byte: the verbs whose report
// runs without device-mapper (splitname, help -c, and info -c's set-up: -o help, a bad field,
// a bad selection), in the C locale and a UTF-8 one. Skipped, with the reason shown, where
// dmsetup is not installed.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, test } from '@jest/globals';
import { cliEnv } from './harness.js';

const probe = spawnSync('dmsetup', ['--version'], { encoding: 'utf8' });
const haveDmsetup = !probe.error;
const oracle = haveDmsetup ? describe : describe.skip;
if (!haveDmsetup) {
  test.skip('dmsetup is not installed on this host: the byte-for-byte comparison with it is skipped', () => {});
}

const LOCALES = ['C', 'C.UTF-8'];

function dmsetup(args: string[], locale: string) {
  const r = spawnSync('dmsetup', args, { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: locale } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const env = cliEnv();
afterAll(() => env.cleanup());

/** splitname command lines compared whole: exit status, stdout and stderr. */
const SPLITNAME: string[][] = [
  ['vg-lv'], ['vg--x-lv--y-layer'], ['a-b-c-d'], ['nodash'], ['trail-'], ['x--'], ['vg-lv-_mlog'], ['a--'], ['vg---lv'], ['ünï-cödé'],
  ['vg-lv', 'FOO'], ['vg-lv', 'LVM'], ['vg-lv', 'lvm'],
  ['vg-lv', '-o', 'help'], ['vg-lv', '-o', 'vg_name,help'], ['vg-lv', '-o', '?'], ['vg-lv', '-o', 'bogus'], ['vg-lv', '-o', 'name'],
  ['vg-lv', '-o', '+subsystem'], ['vg-lv', '-o', 'all'], ['vg-lv', '-o', 'ALL'], ['vg-lv', '-o', 'splitname_all'], ['vg-lv', '-o', 'name_all'],
  ['vg-lv', '-o', 'SUBSYS_TEM,VGNAME,lv__layer'], ['vg-lv', '-o', 'vg_name,'], ['vg-lv', '-o', ',,vg_name'], ['vg-lv', '-o', 'vg_name,vg_name'],
  ['vg-lv', '-o', 'vg_name,selected'], ['vg-lv', '-o', 'splitname_vg_name'], ['vg-lv', '-o', 'info_all'],
  ['vg-lv', '--noheadings'], ['vg-lv', '--nameprefixes'], ['vg-lv', '--nameprefixes', '--unquoted'], ['vg-lv', '--nameprefixes', '--noheadings'],
  ['vg-lv', '--unquoted'], ['vg-lv', '--rows'], ['vg-lv', '--rows', '--noheadings'], ['vg-lv', '--rows', '--nameprefixes'], ['vg-lv', '--rows', '--separator', ','],
  ['vg-lv', '--separator', '|'], ['vg-lv', '--separator', ''], ['vg-lv', '--separator', ' :: ', '--noheadings'], ['vg-lv', '--unbuffered'],
  ['vg-lv', '-O', '-vg_name'], ['vg-lv', '-O', 'bogus'], ['vg-lv', '-O', '-'], ['vg-lv', '-O', '+'], ['vg-lv', '-O', 'vg_name,vg_name'],
  ['vg-lv', '-O', 'subsystem', '-o', 'vg_name'], ['vg-lv', '-O', 'vg_name,'],
  ['vg-lv', '-S', 'vg_name=vg'], ['vg-lv', '-S', 'vg_name=xx'], ['vg-lv', '-S', 'vg_name!=vg'], ['vg-lv', '-S', 'vg_name=~^v'], ['vg-lv', '-S', 'vg_name!~^v'],
  ['vg-lv', '-S', 'vg_name=~(g$)'], ['vg-lv', '-S', 'vg_name="vg"'], ['vg-lv', '-S', 'vg_name=\'vg\''], ['vg-lv', '-S', ' vg_name = vg '],
  ['vg-lv', '-S', '(vg_name=vg || lv_name=x) && lv_layer=""'], ['vg-lv', '-S', '!(vg_name=vg)'], ['vg-lv', '-S', '!(vg_name=xx)'],
  ['vg-lv', '-S', 'vg_name=vg # lv_name=zz'], ['vg-lv', '-S', 'vg_name=vg,lv_name=lv'], ['vg-lv', '-S', 'vg_name=vg,lv_name=zz'],
  ['vg-lv', '-S', 'subsystem=LVM'], ['vg-lv', '-S', 'selected=1'], ['vg-lv', '-S', 'selected=0'], ['vg-lv', '-S', 'selected>0'], ['vg-lv', '-S', 'selected<=0'],
  ['vg-lv', '-S', 'all'], ['vg-lv', '-S', 'ALL'], ['vg-lv', '-S', ''], ['vg-lv', '-S', 'help'], ['vg-lv', '-S', '?'], ['vg-lv', '-S', 'HELP'],
  ['vg-lv', '-o', 'vg_name,selected', '-S', 'vg_name=xx'], ['vg-lv', '-o', 'vg_name', '-O', 'selected', '-S', 'vg_name=xx'],
  ['vg-lv', '-S', 'bad('], ['vg-lv', '-S', 'vg_name'], ['vg-lv', '-S', 'vg_name=x &&'], ['vg-lv', '-S', '(vg_name=x'], ['vg-lv', '-S', '( vg_name=x '],
  ['vg-lv', '-S', 'vg_name>x'], ['vg-lv', '-S', 'vg_name since x'], ['vg-lv', '-S', 'selected since 1'], ['vg-lv', '-S', 'vg_name=x lv_name=y'],
  ['vg-lv', '-S', '!vg_name=x'], ['vg-lv', '-S', '!(vg_name=x'], ['vg-lv', '-S', 'vg_name="x'], ['vg-lv', '-S', 'foo=1'], ['vg-lv', '-S', 'vg_name=~"['],
  ['vg-lv', '-S', 'vg_name=~'], ['vg-lv', '-S', 'selected=~1'], ['vg-lv', '-S', 'selected=1k'], ['vg-lv', '-S', 'selected=1%'], ['vg-lv', '-S', 'selected=x'],
  ['vg-lv', '-S', 'selected=1.5'], ['vg-lv', '-S', 'selected=18446744073709551616'], ['vg-lv', '-S', 'help=1'], ['vg-lv', '-S', '?=1'],
  ['vg-lv', '-S', '=1'], ['vg-lv', '-S', 'vg_name=vg)'], ['vg-lv', '-S', 'VG_NAME=vg'], ['vg-lv', '-S', 'vgname=vg'],
];

oracle('dmctl splitname = dmsetup splitname (exit status, stdout, stderr)', () => {
  for (const locale of LOCALES) {
    test.each(SPLITNAME.map((a) => [a.join(' '), a]))(`${locale}: splitname %s`, async (_label, args) => {
      const want = dmsetup(['splitname', ...(args as string[])], locale);
      const got = await env.dmctl(['splitname', ...(args as string[])], { env: { LC_ALL: locale } });
      expect({ code: got.code, stdout: got.stdout, stderr: got.stderr }).toEqual(want);
    });
  }
});

oracle('the report set-up dmsetup does before it needs device-mapper', () => {
  for (const locale of LOCALES) {
    test(`${locale}: help -c lists the fields as dmsetup does (after each one's usage)`, async () => {
      const want = dmsetup(['help', '-c'], locale);
      const got = await env.dmctl(['help', '-c'], { env: { LC_ALL: locale } });
      const fields = (s: string) => s.slice(s.indexOf('Mapped Device Name Fields'));
      expect(want.code).toBe(0);
      expect(got.code).toBe(0);
      expect(fields(got.stdout)).toBe(fields(want.stderr));
      expect(fields(got.stdout).length).toBeGreaterThan(5000);
    });

    // dmsetup prints the help, then fails to open device-mapper (absent here): dmctl, with a
    // kernel, prints the same help and asks it nothing.
    test(`${locale}: info -c -o help prints dmsetup's listing`, async () => {
      const want = dmsetup(['info', '-c', '-o', 'help'], locale);
      const got = await env.dmctl(['info', '-c', '-o', 'help'], { env: { LC_ALL: locale } });
      expect(got.code).toBe(0);
      expect(got.stdout).toBe('');
      expect(want.stderr.startsWith(got.stderr)).toBe(true);
      expect(got.stderr).toMatch(/Special Fields\n-+\n {2}selected {14}- Set if item passes selection criteria\.\n/);
    });

    test.each([
      [['-o', 'bogus']], [['-o', 'name,', '--noheadings']], [['-O', 'nope']], [['-S', 'bad(']], [['-S', 'name>x']], [['-S', 'major=~x']], [['-S', 'major=1m']],
      [['-S', 'open=5%']], [['-S', 'uuid=x y']], [['-S', 'help']], [['-o', 'name', '-S', '(events>1']],
    ])(`${locale}: info -c %j fails (or helps) as dmsetup's set-up does`, async (args) => {
      const want = dmsetup(['info', '-c', ...args], locale);
      const got = await env.dmctl(['info', '-c', ...args], { env: { LC_ALL: locale } });
      // -S help: dmsetup goes on to open device-mapper (absent here) after the help.
      if (args.includes('help')) {
        expect(got.code).toBe(0);
        expect(want.stderr.startsWith(got.stderr)).toBe(true);
        expect(got.stderr).toMatch(/Selection operators\n/);
      } else {
        expect({ code: got.code, stdout: got.stdout, stderr: got.stderr }).toEqual(want);
      }
    });
  }
});

oracle('-S on a verb over devices sets up an info -c report first', () => {
  test.each([
    [['table', '-S', 'bad(']], [['remove', '-S', 'name>x']], [['deps', '-S', 'nope=1']], [['suspend', '-S', 'open=1k']],
  ])('%j fails as dmsetup does, before device-mapper is needed', async (args) => {
    const want = dmsetup(args, 'C');
    const got = await env.dmctl(args);
    expect({ code: got.code, stdout: got.stdout, stderr: got.stderr }).toEqual(want);
  });
});
