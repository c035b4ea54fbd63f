// The public attachLoop({ autoclear }) on the simulator, whose loops are detached at their
// last close as the kernel's are. The attach keeps its fd until release(): closed at once it
// would be the last close and the device would be gone before a table could hold it (the
// bug openVerity had live on 6.1: two files, one /dev/loopN).
import { describe, expect, test } from '@jest/globals';
import { attachLoop, DeviceMapper, loopInfo } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';

async function rig() {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  const io = simBlockIo(kernel);
  await io.ensureFile('/img/a', 1024n * 1024n);
  await io.ensureFile('/img/b', 1024n * 1024n);
  return { dm, io };
}

describe('attachLoop with autoclear', () => {
  test('two autoclear attaches get two loops, each still attached when attachLoop returns', async () => {
    const { dm, io } = await rig();
    const a = await attachLoop('/img/a', { dm, autoclear: true });
    const b = await attachLoop('/img/b', { dm, autoclear: true });
    expect(a.path).not.toBe(b.path);
    expect(await loopInfo(a, { dm })).toBeDefined();
    expect(await loopInfo(b, { dm })).toBeDefined();
    await a.release();
    await b.release();
    expect(io.loops.size).toBe(0); // released with nothing else holding them: detached
    dm.close();
  });

  test('released once a table holds it, it lives as long as the table and is detached with it', async () => {
    const { dm, io } = await rig();
    const a = await attachLoop('/img/a', { dm, autoclear: true });
    await dm.createDevice({ name: 'lin', table: [{ start: 0n, length: 8n, type: 'linear', params: `${a.path} 0` }] });
    await a.release();
    await a.release(); // twice: nothing
    expect(await loopInfo(a, { dm })).toBeDefined();
    await dm.removeDevice('lin');
    expect(await loopInfo(a, { dm })).toBeUndefined();
    expect(io.loops.size).toBe(0);
    dm.close();
  });

  test('await using releases and detaches it; a loop without autoclear has nothing to release', async () => {
    const { dm, io } = await rig();
    {
      await using a = await attachLoop('/img/a', { dm, autoclear: true });
      expect(io.loops.has(a.path)).toBe(true);
    }
    expect(io.loops.size).toBe(0);
    const plain = await attachLoop('/img/b', { dm });
    await plain.release();
    expect(io.loops.has(plain.path)).toBe(true);
    await plain[Symbol.asyncDispose]();
    expect(io.loops.size).toBe(0);
    dm.close();
  });
});

describe('attachLoop with autoclear: disposal after the kernel detached it', () => {
  // Review finding: disposal released the fd and then detached by path. Once the loop was
  // released and its holder (a table) let go, the kernel had detached it and the number was
  // free: another attach got /dev/loopN, and disposing the first handle detached that one.
  test('disposing a released autoclear loop whose number was reused leaves the new owner attached', async () => {
    const { dm, io } = await rig();
    const a = await attachLoop('/img/a', { dm, autoclear: true });
    await dm.createDevice({ name: 'lin', table: [{ start: 0n, length: 8n, type: 'linear', params: `${a.path} 0` }] });
    await a.release();
    await dm.removeDevice('lin'); // the table's hold was the last: the kernel detaches it
    expect(io.loops.has(a.path)).toBe(false);
    const stranger = await attachLoop('/img/b', { dm }); // another owner, same free number
    expect(stranger.path).toBe(a.path);
    await a[Symbol.asyncDispose]();
    expect(io.loops.get(stranger.path)?.file).toBe('/img/b');
    await stranger[Symbol.asyncDispose]();
    dm.close();
  });

  test('disposing an autoclear loop a table holds leaves it attached until the table goes (no detach by path)', async () => {
    const { dm, io } = await rig();
    const a = await attachLoop('/img/a', { dm, autoclear: true });
    await dm.createDevice({ name: 'lin', table: [{ start: 0n, length: 8n, type: 'linear', params: `${a.path} 0` }] });
    await a[Symbol.asyncDispose]();
    expect(io.loops.has(a.path)).toBe(true);
    expect(io.calls.filter((c) => c.startsWith('detach '))).toEqual([]);
    await dm.removeDevice('lin');
    expect(io.loops.size).toBe(0);
    dm.close();
  });
});
