// DM_TABLE_DEPS order in the simulator is the kernel's: dm_get_device() adds a device the
// table does not hold yet at the head of the table's device list (list_add) and
// retrieve_deps() walks it from the head, so the reply is newest first (docs/kernel-facts.md).
// Measured on 6.1 and 6.12 by spec/live/device-tree.live.spec.ts: a thin-pool lists data,
// then meta. Each target's constructor order (not its parameter order) decides.
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel, tableDeviceOrder } from '../../testing/index.js';

let kernel: SimulatedKernel;
let dm: DeviceMapper;
const line = (start: number, length: number, type: string, params: string) => ({ start, length, type, params });

beforeEach(async () => {
  kernel = new SimulatedKernel();
  for (let i = 0; i < 4; i++) kernel.addBlockDevice(`/dev/loop${i}`, 7, i, 1 << 20);
  dm = await DeviceMapper.open({ backend: kernel.backend() });
});
afterEach(() => dm.close());

const deps = async (name: string) => (await dm.deps(name)).map((d) => `${d.major}:${d.minor}`);
const devOf = (name: string) => `${kernel.major}:${kernel.devices.get(name)!.minor}`;

test('tableDeviceOrder: newest first, a repeated device keeps the place of its first opening', () => {
  expect(tableDeviceOrder(['a', 'b', 'c'])).toEqual(['c', 'b', 'a']);
  expect(tableDeviceOrder(['a', 'b', 'a', 'c', 'b'])).toEqual(['c', 'b', 'a']);
  expect(tableDeviceOrder([{ k: 1 }, { k: 2 }, { k: 1 }], (x) => x.k)).toEqual([{ k: 2 }, { k: 1 }]);
  expect(tableDeviceOrder([])).toEqual([]);
});

test('DM_TABLE_DEPS lists a table\'s devices newest first, in each constructor\'s opening order', async () => {
  // thin-pool: pool_ctr() opens the metadata device, then the data device → data, meta.
  await dm.createDevice({ name: 'meta', table: [line(0, 2048, 'linear', '/dev/loop0 0')] });
  await dm.createDevice({ name: 'data', table: [line(0, 8192, 'linear', '/dev/loop1 0')] });
  await dm.createDevice({ name: 'pool', table: [line(0, 8192, 'thin-pool', '/dev/mapper/meta /dev/mapper/data 128 0')] });
  expect(await deps('pool')).toEqual([devOf('data'), devOf('meta')]);
  // thin with an external origin: thin_ctr() opens the origin before the pool → pool, origin.
  await dm.message('pool', 0, 'create_thin 1');
  await dm.createDevice({ name: 'thin', table: [line(0, 2048, 'thin', '/dev/mapper/pool 1 /dev/loop2')] });
  expect(await deps('thin')).toEqual([devOf('pool'), '7:2']);
  // Several targets: table order; a device used twice keeps the place of its first use.
  await dm.createDevice({ name: 'multi', table: [line(0, 100, 'linear', '/dev/loop0 4096'), line(100, 100, 'linear', '/dev/loop3 0'), line(200, 100, 'linear', '/dev/loop0 8192')] });
  expect(await deps('multi')).toEqual(['7:3', '7:0']);
  // mirror with a disk log: mirror_ctr() creates the log (opening its device) before the legs.
  await dm.createDevice({ name: 'mlog', table: [line(0, 8, 'linear', '/dev/loop3 100')] });
  await dm.createDevice({ name: 'mir', table: [line(0, 1024, 'mirror', `disk 2 ${devOf('mlog')} 1024 2 /dev/loop1 65536 /dev/loop2 0`)] });
  expect(await deps('mir')).toEqual(['7:2', '7:1', devOf('mlog')]);
});
