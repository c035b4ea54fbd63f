// Hostile input, part 2: user strings that name a member of Object.prototype. Every place
// a user string selects something (dmctl verbs, help topics, -o report fields, decode
// command names, mangling modes, device-name option values, target types, cache policy
// keys, errno codes, device names) is attacked with every own property name of
// Object.prototype: each must be "not found" (or, for names that are data, kept as data),
// never Object.prototype's member.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { SimulatedKernel } from '../../testing/index.js';
import { codec, DmCodecError, requestCode } from '../../codec/index.js';
import { annotateRequest, resolveCommand } from '../../cli/hex.js';
import { mapOpenError } from '../../ffi/errors.js';
import {
  buildTarget, DeviceMapper, DmTargetError, DmUnavailableError, normalise, parseStatus, parseTarget, tableNeedsReadOnly, tableNeedsSecure,
} from '../../lib/index.js';
import { cliEnv, fakeSysfs } from './harness.js';

/** constructor, toString, __proto__, hasOwnProperty, valueOf, isPrototypeOf, … */
const KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

/** The lookups attacked (the closing note counts them). */
export const LOOKUPS = [
  'dmctl <verb>', 'dmctl help <verb>', 'dmctl <verb> --help', 'dmctl info -c -o <field>', 'dmctl decode <command>',
  'dmctl --manglename <mode>', 'dmctl ls -o <type>', 'dmctl deps -o <type>', 'dmctl table/status --target <type>',
  'resolveCommand / annotateRequest', 'codec.encodeRequest / decodeReply / requestCode', 'typed target type (build/parse/status/normalise/needs*)',
  'cache policyArgs keys (parse and build)', 'errno code of an open() failure', 'device names (client and dmctl)',
] as const;

let env: ReturnType<typeof cliEnv>;
beforeEach(async () => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  const r = await env.dmctl(['create', 'z', '--table', '0 8 zero']);
  expect(r.code).toBe(0);
  fakeSysfs(env.sysfs, { major: 254, minor: 0 }, 'dm-0', 'z');
});
afterEach(() => env.cleanup());

const noTypeError = (text: string) => expect(text).not.toMatch(/TypeError|is not a function|undefined/);

test('the keys attacked include the classics', () => {
  expect(KEYS).toEqual(expect.arrayContaining(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']));
});

describe.each(KEYS)('dmctl with %s', (key) => {
  test('as a verb, a help topic, and a verb with --help: unknown command, exit 1', async () => {
    for (const argv of [[key], ['help', key], [key, '--help'], [key, 'z']]) {
      const r = await env.dmctl(argv);
      expect({ argv, code: r.code, stdout: r.stdout }).toEqual({ argv, code: 1, stdout: '' });
      expect(r.stderr).toContain(`unknown command "${key}"`);
      noTypeError(r.stderr);
    }
  });

  test('as an info -c field: unrecognised field, exit 1', async () => {
    for (const fields of [key, `name,${key}`, `+${key}`]) {
      const r = await env.dmctl(['info', '-c', '-o', fields, 'z']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Unrecognised field: ${key}`);
      expect(r.stdout).toBe('');
    }
  });

  test('as a decode command, a mangling mode, an ls/deps -o type: rejected, exit 1', async () => {
    const cases: [string[], RegExp][] = [
      [['decode', key, '00'], /Unknown command/],
      [['--manglename', key, 'ls'], /Unknown name mangling mode/],
      [['ls', '-o', key], /Invalid options/],
      [['deps', '-o', key, 'z'], /Invalid options/],
    ];
    for (const [argv, message] of cases) {
      const r = await env.dmctl(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 });
      expect(r.stderr).toMatch(message);
      noTypeError(r.stderr);
    }
  });

  test('as a --target filter: matches nothing', async () => {
    for (const verb of ['table', 'status']) {
      const r = await env.dmctl([verb, '--target', key, 'z']);
      expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    }
    expect(await env.dmctl(['ls', '--target', key])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('as a device name: an ordinary name (create, info, table, remove)', async () => {
    const missing = await env.dmctl(['info', key]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Device does not exist.');
    expect((await env.dmctl(['create', key, '--table', '0 8 zero'])).code).toBe(0);
    expect((await env.dmctl(['table', key])).stdout).toBe('0 8 zero \n');
    expect((await env.dmctl(['remove', key])).code).toBe(0);
    expect((await env.dmctl(['ls'])).stdout).not.toContain(key);
  });

  test('as a target type in a dmctl table: the kernel\'s EINVAL, not a crash', async () => {
    const r = await env.dmctl(['create', 'x', '--table', `0 8 ${key}`]);
    expect(r.code).toBe(1);
    // The kernel knows no such target (EINVAL); names over 15 bytes are refused before it.
    expect(r.stderr).toMatch(key.length > 15 ? /the limit is 15/ : /EINVAL/);
  });
});

describe.each(KEYS)('library lookups with %s', (key) => {
  test('command names: resolveCommand, annotateRequest, the codec', () => {
    expect(resolveCommand(key)).toBeUndefined();
    for (const f of [
      () => annotateRequest(key as never, {}),
      () => codec.encodeRequest(key as never, {} as never),
      () => codec.decodeReply(key as never, new Uint8Array(512)),
      () => requestCode(key as never),
    ]) {
      expect(f).toThrow(DmCodecError);
      try { f(); } catch (e) { expect((e as DmCodecError).code).toBe('UNKNOWN_COMMAND'); }
    }
  });

  test('target types: UNKNOWN_TARGET from every typed entry point; no unit found', () => {
    const line = { start: 0, length: 8, type: key, params: '' };
    for (const f of [() => buildTarget(line as never), () => parseTarget(line), () => parseStatus(line), () => normalise(line as never)]) {
      expect(f).toThrow(DmTargetError);
      try { f(); } catch (e) { expect((e as DmTargetError).code).toBe('UNKNOWN_TARGET'); }
    }
    expect(tableNeedsSecure([line as never])).toBe(false);
    expect(tableNeedsReadOnly([line])).toBe(false);
  });

  test('cache policy keys: kept as own data, in parse and build', () => {
    const p = parseTarget({ start: 0, length: 8, type: 'cache', params: `8:1 8:2 8:3 64 1 writeback smq 2 ${key} 7` });
    const args = (p as { policyArgs: Record<string, string> }).policyArgs;
    expect(Object.hasOwn(args, key)).toBe(true);
    expect(Object.keys(args)).toEqual([key]);
    expect(args[key]).toBe('7');
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    // Round trip: the key reaches the params again.
    const built = buildTarget({ ...(p as object), start: 0, length: 8, type: 'cache' } as never);
    expect(built.params).toBe(`8:1 8:2 8:3 64 1 writeback smq 2 ${key} 7`);
  });

  test('errno code of a failed open(): not an errno', () => {
    const e = mapOpenError({ code: key, errno: -2 }, '/dev/mapper/control');
    expect(e).toBeInstanceOf(DmUnavailableError);
    expect((e as DmUnavailableError).errno).toBe(2);
  });

  test('device names through the client', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    expect(await dm.info(key)).toEqual({ exists: false });
    await dm.createDevice({ name: key, table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    expect((await dm.info({ name: key })).exists).toBe(true);
    expect((await dm.list()).map((d) => d.name)).toEqual([key]);
    await dm.removeDevice(key);
    dm.close();
  });
});
