// dmctl's udev verbs and options: dmsetup's output formats (compared with the system's
// dmsetup where it runs without device-mapper: udevflags, udevcookies, udevcomplete's line),
// and the cookie protocol on the simulated udevd.
import { afterEach, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { SimulatedKernel } from '../../testing/index.js';
import { UdevCookies, realCookieHost, UDEV_FLAGS, type CookieHost } from '../../lib/udev/cookies.js';
import { parseCookieValue } from '../../cli/udev.js';
import { cliEnv } from './harness.js';

const hasDmsetup = (() => { try { execFileSync('dmsetup', ['udevflags', '0x10000'], { stdio: 'pipe' }); return true; } catch { return false; } })();
const withDmsetup = hasDmsetup ? test : test.skip;
const sysv = process.platform === 'linux' && fs.existsSync('/proc/sysvipc/sem');

function dmsetup(args: string[], env: Record<string, string> = {}): { stdout: string; status: number | null } {
  const r = spawnSync('dmsetup', args, { encoding: 'utf8', env: { ...process.env, ...env } });
  return { stdout: r.stdout, status: r.status };
}

const cleanups: (() => void)[] = [];
afterEach(() => { for (const c of cleanups.splice(0)) c(); });

function env(kernel?: SimulatedKernel) {
  const e = cliEnv(kernel);
  cleanups.push(e.cleanup);
  return e;
}

const VALUES = ['0x10000', '0x0d4d1234', '0xffff0001', '0x7f0000', '0x00400000', '0x80000000', '65536', '0200000', '0x1'];
const BAD = ['0', '0x', 'abc', '0x1g', '-1', '0x100000000', '4294967296', '12 ', ''];

describe('dmctl udevflags', () => {
  test("lines as dmsetup prints them: DM_UDEV_<NAME>_FLAG='1', DM_UDEV_FLAG7, DM_SUBSYSTEM_UDEV_FLAGn", async () => {
    const { dmctl } = env();
    expect((await dmctl(['udevflags', '0xffff0000'])).stdout).toBe([
      'DISABLE_DM_RULES', 'DISABLE_SUBSYSTEM_RULES', 'DISABLE_DISK_RULES', 'DISABLE_OTHER_RULES', 'LOW_PRIORITY', 'DISABLE_LIBRARY_FALLBACK', 'PRIMARY_SOURCE',
    ].map((n) => `DM_UDEV_${n}_FLAG='1'\n`).join('') + "DM_UDEV_FLAG7='1'\n" + [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `DM_SUBSYSTEM_UDEV_FLAG${i}='1'\n`).join(''));
    expect((await dmctl(['udevflags', String((UDEV_FLAGS.PRIMARY_SOURCE << 16) | 5)])).stdout).toBe("DM_UDEV_PRIMARY_SOURCE_FLAG='1'\n");
    for (const bad of BAD.filter((b) => !b.startsWith('-'))) { // '-1' is an option to both parsers
      const r = await dmctl(['udevflags', bad]);
      expect([bad, r.code, r.stderr]).toEqual([bad, 1, expect.stringContaining('Incorrect cookie value.')]);
    }
  });

  withDmsetup('byte for byte what the system dmsetup prints, for good and bad values', async () => {
    const { dmctl } = env();
    for (const v of [...VALUES, ...BAD].filter((b) => !b.startsWith('-'))) {
      const ours = await dmctl(['udevflags', v]);
      const theirs = dmsetup(['udevflags', v]);
      expect([v, ours.stdout, ours.code]).toEqual([v, theirs.stdout, theirs.status]);
    }
  });

  test('cookie values parse like strtoul(…, 0): hex, octal, decimal; 0, signs and junk refused', () => {
    expect(parseCookieValue('0x0D4D0001')).toBe(0x0d4d0001);
    expect(parseCookieValue('010')).toBe(8);
    expect(parseCookieValue(' 42')).toBe(42);
    expect(parseCookieValue('4294967295')).toBe(0xffffffff);
    for (const bad of BAD) expect(() => parseCookieValue(bad)).toThrow('Incorrect cookie value.');
  });
});

describe('dmctl udevcomplete', () => {
  withDmsetup('its line is dmsetup\'s DM_COOKIE_COMPLETED=0x%-10x', async () => {
    const { dmctl } = env();
    for (const v of ['0x0d4d1234', '0x00400000', '0xffff0001']) {
      expect((await dmctl(['udevcomplete', v])).stdout).toBe(dmsetup(['udevcomplete', v]).stdout);
    }
    expect((await dmctl(['udevcomplete', '0x0d4d0001'])).stdout).toBe('DM_COOKIE_COMPLETED=0xd4d0001   \n');
  });

  test('completes a cookie made by libdevmapper\'s protocol (the flags in DM_COOKIE replaced by the magic)', async () => {
    const kernel = new SimulatedKernel({ udev: true });
    const { dmctl } = env(kernel);
    const c = new UdevCookies(kernel.udev!.host());
    const cookie = c.create({ lifetime: 'call' });
    c.inc(cookie);
    const withFlags = ((UDEV_FLAGS.PRIMARY_SOURCE << 16) | (cookie & 0xffff)) >>> 0;
    const r = await dmctl(['udevcomplete', `0x${withFlags.toString(16)}`]);
    expect(r.code).toBe(0);
    expect(c.list()).toEqual([expect.objectContaining({ key: cookie, value: 1 })]);
    // A flags-only value (base 0) completes nothing and succeeds.
    expect((await dmctl(['udevcomplete', '0x00400000'])).code).toBe(0);
    expect(c.list()[0]!.value).toBe(1);
    // A cookie with no semaphore: libdm's message, exit 1.
    c.destroy(cookie);
    const gone = await dmctl(['udevcomplete', `0x${cookie.toString(16)}`]);
    expect([gone.code, gone.stderr]).toEqual([1, expect.stringContaining('Could not find notification semaphore')]);
  });
});

describe('dmctl udevcreatecookie / udevreleasecookie / --udevcookie / --noudevsync / --noudevrules', () => {
  test('a transaction: create, two creates joining it (no wait), release waits for udev and removes it', async () => {
    const kernel = new SimulatedKernel({ udev: true });
    const { dmctl, nodes } = env(kernel);
    const made = await dmctl(['udevcreatecookie']);
    expect(made.stdout).toMatch(/^0x0D4D[0-9A-F]{4}\n$/);
    const cookie = made.stdout.trim();
    kernel.udev!.stop();
    expect((await dmctl(['create', 'a', '--table', '0 8 zero', '--udevcookie', cookie])).code).toBe(0);
    expect((await dmctl(['create', 'b', '--table', '0 8 zero'], { env: { DM_UDEV_COOKIE: cookie } })).code).toBe(0);
    expect(nodes.size).toBe(0); // in a transaction udev owns /dev/mapper: dmctl makes no node
    const listed = await dmctl(['udevcookies']);
    expect(listed.stdout.split('\n')[1]).toMatch(new RegExp(`^0x${Number(cookie).toString(16)}\\s+\\d+\\s+3\\s`));
    kernel.udev!.start();
    expect((await dmctl(['udevreleasecookie', cookie])).code).toBe(0);
    expect(kernel.udev!.semaphores).toEqual([]);
    expect([...kernel.udev!.links.keys()].sort()).toEqual(['/dev/mapper/a', '/dev/mapper/b']);
  });

  test('udevreleasecookie without a cookie: "No udev transaction cookie given.", exit 1', async () => {
    const kernel = new SimulatedKernel({ udev: true });
    const { dmctl } = env(kernel);
    const r = await dmctl(['udevreleasecookie']);
    expect([r.code, r.stderr]).toEqual([1, 'No udev transaction cookie given.\n']);
  });

  test('where udev sync is off, udevcreatecookie prints nothing and succeeds (as dmsetup)', async () => {
    const kernel = new SimulatedKernel({ udev: true });
    kernel.udev!.controlSocket = false;
    const { dmctl } = env(kernel);
    expect(await dmctl(['udevcreatecookie'])).toMatchObject({ code: 0, stdout: '' });
    expect(await dmctl(['udevcreatecookie', '--noudevsync'])).toMatchObject({ code: 0, stdout: '' });
  });

  test('--noudevsync sends no cookie; the default syncs; --noudevrules sets DISABLE_DM_RULES|DISABLE_SUBSYSTEM_RULES', async () => {
    const kernel = new SimulatedKernel({ udev: true });
    const { dmctl } = env(kernel);
    const ev = () => kernel.udev!.events.at(-1)!;
    expect((await dmctl(['create', 'n', '--table', '0 8 zero', '--noudevsync'])).code).toBe(0);
    expect(ev().cookie).toBe(0);
    expect((await dmctl(['rename', 'n', 'm'])).code).toBe(0);
    expect(ev().cookie >>> 16).toBe(UDEV_FLAGS.PRIMARY_SOURCE | UDEV_FLAGS.DISABLE_LIBRARY_FALLBACK);
    expect((await dmctl(['resume', 'm'])).code).toBe(0); // running already: no uevent, no hang
    expect((await dmctl(['remove', 'm', '--noudevrules'])).code).toBe(0);
    expect(ev().cookie >>> 16).toBe(UDEV_FLAGS.PRIMARY_SOURCE | UDEV_FLAGS.DISABLE_LIBRARY_FALLBACK | UDEV_FLAGS.DISABLE_DM_RULES | UDEV_FLAGS.DISABLE_SUBSYSTEM_RULES);
    expect(kernel.udev!.semaphores).toEqual([]);
  });

  test('udev stopped: remove times out after --udev-timeout, exit 1, no semaphore left', async () => {
    const kernel = new SimulatedKernel({ udev: true });
    const { dmctl } = env(kernel);
    expect((await dmctl(['create', 't', '--table', '0 8 zero'])).code).toBe(0);
    kernel.udev!.stop();
    const r = await dmctl(['remove', 't', '--udev-timeout', '30']);
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('udev did not complete cookie')]);
    expect(kernel.udev!.semaphores).toEqual([]);
    kernel.udev!.start();
  });
});

describe('dmctl udevcomplete_all and udevcookies', () => {
  test('udevcomplete_all: asks first (declined: nothing destroyed), -y destroys, an age skips fresh ones', async () => {
    const kernel = new SimulatedKernel({ udev: true });
    const { dmctl } = env(kernel);
    const c = new UdevCookies(kernel.udev!.host());
    c.create({ lifetime: 'call' });
    c.create({ lifetime: 'call' });
    const no = await dmctl(['udevcomplete_all'], { stdin: 'n\n' });
    expect(no.stderr).toBe('WARNING: This operation will destroy all semaphores with keys that have a prefix 3405 (0xd4d).\n');
    expect(no.stdout).toBe('Do you really want to continue? [y/n]: \nSemaphores with keys prefixed by 3405 (0xd4d) NOT destroyed.\n');
    expect(kernel.udev!.semaphores.length).toBe(2);
    const aged = await dmctl(['udevcomplete_all', '10', '-y']);
    expect(aged.stdout).toBe('0 semaphores with keys prefixed by 3405 (0xd4d) destroyed. 2 skipped.\n');
    const all = await dmctl(['udevcomplete_all', '--yes']);
    expect(all.stdout).toBe('2 semaphores with keys prefixed by 3405 (0xd4d) destroyed. 0 skipped.\n');
    expect(kernel.udev!.semaphores).toEqual([]);
    expect((await dmctl(['udevcomplete_all', 'x', '-y'])).stderr).toBe('Failed to read age_in_minutes parameter.\n');
  });

  (hasDmsetup && sysv ? test : test.skip)('udevcookies: byte for byte what the system dmsetup prints for the same semaphores', async () => {
    const tz = process.env.TZ;
    process.env.TZ = 'UTC';
    const host: CookieHost = { ...(await realCookieHost({})), udevRunning: () => true, notifyRulesInstalled: () => true };
    const c = new UdevCookies(host);
    const cookie = c.create({ lifetime: 'call' });
    try {
      c.inc(cookie);
      const { dmctl } = env();
      const ours = await dmctl(['udevcookies'], { cookieHost: async () => host });
      const theirs = dmsetup(['udevcookies'], { TZ: 'UTC' });
      expect(ours.stdout).toContain(`0x${cookie.toString(16)}`);
      expect(ours.stdout).toBe(theirs.stdout);
    } finally {
      c.destroy(cookie);
      if (tz === undefined) delete process.env.TZ; else process.env.TZ = tz;
    }
  });
});
