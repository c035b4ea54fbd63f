// Adversarial review of ThinPool (lib/operations/thin-pool.ts). Each `it.failing` is a defect
// found in review and left to the engineers changing lib/operations/: it flips (and fails as
// a reminder) once fixed; make it a plain `it` then.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmIdentityError, DmOperationError, ThinPool } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo, thinSim } from '../../testing/index.js';
import type { SimBlockIo } from '../../testing/sim-io.js';
import { Actor } from '../lib/actor.js';

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

async function pool(): Promise<ThinPool> {
  return ThinPool.create(dm, {
    name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, skipBlockZeroing: true,
  });
}

describe('delete({ discard: true }) of a thin that is active under another name', () => {
  // Finding: delete() decides "active" by the pool's own naming convention only (a device
  // with uuid THIN-<id>-<pool>, #activeThin). A thin activated by anyone else — dmsetup, the
  // containerd snapshotter, any table line `thin <pool> <id>` — is not seen; with `discard`
  // the pool then activates a second mapping of the same thin (the kernel lets a thin be
  // opened by several tables), discards every mapped block through it, and only then sends
  // `delete`, which the kernel refuses with EBUSY because the other table holds the thin:
  // the call fails and the live device's data is gone. Proposed fix (thin-pool.ts, before
  // #discardThin): refuse with EBUSY when any device's live or inactive table has a thin line
  // over this pool for this id — e.g. the devices whose deps include the pool's dev
  // (depsWithInfo / DeviceTree.above(pool)), each table read and parsed for `deviceId === id`.
  it('the data of a thin another table maps is not discarded; the delete is refused before any discard', async () => {
    const p = await pool();
    await p.createThin(1);
    const poolDev = `${p.dev.major}:${p.dev.minor}`;
    // Someone else's activation of thin 1 (no THIN-1-pool uuid), with data on it.
    await dm.createDevice({ name: 'theirs', table: [{ start: 0, length: 65536, type: 'thin', params: `${poolDev} 1` }] });
    thinSim(kernel).write('theirs', 0, 65536);
    const sim = thinSim(kernel).pool('pool');
    const mapped = sim.thins.get(1)!.map.size;
    expect(mapped).toBe(512);
    const e = await p.delete(1, { discard: true }).then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'EBUSY' });
    // Before the fix: the helper activation discarded every block (0 mapped) and the delete then failed EBUSY.
    expect(io.calls.some((c) => c.startsWith('discard'))).toBe(false);
    expect(sim.thins.get(1)!.map.size).toBe(mapped);
  });
});

describe('snapshot() waiting for another snapshot of the same origin', () => {
  // Finding: snapshot() serialises snapshots of one origin with a promise chain
  // (#originLocks) and awaits the previous one *before* its operation starts, so that wait
  // sees neither the caller's signal nor its timeoutMs: a caller who aborts (or whose
  // timeoutMs passes) keeps waiting until the other snapshot has finished, suspend, message
  // and resume included, and only then gets its DmAbortError (docs/conventions.md: both end
  // the wait of the caller). Proposed fix (thin-pool.ts, snapshot): race `previous` against
  // the caller's signal and a timer of its timeoutMs (or run the lock wait inside #run as its
  // first step, op.step('waiting for origin …', () => previous)), and on a stop leave the
  // chain at once while still releasing its own link only after `previous` settles.
  it('an abort while queued behind a slow snapshot of the same origin ends the wait at once', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.activate(1, { name: 'origin', sizeSectors: 8192 });
    // The first snapshot's suspend of the origin is slow.
    const off = kernel.intercept({ fault: (e) => (e.command === 'suspend' ? { delayMs: 600 } : undefined) });
    try {
      let firstDone = false;
      const first = p.snapshot(2, 1).finally(() => { firstDone = true; });
      await new Promise((r) => setTimeout(r, 20));
      const ac = new AbortController();
      const second = p.snapshot(3, 1, { signal: ac.signal, timeoutMs: 100 });
      ac.abort();
      const e = await second.then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(DmAbortError);
      // Before the fix: the abort was seen only once the first snapshot had finished.
      expect(firstDone).toBe(false);
      await first;
    } finally {
      off();
    }
  });

  it('timeoutMs bounds the wait behind another snapshot of the same origin', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.activate(1, { name: 'origin', sizeSectors: 8192 });
    const off = kernel.intercept({ fault: (e) => (e.command === 'suspend' ? { delayMs: 600 } : undefined) });
    try {
      let firstDone = false;
      const first = p.snapshot(2, 1).finally(() => { firstDone = true; });
      await new Promise((r) => setTimeout(r, 20));
      const e = await p.snapshot(3, 1, { timeoutMs: 100 }).then(() => undefined, (x: unknown) => x);
      // Before the fix: the TIMEOUT came only after the first snapshot had finished (its bound started after the wait).
      expect(e).toBeInstanceOf(DmOperationError);
      expect(e).toMatchObject({ code: 'TIMEOUT' });
      expect(firstDone).toBe(false);
      await first;
    } finally {
      off();
    }
  });
});

describe('deactivate(name) of a thin without a uuid', () => {
  // Finding: deactivate() given a name checks that the device is a thin of this pool
  // (#ownThin reads its table and returns its identity's address) and then calls
  // removeDevice(address) without `expect`. For a device without a uuid the address is its
  // name, and removeDevice without `expect` takes the identity of whatever it finds under
  // the name at its own first step: a device removed and another made under the name between
  // the table read and the removal is removed, though it is no thin of this pool at all.
  // Proposed fix (thin-pool.ts, deactivate): keep the identity #ownThin read
  // (identityOf(t.device)) and pass it as removeDevice's `expect` (verify-then-remove), as
  // removeTree does; then a stranger under the name gives DmIdentityError and is not touched.
  it('a stranger made under the name after the table check is not removed', async () => {
    const p = await pool();
    await p.createThin(1);
    const poolDev = `${p.dev.major}:${p.dev.minor}`;
    await dm.createDevice({ name: 'thinx', table: [{ start: 0, length: 8192, type: 'thin', params: `${poolDev} 1` }] });
    const actor = new Actor(kernel);
    let tableRead = false;
    let swapped = false;
    const off = kernel.intercept({
      // DM_TABLE_STATUS (the table read and a status share the command number).
      after: (o) => { if (o.name === 'thinx' && o.command === 'status') tableRead = true; },
      before: (e) => {
        // After deactivate's table read: the next call by that name meets another device.
        if (swapped || !tableRead || e.name !== 'thinx') return;
        swapped = true;
        actor.remove({ name: 'thinx' });
        actor.createLive('thinx');
      },
    });
    try {
      const e = await p.deactivate('thinx').then(() => undefined, (x: unknown) => x);
      expect(swapped).toBe(true);
      // Before the fix: resolved, and the stranger (a zero device) was removed.
      expect(e).toBeInstanceOf(DmIdentityError);
      expect(kernel.devices.get('thinx')?.live?.lines[0]?.type).toBe('zero');
    } finally {
      off();
    }
  });
});

describe('conditions(): the pool device replaced at its number while watching', () => {
  // wait() refuses a device replaced at its minor (DmIdentityError); for the conditions
  // iterator that is the pool going away, which ends it as a removal does.
  it('ends the iterator ({ done: true }) rather than rejecting', async () => {
    const p = await pool();
    const it = p.conditions({ initial: false });
    const actor = new Actor(kernel);
    try {
      let outcome: unknown;
      const next = it.next().then((r) => { outcome = r; }, (e: unknown) => { outcome = e; });
      for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
      const minor = p.dev.minor;
      actor.remove({ name: 'pool' });
      const stranger = actor.createLive('stranger', { uuid: 'UUID-STRANGER' });
      expect(stranger.minor).toBe(minor);
      kernel.triggerEvent('stranger');
      await next;
      expect(outcome).toEqual({ done: true, value: undefined });
    } finally {
      await it.return?.();
    }
  });
});

describe('delete({ discard: true }): the same mistake elsewhere', () => {
  it('a thin staged in another device\'s inactive table is refused too, naming that device, before any discard', async () => {
    const p = await pool();
    await p.createThin(1);
    const poolDev = `${p.dev.major}:${p.dev.minor}`;
    await dm.createDevice({ name: 'staging', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await dm.load('staging', [{ start: 0, length: 65536, type: 'thin', params: `${poolDev} 1` }]);
    const e = await p.delete(1, { discard: true }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmOperationError);
    expect(e).toMatchObject({ code: 'EBUSY' });
    expect((e as Error).message).toContain('staging');
    expect(io.calls.some((c) => c.startsWith('discard'))).toBe(false);
    expect(thinSim(kernel).pool('pool').thins.has(1)).toBe(true);
  });

  it('a delete without discard is left to the kernel, which refuses it (EBUSY) and keeps the data', async () => {
    const p = await pool();
    await p.createThin(1);
    const poolDev = `${p.dev.major}:${p.dev.minor}`;
    await dm.createDevice({ name: 'theirs', table: [{ start: 0, length: 65536, type: 'thin', params: `${poolDev} 1` }] });
    thinSim(kernel).write('theirs', 0, 65536);
    await expect(p.delete(1)).rejects.toMatchObject({ code: 'EBUSY' });
    expect(thinSim(kernel).pool('pool').thins.get(1)!.map.size).toBe(512);
  });

  it('a thin of another id, or a thin over another pool, does not block the delete', async () => {
    const p = await pool();
    await p.createThin(1);
    await p.createThin(2);
    const poolDev = `${p.dev.major}:${p.dev.minor}`;
    await dm.createDevice({ name: 'two', table: [{ start: 0, length: 65536, type: 'thin', params: `${poolDev} 2` }] });
    await expect(p.delete(1, { discard: true })).resolves.toBeUndefined();
    expect(thinSim(kernel).pool('pool').thins.has(1)).toBe(false);
  });
});

describe('snapshot(): an origin activated by someone else (the same mistake as delete\'s)', () => {
  it('is suspended around create_snap and resumed, like an origin of our own', async () => {
    const p = await pool();
    await p.createThin(1);
    const poolDev = `${p.dev.major}:${p.dev.minor}`;
    await dm.createDevice({ name: 'theirs', table: [{ start: 0, length: 8192, type: 'thin', params: `${poolDev} 1` }] });
    const seen: string[] = [];
    const off = kernel.intercept({
      before: (e) => {
        if (e.command === 'message') seen.push(`message (theirs suspended: ${kernel.devices.get('theirs')!.suspended})`);
      },
    });
    try {
      await p.snapshot(2, 1);
    } finally {
      off();
    }
    expect(seen).toContain('message (theirs suspended: true)');
    expect(kernel.devices.get('theirs')!.suspended).toBe(false);
    expect(thinSim(kernel).pool('pool').thins.has(2)).toBe(true);
  });

  it('two devices mapping the origin: refused with EBUSY naming them, nothing suspended or snapshotted', async () => {
    const p = await pool();
    await p.createThin(1);
    const poolDev = `${p.dev.major}:${p.dev.minor}`;
    await dm.createDevice({ name: 'a1', table: [{ start: 0, length: 8192, type: 'thin', params: `${poolDev} 1` }] });
    await dm.createDevice({ name: 'b1', table: [{ start: 0, length: 8192, type: 'thin', params: `${poolDev} 1` }] });
    await expect(p.snapshot(2, 1)).rejects.toMatchObject({ code: 'EBUSY', message: expect.stringContaining('a1, b1') });
    expect(thinSim(kernel).pool('pool').thins.has(2)).toBe(false);
    expect(kernel.devices.get('a1')!.suspended).toBe(false);
  });
});

describe('reload()/resize() of a pool someone else holds suspended (the same mistake as FaultyDevice.setMode\'s)', () => {
  it('is refused with EBUSY before anything is loaded; the pool stays suspended', async () => {
    const p = await pool();
    new Actor(kernel).call('suspend', { id: { name: 'pool' }, action: 'suspend' });
    const e = await p.reload({ lowWaterMarkBlocks: 10 }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmOperationError);
    expect(e).toMatchObject({ code: 'EBUSY' });
    expect(kernel.devices.get('pool')!.suspended).toBe(true);
    expect(kernel.devices.get('pool')!.inactive).toBeUndefined();
    await expect(p.resize()).rejects.toMatchObject({ code: 'EBUSY' });
    expect(kernel.devices.get('pool')!.suspended).toBe(true);
  });
});
