// OpenOptions.skipOpenCount (dmsetup --noopencount, libdm's dm_task_no_open_count): the request
// of every command but DM_VERSION carries DM_SKIP_BDGET_FLAG, on the sync and the async path,
// and the reply still has the open count (the kernels of the matrix fill it whatever the flag:
// spec/live/verbs-more.live.spec.ts). Without the option no request carries it.
import { afterEach, expect, test } from '@jest/globals';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { DM_SKIP_BDGET_FLAG } from '../../codec/index.js';
import { DeviceMapper, IOCTL_CHANNEL, type IoctlTraceMessage } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const seen: { command: string; skip: boolean }[] = [];
const on = (m: unknown) => {
  const t = m as IoctlTraceMessage;
  seen.push({ command: t.command, skip: (t.flags & DM_SKIP_BDGET_FLAG) !== 0 });
};
afterEach(() => { unsubscribe(IOCTL_CHANNEL, on); seen.length = 0; });

for (const blocking of [true, false]) {
  test(`skipOpenCount (${blocking ? 'sync' : 'async'} path): every request but version carries DM_SKIP_BDGET_FLAG; the open count is still read`, async () => {
    const kernel = new SimulatedKernel();
    subscribe(IOCTL_CHANNEL, on);
    const dm = await DeviceMapper.open({ backend: kernel.backend(), blocking, skipOpenCount: true });
    await dm.create({ name: 'a' });
    await dm.load('a', [{ start: 0, length: 8, type: 'zero', params: '' }]);
    await dm.resume('a');
    kernel.openDevice('a');
    const info = await dm.info('a');
    await dm.version();
    dm.close();
    expect(info.exists && info.openCount).toBe(1);
    expect(seen.filter((s) => s.command === 'version').map((s) => s.skip)).toEqual([false, false]);
    const others = seen.filter((s) => s.command !== 'version');
    expect(others.map((s) => s.command)).toEqual(expect.arrayContaining(['create', 'load', 'suspend', 'info']));
    expect(others.every((s) => s.skip)).toBe(true);
  });
}

test('without skipOpenCount no request carries DM_SKIP_BDGET_FLAG', async () => {
  const kernel = new SimulatedKernel();
  subscribe(IOCTL_CHANNEL, on);
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.create({ name: 'a' });
  await dm.info('a');
  dm.close();
  expect(seen.length).toBeGreaterThanOrEqual(3);
  expect(seen.some((s) => s.skip)).toBe(false);
});
