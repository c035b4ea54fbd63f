// FaultyDevice on the simulated kernel (fault-sim.ts): tables per mode, the switch sequence
// (load → suspend noflush + no freeze → resume, by uuid), read-back from the kernel's table
// on 6.1 (4.47) and 6.12 (4.48) flakey formats, failure paths and input checks.
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { DeviceMapper, DmOperationError, FaultyDevice, type FaultMode } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

let dm: DeviceMapper | undefined;
afterEach(() => dm?.close());

async function setup(version: [number, number, number] = [4, 48, 0]) {
  const kernel = new SimulatedKernel({ version });
  kernel.addBlockDevice('/dev/loop0', 7, 0, 65536);
  dm = await DeviceMapper.open({ backend: kernel.backend() });
  // No size given: the simulated backend answers BLKGETSIZE64 for /dev/loop0 (65536 sectors).
  const dev = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/loop0' });
  expect(dev.sizeSectors).toBe(65536n);
  return { kernel, dm, dev };
}

const MODES: [FaultMode, string, string][] = [
  // mode, table on 4.47 (6.1), table on 4.48 (6.12)
  [{ kind: 'passthrough' }, 'linear 7:0 0', 'linear 7:0 0'],
  [{ kind: 'fail-all' }, 'error ', 'error '],
  [{ kind: 'fail-writes' }, 'flakey 7:0 0 0 1 1 error_writes', 'flakey 7:0 0 0 1 1 error_writes'],
  [{ kind: 'drop-writes' }, 'flakey 7:0 0 0 1 1 drop_writes', 'flakey 7:0 0 0 1 1 drop_writes'],
  [{ kind: 'corrupt', byte: 7, direction: 'read', value: 90, flags: 0 }, 'flakey 7:0 0 0 1 5 corrupt_bio_byte 7 r 90 0', 'flakey 7:0 0 0 1 5 corrupt_bio_byte 7 r 90 0'],
  [{ kind: 'corrupt', byte: 1, direction: 'write', value: 0, flags: 0 }, 'flakey 7:0 0 0 1 5 corrupt_bio_byte 1 w 0 0', 'flakey 7:0 0 0 1 5 corrupt_bio_byte 1 w 0 0'],
  [{ kind: 'delay', readMs: 20, writeMs: 50 }, 'delay 7:0 0 20 7:0 0 50', 'delay 7:0 0 20 7:0 0 50'],
  [{ kind: 'intervals', upSeconds: 3, downSeconds: 2, down: { kind: 'fail-all' } }, 'flakey 7:0 0 3 2 0', 'flakey 7:0 0 3 2 2 error_reads error_writes'],
  [{ kind: 'intervals', upSeconds: 1, downSeconds: 1, down: { kind: 'drop-writes' } }, 'flakey 7:0 0 1 1 1 drop_writes', 'flakey 7:0 0 1 1 1 drop_writes'],
];

describe('FaultyDevice', () => {
  test('create: a linear passthrough with uuid FAULTY-<name>; mode() reads it back', async () => {
    const { dm, dev } = await setup();
    expect(dev.uuid).toBe('FAULTY-fd');
    expect((await dm.table('fd')).targets).toEqual([{ start: 0n, length: 65536n, type: 'linear', params: '7:0 0' }]);
    expect(await dev.mode()).toEqual({ kind: 'passthrough' });
  });

  for (const version of [[4, 47, 0], [4, 48, 0]] as [number, number, number][]) {
    test.each(MODES.map(([m, t47, t48]) => [m.kind === 'intervals' ? `intervals/${m.down.kind}` : m.kind, m, version[1] === 47 ? t47 : t48] as const))(
      `dm ${version.join('.')}: %s → its table, read back as the same mode`, async (_k, mode, text) => {
        const { dm, dev } = await setup(version);
        expect(await dev.setMode(mode)).toEqual(mode);
        const [line] = (await dm.table('fd')).targets;
        expect(`${line!.type} ${line!.params}`).toBe(text);
        expect(await dev.mode()).toEqual(mode);
        expect(await dev.restore()).toEqual({ kind: 'passthrough' });
        expect((await dm.info('fd')).exists && !(await dm.info('fd') as { flags: { suspended: boolean } }).flags.suspended).toBe(true);
      });
  }

  test('the convenience methods give their modes', async () => {
    const { dev } = await setup();
    expect(await dev.failWrites()).toEqual({ kind: 'fail-writes' });
    expect(await dev.dropWrites()).toEqual({ kind: 'drop-writes' });
    expect(await dev.failAll()).toEqual({ kind: 'fail-all' });
    expect(await dev.delay({ readMs: 5 })).toEqual({ kind: 'delay', readMs: 5, writeMs: 5 });
    expect(await dev.corrupt({ byte: 3, direction: 'read', value: 1 })).toEqual({ kind: 'corrupt', byte: 3, direction: 'read', value: 1, flags: 0 });
    expect(await dev.intervals({ upSeconds: 2, downSeconds: 1 })).toEqual({ kind: 'intervals', upSeconds: 2, downSeconds: 1, down: { kind: 'fail-all' } });
  });

  test('a switch is load → suspend(noflush, no freeze) → resume, each by uuid', async () => {
    const { dm, dev } = await setup();
    const order: string[] = [];
    for (const m of ['load', 'suspend', 'resume'] as const) {
      const orig = dm[m].bind(dm) as (...a: unknown[]) => Promise<unknown>;
      jest.spyOn(dm, m).mockImplementation(((...a: unknown[]) => {
        order.push(`${m} ${JSON.stringify(a[0])}${m === 'load' ? '' : ` ${JSON.stringify(a[1])}`}`);
        return orig(...a);
      }) as never);
    }
    await dev.dropWrites();
    expect(order).toEqual([
      'load {"uuid":"FAULTY-fd"}',
      'suspend {"uuid":"FAULTY-fd"} {"noflush":true,"skipLockfs":true}',
      'resume {"uuid":"FAULTY-fd"} {"noflush":true,"skipLockfs":true}',
    ]);
  });

  test('kernels before 4.12 have no noflush: the switch suspends without it (still without a freeze)', async () => {
    const { dm, dev } = await setup([4, 11, 0]);
    const seen: unknown[] = [];
    const orig = dm.suspend.bind(dm);
    jest.spyOn(dm, 'suspend').mockImplementation((d, o) => { seen.push(o); return orig(d, o); });
    expect(await dev.failWrites()).toEqual({ kind: 'fail-writes' });
    expect(seen).toEqual([{ noflush: false, skipLockfs: true }]);
  });

  test('a failing suspend drops the loaded table and resumes with the old behaviour', async () => {
    const { kernel, dm, dev } = await setup();
    await dev.failWrites();
    jest.spyOn(dm, 'suspend').mockRejectedValueOnce(new Error('boom'));
    await expect(dev.dropWrites()).rejects.toThrow('boom');
    expect(await dev.mode()).toEqual({ kind: 'fail-writes' });
    const d = kernel.devices.get('fd')!;
    expect(d.inactive).toBeUndefined();
    expect(d.suspended).toBe(false);
  });

  test('a suspend over the bound is TIMEOUT; the table is dropped and the device resumed when it completes', async () => {
    const kernel = new SimulatedKernel();
    kernel.addBlockDevice('/dev/loop0', 7, 0, 65536);
    dm = await DeviceMapper.open({ backend: kernel.backend() });
    // The bound is far above what a simulated load takes even on a loaded 2-core CI machine,
    // so only the held suspend can cross it (a bound a tenth of this once made the load itself time out).
    const dev = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/loop0', sizeSectors: 65536, timeoutMs: 400 });
    const orig = dm.suspend.bind(dm);
    let finish!: () => void;
    jest.spyOn(dm, 'suspend').mockImplementation(async (d, o) => { await new Promise<void>((r) => { finish = r; }); return orig(d, o); });
    await expect(dev.failAll()).rejects.toMatchObject({ code: 'TIMEOUT' });
    finish();
    // The undo runs when the late suspend completes: poll by time (bounded), not by a count of turns.
    for (let i = 0; i < 1000 && (kernel.devices.get('fd')!.suspended || kernel.devices.get('fd')!.inactive); i++) await new Promise((r) => setTimeout(r, 5));
    expect(kernel.devices.get('fd')!.suspended).toBe(false);
    expect(await dev.mode()).toEqual({ kind: 'passthrough' });
  });

  test('bad modes are refused before any ioctl', async () => {
    const { kernel, dev } = await setup();
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    const bad: unknown[] = [
      { kind: 'nope' }, undefined, { kind: 'corrupt', byte: 0, direction: 'read', value: 1 }, { kind: 'corrupt', byte: 1, direction: 'up', value: 1 },
      { kind: 'corrupt', byte: 1, direction: 'read', value: 256 }, { kind: 'delay', readMs: -1, writeMs: 0 }, { kind: 'delay', readMs: 1.5, writeMs: 0 },
      { kind: 'intervals', upSeconds: 0, downSeconds: 1, down: { kind: 'fail-all' } }, { kind: 'intervals', upSeconds: 1, downSeconds: 1, down: { kind: 'delay' } },
    ];
    for (const m of bad) {
      const e = await dev.setMode(m as FaultMode).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(DmOperationError);
      expect((e as DmOperationError).code).toBe('INVALID_INPUT');
    }
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });

  test('mode() of a table FaultyDevice did not make is WRONG_TARGET; a replaced device is DmIdentityError (DEVICE_REPLACED), the package\'s one identity error', async () => {
    const { dm, dev } = await setup();
    await dm.load('fd', [{ start: 0, length: 65536, type: 'zero', params: '' }]);
    await dm.resume('fd');
    await expect(dev.mode()).rejects.toMatchObject({ code: 'WRONG_TARGET' });
    await dm.remove('fd');
    await dm.createDevice({ name: 'other', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await dm.createDevice({ name: 'fd', uuid: 'FAULTY-fd', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await expect(dev.mode()).rejects.toMatchObject({ name: 'DmIdentityError', code: 'DEVICE_REPLACED', step: 'table', acted: false });
    // setMode's first look (the info it reads to see whether someone holds the device suspended) meets the stranger: nothing is loaded.
    await expect(dev.failAll()).rejects.toMatchObject({ name: 'DmIdentityError', code: 'DEVICE_REPLACED', step: 'info', acted: false });
    expect((await dm.info('fd') as { flags: { inactivePresent: boolean } }).flags.inactivePresent).toBe(false); // the stray load was cleared
  });
});
