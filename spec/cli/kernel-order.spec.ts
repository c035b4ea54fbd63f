// dmsetup prints every all-device listing in the order DM_LIST_DEVICES gives it, and so must
// dmctl: before dm 4.45 that is the kernel's name-hash walk, not name order. The library's
// own list() keeps name order on every kernel (docs/kernel-facts.md, "DM_LIST_DEVICES before
// 4.45").
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { codec, requestCode } from '../../codec/index.js';
import { cliEnv } from './harness.js';

/** The names as the kernel's own DM_LIST_DEVICES reply lists them. */
function kernelOrder(kernel: SimulatedKernel): string[] {
  const req = codec.encodeRequest('listDevices', {}, { bufferBytes: 16384 });
  expect(kernel.ioctl(requestCode('listDevices'), req).ret).toBe(0);
  return codec.decodeReply('listDevices', req).devices.map((d) => d.name);
}

const byteOrder = (names: readonly string[]) => [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

// The names made below as a 4.43 kernel lists them: hash_str() buckets in ascending order,
// each bucket newest first (vg-swap 1; theta and vg-root 2; kappa 5; delta 20; iota 21; eta 30;
// beta 32; alpha 42; vg-home 49; zeta 56; crypt0 62).
const HASH_WALK = ['vg-swap', 'theta', 'vg-root', 'kappa', 'delta', 'iota', 'eta', 'beta', 'alpha', 'vg-home', 'zeta', 'crypt0'];
// Enough devices that a hash walk cannot come out sorted by chance, one renamed (a rename
// moves a device to the head of its new bucket) and some on a block device (deps).
const MADE = ['vg-root', 'vg-swap', 'vg-home', 'crypt0', 'alpha', 'beta', 'gamma', 'delta', 'zeta', 'eta', 'theta', 'iota'];
const LINEAR = ['vg-root', 'crypt0', 'kappa', 'eta'];

async function populated(version: readonly [number, number, number]): Promise<ReturnType<typeof cliEnv>> {
  const env = cliEnv(new SimulatedKernel({ version }));
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
  const ok = async (...argv: string[]) => {
    const r = await env.dmctl(argv);
    if (r.code !== 0) throw new Error(`dmctl ${argv.join(' ')} failed: ${r.stderr}`);
  };
  for (const [i, name] of MADE.entries()) {
    await ok('create', name, '--table', i % 3 === 0 ? `0 ${1024 + i} linear 7:0 ${i * 2048}` : `0 ${1024 + i} zero`);
  }
  await ok('rename', 'gamma', 'kappa');
  return env;
}

/** The device names in the order each all-device verb prints them. */
async function verbOrders(env: ReturnType<typeof cliEnv>): Promise<Record<string, string[]>> {
  const run = async (...argv: string[]) => {
    const r = await env.dmctl(argv);
    expect([argv.join(' '), r.code, r.stderr]).toEqual([argv.join(' '), 0, '']);
    return r.stdout;
  };
  const firstWords = (out: string) => out.split('\n').filter(Boolean).map((l) => l.split(/[\t:]/)[0]!.trim());
  const out: Record<string, string[]> = {};
  for (const argv of [['ls'], ['ls', '--target', 'linear'], ['table'], ['table', '--showkeys'], ['status'], ['deps'], ['deps', '-o', 'devname']]) {
    out[argv.join(' ')] = firstWords(await run(...argv));
  }
  out['info'] = (await run('info')).split('\n\n').filter(Boolean).map((b) => /^Name: +(\S+)/.exec(b)![1]!);
  out['info -c'] = (await run('info', '-c', '--noheadings', '-o', 'name')).split('\n').filter(Boolean);
  out['ls --json'] = (JSON.parse(await run('ls', '--json')) as { devices: { name: string }[] }).devices.map((d) => d.name);
  return out;
}

const expected = (order: readonly string[]): Record<string, string[]> => {
  const linear = order.filter((n) => LINEAR.includes(n));
  return {
    'ls': [...order], 'ls --target linear': linear, 'table': [...order], 'table --showkeys': [...order], 'status': [...order],
    'deps': [...order], 'deps -o devname': [...order], 'info': [...order], 'info -c': [...order], 'ls --json': [...order],
  };
};

describe('a simulated 4.43 kernel (Debian 11, 5.10): the name-hash walk', () => {
  let env: ReturnType<typeof cliEnv>;
  beforeEach(async () => { env = await populated([4, 43, 0]); });
  afterEach(() => env.cleanup());

  test('dmctl ls, info, info -c, table, status, deps print the kernel\'s order, not name order', async () => {
    expect(kernelOrder(env.kernel)).toEqual(HASH_WALK);
    expect(HASH_WALK).not.toEqual(byteOrder(HASH_WALK));
    expect(await verbOrders(env)).toEqual(expected(HASH_WALK));
  });

  test('the library\'s list() and listSync() stay in name order; order: \'kernel\' gives the kernel\'s', async () => {
    const dm = await DeviceMapper.open({ backend: env.kernel.backend() });
    try {
      const sorted = byteOrder(HASH_WALK);
      expect((await dm.list()).map((d) => d.name)).toEqual(sorted);
      expect(dm.listSync().map((d) => d.name)).toEqual(sorted);
      expect((await dm.list({ order: 'name' })).map((d) => d.name)).toEqual(sorted);
      expect((await dm.list({ order: 'kernel' })).map((d) => d.name)).toEqual(HASH_WALK);
      expect(dm.listSync({ order: 'kernel' }).map((d) => d.name)).toEqual(HASH_WALK);
      // A name prefix keeps the order asked for (before 4.45 the client applies it).
      expect((await dm.list({ namePrefix: 'vg-', order: 'kernel' })).map((d) => d.name)).toEqual(['vg-swap', 'vg-root', 'vg-home']);
      expect(dm.listSync({ namePrefix: 'vg-' }).map((d) => d.name)).toEqual(['vg-home', 'vg-root', 'vg-swap']);
    } finally {
      dm.close();
    }
  });
});

test('a simulated 4.48 kernel lists in name order: dmctl, list() and list({ order: \'kernel\' }) agree', async () => {
  const env = await populated([4, 48, 0]);
  try {
    const sorted = byteOrder(HASH_WALK);
    expect(kernelOrder(env.kernel)).toEqual(sorted);
    expect(await verbOrders(env)).toEqual(expected(sorted));
    const dm = await DeviceMapper.open({ backend: env.kernel.backend() });
    expect((await dm.list({ order: 'kernel' })).map((d) => d.name)).toEqual(sorted);
    expect((await dm.list()).map((d) => d.name)).toEqual(sorted);
    dm.close();
  } finally {
    env.cleanup();
  }
});

test('list() refuses an unknown order before any ioctl', async () => {
  const kernel = new SimulatedKernel({ version: [4, 43, 0] });
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  try {
    const before = kernel.calls.get('listDevices') ?? 0;
    const refusal = { code: 'INVALID_ARGUMENT', message: expect.stringContaining("'name' or 'kernel'") };
    await expect(dm.list({ order: 'hash' as 'kernel' })).rejects.toMatchObject(refusal);
    expect(() => dm.listSync({ order: 'sorted' as 'kernel' })).toThrow(expect.objectContaining(refusal));
    expect(kernel.calls.get('listDevices') ?? 0).toBe(before);
  } finally {
    dm.close();
  }
});
