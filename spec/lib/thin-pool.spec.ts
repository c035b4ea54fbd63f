// ThinPool on the simulated kernel (thin-sim.ts): the containerd devmapper snapshotter's
// operations, their order (suspend → create_snap → resume), errors with the kernel's errno,
// uuids and identity checks, and pool conditions as events.
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmError, DmOperationError, ThinPool, type PoolCondition } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo, thinSim } from '../../testing/index.js';
import type { SimBlockIo } from "../../testing/sim-io.js";

const MiB = 1024n * 1024n;
let kernel: SimulatedKernel;
let dm: DeviceMapper;
let io: SimBlockIo;

beforeEach(async () => {
  kernel = new SimulatedKernel();
  dm = await DeviceMapper.open({ backend: kernel.backend() });
  io = simBlockIo(kernel);
});
afterEach(() => dm.close());

async function pool(extra: Record<string, unknown> = {}): Promise<ThinPool> {
  return ThinPool.create(dm, {
    name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB },
    skipBlockZeroing: true, lowWaterMarkBlocks: 16, ...extra,
  });
}

function suspended(name: string): boolean { return kernel.devices.get(name)!.suspended; }

describe('ThinPool: create and open', () => {
  test('over files: loop devices attached, uuid THINPOOL-<name>, table in whole blocks, typed status', async () => {
    const p = await pool();
    expect(io.calls.slice(0, 4)).toEqual(['ensure /img/meta 4194304', 'attach /img/meta /dev/loop0', 'ensure /img/data 67108864', 'attach /img/data /dev/loop1']);
    expect(p.uuid).toBe('THINPOOL-pool');
    const t = await dm.table('pool');
    expect(t.device.uuid).toBe('THINPOOL-pool');
    expect(t.targets).toEqual([{ start: 0n, length: 131072n, type: 'thin-pool', params: '7:0 7:1 128 16 1 skip_block_zeroing ' }]);
    const s = await p.status();
    expect(s).toMatchObject({ health: 'ok', transactionId: 0n, usedDataBlocks: 0n, totalDataBlocks: 1024n, mode: 'rw', needsCheck: false, discard: 'discard_passdown' });
  });

  test('a failed create detaches the loop devices it attached (last first) and removes the files it created', async () => {
    await dm.createDevice({ name: 'pool', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await expect(pool()).rejects.toMatchObject({ code: 'EBUSY', command: 'create' });
    expect(io.calls.filter((c) => c.startsWith('detach'))).toEqual(['detach /dev/loop1', 'detach /dev/loop0']);
    expect([...io.files.keys()]).toEqual([]);
    expect(kernel.blockDevices.filter((b) => b.major === 7)).toEqual([]);
  });

  test('open() takes an existing pool by name; a device that is not a pool is WRONG_TARGET', async () => {
    await pool();
    const q = await ThinPool.open(dm, 'pool', {});
    expect(q.params).toMatchObject({ metadataDevice: '7:0', dataDevice: '7:1', blockSizeSectors: 128, lowWaterMarkBlocks: 16n, skipBlockZeroing: true });
    expect(q.uuid).toBe('THINPOOL-pool');
    await dm.createDevice({ name: 'z', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await expect(ThinPool.open(dm, 'z')).rejects.toMatchObject({ name: 'DmOperationError', code: 'WRONG_TARGET' });
  });

  test('bad input is refused before any ioctl', async () => {
    const p = await pool();
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    const bad: [() => Promise<unknown>, string][] = [
      [() => p.createThin(1 << 24), 'id'],
      [() => p.createThin(-1), 'id'],
      [() => p.createThin(1.5), 'id'],
      [() => p.snapshot(1, 0x1000000), 'originId'],
      [() => p.activate(1, { name: 'a', sizeSectors: 0 }), 'size'],
      [() => p.activate(1, { name: '', sizeSectors: 8 }), 'name'],
      [() => p.setTransactionId(-1n), 'next'],
      [() => p.resize({ dataBytes: -1 }), 'dataBytes'],
      [() => ThinPool.create(dm, { name: 'x', data: '/dev/loop1', metadata: '/dev/loop0', blockSizeSectors: 100 }), 'blockSizeSectors'],
      [() => ThinPool.create(dm, { name: 'x'.repeat(120), data: '/dev/loop1', metadata: '/dev/loop0' }), 'too long'],
      [() => ThinPool.create(dm, { name: 'x', data: { file: '/f', sizeBytes: 1000 }, metadata: '/dev/loop0' }), 'multiple of 512'],
    ];
    for (const [f, what] of bad) {
      const e = await f().then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(DmOperationError);
      expect((e as DmOperationError).code).toBe('INVALID_INPUT');
      expect((e as Error).message).toContain(what);
    }
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });
});

describe('ThinPool: thin devices', () => {
  test('createThin → activate → the thin table, uuid THIN-<id>-<pool>, node /dev/dm-N', async () => {
    const p = await pool();
    await p.createThin(1);
    const t = await p.activate(1, { name: 'base', sizeSectors: 32768 });
    expect(t).toMatchObject({ id: 1, name: 'base', uuid: 'THIN-1-pool', path: `/dev/dm-${t.dev.minor}`, sizeSectors: 32768n });
    expect((await dm.table('base')).targets).toEqual([{ start: 0n, length: 32768n, type: 'thin', params: `254:${p.dev.minor} 1` }]);
    expect(await p.activeThins()).toEqual([{ id: 1, name: 'base', uuid: 'THIN-1-pool', dev: t.dev }]);
  });

  test('activate with an external origin: the thin table names it as major:minor after the id', async () => {
    kernel.addBlockDevice('/dev/sdz', 8, 208, 65536);
    const p = await pool();
    await p.createThin(3);
    await p.activate(3, { name: 'ext', sizeSectors: 65536, externalOrigin: '/dev/sdz' });
    expect((await dm.table('ext')).targets[0]!.params).toBe(`254:${p.dev.minor} 3 8:208`);
    expect(await dm.deps('ext')).toEqual(expect.arrayContaining([expect.objectContaining({ major: 8, minor: 208 })]));
  });

  test('kernel failures keep the kernel errno: EEXIST, ENODATA (activate, snapshot, delete of a missing id)', async () => {
    const p = await pool();
    await p.createThin(1);
    await expect(p.createThin(1)).rejects.toMatchObject({ name: 'DmError', code: 'EEXIST', command: 'message' });
    await expect(p.activate(9, { name: 'nine', sizeSectors: 8 })).rejects.toMatchObject({ code: 'ENODATA', command: 'load' });
    expect((await dm.info('nine')).exists).toBe(false); // createDevice rolled back
    await expect(p.snapshot(2, 9)).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(p.delete(9)).rejects.toMatchObject({ code: 'ENODATA' });
  });

  test('snapshot of an active origin: suspend → create_snap → resume, in that order, addressed by uuid', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 32768 });
    thinSim(kernel).write('base', 0, 4096);
    const order: string[] = [];
    const spy = (m: 'suspend' | 'resume' | 'message') => {
      const orig = dm[m].bind(dm) as (...a: unknown[]) => Promise<unknown>;
      jest.spyOn(dm, m).mockImplementation(((...a: unknown[]) => {
        order.push(`${m} ${JSON.stringify(a[0])}${m === 'message' ? ` ${String(a[2])}` : ''}${m === 'message' ? ` origin-suspended=${suspended('base')}` : ''}`);
        return orig(...a);
      }) as never);
    };
    spy('suspend'); spy('resume'); spy('message');
    await p.snapshot(2, 1);
    expect(order).toEqual([
      // create_snap 2 2 changes nothing: it tells whether id 2 exists (for the intent record, docs/crash-safety.md).
      'message {"uuid":"THINPOOL-pool"} create_snap 2 2 origin-suspended=false',
      'suspend {"uuid":"THIN-1-pool"}',
      'message {"uuid":"THINPOOL-pool"} create_snap 2 1 origin-suspended=true',
      'resume {"uuid":"THIN-1-pool"}',
    ]);
    expect(suspended('base')).toBe(false);
    // The snapshot shares the origin's blocks: no new data blocks until one side writes.
    const sim = thinSim(kernel).pool('pool');
    expect(sim.refs.size).toBe(32);
    expect(sim.thins.get(2)!.map).toEqual(sim.thins.get(1)!.map);
    thinSim(kernel).write('base', 0, 128);
    expect(sim.refs.size).toBe(33);
  });

  test('concurrent snapshots of one active origin are serialised: each create_snap sees the origin suspended', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    const seen: string[] = [];
    const orig = dm.message.bind(dm);
    jest.spyOn(dm, 'message').mockImplementation(async (d, s, m) => {
      if (m === 'create_snap 3 1') await new Promise((r) => setTimeout(r, 20)); // the second caller is slow
      if (m.startsWith('create_snap') && m !== 'create_snap 2 2' && m !== 'create_snap 3 3') seen.push(`${m} origin-suspended=${suspended('base')}`);
      return orig(d, s, m);
    });
    const first = p.snapshot(2, 1);
    while (!suspended('base')) await new Promise((r) => setImmediate(r));
    const second = p.snapshot(3, 1); // starts while the first holds the origin suspended
    await Promise.all([first, second]);
    expect(seen).toEqual(['create_snap 2 1 origin-suspended=true', 'create_snap 3 1 origin-suspended=true']);
    expect(suspended('base')).toBe(false);
    expect([...thinSim(kernel).pool('pool').thins.keys()].sort()).toEqual([1, 2, 3]);
  });

  test('a failing create_snap still resumes the origin, and the kernel error comes out', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.createThin(2);
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    await expect(p.snapshot(2, 1)).rejects.toMatchObject({ code: 'EEXIST', command: 'message' });
    expect(suspended('base')).toBe(false);
  });

  test('a suspend that exceeds the bound gives TIMEOUT, and the origin is resumed once the suspend completes', async () => {
    const p = await ThinPool.create(dm, { name: 'pool', data: { file: '/d', sizeBytes: 64n * MiB }, metadata: { file: '/m', sizeBytes: 4n * MiB }, timeoutMs: 50 });
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    const orig = dm.suspend.bind(dm);
    let finish!: () => void;
    jest.spyOn(dm, 'suspend').mockImplementation(async (d, o) => {
      await new Promise<void>((r) => { finish = r; });
      return orig(d, o);
    });
    await expect(p.snapshot(2, 1)).rejects.toMatchObject({ name: 'DmOperationError', code: 'TIMEOUT' });
    expect(thinSim(kernel).pool('pool').thins.has(2)).toBe(false); // no create_snap without the suspend
    finish();
    for (let i = 0; i < 50 && !kernel.devices.get('base')!.suspended; i++) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 50 && kernel.devices.get('base')!.suspended; i++) await new Promise((r) => setImmediate(r));
    expect(suspended('base')).toBe(false);
  });

  test('an origin someone else suspended is left suspended; an inactive origin is not touched', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.snapshot(2, 1); // inactive origin: just the message
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    await dm.suspend('base');
    await p.snapshot(3, 1);
    expect(suspended('base')).toBe(true);
    expect(thinSim(kernel).pool('pool').thins.has(3)).toBe(true);
  });

  test('delete: an active thin is BUSY before anything is discarded; discard then delete gives the blocks back', async () => {
    const p = await pool();
    await p.createThin(1);
    const t = await p.activate(1, { name: 'base', sizeSectors: 65536 });
    thinSim(kernel).write('base', 0, 65536);
    await p.snapshot(2, 1);
    const s = await p.activate(2, { name: 'snap', sizeSectors: 65536 });
    thinSim(kernel).write('snap', 0, 16384); // 128 blocks of its own
    const sim = thinSim(kernel).pool('pool');
    expect(sim.refs.size).toBe(512 + 128);
    const e = await p.delete(2, { discard: true }).then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ name: 'DmOperationError', code: 'EBUSY', errno: 16 });
    expect(io.calls.some((c) => c.startsWith('discard'))).toBe(false);
    await p.deactivate(s);
    await p.delete(2, { discard: true });
    expect(io.calls.filter((c) => c.startsWith('discard'))).toHaveLength(1);
    expect(sim.thins.has(2)).toBe(false);
    expect(sim.refs.size).toBe(512);
    expect([...kernel.devices.keys()].sort()).toEqual(['base', 'pool']); // the discard activation is gone
    await p.deactivate(t);
    await p.delete(1);
    expect((await p.status())).toMatchObject({ usedDataBlocks: 0n });
  });

  test('delete with discard of a thin with nothing mapped activates, finds nothing, deletes', async () => {
    const p = await pool();
    await p.createThin(4);
    await p.delete(4, { discard: true });
    expect(io.calls.some((c) => c.startsWith('discard'))).toBe(false);
    expect(thinSim(kernel).pool('pool').thins.size).toBe(0);
  });

  test('delete with discard on an ignore_discard pool skips the discard (the kernel would refuse it)', async () => {
    const p = await pool({ ignoreDiscard: true });
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    thinSim(kernel).write('base', 0, 8192);
    await p.deactivate(1);
    await p.delete(1, { discard: true });
    expect(io.calls.some((c) => c.startsWith('discard'))).toBe(false);
    expect([...kernel.devices.keys()]).toEqual(['pool']);
    expect(thinSim(kernel).pool('pool').thins.size).toBe(0);
  });

  test('deactivate --force: an open thin gets an error table and a deferred remove', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    kernel.openDevice('base');
    await expect(p.deactivate(1, { retries: 1 })).rejects.toMatchObject({ code: 'EBUSY' });
    await p.deactivate(1, { retries: 1, force: true });
    expect((await dm.table('base')).targets[0]!.type).toBe('error');
    kernel.closeDevice('base');
    await new Promise((r) => setImmediate(r));
    expect((await dm.info('base')).exists).toBe(false);
  });
});

describe('ThinPool: transaction id, metadata snapshots, resize', () => {
  test('setTransactionId: read back; a stale current is the kernel\'s EINVAL', async () => {
    const p = await pool();
    expect(await p.transactionId()).toBe(0n);
    await p.setTransactionId(5);
    expect(await p.transactionId()).toBe(5n);
    await p.setTransactionId(6, { current: 5 });
    await expect(p.setTransactionId(7, { current: 5 })).rejects.toMatchObject({ code: 'EINVAL', command: 'message' });
    expect(await p.transactionId()).toBe(6n);
  });

  test('reserve/release metadata snap: the held root shows in status; twice is EBUSY', async () => {
    const p = await pool();
    const root = await p.reserveMetadataSnap();
    expect((await p.healthyStatus()).heldMetadataRoot).toBe(root);
    await expect(p.reserveMetadataSnap()).rejects.toMatchObject({ code: 'EBUSY' });
    await p.releaseMetadataSnap();
    expect((await p.healthyStatus()).heldMetadataRoot).toBeNull();
    await expect(p.releaseMetadataSnap()).rejects.toMatchObject({ code: 'EINVAL' });
  });

  test('resize grows the files, refreshes the loops, reloads and resumes with thins active', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    const s = await p.resize({ dataBytes: 128n * MiB, metadataBytes: 8n * MiB });
    expect(s.totalDataBlocks).toBe(2048n);
    expect(io.calls).toEqual(expect.arrayContaining(['ensure /img/data 134217728', 'refresh /dev/loop1', 'ensure /img/meta 8388608', 'refresh /dev/loop0']));
    expect((await dm.table('pool')).targets[0]!.length).toBe(262144n);
    expect((await dm.info('base')).exists).toBe(true);
    expect(suspended('pool')).toBe(false);
  });

  test('resize of a pool over block devices needs the devices grown first (no dataBytes)', async () => {
    kernel.addBlockDevice('/dev/sdb', 8, 16, 131072);
    kernel.addBlockDevice('/dev/sdc', 8, 32, 8192);
    const p = await ThinPool.create(dm, { name: 'bp', data: '/dev/sdb', metadata: '/dev/sdc' });
    await expect(p.resize({ dataBytes: 1n << 30n })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    kernel.blockDevices.splice(kernel.blockDevices.findIndex((b) => b.path === '/dev/sdb'), 1);
    kernel.addBlockDevice('/dev/sdb', 8, 16, 262144);
    expect((await p.resize()).totalDataBlocks).toBe(2048n);
  });

  test('identity: a pool device replaced behind the pool\'s back (same name and uuid, another dev) is DmIdentityError (DEVICE_REPLACED), as from createDevice', async () => {
    const p = await pool();
    await dm.remove('pool');
    await dm.createDevice({ name: 'filler', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await dm.createDevice({ name: 'pool', uuid: 'THINPOOL-pool', table: [{ start: 0, length: 131072, type: 'thin-pool', params: '/dev/loop0 /dev/loop1 128 0' }] });
    await expect(p.status()).rejects.toMatchObject({ name: 'DmIdentityError', code: 'DEVICE_REPLACED', step: 'status of pool pool', acted: false });
    await expect(p.reload({ lowWaterMarkBlocks: 3 })).rejects.toMatchObject({ name: 'DmIdentityError', code: 'DEVICE_REPLACED' });
  });

  test('identity: a pool someone else renamed keeps its uuid and dev, so it is still ours (the uuid is the identity, as for createDevice)', async () => {
    const p = await pool();
    await dm.rename('pool', { newName: 'moved' });
    expect((await p.status()).health).toBe('ok');
  });

  test('destroy removes the pool and detaches its loops; the metadata stays with the files', async () => {
    const p = await pool();
    await p.createThin(7);
    await p.destroy();
    expect(kernel.devices.has('pool')).toBe(false);
    expect(io.calls.slice(-2)).toEqual(['detach /dev/loop1', 'detach /dev/loop0']);
    const q = await pool();
    await expect(q.createThin(7)).rejects.toMatchObject({ code: 'EEXIST' }); // the same metadata device again
  });
});

describe('ThinPool: conditions', () => {
  async function take(it: AsyncIterator<PoolCondition>, n: number): Promise<PoolCondition[]> {
    const out: PoolCondition[] = [];
    while (out.length < n) {
      const r = await it.next();
      if (r.done) break;
      out.push(r.value);
    }
    return out;
  }

  test('low water, out of data space, cleared by resize; read-only by reload; needs_check', async () => {
    const p = await pool({ errorIfNoSpace: true });
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 262144 });
    const it = p.conditions();
    const sim = thinSim(kernel);
    const first = it.next();
    sim.write('base', 0, 128 * 1010); // 14 blocks left ≤ 16
    expect((await first).value).toMatchObject({ kind: 'low-water', state: 'entered', lowWaterMarkBlocks: 16n });
    const next = it.next();
    expect(sim.write('base', 128 * 1010, 128 * 20)).toBe(false); // the pool fills up
    expect((await next).value).toMatchObject({ kind: 'out-of-data-space', state: 'entered' });
    const grown = take(it, 2);
    await p.resize({ dataBytes: 128n * MiB });
    expect((await grown).map((c) => `${c.kind} ${c.state}`)).toEqual(['out-of-data-space cleared', 'low-water cleared']);
    const ro = it.next();
    await p.reload({ readOnly: true });
    expect((await ro).value).toMatchObject({ kind: 'read-only', state: 'entered', status: { mode: 'ro' } });
    const rw = it.next();
    await p.reload({ readOnly: false });
    expect((await rw).value).toMatchObject({ kind: 'read-only', state: 'cleared' });
    const check = take(it, 2);
    sim.setNeedsCheck('pool');
    expect((await check).map((c) => `${c.kind} ${c.state}`)).toEqual(['needs-check entered', 'read-only entered']);
    await it.return!();
    expect(dm.pollerActive).toBe(false);
  });

  test('conditions that hold at the start are reported first (initial); the iterator ends when the pool goes away', async () => {
    const p = await pool({ lowWaterMarkBlocks: 2000 }); // more than the pool has: low water from the start
    const it = p.conditions();
    expect((await it.next()).value).toMatchObject({ kind: 'low-water', state: 'entered' });
    const end = it.next();
    await p.destroy();
    expect((await end).done).toBe(true);
  });
});

// DmError is what every kernel failure is; keep the import used for the type check above.
void DmError;

describe('ThinPool: signal, timeoutMs and the caller\'s frames', () => {
  test('an aborted snapshot rejects with DmAbortError naming the caller, and the origin is resumed by uuid', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.activate(1, { name: 'base', sizeSectors: 8192 });
    const ac = new AbortController();
    const stop = kernel.intercept({ before: (e) => { if (e.command === 'suspend' && !suspended('base')) ac.abort(); } });
    const err = await p.snapshot(2, 1, { signal: ac.signal }).then(() => undefined, (e: unknown) => e);
    stop();
    for (let i = 0; i < 50 && suspended('base'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(err).toBeInstanceOf(DmAbortError);
    expect(err).toMatchObject({ code: 'ABORT_ERR' });
    expect((err as Error).stack).toContain('thin-pool.spec.ts');
    expect(suspended('base')).toBe(false);
    expect(thinSim(kernel).pools.values().next().value!.thins.has(2)).toBe(false);
  });

  test('timeoutMs is checked before any ioctl', async () => {
    const p = await pool();
    await expect(p.createThin(1, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(p.status({ signal: 'x' as never })).rejects.toMatchObject({ name: 'DmArgumentError' });
  });
});
