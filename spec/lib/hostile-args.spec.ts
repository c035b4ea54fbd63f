// Hostile input, part 3: every public method of DeviceMapper, found by reflection, gets
// hostile values in each argument position (generated from a description of what the
// position takes): null, undefined, Symbols, sparse arrays, wrong types, unknown and
// missing keys. Each call must fail with a typed error (DmCodecError, whose subclass
// DmArgumentError names the argument) and must not have issued an ioctl.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmArgumentError, DmCodecError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

import { failure, hostileValues, validValue, ZERO, type Kind, type Slot } from './hostile-values.js';

const device: Slot = { kind: 'device' };
const targets: Slot = { kind: 'targets' };
const opts = (keys: Record<string, Kind>): Slot => ({ kind: 'object', keys });
/** A batch's device list: not an array, holes, and every hostile device inside an array. */
const devices: Slot = {
  kind: 'custom', valid: ['hx'],
  hostile: [undefined, null, 'hx', {}, { length: 1, 0: 'hx' }, [, 'hx'], ...hostileValues(device).map((d) => ['hx', d.value])],
};

/** createMany's list of createDevice options: not an array, holes, and bad specs inside an array. */
const createSpecs: Slot = {
  kind: 'custom', valid: [{ name: 'hx', table: [ZERO] }],
  hostile: [undefined, null, 'hx', {}, { length: 1, 0: { name: 'hx', table: [ZERO] } }, [, { name: 'hx', table: [ZERO] }], [{ name: 'hx' }], [{ name: 'hx', table: [] }],
    [{ name: 'hx', table: [ZERO], bogus: 1 }], [{ name: 7, table: [ZERO] }], [{ name: 'hx', table: [ZERO], udevCookie: 1 }], [null]],
};

/**
 * Every method of DeviceMapper.prototype and what its arguments take. A method missing
 * here fails the test: new API must say how it is attacked, or why not (EXCLUDED).
 */
const SIGNATURES: Record<string, readonly Slot[]> = {
  version: [], versionSync: [], listVersions: [], listVersionsSync: [], armPoll: [], armPollSync: [], close: [],
  removeAll: [opts({ deferred: 'boolean' })],
  list: [opts({ namePrefix: 'string', uuidPrefix: 'string' })],
  listSync: [opts({ namePrefix: 'string', uuidPrefix: 'string' })],
  create: [{ kind: 'object', keys: { name: 'string', uuid: 'string', minor: 'uint' }, required: ['name'], valid: { name: 'hx' } }],
  remove: [device, opts({ deferred: 'boolean' })],
  cancelDeferredRemove: [device],
  rename: [device, { kind: 'object', keys: { newName: 'string', newUuid: 'string' }, required: ['newName'], valid: { newName: 'hy' } }],
  suspend: [device, opts({ noflush: 'boolean', skipLockfs: 'boolean' })],
  resume: [device, opts({ noflush: 'boolean', skipLockfs: 'boolean' })],
  info: [device, opts({ inactive: 'boolean' })],
  infoMany: [devices, opts({ inactive: 'boolean' })],
  statusMany: [devices, opts({ inactive: 'boolean', noflush: 'boolean' })],
  infoSync: [device, opts({ inactive: 'boolean' })],
  wait: [device, opts({ eventNr: 'uint', table: 'boolean', inactive: 'boolean', noflush: 'boolean', signal: 'signal' })],
  load: [device, targets, opts({ readOnly: 'boolean', secure: 'boolean' })],
  clear: [device],
  deps: [device, opts({ inactive: 'boolean' })],
  depsSync: [device, opts({ inactive: 'boolean' })],
  depsWithInfo: [device, opts({ inactive: 'boolean' })],
  depsWithInfoSync: [device, opts({ inactive: 'boolean' })],
  status: [device, opts({ inactive: 'boolean', noflush: 'boolean' })],
  table: [device, opts({ inactive: 'boolean', showKeys: 'boolean' })],
  tableSync: [device, opts({ inactive: 'boolean', showKeys: 'boolean' })],
  message: [device, { kind: 'value', of: 'sectors', valid: 0 }, { kind: 'value', of: 'string', valid: 'hello' }],
  setGeometry: [device, {
    kind: 'object', keys: { cylinders: 'uint', heads: 'uint', sectorsPerTrack: 'uint', startSectors: 'sectors' },
    required: ['cylinders', 'heads', 'sectorsPerTrack', 'startSectors'], valid: { cylinders: 1, heads: 1, sectorsPerTrack: 1, startSectors: 0 },
  }],
  getTargetVersion: [{ kind: 'value', of: 'string', valid: 'zero' }],
  getTargetVersionSync: [{ kind: 'value', of: 'string', valid: 'zero' }],
  createDevice: [{
    kind: 'object', keys: { name: 'string', uuid: 'string', table: 'any', readOnly: 'boolean', secure: 'boolean', minor: 'uint' },
    required: ['name', 'table'], valid: { name: 'hx', table: [ZERO] },
  }],
  removeDevice: [device, opts({ deferred: 'boolean', signal: 'signal' })],
  recover: [opts({ dryRun: 'boolean', signal: 'signal' })],
  removeMany: [devices, opts({ deferred: 'boolean', concurrency: 'uint', stopOnError: 'boolean', signal: 'signal' })],
  createMany: [createSpecs, opts({ concurrency: 'uint', stopOnError: 'boolean', signal: 'signal' })],
};

/** Methods not attacked here, and why. */
const EXCLUDED: Record<string, string> = {
  events: 'owned by the events work (lib/events/device-events.ts, lib/events/event-poller.ts); attacked there',
};

const totalCalls = (k: SimulatedKernel) => [...k.calls.values()].reduce((a, b) => a + b, 0);

let kernel: SimulatedKernel;
let dm: DeviceMapper;
beforeAll(async () => {
  kernel = new SimulatedKernel();
  dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.createDevice({ name: 'hx', table: [ZERO] });
});
afterAll(() => dm.close());

/** Methods × hostile values attacked (the closing note reports it). */
let attacked = 0;

describe('every public method of DeviceMapper, found by reflection', () => {
  const methods = Object.getOwnPropertyNames(DeviceMapper.prototype).filter((n) => {
    const d = Object.getOwnPropertyDescriptor(DeviceMapper.prototype, n)!;
    return n !== 'constructor' && typeof d.value === 'function';
  });

  test('each is described (attacked) or excluded with a reason', () => {
    const unknown = methods.filter((m) => !(m in SIGNATURES) && !(m in EXCLUDED));
    expect(unknown).toEqual([]);
    const stale = Object.keys(SIGNATURES).filter((m) => !methods.includes(m));
    expect(stale).toEqual([]);
    expect(methods.length).toBeGreaterThan(30);
  });

  test.each(Object.keys(SIGNATURES).filter((m) => SIGNATURES[m]!.length > 0))('%s: every hostile argument → a typed error, no ioctl', async (method) => {
    const slots = SIGNATURES[method]!;
    const problems: string[] = [];
    for (let i = 0; i < slots.length; i++) {
      for (const { label, value } of hostileValues(slots[i]!)) {
        const args = slots.map((s, j) => (j === i ? value : validValue(s)));
        const before = totalCalls(kernel);
        const e = await failure(() => (dm as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args));
        attacked++;
        const where = `${method} arg ${i} = ${label}`;
        if (!(e instanceof DmCodecError)) problems.push(`${where}: ${e === undefined ? 'no error' : `${(e as Error).name}: ${(e as Error).message}`}`);
        if (totalCalls(kernel) !== before) problems.push(`${where}: ${totalCalls(kernel) - before} ioctl(s) issued`);
      }
    }
    expect(problems).toEqual([]);
    // The device the valid arguments name is untouched.
    expect(await dm.info('hx')).toMatchObject({ exists: true, targetCount: 1 });
  });

  test('positive control: the valid arguments pass every check (each method on a fresh device)', async () => {
    const rejected: string[] = [];
    for (const [method, slots] of Object.entries(SIGNATURES)) {
      if (method === 'close' || method === 'wait') continue; // close ends the client; a wait would wait
      const k = new SimulatedKernel();
      const c = await DeviceMapper.open({ backend: k.backend() });
      await c.createDevice({ name: 'hx', table: [ZERO] });
      const e = await failure(() => (c as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...slots.map(validValue)));
      if (e instanceof DmArgumentError) rejected.push(`${method}: ${e.message}`);
      c.close();
    }
    expect(rejected).toEqual([]);
  });

  test('the findings of the issue, one by one: typed errors, not TypeError', async () => {
    const before = totalCalls(kernel);
    for (const f of [
      () => dm.load('hx', null as never),
      () => dm.load('hx', [null] as never),
      () => dm.load('hx', [, ZERO] as never),
      () => dm.info({ dev: { major: Symbol('m') as never, minor: 0 } }),
      () => DeviceMapper.open({ backend: kernel.backend(), initialBufferBytes: Symbol('b') as never }),
    ]) {
      const e = await failure(f);
      expect(e).toBeInstanceOf(DmArgumentError);
      expect(e).not.toBeInstanceOf(TypeError);
    }
    expect(totalCalls(kernel)).toBe(before);
  });

  test('a type error names the argument and says what it must be', async () => {
    const e = await failure(() => dm.load('hx', [ZERO, , ZERO] as never));
    expect(e).toBeInstanceOf(DmArgumentError);
    expect(e).toMatchObject({ code: 'INVALID_TABLE', argument: 'targets[1]' });
    const s = await failure(() => dm.info({ dev: { major: Symbol('m') as never, minor: 0 } }));
    expect(s).toMatchObject({ name: 'DmArgumentError', code: 'INVALID_ARGUMENT', argument: 'device.dev.major', message: 'device.dev.major must be a non-negative integer, got a symbol' });
    const o = await failure(() => dm.load('hx', [ZERO], { readonly: true } as never));
    expect(o).toMatchObject({ argument: 'options.readonly', message: expect.stringContaining('one of the options readOnly, secure') });
  });
});

describe('DeviceMapper.open', () => {
  const slot: Slot = { kind: 'object', keys: { path: 'string', initialBufferBytes: 'uint', blocking: 'boolean', skipOpenCount: 'boolean' }, valid: {} };
  test('hostile options → a typed error before the control node is opened', async () => {
    const problems: string[] = [];
    let opened = 0;
    const backend = { ...kernel.backend(), openControl: async () => { opened++; return kernel.backend().openControl(); } };
    const values = [
      ...hostileValues(slot),
      { label: 'backend null', value: { backend: null } }, { label: 'backend Symbol', value: { backend: Symbol('b') } },
      { label: 'backend without openControl', value: { backend: {} } }, { label: 'backend.openControl not a function', value: { backend: { openControl: 1 } } },
      { label: 'initialBufferBytes Symbol with a backend', value: { backend, initialBufferBytes: Symbol('s') } },
    ];
    for (const { label, value } of values) {
      const e = await failure(() => DeviceMapper.open(value as never));
      attacked++;
      if (!(e instanceof DmCodecError)) problems.push(`open(${label}): ${e === undefined ? 'no error' : `${(e as Error).name}: ${(e as Error).message}`}`);
    }
    expect(problems).toEqual([]);
    expect(opened).toBe(0);
  });
});

afterAll(() => {
  // The closing note's count.
  process.stdout.write(`hostile-args: ${attacked} method × hostile value calls\n`);
});
