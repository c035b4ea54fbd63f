// Undo steps and late-step undos never act on another owner's device (docs/identity.md,
// "Undo steps"). Each case forces one interleaving on the simulator: between two of our
// ioctls another process replaces one of our devices by a device of its own that it has
// suspended with a staged table (live table T1, T2 loaded, suspended: an owner in the middle
// of its own reload). If any of our steps resumed that device, T2 would go live without its
// owner resuming; if any cleared it, T2 would be dropped. The stranger must come out exactly
// as it went in, except for the one window the kernel leaves open for a device without a
// uuid (a forward step by name right after the name changed hands), which is detected.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, DmError, DmIdentityError, FaultyDevice, ThinPool, reloadTree, resumeTree, suspendTree,
} from '../../lib/index.js';
import { ERRNO } from '../../ffi/errors.js';
import { SimulatedKernel, type SimDevice, type SimIoctlEvent } from '../../testing/index.js';
import { Actor } from './actor.js';

let kernel: SimulatedKernel;
let dm: DeviceMapper;
let a: Actor;

beforeEach(async () => {
  kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'ours' }) });
  a = new Actor(kernel);
});
afterEach(() => dm.close());

const zero = (sectors: number) => [{ start: 0, length: sectors, type: 'zero', params: '' }];
const settle = async (ms = 0) => {
  await new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

interface Stranger { readonly d: SimDevice; readonly live: SimDevice['live']; readonly inactive: SimDevice['inactive'] }

/**
 * Another owner's device under `name`: live table T1, T2 staged, suspended by its owner.
 * `minor`: on that minor (a freed minor is what the kernel hands out next).
 */
function stranger(name: string, o: { uuid?: string; minor?: number } = {}): Stranger {
  a.call('create', { name, uuid: o.uuid, minor: o.minor });
  a.call('load', { id: { name }, targets: zero(16) });
  a.call('suspend', { id: { name }, action: 'resume' });
  a.call('load', { id: { name }, targets: zero(32) });
  a.call('suspend', { id: { name }, action: 'suspend' });
  const d = kernel.devices.get(name)!;
  return { d, live: d.live, inactive: d.inactive };
}

/** Our device `name` removed and the stranger made under its name: on its freed minor when `sameMinor`, else on another one. */
function replace(name: string, o: { uuid?: string; sameMinor?: boolean } = {}): Stranger {
  const old = kernel.devices.get(name)!;
  a.remove({ name });
  return stranger(name, { uuid: o.uuid, minor: o.sameMinor ? old.minor : old.minor + 50 });
}

function untouched(s: Stranger): void {
  expect(kernel.devices.get(s.d.name)).toBe(s.d);
  expect(s.d.suspended).toBe(true); // not resumed by us
  expect(s.d.live).toBe(s.live); // T2 did not go live
  expect(s.d.inactive).toBe(s.inactive); // nor was it dropped
}

/** Runs `act` once, before the first of our ioctls that `when` accepts. */
function before(when: (e: SimIoctlEvent) => boolean, act: () => void): void {
  let done = false;
  kernel.intercept({ before: (e) => { if (!done && when(e)) { done = true; act(); } } });
}

/** Fails (or delays) our `n`-th DM_DEV_SUSPEND calls (suspend and resume are one command), counted from 1. */
function suspendCalls(fault: (n: number) => { errno?: number; delayMs?: number } | undefined): () => number {
  let n = 0;
  kernel.intercept({ fault: (e) => (e.command === 'suspend' ? fault(++n) : undefined) });
  return () => n;
}

/** After our `n`-th DM_DEV_SUSPEND call has returned, runs `act` before our next ioctl. */
function afterSuspendCall(n: number, act: () => void): void {
  let seen = 0;
  let armed = false;
  let done = false;
  kernel.intercept({
    before: () => { if (armed && !done) { done = true; act(); } },
    after: (e) => { if (e.command === 'suspend' && ++seen === n) armed = true; },
  });
}

describe('suspendTree', () => {
  test('the tester\'s case: a device without a uuid replaced between the identity check and the suspend; the suspend reaches the stranger, which is left as it was (never resumed)', async () => {
    await dm.createDevice({ name: 'x', table: zero(8) });
    let s!: Stranger;
    before((e) => e.command === 'suspend', () => { s = replace('x', { uuid: 'OTHER' }); });
    const e = await suspendTree(dm, ['x']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmIdentityError);
    expect(e).toMatchObject({ code: 'DEVICE_REPLACED', acted: true, actual: { uuid: 'OTHER' } });
    await settle();
    untouched(s);
  });

  test('with a uuid the suspend cannot reach the stranger at all', async () => {
    await dm.createDevice({ name: 'x', uuid: 'MINE', table: zero(8) });
    let s!: Stranger;
    before((e) => e.command === 'suspend', () => { s = replace('x', { uuid: 'OTHER' }); });
    await expect(suspendTree(dm, ['x'])).rejects.toMatchObject({ code: 'ENXIO' });
    await settle();
    untouched(s);
  });

  for (const [what, ours, theirs] of [
    ['without a uuid (the stranger on our name and minor)', undefined, 'OTHER'],
    ['with a uuid (the stranger took our uuid, on another minor)', 'TOP', 'TOP'],
  ] as const) {
    test(`the undo of an earlier suspend, ${what}: the stranger that replaced our suspended device is not resumed`, async () => {
      await dm.createDevice({ name: 'low', table: zero(8) });
      await dm.createDevice({ name: 'top', uuid: ours, table: [{ start: 0, length: 8, type: 'linear', params: '/dev/mapper/low 0' }] });
      suspendCalls((n) => (n === 2 ? { errno: ERRNO.EIO } : undefined)); // the suspend of low fails: top's suspend is undone
      let s!: Stranger;
      afterSuspendCall(2, () => { s = replace('top', { uuid: theirs, sameMinor: ours === undefined }); });
      const e = await suspendTree(dm, ['top']).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmError);
      expect(e).toMatchObject({ code: 'EIO' });
      await settle();
      untouched(s);
    });

    test(`a suspend that finishes after its bound, ${what}: its late undo does not resume the stranger that replaced our device`, async () => {
      await dm.createDevice({ name: 'x', uuid: ours, table: zero(8) });
      suspendCalls((n) => (n === 1 ? { delayMs: 60 } : undefined));
      let s!: Stranger;
      afterSuspendCall(1, () => { s = replace('x', { uuid: theirs, sameMinor: ours === undefined }); });
      await expect(suspendTree(dm, ['x'], { stepTimeoutMs: 10 })).rejects.toMatchObject({ code: 'TIMEOUT' });
      await settle(100);
      expect(s).toBeDefined();
      untouched(s);
    });
  }

  test('a suspend that finishes after its bound and reached a stranger (no uuid): the stranger is left as it was', async () => {
    await dm.createDevice({ name: 'x', table: zero(8) });
    suspendCalls((n) => (n === 1 ? { delayMs: 60 } : undefined));
    let s!: Stranger;
    before((e) => e.command === 'suspend', () => { s = replace('x', { uuid: 'OTHER' }); });
    await expect(suspendTree(dm, ['x'], { stepTimeoutMs: 10 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await settle(100);
    untouched(s);
  });

  test('a late suspend that reached our own device is still resumed (the undo is verified, not dropped)', async () => {
    await dm.createDevice({ name: 'x', table: zero(8) });
    suspendCalls((n) => (n === 1 ? { delayMs: 40 } : undefined));
    await expect(suspendTree(dm, ['x'], { stepTimeoutMs: 10 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await settle(80);
    expect(kernel.devices.get('x')!.suspended).toBe(false);
  });

  test('the undo leaves alone a device of ours that someone else resumed meanwhile (and does not resume a staged table they loaded)', async () => {
    await dm.createDevice({ name: 'low', uuid: 'LOW', table: zero(8) });
    await dm.createDevice({ name: 'top', uuid: 'TOP', table: [{ start: 0, length: 8, type: 'linear', params: '/dev/mapper/low 0' }] });
    suspendCalls((n) => (n === 2 ? { errno: ERRNO.EIO } : undefined));
    // Its owner resumes top after our suspend, then stages a table on it (for their own resume later).
    afterSuspendCall(2, () => {
      a.call('suspend', { id: { name: 'top' }, action: 'resume' });
      a.call('load', { id: { name: 'top' }, targets: zero(8) });
    });
    await expect(suspendTree(dm, ['top'])).rejects.toMatchObject({ code: 'EIO' });
    const top = kernel.devices.get('top')!;
    expect(top.suspended).toBe(false);
    expect(top.inactive).toBeDefined(); // their staged table stays staged
  });
});

describe('resumeTree', () => {
  test('with a uuid: a stranger that replaced our suspended device between the check and the resume is not resumed', async () => {
    await dm.createDevice({ name: 'x', uuid: 'MINE', table: zero(8) });
    await dm.suspend('x');
    let s!: Stranger;
    before((e) => e.command === 'suspend', () => { s = replace('x', { uuid: 'OTHER' }); });
    await expect(resumeTree(dm, ['x'])).rejects.toMatchObject({ code: 'ENXIO' });
    untouched(s);
  });

  test('without a uuid: the residual window — the resume by name reaches the stranger and is reported (acted: true), nothing further', async () => {
    await dm.createDevice({ name: 'low', table: zero(8) });
    await dm.createDevice({ name: 'x', table: [{ start: 0, length: 8, type: 'linear', params: '/dev/mapper/low 0' }] });
    await dm.suspend('x');
    await dm.suspend('low');
    let s!: Stranger;
    // Bottom-up: low first; x is replaced right before its resume.
    let resumes = 0;
    before((e) => e.command === 'suspend' && ++resumes === 2, () => { s = replace('x', { uuid: 'OTHER' }); });
    const e = await resumeTree(dm, ['x']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmIdentityError);
    expect(e).toMatchObject({ acted: true, actual: { uuid: 'OTHER' } });
    expect(s.d.suspended).toBe(false); // the kernel gave us no way to tell before the ioctl (docs/identity.md)
  });
});

describe('reloadTree', () => {
  test('the undo of a suspend (a later suspend failed) does not resume the stranger that replaced our device', async () => {
    await dm.createDevice({ name: 'low', table: zero(8) });
    await dm.createDevice({ name: 'top', table: [{ start: 0, length: 8, type: 'linear', params: '/dev/mapper/low 0' }] });
    suspendCalls((n) => (n === 2 ? { errno: ERRNO.EIO } : undefined)); // top suspended, low's suspend fails
    let s!: Stranger;
    afterSuspendCall(2, () => { s = replace('top', { uuid: 'OTHER', sameMinor: true }); });
    await expect(reloadTree(dm, [{ device: 'low', table: zero(8) }])).rejects.toMatchObject({ code: 'EIO' });
    await settle();
    untouched(s);
    expect(kernel.devices.get('low')!.inactive).toBeUndefined(); // our staged table was cleared
  });

  test('a load that lands after the operation gave up: its late clear does not reach the stranger that took the name', async () => {
    await dm.createDevice({ name: 'x', table: zero(8) });
    let loads = 0;
    kernel.intercept({ fault: (e) => (e.command === 'load' && ++loads === 1 ? { delayMs: 60 } : undefined) });
    let s!: Stranger;
    let landed = false;
    kernel.intercept({
      before: () => { if (landed && !s) s = replace('x', { uuid: 'OTHER', sameMinor: true }); },
      after: (e) => { if (e.command === 'load') landed = true; },
    });
    await expect(reloadTree(dm, [{ device: 'x', table: zero(8) }], { timeoutMs: 10 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await settle(100);
    expect(s).toBeDefined();
    untouched(s);
  });
});

describe('ThinPool.snapshot: the origin\'s suspend and resume', () => {
  const MiB = 1024n * 1024n;
  async function origin(uuid: string | undefined): Promise<ThinPool> {
    const p = await ThinPool.create(dm, {
      name: 'pool', data: { file: '/img/data', sizeBytes: 64n * MiB }, metadata: { file: '/img/meta', sizeBytes: 4n * MiB }, skipBlockZeroing: true, lowWaterMarkBlocks: 16,
    });
    await p.createThin(1);
    const pool = kernel.devices.get('pool')!;
    await dm.createDevice({ name: 'base', uuid, table: [{ start: 0, length: 8192, type: 'thin', params: `254:${pool.minor} 1` }] });
    return p;
  }
  /** Fails create_snap: the journal then resumes the origin. */
  function failSnap(): void {
    kernel.intercept({ fault: (e) => (e.command === 'message' ? { errno: ERRNO.EIO } : undefined) });
  }

  for (const [what, ours, theirs] of [
    ['without a uuid', undefined, 'OTHER'],
    ['with a uuid (the stranger took it, on another minor)', 'BASE', 'BASE'],
  ] as const) {
    test(`${what}: the undo's resume does not reach a stranger that replaced the suspended origin`, async () => {
      const p = await origin(ours);
      failSnap();
      let s!: Stranger;
      afterSuspendCall(1, () => { s = replace('base', { uuid: theirs, sameMinor: ours === undefined }); });
      await expect(p.snapshot(2, 1, { activeOrigin: 'base' })).rejects.toMatchObject({ code: 'EIO' });
      await settle();
      untouched(s);
    });
  }

  test('without a uuid: a suspend that reached a stranger is not undone by resuming it', async () => {
    const p = await origin(undefined);
    let s!: Stranger;
    before((e) => e.command === 'suspend', () => { s = replace('base', { uuid: 'OTHER' }); });
    await expect(p.snapshot(2, 1, { activeOrigin: 'base' })).rejects.toBeInstanceOf(DmIdentityError);
    await settle();
    untouched(s);
  });

  test('deactivate by name: a stranger that took the name after the thin was checked is not removed', async () => {
    const p = await origin(undefined);
    let tableSeen = false;
    let s!: Stranger;
    kernel.intercept({
      before: () => { if (tableSeen && !s) s = replace('base', { uuid: 'OTHER' }); },
      after: (e) => { if (e.command === 'status') tableSeen = true; }, // DM_TABLE_STATUS: the table read that checks the thin
    });
    await expect(p.deactivate('base')).rejects.toBeInstanceOf(DmIdentityError);
    untouched(s);
  });

  test('the origin\'s own undo still happens: create_snap fails, the origin is resumed', async () => {
    const p = await origin('BASE');
    failSnap();
    await expect(p.snapshot(2, 1, { activeOrigin: 'base' })).rejects.toMatchObject({ code: 'EIO' });
    expect(kernel.devices.get('base')!.suspended).toBe(false);
  });
});

describe('FaultyDevice mode switch', () => {
  test('a resume that fails: the undo (clear, resume) does not reach a stranger that took our uuid on another minor', async () => {
    const f = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/loop0', sizeSectors: 64 });
    suspendCalls((n) => (n >= 2 && n <= 4 ? { errno: ERRNO.EIO } : undefined)); // the 3 resume attempts
    let s!: Stranger;
    afterSuspendCall(4, () => { s = replace('fd', { uuid: 'FAULTY-fd' }); });
    await expect(f.failAll()).rejects.toMatchObject({ code: 'EIO' });
    await settle();
    untouched(s);
  });

  test('a mode switch on a device someone else had suspended: refused (EBUSY) before any load, and left suspended', async () => {
    const f = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/loop0', sizeSectors: 64 });
    a.call('suspend', { id: { name: 'fd' }, action: 'suspend' });
    suspendCalls((n) => (n >= 2 && n <= 4 ? { errno: ERRNO.EIO } : undefined));
    await expect(f.failAll()).rejects.toMatchObject({ code: 'EBUSY' });
    const d = kernel.devices.get('fd')!;
    expect(d.suspended).toBe(true);
    expect(d.inactive).toBeUndefined(); // nothing staged in their inactive slot
    expect(d.live?.lines[0]?.type).toBe('linear');
  });
});

describe('single calls and rollbacks', () => {
  test('dm.suspend that lands after its timeout: the late resume does not reach a stranger that took the name and minor', async () => {
    await dm.createDevice({ name: 'x', table: zero(8) });
    suspendCalls((n) => (n === 1 ? { delayMs: 60 } : undefined));
    let s!: Stranger;
    afterSuspendCall(1, () => { s = replace('x', { uuid: 'OTHER', sameMinor: true }); });
    await expect(dm.suspend('x', { timeoutMs: 10 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await settle(100);
    expect(s).toBeDefined();
    untouched(s);
  });

  test('dm.create that lands after its timeout: the late remove does not reach a stranger that took the name and minor', async () => {
    let creates = 0;
    kernel.intercept({ fault: (e) => (e.command === 'create' && ++creates === 1 ? { delayMs: 60 } : undefined) });
    let landed = false;
    let s!: Stranger;
    kernel.intercept({
      before: () => { if (landed && !s) s = replace('x', { uuid: 'OTHER', sameMinor: true }); },
      after: (e) => { if (e.command === 'create') landed = true; },
    });
    await expect(dm.create({ name: 'x', timeoutMs: 10 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await settle(100);
    expect(s).toBeDefined();
    untouched(s);
  });

  test('createDevice\'s rollback does not remove a device that took over our uuid on another minor', async () => {
    let n = 0;
    kernel.intercept({ fault: (e) => (e.command === 'suspend' && ++n === 1 ? { errno: ERRNO.EIO } : undefined) }); // the resume fails
    let s!: Stranger;
    afterSuspendCall(1, () => { s = replace('x', { uuid: 'MINE' }); });
    await expect(dm.createDevice({ name: 'x', uuid: 'MINE', table: zero(8) })).rejects.toMatchObject({ code: 'EIO' });
    untouched(s);
  });
});
