/**
 * The simulator's fault API (testing/faults.ts), used as a user testing error paths would.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmError } from '../../lib/index.js';
import { SimulatedKernel, simFaults, thinSim, type SimFaults } from '../../testing/index.js';

let kernel: SimulatedKernel;
let dm: DeviceMapper;
let faults: SimFaults;

beforeEach(async () => {
  kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  kernel.addBlockDevice('/dev/loop1', 7, 1, 1 << 20);
  dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'app' }) });
  faults = simFaults(kernel);
  await dm.createDevice({ name: 'vol', table: [{ start: 0n, length: 8n, type: 'zero', params: '' }] });
});
afterEach(() => { faults.clear(); dm.close(); });

describe('failNext', () => {
  test('the next call of the command fails with the errno, once; the kernel never saw it', async () => {
    faults.failNext('suspend', 'EIO');
    const before = kernel.calls.get('suspend') ?? 0;
    const e = await dm.suspend('vol').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmError);
    expect((e as DmError).code).toBe('EIO');
    expect(kernel.calls.get('suspend') ?? 0).toBe(before);
    expect((await dm.info('vol')).exists && (await dm.info('vol'))).toMatchObject({ flags: { suspended: false } });
    await dm.suspend('vol'); // once only
  });

  test('matches by device and by client label; times; cancel', async () => {
    await dm.createDevice({ name: 'other', table: [{ start: 0n, length: 8n, type: 'zero', params: '' }] });
    faults.failNext('info', 'ENOMEM', { device: 'other', times: 2 });
    expect((await dm.info('vol')).exists).toBe(true);
    await expect(dm.info('other')).rejects.toMatchObject({ code: 'ENOMEM' });
    await expect(dm.info('other')).rejects.toMatchObject({ code: 'ENOMEM' });
    expect((await dm.info('other')).exists).toBe(true);
    const cancel = faults.failNext('info', 'EIO', { label: 'someone-else' });
    expect((await dm.info('vol')).exists).toBe(true);
    cancel();
    const sync = faults.failNext('info', 'EIO');
    expect(() => dm.infoSync('vol')).toThrow(expect.objectContaining({ code: 'EIO' }));
    sync();
  });

  test('an error path: createDevice rolls back when its resume fails', async () => {
    faults.failNext('suspend', 'EIO', { device: 'new' }); // DM_DEV_SUSPEND carries the resume
    await expect(dm.createDevice({ name: 'new', table: [{ start: 0n, length: 8n, type: 'zero', params: '' }] })).rejects.toMatchObject({ code: 'EIO' });
    expect((await dm.info('new')).exists).toBe(false);
  });

  test('unknown errno names and bad delays are refused', () => {
    expect(() => faults.failNext('info', 'ENOPE' as never)).toThrow(TypeError);
    expect(() => faults.delay('info', -1)).toThrow(RangeError);
    expect(() => faults.failNext('info', 'EIO', { times: 0 })).toThrow(RangeError);
  });
});

describe('delay', () => {
  test('holds the next call: another client acts first', async () => {
    const other = await DeviceMapper.open({ backend: kernel.backend() });
    faults.delay('remove', 300, { label: 'app' });
    const removing = dm.remove('vol');
    await other.rename('vol', { newName: 'moved' }); // lands while the remove is held
    await expect(removing).rejects.toMatchObject({ code: 'ENXIO' });
    other.close();
  });
});

describe('holdOpen', () => {
  test('remove fails EBUSY while held; works after release (also after a rename)', async () => {
    const release = faults.holdOpen('vol');
    await expect(dm.remove('vol')).rejects.toMatchObject({ code: 'EBUSY' });
    await dm.rename('vol', { newName: 'vol2' });
    release();
    await dm.remove('vol2');
    expect(() => faults.holdOpen('nope')).toThrow(/no simulated device/);
  });
});

describe('raiseEvent', () => {
  test('wakes a waiter', async () => {
    const { eventNr } = (await dm.info('vol')) as { eventNr: number };
    const waiting = dm.wait('vol', { eventNr });
    faults.raiseEvent('vol');
    await expect(waiting).resolves.toBeDefined();
    expect((await dm.info('vol')) as { eventNr: number }).toMatchObject({ eventNr: eventNr + 1 });
  });
});

describe('lowWater and thin-pool messages', () => {
  test('create_thin/create_snap/delete create and drop thins in the pool model', async () => {
    await dm.createDevice({ name: 'pool', table: [{ start: 0n, length: 1n << 16n, type: 'thin-pool', params: '/dev/loop0 /dev/loop1 128 16' }] });
    const pool = thinSim(kernel).pool('pool');
    await dm.message('pool', 0n, 'create_thin 1');
    await dm.message('pool', 0n, 'create_snap 2 1');
    expect([...pool.thins.keys()].sort()).toEqual([1, 2]);
    await dm.message('pool', 0n, 'delete 1');
    expect([...pool.thins.keys()]).toEqual([2]);
    await expect(dm.createDevice({ name: 't1', table: [{ start: 0n, length: 8n, type: 'thin', params: '/dev/mapper/pool 1' }] })).rejects.toMatchObject({ code: 'ENODATA' });
  });

  test('lowWater: the pool crosses its mark (one table event, status shows it), release frees the blocks', async () => {
    await dm.createDevice({ name: 'pool', table: [{ start: 0n, length: 1n << 16n, type: 'thin-pool', params: '/dev/loop0 /dev/loop1 128 16' }] });
    const before = (await dm.info('pool')) as { eventNr: number };
    const release = faults.lowWater('pool');
    const after = (await dm.info('pool')) as { eventNr: number };
    expect(after.eventNr).toBe(before.eventNr + 1);
    const status = (await dm.status('pool')).targets[0]!.params.split(' ');
    const [used, total] = status[2]!.split('/').map(Number) as [number, number];
    expect(total - used).toBe(16);
    release();
    expect((await dm.status('pool')).targets[0]!.params.split(' ')[2]).toBe('0/512');
  });
});
