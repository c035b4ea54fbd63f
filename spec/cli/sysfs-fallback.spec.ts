// dmctl without root: ls, info, deps and ls --tree read sysfs when /dev/mapper/control refuses
// the user (the simulator's `privileged = false` fails the open with DmPermissionError, as a
// 0600 root node does), print one note on stderr, and print the fields sysfs knows exactly as
// the root run does; what sysfs cannot know prints as `unknown`. Verbs and options that need
// what only the ioctls give still fail with the permission error.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { cliEnv } from './harness.js';
import { DeviceMapper } from '../../lib/index.js';

let env: ReturnType<typeof cliEnv>;
const line = (length: number, type: string, params: string) => ({ start: 0, length, type, params });
const NOTE = /^dmctl: EACCES from \/dev\/mapper\/control: read from sysfs instead; what sysfs cannot know is shown as unknown\n$/;

beforeEach(async () => {
  env = cliEnv();
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  env.kernel.addBlockDevice('/dev/loop1', 7, 1, 1 << 20);
  const dm = await DeviceMapper.open({ backend: env.kernel.backend() });
  try {
    await dm.createDevice({ name: 'a', uuid: 'UUID-A', table: [line(2048, 'linear', '/dev/loop0 0')] });
    await dm.createDevice({ name: 'b', table: [line(4096, 'linear', '/dev/loop1 0')] });
    await dm.createDevice({ name: 'top', uuid: 'UUID-TOP', table: [line(2048, 'linear', '/dev/mapper/a 0'), { start: 2048, length: 8, type: 'linear', params: '/dev/mapper/b 0' }] });
    await dm.createDevice({ name: 'ro', table: [line(8, 'linear', '/dev/loop1 9000')], readOnly: true });
    await dm.suspend('b');
  } finally {
    dm.close();
  }
});
afterEach(() => env.cleanup());

async function both(argv: string[]) {
  const root = await env.dmctl(argv);
  env.kernel.privileged = false;
  try {
    return { root, user: await env.dmctl(argv) };
  } finally {
    env.kernel.privileged = true;
  }
}

describe('dmctl falls back to sysfs without privilege', () => {
  test.each([[['ls']], [['ls', '--tree']], [['ls', '--tree', '-o', 'ascii,active,rw,uuid']], [['deps']], [['deps', 'top']], [['deps', '-o', 'devname']], [['deps', '--json']]])(
    'dmctl %j: the same stdout, and the note on stderr', async (argv) => {
      const { root, user } = await both(argv);
      expect(root.code).toBe(0);
      expect(root.stderr).toBe('');
      expect(user).toEqual({ code: 0, stdout: root.stdout, stderr: expect.stringMatching(NOTE) });
    });

  test.each([[['ls', '--json']], [['ls', '--tree', '--json']]])('dmctl %j: eventNr null (not reported), the rest as root', async (argv) => {
    const { root, user } = await both(argv);
    expect(user.stderr).toMatch(NOTE);
    expect(user.stdout).toBe(root.stdout.replace(/"eventNr": \d+/g, '"eventNr": null'));
    expect(user.stdout).not.toBe(root.stdout);
  });

  test('info: the known lines as root prints them, the unknown ones say so', async () => {
    const { root, user } = await both(['info', 'b']);
    expect(user.code).toBe(0);
    expect(user.stderr).toMatch(NOTE);
    const r = root.stdout.split('\n');
    const u = user.stdout.split('\n');
    expect(u.length).toBe(r.length);
    for (const [i, l] of r.entries()) {
      if (/^(Open count|Event number|Number of targets|Tables present):/.test(l)) continue;
      expect(u[i]).toBe(l);
    }
    expect(u).toEqual(expect.arrayContaining(['State:             SUSPENDED', 'Tables present:    LIVE (INACTIVE unknown)', 'Open count:        unknown', 'Event number:      unknown', 'Number of targets: unknown']));
    const ro = await both(['info', 'ro']);
    expect(ro.user.stdout).toContain('State:             ACTIVE (READ-ONLY)');
  });

  test('info -c: unknown columns print unknown, known ones as root', async () => {
    const { root, user } = await both(['info', '-c', '--noheadings', '-o', 'name,major,minor,suspended,readonly,uuid,open,events', 'top']);
    const [rn, rmaj, rmin, rs, rr, ru] = root.stdout.trim().split(':');
    expect(user.stdout.trim().split(':')).toEqual([rn, rmaj, rmin, rs, rr, ru, 'unknown', 'unknown']);
  });

  test('a name that is not UTF-8: printed mangled, and its mangled form addresses it, as root', async () => {
    const dm = await DeviceMapper.open({ backend: env.kernel.backend() });
    try {
      await dm.create({ name: Uint8Array.of(0x6f, 0xff, 0x21), uuid: 'U-ODD' });
      await dm.load({ name: Uint8Array.of(0x6f, 0xff, 0x21) }, [line(8, 'linear', '/dev/loop0 64')]);
      await dm.resume({ name: Uint8Array.of(0x6f, 0xff, 0x21) });
    } finally {
      dm.close();
    }
    const ls = await both(['ls']);
    expect(ls.root.stdout).toContain('o\\xff\\x21\t(');
    expect(ls.user.stdout).toBe(ls.root.stdout);
    const info = await both(['info', 'o\\xff\\x21']);
    expect(info.root.code).toBe(0);
    expect(info.user.code).toBe(0);
    expect(info.user.stdout).toContain('Name:              o\\xff\\x21\n');
    expect(info.user.stdout).toContain('UUID: U-ODD\n');
  });

  test('a missing device: the same message and status as root', async () => {
    const { root, user } = await both(['info', 'nothing']);
    expect(user.code).toBe(root.code);
    expect(user.stdout).toBe(root.stdout);
    expect(user.stderr.split('\n').slice(1).join('\n')).toBe(root.stderr);
  });

  test.each([[['ls', '--target', 'linear']], [['info', '--inactive', 'a']], [['info', '--json']], [['table']], [['status', 'a']], [['deps', '--inactive', 'a']]])(
    'dmctl %j still needs the control node: the permission error, no note', async (argv) => {
      const { user } = await both(argv);
      expect(user.code).not.toBe(0);
      expect(user.stderr).not.toMatch(/read from sysfs/);
      expect(user.stderr).toMatch(/root|CAP_SYS_ADMIN|permission/i);
    });
});
