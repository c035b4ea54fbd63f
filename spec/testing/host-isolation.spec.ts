// The simulator never touches the host (docs/conventions.md): every public API that could
// reach files, loop devices, block devices or device nodes runs here against the simulated
// backend inside a guard (./host-guard.ts) that refuses and records any host file written or
// created and any call into ffi/block.ts, ffi/libc.ts or ffi/control.ts. Nothing is given
// besides the simulated client: no io, no sizes, no node operations.
import { withHostGuard } from './host-guard.js'; // first: it mocks fs and ffi/ for everything loaded after it
import { describe, expect, test } from '@jest/globals';
import {
  addNode, attachLoop, blockDeviceBytes, blockDeviceSectors, detachLoop, DeviceMapper, discardBlocks, FaultyDevice, loopInfo, refreshLoopCapacity,
  removeNode, renameNode, syncNodes, ThinPool, waitForNode, inspect, openVerity,
} from '../../lib/index.js';
import { formatVerity, readVeritySuperblock, verifyVerity } from '../../lib/index.js';
import { killAfterIoctls, SimulatedKernel, simBlockIo, thinSim } from '../../testing/index.js';
import { run } from '../../cli/index.js';

const MiB = 1n << 20n;

async function onSimulator(scenario: (dm: DeviceMapper, kernel: SimulatedKernel) => Promise<void>): Promise<string[]> {
  const kernel = new SimulatedKernel();
  return withHostGuard(async () => {
    await using dm = await DeviceMapper.open({ backend: kernel.backend() });
    await scenario(dm, kernel);
  });
}

describe('the public API on the simulator reaches nothing on the host', () => {
  test('inspect(): list, info, deps and tree read the simulator\'s sysfs, not /sys', async () => {
    const kernel = new SimulatedKernel();
    kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
    const setup = await DeviceMapper.open({ backend: kernel.backend() });
    await setup.createDevice({ name: 'a', uuid: 'U-A', table: [{ start: 0, length: 8, type: 'linear', params: '/dev/loop0 0' }] });
    setup.close();
    const breaches = await withHostGuard(async () => {
      const ins = inspect({ backend: kernel.backend() });
      expect((await ins.list()).map((d) => d.name)).toEqual(['a']);
      expect(await ins.info('a')).toMatchObject({ exists: true, uuid: 'U-A' });
      expect(await ins.deps('a')).toEqual([expect.objectContaining({ major: 7, minor: 0 })]);
      expect((await ins.tree()).roots.map((n) => n.name)).toEqual(['a']);
    });
    expect(breaches).toEqual([]);
    // The guard sees a host sysfs read: the same calls through a backend without a reader of its own.
    const { sysfs: _own, ...bare } = kernel.backend();
    const leaked = await withHostGuard(async () => { await inspect({ backend: bare }).list().catch(() => {}); });
    expect(leaked).toEqual(['fs.promises.readdir(/sys/block)']);
  });

  test('ThinPool: create over files (no io option), open, activate, snapshot, delete with discard, resize, metadata snap, dispose', async () => {
    const progress: string[] = [];
    const breaches = await onSimulator(async (dm, kernel) => {
      const io = simBlockIo(kernel);
      {
        await using pool = await ThinPool.create(dm, {
          name: 'images', data: { file: 'data.img', sizeBytes: 1n << 30n }, metadata: { file: 'meta.img', sizeBytes: 64n * MiB }, lowWaterMarkBlocks: 16,
        });
        expect([...io.loops.keys()]).toEqual(['/dev/loop0', '/dev/loop1']);
        const opened = await ThinPool.open(dm, 'images');
        await pool.createThin(1);
        const base = await pool.activate(1, { name: 'base', sizeSectors: 1n << 21n });
        thinSim(kernel).write('base', 0, 128 * 4);
        await pool.snapshot(2, 1);
        await pool.createThin(3);
        await pool.activate(3, { name: 'scratch', sizeSectors: 8192 });
        thinSim(kernel).write('scratch', 0, 128 * 2);
        await pool.deactivate('scratch');
        await pool.delete(3, { discard: true, onProgress: (p) => progress.push(p.step) });
        expect(io.calls.filter((c) => c.startsWith('discard'))).toHaveLength(1);
        const grown = await pool.resize({ dataBytes: 2n << 30n });
        expect(grown.totalDataBlocks * grown.blockSizeBytes).toBe(2n << 30n);
        await pool.reserveMetadataSnap();
        await pool.releaseMetadataSnap();
        expect(await opened.transactionId()).toBe(0n);
        await opened[Symbol.asyncDispose](); // owns nothing: the pool stays
        expect(kernel.devices.has('images')).toBe(true);
        expect(base.sizeSectors).toBe(1n << 21n);
      }
      // Disposed: the thin it activated, the pool and its loop devices are gone; the files stay.
      expect([...kernel.devices.keys()]).toEqual([]);
      expect(io.loops.size).toBe(0);
      expect([...io.files.keys()]).toEqual(['/meta.img', '/data.img']);
    });
    expect(breaches).toEqual([]);
    expect(progress).toEqual(['activated images-discard-3', 'discarded thin 3', 'removed images-discard-3', 'deleted thin 3']);
  });

  test('ThinPool.create that fails leaves no file and no loop device behind, on the simulator', async () => {
    const breaches = await onSimulator(async (dm, kernel) => {
      await dm.createDevice({ name: 'taken', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
      await expect(ThinPool.create(dm, { name: 'taken', data: { file: '/d', sizeBytes: 64n * MiB }, metadata: { file: '/m', sizeBytes: 4n * MiB } }))
        .rejects.toMatchObject({ code: 'EBUSY' });
      expect(simBlockIo(kernel).files.size).toBe(0);
      expect(simBlockIo(kernel).loops.size).toBe(0);
    });
    expect(breaches).toEqual([]);
  });

  test('FaultyDevice: create without a size (the backend sizes the device), setMode, remove, dispose', async () => {
    const breaches = await onSimulator(async (dm, kernel) => {
      kernel.addBlockDevice('/dev/vdb', 252, 16, 1n << 21n);
      {
        await using disk = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/vdb' });
        expect(disk.sizeSectors).toBe(1n << 21n);
        expect((await disk.failWrites()).kind).toBe('fail-writes');
        expect((await disk.restore({ timeoutMs: 1000 })).kind).toBe('passthrough');
      }
      expect(kernel.devices.size).toBe(0);
      const again = await FaultyDevice.create(dm, { name: 'fd2', device: '252:16', offsetSectors: 8 });
      expect(again.sizeSectors).toBe((1n << 21n) - 8n);
      await again.remove();
      await again[Symbol.asyncDispose](); // already gone: not an error
    });
    expect(breaches).toEqual([]);
  });

  test('loop devices, sizes and discard through { dm }', async () => {
    const breaches = await onSimulator(async (dm, kernel) => {
      const io = simBlockIo(kernel);
      await io.ensureFile('/img/disk', 64n * MiB);
      {
        await using loop = await attachLoop('/img/disk', { dm, offsetBytes: 1n * MiB });
        expect(loop.sizeSectors).toBe(63n * 2048n);
        expect(await blockDeviceBytes(loop.path, { dm })).toBe(63n * MiB);
        expect(await blockDeviceSectors(loop.path, { dm })).toBe(63n * 2048n);
        expect(await loopInfo(loop, { dm })).toMatchObject({ offsetBytes: 1n * MiB, fileName: '/img/disk' });
        await io.ensureFile('/img/disk', 128n * MiB);
        expect(await refreshLoopCapacity(loop, { dm })).toBe(127n * 2048n);
        expect(await discardBlocks(loop.path, { dm, offsetSectors: 8, lengthSectors: 8 })).toEqual({ discardedSectors: 8n });
      }
      expect(await loopInfo('/dev/loop0', { dm })).toBeUndefined();
      const second = await attachLoop('/img/disk', { dm, readOnly: true });
      await detachLoop(second, { dm });
      await detachLoop(second, { dm }); // nothing attached: not an error
    });
    expect(breaches).toEqual([]);
  });

  test('node functions and createDevice/removeDevice with { dm }: the simulator\'s /dev', async () => {
    const breaches = await onSimulator(async (dm, kernel) => {
      const info = await dm.createDevice({ name: 'lin', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
      expect((await addNode('lin', info.dev, { dm, udev: false })).action).toBe('created');
      expect(await waitForNode('lin', info.dev, { dm, timeoutMs: 10 })).toBe(true);
      expect((await renameNode('lin', 'lin2', info.dev, { dm, udev: false })).action).toBe('renamed');
      expect((await removeNode('lin2', { dm, udev: false })).action).toBe('removed');
      expect((await syncNodes(dm, { udev: false })).map((r) => r.action)).toEqual(['created']);
      expect([...simBlockIo(kernel).nodeMap.keys()]).toEqual(['/dev/mapper/lin']);
      await dm.removeDevice('lin');
    });
    expect(breaches).toEqual([]);
  });

  test('dmctl verbs on the simulator (mknodes through the client\'s backend)', async () => {
    const kernel = new SimulatedKernel();
    const out: string[] = [];
    const dmctl = (argv: string[]) => run(argv, {
      stdout: (t) => { out.push(t); }, stderr: (t) => { out.push(t); }, readStdin: async () => '', stdinIsTTY: true, env: { DM_DISABLE_UDEV: '1' },
      open: () => DeviceMapper.open({ backend: kernel.backend() }), sysfs: '/nonexistent-sysfs', nodes: { udev: false },
    });
    const codes: number[] = [];
    const breaches = await withHostGuard(async () => {
      codes.push(await dmctl(['create', 'a', '--table', '0 8 zero']));
      codes.push(await dmctl(['info', 'a']));
      codes.push(await dmctl(['mknodes']));
      codes.push(await dmctl(['rename', 'a', 'b']));
      codes.push(await dmctl(['remove', 'b']));
    });
    expect({ codes, out: codes.some((c) => c !== 0) ? out : [] }).toEqual({ codes: [0, 0, 0, 0, 0], out: [] });
    expect(breaches).toEqual([]);
  });

  test('intent records and recovery (a killed snapshot, dm.recover(), dmctl recover) stay in the simulator\'s memory', async () => {
    const kernel = new SimulatedKernel();
    const breaches = await withHostGuard(async () => {
      await using dm = await DeviceMapper.open({ backend: kernel.backend(), stateDir: '/run/should-not-exist' });
      const pool = await ThinPool.create(dm, { name: 'p', data: { file: 'd.img', sizeBytes: 64n * MiB }, metadata: { file: 'm.img', sizeBytes: 4n * MiB } });
      await pool.createThin(1);
      await pool.activate(1, { name: 'base', sizeSectors: 8192 });
      const victim = kernel.processes.spawn();
      await using dv = await DeviceMapper.open({ backend: kernel.backend({ label: 'v', process: victim }), stateDir: '/run/should-not-exist' });
      const pv = await ThinPool.open(dv, 'p');
      killAfterIoctls(kernel, victim, 'v', 4); // right after the origin's suspend
      await pv.snapshot(2, 1).catch(() => {});
      expect(kernel.processes.records('/run/should-not-exist').size).toBe(1);
      expect((await dm.recover()).operations).toMatchObject([{ outcome: 'recovered' }]);
      expect(kernel.devices.get('base')!.suspended).toBe(false);
      expect(await run(['recover'], {
        stdout: () => {}, stderr: () => {}, readStdin: async () => '', stdinIsTTY: true, env: {},
        open: () => DeviceMapper.open({ backend: kernel.backend() }), sysfs: '/nonexistent-sysfs', nodes: { udev: false },
      })).toBe(0);
    });
    expect(breaches).toEqual([]);
  });

  test('verity format, verify and dump with { dm }: the simulator\'s files and loop devices, the hashing threads included', async () => {
    const breaches = await onSimulator(async (dm, kernel) => {
      const io = simBlockIo(kernel);
      const f = await io.openFile('/img/data', 'create');
      await f.write(0, new Uint8Array(6 << 20).fill(3));
      await f.close();
      const loop = await attachLoop('/img/data', { dm });
      const r = await formatVerity(loop.path, '/img/hash', { dm, salt: '-' });
      expect(r.dataBlocks).toBe(1536n);
      await expect(verifyVerity('/img/data', '/img/hash', r.rootHashHex, { dm })).resolves.toMatchObject({ rootHashHex: r.rootHashHex });
      await expect(readVeritySuperblock('/img/hash', { dm })).resolves.toMatchObject({ dataBlocks: 1536n });
      // A host path the simulator does not have is not there, even where the host has it.
      await expect(readVeritySuperblock('/etc/hostname', { dm })).rejects.toMatchObject({ code: 'ENOENT' });
      // openVerity without params reads the superblock through the same backend.
      const hashLoop = await attachLoop('/img/hash', { dm });
      await using v = await openVerity(dm, { name: 'vsb', dataDevice: loop.path, hashDevice: hashLoop.path, rootHash: Uint8Array.from(Buffer.from(r.rootHashHex, 'hex')) });
      expect(v.uuid).toBe(`CRYPT-VERITY-${r.uuid!.replaceAll('-', '')}-vsb`);
    });
    expect(breaches).toEqual([]);
  });

  test('openVerity with a root hash signature: the key goes to the simulator\'s keyring, never the host\'s (no libc call)', async () => {
    const breaches = await onSimulator(async (dm, kernel) => {
      kernel.addBlockDevice('/dev/vdd', 254, 48, 2048);
      kernel.addBlockDevice('/dev/vde', 254, 64, 64);
      await using v = await openVerity(dm, {
        name: 'v', dataDevice: '/dev/vdd', hashDevice: '/dev/vde', rootHash: new Uint8Array(32).fill(1), signature: new Uint8Array([1, 2, 3]),
        params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 256, hashStartBlocks: 1, salt: new Uint8Array(0) },
      });
      expect(v.name).toBe('v');
      expect(kernel.keyring.history.map((h) => h.call)).toEqual(['add_key', 'unlink']);
    });
    expect(breaches).toEqual([]);
  });
});
