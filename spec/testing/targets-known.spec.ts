/**
 * Every target with a typed unit is known to the simulator (testing/storage-targets.ts
 * and the built-in ones): the kernel's table text for every measured case of
 * spec/targets/cases.ts, a status line the typed parser reads, the kernel's refusals of bad
 * params, and the kernel's device-size check at table load (device-areas.ts).
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmError, TARGET_UNITS, createTypedDevice, parseStatus, parseTable, normalise, type TypedTarget } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { TABLE_CASES, resolveLoop } from '../targets/cases.js';
import { REAL_STATUS } from '../targets/realtools-cases.js';

let kernel: SimulatedKernel;
let dm: DeviceMapper;

beforeEach(async () => {
  kernel = new SimulatedKernel({ version: [4, 47, 0] });
  for (let i = 0; i < 8; i++) kernel.addBlockDevice(`/dev/loop${i}`, 7, i, 1 << 20);
  dm = await DeviceMapper.open({ backend: kernel.backend() });
  // A live pool at 254:0 with thins 0 and 1, for the thin cases.
  await dm.create({ name: 'pool' });
  await dm.load('pool', [{ start: 0n, length: 1n << 18n, type: 'thin-pool', params: '/dev/loop6 /dev/loop7 128 0' }]);
  await dm.resume('pool');
  await dm.message('pool', 0n, 'create_thin 0');
  await dm.message('pool', 0n, 'create_thin 1');
});
afterEach(() => dm.close());

describe('every typed target is known to the simulator', () => {
  test.each(Object.keys(TARGET_UNITS))('%s: a loaded module with a version', async (type) => {
    expect(await dm.getTargetVersion(type)).toHaveLength(3);
  });

  // flakey's measured lines come from 6.12 (random_read_corrupt); fault-sim.ts covers flakey.
  const cases = TABLE_CASES.filter((c) => c.input.type !== 'flakey');
  test.each(cases.map((c) => [c.name, c] as const))('%s: the kernel\'s table text, a parseable status', async (_n, c) => {
    const name = `k-${c.name.replace(/\W+/g, '-')}`;
    await createTypedDevice(dm, { name, table: [{ ...c.input, start: 0 } as TypedTarget] });
    const { targets } = await dm.table(name, { showKeys: true });
    expect(targets[0]!.params).toBe(c.kernel);
    expect(parseTable((await dm.table(name)).targets)).toEqual([normalise({ ...c.input, start: 0 } as TypedTarget, { resolve: resolveLoop })]);
    const status = (await dm.status(name)).targets[0]!;
    const parsed = parseStatus(status);
    expect(parsed.type).toBe(c.input.type);
    expect((parsed.status as { extra?: unknown[] }).extra ?? []).toEqual([]);
  });

  test('status lines have the shape of the real ones (healthy, fresh devices)', async () => {
    const shapes: Record<string, RegExp> = {
      crypt: /^$/, 'snapshot-origin': /^$/, verity: /^V$/,
      cache: /^8 \d+\/\d+ \d+ 0\/\d+ 0 0 0 0 0 0 0 \d+( \w+)+ 2 migration_threshold \d+ \w+ \d+.* rw - $/,
      mirror: /^2 \d+:\d+ \d+:\d+ (\d+)\/\1 1 AA 1 core$/, raid: /^raid\w+ \d+ A+ (\d+)\/\1 idle 0 0 -$/, snapshot: /^16\/\d+ 16$/,
    };
    for (const s of REAL_STATUS.filter((r) => !r.kernels && shapes[r.type])) expect(s.params).toMatch(shapes[s.type]!);
    const lines: Record<string, string> = {
      crypt: 'aes-xts-plain64 0123456789abcdef0123456789abcdef 0 /dev/loop0 0',
      'snapshot-origin': '/dev/loop0',
      verity: `1 /dev/loop0 /dev/loop1 4096 4096 256 1 sha256 ${'ab'.repeat(32)} -`,
      cache: '/dev/loop3 /dev/loop4 /dev/loop0 128 2 metadata2 writethrough smq 0',
      mirror: 'core 2 4096 nosync 2 /dev/loop0 0 /dev/loop1 0',
      raid: 'raid1 3 0 region_size 4096 2 - /dev/loop0 - /dev/loop1',
      snapshot: '/dev/loop0 /dev/loop4 P 8',
    };
    for (const [type, params] of Object.entries(lines)) {
      await dm.createDevice({ name: `s-${type}`, table: [{ start: 0n, length: 2048n, type, params }] });
      expect((await dm.status(`s-${type}`)).targets[0]!.params).toMatch(shapes[type]!);
    }
  });

  test.each([
    ['crypt', '', 'crypt: Not enough arguments'],
    ['crypt', 'aes-xts-plain64 0g 0 /dev/loop0 0', 'crypt: Error decoding and setting key'],
    ['verity', '1 /dev/loop0', 'verity: Not enough arguments'],
    ['integrity', '/dev/loop0 0 4 X', 'integrity: Invalid mode (expecting J, B, D, R)'],
    ['cache', '/dev/loop3 /dev/loop4 /dev/loop0 63 1 writethrough smq 0', 'cache: Invalid data block size'],
    ['snapshot', '/dev/loop0 /dev/loop0 P 8', 'snapshot: COW device cannot be the same as origin device'],
    ['mirror', 'core 1 1024 1 /dev/loop0 0', 'mirror: Invalid number of mirrors'],
    ['raid', 'raid9 1 0 1 - /dev/loop0', 'raid: Unrecognised raid_type'],
    ['multipath', '0 0 1 1 nope 0 1 0 /dev/loop0', 'multipath: unknown path selector type'],
    ['era', '/dev/loop3 /dev/loop0 100', 'era: Invalid block size'],
    ['writecache', 'x /dev/loop0 /dev/loop4 4096 0', 'writecache: Persistent memory or SSD cache mode not specified'],
  ])('%s %j is refused with EINVAL and the constructor\'s error', async (type, params, log) => {
    await dm.create({ name: 'bad' });
    const e = await dm.load('bad', [{ start: 0n, length: 2048n, type, params }]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmError);
    expect((e as DmError).code).toBe('EINVAL');
    expect((e as DmError).kernelLog).toContain(`device-mapper: table: 254:1: ${log}`);
  });
});

describe('a table that does not fit its devices is refused at load, as the kernel does', () => {
  test.each([
    ['linear longer than its device', [{ start: 0n, length: (1n << 20n) + 1n, type: 'linear', params: '/dev/loop0 0' }], 'loop0 too small for target: start=0, len=1048577, dev_size=1048576'],
    ['linear past the end', [{ start: 0n, length: 8n, type: 'linear', params: '/dev/loop0 1048576' }], 'loop0 too small for target: start=1048576, len=8, dev_size=1048576'],
    ['one stripe too short', [{ start: 0n, length: 1n << 20n, type: 'striped', params: '2 8 /dev/loop0 0 /dev/loop1 1048000' }], 'loop1 too small for target: start=1048000, len=524288, dev_size=1048576'],
    ['crypt past the end', [{ start: 0n, length: 16n, type: 'crypt', params: 'aes-xts-plain64 0123456789abcdef0123456789abcdef 0 /dev/loop0 1048570' }], 'loop0 too small for target: start=1048570, len=16, dev_size=1048576'],
  ])('%s: EINVAL with the kernel\'s line; the device keeps no table', async (_n, table, line) => {
    await dm.create({ name: 'big' });
    const e = await dm.load('big', table).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmError);
    expect((e as DmError).code).toBe('EINVAL');
    expect((e as DmError).kernelLog).toEqual([`device-mapper: table: 254:1: ${line}`]);
    expect(await dm.info('big')).toMatchObject({ exists: true, flags: { suspended: false, activePresent: false, inactivePresent: false } });
    await dm.resume('big');
  });

  test('a table that fits exactly goes live', async () => {
    await dm.createDevice({ name: 'fit', table: [{ start: 0n, length: 8n, type: 'linear', params: '/dev/loop0 1048568' }] });
    expect(await dm.info('fit')).toMatchObject({ flags: { suspended: false, activePresent: true } });
  });
});
