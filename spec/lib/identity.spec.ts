// The adversarial cases of "never the wrong device": another process acts between two of
// our ioctls (through the simulator's interceptors), and our operations must never load,
// resume, rename or remove a device they did not create or identify.
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import {
  DeviceMapper, DmAbortError, DmClosedError, DmCodecError, DmError, DmIdentityError,
} from '../../lib/index.js';
import type { CommandName } from '../../codec/index.js';
import { SimulatedKernel, type SimDevice } from '../../testing/index.js';
import { Actor } from './actor.js';
import { cliEnv } from '../cli/harness.js';

const zero = (length = 8) => [{ start: 0, length, type: 'zero', params: '' }];

async function setup() {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim' }) });
  return { kernel, dm, adversary: new Actor(kernel) };
}

/** Runs `act` once, just before the victim's `nth` ioctl of `command` reaches the kernel. */
function before(kernel: SimulatedKernel, command: CommandName, act: () => void, nth = 1, label: string | null = 'victim') {
  let seen = 0;
  const off = kernel.intercept({
    before: (e) => {
      if ((e.label ?? null) === label && e.command === command && ++seen === nth) { off(); act(); }
    },
  });
  return off;
}

/** Every device the victim's successful ioctls reached, per command. */
function touched(kernel: SimulatedKernel, label = 'victim') {
  const log: { command: CommandName | undefined; device: SimDevice | undefined }[] = [];
  kernel.intercept({ after: (e) => { if (e.label === label && e.errno === 0) log.push({ command: e.command, device: e.device }); } });
  return log;
}

afterEach(() => { jest.useRealTimers(); });

describe('createDevice never lands on another device', () => {
  test('rollback does not remove an unrelated device that took the freed minor (data loss)', async () => {
    const { kernel, dm, adversary } = await setup();
    let victim: SimDevice | undefined;
    before(kernel, 'load', () => {
      adversary.remove({ name: 'x' });
      victim = adversary.createLive('victim'); // gets x's minor: the lowest free one
    });
    const err = await dm.createDevice({ name: 'x', table: zero() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmError);
    expect((err as DmError).code).toBe('ENXIO');
    expect(kernel.devices.get('victim')).toBe(victim);
    expect(victim!.live).toBeDefined();
    dm.close();
  });

  test('with a uuid, a name re-created by someone else never gets our table (no false success)', async () => {
    const { kernel, dm, adversary } = await setup();
    let other: SimDevice | undefined;
    before(kernel, 'load', () => {
      adversary.remove({ name: 'x' });
      other = adversary.create('x', { uuid: 'OTHER' });
    });
    const err = await dm.createDevice({ name: 'x', uuid: 'MINE', table: zero(24) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmError);
    expect(kernel.devices.get('x')).toBe(other);
    expect(other!.live).toBeUndefined();
    expect(other!.inactive).toBeUndefined();
    dm.close();
  });

  test('with a uuid, a re-creation between load and resume is never resumed', async () => {
    const { kernel, dm, adversary } = await setup();
    let other: SimDevice | undefined;
    before(kernel, 'suspend', () => {
      adversary.remove({ name: 'x' });
      other = adversary.create('x', { uuid: 'OTHER' });
      adversary.call('load', { id: { name: 'x' }, targets: zero(40) });
    });
    await expect(dm.createDevice({ name: 'x', uuid: 'MINE', table: zero(24) })).rejects.toMatchObject({ code: 'ENXIO' });
    expect(other!.live).toBeUndefined(); // its own table stays inactive: nobody resumed it
    expect(other!.inactive?.lines[0]?.length).toBe(40n);
    dm.close();
  });

  test('without a uuid, a stranger under the name is detected, never resumed, never removed', async () => {
    const { kernel, dm, adversary } = await setup();
    const log = touched(kernel);
    let other: SimDevice | undefined;
    before(kernel, 'load', () => {
      adversary.remove({ name: 'x' });
      adversary.create('filler'); // takes the freed minor, so the stranger differs by dev
      other = adversary.create('x');
    });
    const err = await dm.createDevice({ name: 'x', table: zero(24) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect(err).toMatchObject({ code: 'DEVICE_REPLACED', step: 'load', acted: true, expected: { name: 'x', uuid: null }, actual: { name: 'x', uuid: null } });
    expect(kernel.devices.get('x')).toBe(other);
    expect(other!.live).toBeUndefined();
    // The only call that reached it is the load whose reply revealed it; no resume, no remove.
    expect(log.filter((l) => l.device === other).map((l) => l.command)).toEqual(['load', 'info']);
    dm.close();
  });

  test('rollback retries EBUSY: a device held open for a moment is still removed', async () => {
    const { kernel, dm } = await setup();
    kernel.addBlockDevice('/dev/loop9', 7, 9, 100);
    before(kernel, 'load', () => {
      kernel.openDevice('x'); // blkid probing the new node
      setTimeout(() => kernel.closeDevice('x'), 30);
    });
    const err = await dm.createDevice({ name: 'x', table: [{ start: 0, length: 8, type: 'linear', params: '/dev/missing 0' }], rollback: { delayMs: 5 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ command: 'load' });
    expect((err as { cleanupError?: unknown }).cleanupError).toBeUndefined();
    expect(kernel.devices.size).toBe(0);
    expect((kernel.calls.get('remove') ?? 0)).toBeGreaterThan(1);
    dm.close();
  });

  test('an invalid table (gap, overlap, bad sector) fails before the first ioctl', async () => {
    const { kernel, dm } = await setup();
    const bad = [
      [{ start: 0, length: 8, type: 'zero', params: '' }, { start: 16, length: 8, type: 'zero', params: '' }],
      [{ start: 0, length: 8, type: 'zero', params: '' }, { start: 4, length: 8, type: 'zero', params: '' }],
      [{ start: -1, length: 8, type: 'zero', params: '' }],
      [{ start: 0, length: 1.5, type: 'zero', params: '' }],
    ];
    for (const table of bad) {
      await expect(dm.createDevice({ name: 'x', table })).rejects.toBeInstanceOf(DmCodecError);
    }
    await expect(dm.createDevice({ name: 'x', table: zero(), rollback: { retries: NaN } })).rejects.toBeInstanceOf(DmCodecError);
    expect(kernel.calls.get('create')).toBeUndefined();
    expect(kernel.calls.get('remove')).toBeUndefined();
    dm.close();
  });
});

describe('removeDevice: every retry reaches the same device', () => {
  test.each([
    ['a stranger with a uuid', (a: Actor) => a.create('x', { uuid: 'OTHER' })],
    ['a stranger on another minor', (a: Actor) => { a.create('filler'); return a.create('x'); }],
  ])('without a uuid, %s under the name between two attempts is not removed', async (_what, make) => {
    const { kernel, dm, adversary } = await setup();
    await dm.createDevice({ name: 'x', table: zero() });
    kernel.openDevice('x');
    let other: SimDevice | undefined;
    kernel.intercept({
      after: (e) => {
        if (e.label === 'victim' && e.command === 'remove' && e.errno !== 0 && !other) {
          kernel.closeDevice('x');
          adversary.remove({ name: 'x' });
          other = make(adversary);
        }
      },
    });
    const err = await dm.removeDevice('x', { delayMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect(err).toMatchObject({ step: 'info', acted: false });
    expect(kernel.devices.get('x')).toBe(other);
    dm.close();
  });

  test('with a uuid, retries go by uuid: the re-created name is not removed', async () => {
    const { kernel, dm, adversary } = await setup();
    await dm.createDevice({ name: 'x', uuid: 'MINE', table: zero() });
    kernel.openDevice('x');
    let other: SimDevice | undefined;
    kernel.intercept({
      after: (e) => {
        if (e.label === 'victim' && e.command === 'remove' && e.errno !== 0 && !other) {
          kernel.closeDevice('x');
          adversary.remove({ name: 'x' });
          other = adversary.createLive('x'); // same name, same minor, no uuid
        }
      },
    });
    await expect(dm.removeDevice('x', { delayMs: 1 })).rejects.toMatchObject({ code: 'ENXIO', command: 'remove' });
    expect(kernel.devices.get('x')).toBe(other);
    dm.close();
  });

  test('options are validated before any ioctl: NaN, Infinity, negative, fractional', async () => {
    const { kernel, dm } = await setup();
    await dm.create({ name: 'x' });
    for (const o of [{ retries: NaN }, { retries: Infinity }, { retries: -1 }, { delayMs: NaN }, { delayMs: 1.5 }, { delayMs: -5 }]) {
      await expect(dm.removeDevice('x', o)).rejects.toBeInstanceOf(DmCodecError);
    }
    expect(kernel.calls.get('remove')).toBeUndefined();
    expect(kernel.calls.get('info')).toBeUndefined();
    dm.close();
  });

  test('an already-aborted signal sends nothing; an abort during an attempt stops before the delay', async () => {
    const { kernel, dm } = await setup();
    await dm.createDevice({ name: 'x', table: zero() });
    await expect(dm.removeDevice('x', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(DmAbortError);
    expect(kernel.calls.get('remove')).toBeUndefined();
    kernel.openDevice('x');
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const ac = new AbortController();
    kernel.intercept({ after: (e) => { if (e.label === 'victim' && e.command === 'remove') ac.abort(); } });
    // With fake timers nothing sleeps unless the test advances them: a sleep that ignored the
    // abort would never end, and this await would hang.
    await expect(dm.removeDevice('x', { delayMs: 5000, signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    expect(jest.getTimerCount()).toBe(0);
    expect(kernel.devices.has('x')).toBe(true);
    dm.close();
  });
});

describe('rename by uuid or dev', () => {
  test.each([
    ['uuid', { uuid: 'MINE' }],
    ['dev', undefined],
  ])('by %s: a name re-created between the lookup and the rename is reported, not passed off as ours', async (_by, id) => {
    const { kernel, dm, adversary } = await setup();
    const ours = await dm.createDevice({ name: 'x', uuid: 'MINE', table: zero() });
    before(kernel, 'rename', () => {
      adversary.rename('x', 'moved'); // ours steps aside…
      adversary.create('x', { uuid: 'OTHER' }); // …and the name is someone else's
    });
    const err = await dm.rename(id ?? { dev: ours.dev }, { newName: 'y' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmIdentityError);
    expect(err).toMatchObject({ step: 'rename', acted: true });
    dm.close();
  });

  test('the same minor is caught too: the device under the new name must be the one resolved', async () => {
    const { kernel, dm, adversary } = await setup();
    await dm.createDevice({ name: 'x', uuid: 'MINE', table: zero() });
    before(kernel, 'rename', () => {
      adversary.remove({ uuid: 'MINE' });
      adversary.create('x', { uuid: 'OTHER' }); // gets the freed minor: the reply's dev matches
    });
    await expect(dm.rename({ uuid: 'MINE' }, { newName: 'y' })).rejects.toMatchObject({ code: 'DEVICE_REPLACED', actual: { uuid: 'OTHER' } });
    dm.close();
  });
});

describe('dmctl remove --force', () => {
  test('a name re-created after the identity is taken gets neither the error table nor the remove', async () => {
    const { kernel, dmctl, cleanup } = cliEnv();
    try {
      const adversary = new Actor(kernel);
      adversary.createLive('x', { sectors: 32 });
      let other: SimDevice | undefined;
      before(kernel, 'status', () => {
        adversary.remove({ name: 'x' });
        other = adversary.createLive('x', { uuid: 'OTHER', sectors: 64 });
      }, 1, null); // dmctl's client has no label
      const r = await dmctl(['remove', '--force', 'x']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/replaced.*nothing was changed/);
      expect(kernel.devices.get('x')).toBe(other);
      expect(other!.live?.lines.map((l) => [l.type, l.length])).toEqual([['zero', 64n]]);
      expect(other!.inactive).toBeUndefined();
    } finally {
      cleanup();
    }
  });

  test('without a uuid, the load that meets a stranger stops everything after it (the documented window)', async () => {
    const { kernel, dmctl, cleanup } = cliEnv();
    try {
      const adversary = new Actor(kernel);
      adversary.createLive('x', { sectors: 32 });
      let other: SimDevice | undefined;
      before(kernel, 'load', () => {
        adversary.remove({ name: 'x' });
        other = adversary.createLive('x', { uuid: 'OTHER', sectors: 64 });
      }, 1, null); // dmctl's client has no label
      const r = await dmctl(['remove', '--force', 'x']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/replaced/);
      expect(kernel.devices.get('x')).toBe(other); // not removed
      expect(other!.live?.lines.map((l) => [l.type, l.length])).toEqual([['zero', 64n]]); // not resumed
    } finally {
      cleanup();
    }
  });

  test('with a uuid every step goes by uuid: ours is removed even after a rename, the new holder of the name is not touched', async () => {
    const { kernel, dmctl, cleanup } = cliEnv();
    try {
      const adversary = new Actor(kernel);
      const ours = adversary.createLive('x', { uuid: 'U1' });
      let other: SimDevice | undefined;
      before(kernel, 'load', () => {
        adversary.rename('x', 'moved');
        other = adversary.createLive('x', { sectors: 64 });
      }, 1, null);
      const r = await dmctl(['remove', '--force', 'x']);
      expect(r).toMatchObject({ code: 0 });
      expect([...kernel.devices.values()]).toEqual([other]);
      expect(ours.live?.lines.map((l) => l.type)).toEqual(['error']); // the error table went to ours
      expect(other!.live?.lines.map((l) => [l.type, l.length])).toEqual([['zero', 64n]]);
      expect(other!.inactive).toBeUndefined();
    } finally {
      cleanup();
    }
  });
});

describe('dmctl rename -u', () => {
  test('a name re-created between the lookup and the rename is reported, and its node is not moved', async () => {
    const { kernel, dmctl, nodes, cleanup } = cliEnv();
    try {
      const adversary = new Actor(kernel);
      adversary.createLive('x', { uuid: 'MINE' });
      before(kernel, 'rename', () => {
        adversary.rename('x', 'moved');
        adversary.createLive('x', { uuid: 'OTHER' });
      }, 1, null);
      const r = await dmctl(['rename', '-u', 'MINE', 'y']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/replaced/);
      expect(nodes.has('/dev/mapper/y')).toBe(false);
    } finally {
      cleanup();
    }
  });
});

describe('close() while operations run', () => {
  test('a createDevice in flight stops at its next step, rolls back, then the fd closes', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim' }) });
    const off = kernel.intercept({ after: (e) => { if (e.command === 'create') { off(); dm.close(); } } });
    const err = await dm.createDevice({ name: 'x', table: zero() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmClosedError);
    expect(kernel.devices.size).toBe(0); // no device without a table left behind
    expect(kernel.openFds).toBe(0);
  });

  test('a removeDevice waiting between EBUSY attempts stops at once with DmClosedError', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim' }) });
    await dm.createDevice({ name: 'x', table: zero() });
    kernel.openDevice('x');
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    kernel.intercept({ after: (e) => { if (e.command === 'remove') setImmediate(() => dm.close()); } });
    // Fake timers: a delay that close() did not cut short would never end.
    await expect(dm.removeDevice('x', { delayMs: 5000 })).rejects.toBeInstanceOf(DmClosedError);
    expect(jest.getTimerCount()).toBe(0);
    expect(kernel.openFds).toBe(0);
    expect(kernel.devices.has('x')).toBe(true);
  });

  test('asyncDispose waits for the rollback; new calls after close fail with DmClosedError', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend({ label: 'victim' }) });
    let disposed: Promise<void> | undefined;
    kernel.intercept({
      after: (e) => {
        if (e.command !== 'create') return;
        kernel.openDevice('x'); // the rollback will meet EBUSY and have to wait
        setTimeout(() => kernel.closeDevice('x'), 20);
        disposed = dm[Symbol.asyncDispose]();
      },
    });
    const p = dm.createDevice({ name: 'x', table: zero(), rollback: { delayMs: 2 } }).catch((e: unknown) => e);
    while (!disposed) await new Promise((r) => setImmediate(r));
    await expect(dm.info('x')).rejects.toBeInstanceOf(DmClosedError);
    await expect(dm.create({ name: 'z' })).rejects.toBeInstanceOf(DmClosedError);
    await expect(dm.createDevice({ name: 'z', table: zero() })).rejects.toBeInstanceOf(DmClosedError);
    expect(kernel.openFds).toBe(1); // the rollback still needs the control fd
    await disposed;
    expect(await p).toBeInstanceOf(DmClosedError);
    expect(kernel.devices.size).toBe(0);
    expect(kernel.openFds).toBe(0);
    dm.close(); // idempotent
  });
});
