// Hostile input, part 3: every public method of DeviceMapper, found by reflection, gets
// hostile values in each argument position (generated from a description of what the
// position takes): null, undefined, Symbols, sparse arrays, wrong types, unknown and
// missing keys. Each call must fail with a typed error (DmCodecError, whose subclass
// DmArgumentError names the argument) and must not have issued an ioctl.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmArgumentError, DmCodecError } from '../../lib/index.js';
import { SimulatedKernel } from '../../lib/testing/index.js';

type Kind = 'boolean' | 'string' | 'uint' | 'sectors' | 'signal' | 'any';

/** What one argument position takes. */
type Slot =
  | { readonly kind: 'device' }
  | { readonly kind: 'targets' }
  | { readonly kind: 'value'; readonly of: Kind; readonly valid: unknown }
  /** An object of options; `required` keys must be present (then the slot is required). */
  | { readonly kind: 'object'; readonly keys: Readonly<Record<string, Kind>>; readonly required?: readonly string[]; readonly valid?: Readonly<Record<string, unknown>> };

const device: Slot = { kind: 'device' };
const targets: Slot = { kind: 'targets' };
const opts = (keys: Record<string, Kind>): Slot => ({ kind: 'object', keys });
const ZERO = { start: 0, length: 8, type: 'zero', params: '' };

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
  infoSync: [device, opts({ inactive: 'boolean' })],
  wait: [device, opts({ eventNr: 'uint', table: 'boolean', inactive: 'boolean', noflush: 'boolean', signal: 'signal' })],
  load: [device, targets, opts({ readOnly: 'boolean', secure: 'boolean' })],
  clear: [device],
  deps: [device, opts({ inactive: 'boolean' })],
  depsSync: [device, opts({ inactive: 'boolean' })],
  status: [device, opts({ inactive: 'boolean', noflush: 'boolean' })],
  table: [device, opts({ inactive: 'boolean', showKeys: 'boolean' })],
  tableSync: [device, opts({ inactive: 'boolean', showKeys: 'boolean' })],
  message: [device, { kind: 'value', of: 'sectors', valid: 0 }, { kind: 'value', of: 'string', valid: 'hello' }],
  setGeometry: [device, {
    kind: 'object', keys: { cylinders: 'uint', heads: 'uint', sectors: 'uint', start: 'sectors' },
    required: ['cylinders', 'heads', 'sectors', 'start'], valid: { cylinders: 1, heads: 1, sectors: 1, start: 0 },
  }],
  getTargetVersion: [{ kind: 'value', of: 'string', valid: 'zero' }],
  getTargetVersionSync: [{ kind: 'value', of: 'string', valid: 'zero' }],
  waitEvent: [device, opts({ eventNr: 'uint', statusTable: 'boolean', inactive: 'boolean', signal: 'signal' })],
  createDevice: [{
    kind: 'object', keys: { name: 'string', uuid: 'string', table: 'any', readOnly: 'boolean', secure: 'boolean', minor: 'uint' },
    required: ['name', 'table'], valid: { name: 'hx', table: [ZERO] },
  }],
  removeDevice: [device, opts({ deferred: 'boolean', signal: 'signal' })],
};

/** Methods not attacked here, and why. */
const EXCLUDED: Record<string, string> = {
  events: 'owned by the events work (lib/events.ts, lib/poller.ts); attacked there',
};

/** Values that are wrong for a kind (undefined is fine for an optional key, so not here). */
function wrongFor(kind: Kind): unknown[] {
  const always = [null, Symbol('hostile'), [], [, 1], {}, () => 1];
  switch (kind) {
    case 'boolean': return [...always, 'yes', 1, 0n];
    case 'string': return [...always, 5, true, 5n, new String('x')];
    case 'uint': return [...always, -1, 1.5, NaN, Infinity, 2 ** 53, '1', 1n, true];
    case 'sectors': return [...always, -1, 1.5, NaN, 2 ** 53, '0', -1n, true];
    case 'signal': return [...always, 'abort', 1, { aborted: true, reason: 'x' }];
    case 'any': return [];
  }
}

/** Wrong container values: not an object at all, or an object with hostile keys. */
const NOT_AN_OBJECT = [null, Symbol('hostile'), 42, 'str', true, 7n, [], [, 1], () => ({})];

function hostileValues(slot: Slot): { label: string; value: unknown }[] {
  const out: { label: string; value: unknown }[] = [];
  const add = (label: string, value: unknown) => out.push({ label, value });
  const show = (v: unknown) => (typeof v === 'symbol' ? 'Symbol' : typeof v === 'bigint' ? `${v}n` : typeof v === 'function' ? 'fn' : Array.isArray(v) && !(0 in v) && v.length ? '[hole]' : JSON.stringify(v) ?? String(v));
  switch (slot.kind) {
    case 'device':
      // A string is a device name (and names are the codec's to check): not hostile here.
      for (const v of [undefined, ...NOT_AN_OBJECT.filter((x) => typeof x !== 'string')]) add(show(v), v);
      for (const [label, v] of [
        ['{}', {}], ['name and uuid', { name: 'a', uuid: 'b' }], ['name and dev', { name: 'a', dev: { major: 1, minor: 1 } }],
        ['misspelt key', { nmae: 'a' }], ['extra key', { name: 'a', extra: 1 }], ['symbol key', { name: 'a', [Symbol('k')]: 1 }],
        ['dev null', { dev: null }], ['dev array', { dev: [1, 2] }], ['dev missing minor', { dev: { major: 1 } }],
        ['dev extra key', { dev: { major: 1, minor: 1, extra: 1 } }],
      ] as const) add(label, v);
      for (const v of wrongFor('string')) { add(`name ${show(v)}`, { name: v }); add(`uuid ${show(v)}`, { uuid: v }); }
      for (const v of wrongFor('uint')) { add(`major ${show(v)}`, { dev: { major: v, minor: 0 } }); add(`minor ${show(v)}`, { dev: { major: 0, minor: v } }); }
      break;
    case 'targets': {
      for (const v of [undefined, ...NOT_AN_OBJECT.filter((x) => !Array.isArray(x)), {}, { length: 1, 0: ZERO }]) add(show(v), v);
      const holey = [ZERO, ZERO];
      delete holey[1];
      for (const [label, v] of [
        ['[hole]', [, ZERO]], ['hole in the middle', [ZERO, , { ...ZERO, start: 16 }]], ['hole at the end', holey],
        ['[null]', [null]], ['[undefined]', [undefined]], ['[Symbol]', [Symbol('t')]], ['[string]', ['0 8 zero']], ['[array]', [[0, 8, 'zero', '']]], ['[{}]', [{}]],
        ['missing params', [{ start: 0, length: 8, type: 'zero' }]], ['missing type', [{ start: 0, length: 8, params: '' }]],
        ['extra key', [{ ...ZERO, device: '/dev/x' }]],
      ] as const) add(label, v);
      for (const v of wrongFor('sectors')) { add(`start ${show(v)}`, [{ ...ZERO, start: v }]); add(`length ${show(v)}`, [{ ...ZERO, length: v }]); }
      for (const v of wrongFor('string')) add(`type ${show(v)}`, [{ ...ZERO, type: v }]);
      for (const v of [null, 5, Symbol('p'), {}, [], new Uint16Array(2), 5n]) add(`params ${show(v)}`, [{ ...ZERO, params: v }]);
      break;
    }
    case 'value':
      for (const v of [undefined, ...wrongFor(slot.of)]) add(show(v), v);
      break;
    case 'object': {
      const required = slot.required ?? [];
      for (const v of required.length ? [undefined, ...NOT_AN_OBJECT] : NOT_AN_OBJECT) add(show(v), v);
      const base = slot.valid ?? {};
      add('unknown key', { ...base, bogus: true });
      add('symbol key', { ...base, [Symbol('k')]: true });
      for (const k of required) { const v: Record<string, unknown> = { ...base }; delete v[k]; add(`missing ${k}`, v); }
      for (const [k, kind] of Object.entries(slot.keys)) for (const v of wrongFor(kind)) add(`${k} ${show(v)}`, { ...base, [k]: v });
      if (slot.keys.table === 'any') for (const t of hostileValues(targets)) if (t.value !== undefined) add(`table ${t.label}`, { ...base, table: t.value });
      break;
    }
  }
  return out;
}

function validValue(slot: Slot): unknown {
  switch (slot.kind) {
    case 'device': return 'hx';
    case 'targets': return [ZERO];
    case 'value': return slot.valid;
    case 'object': return slot.valid;
  }
}

/** Calls f and returns what it threw or rejected with (or `undefined` if it did neither). */
async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  return undefined;
}

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

  test('the findings of the issue, one by one: typed errors, not TypeError', async () => {
    const before = totalCalls(kernel);
    for (const f of [
      () => dm.load('hx', null as never),
      () => dm.load('hx', [null] as never),
      () => dm.load('hx', [, ZERO] as never),
      () => dm.info({ dev: { major: Symbol('m') as never, minor: 0 } }),
      () => DeviceMapper.open({ backend: kernel.backend(), initialBufferSize: Symbol('b') as never }),
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
  const slot: Slot = { kind: 'object', keys: { path: 'string', initialBufferSize: 'uint', blocking: 'boolean' }, valid: {} };
  test('hostile options → a typed error before the control node is opened', async () => {
    const problems: string[] = [];
    let opened = 0;
    const backend = { ...kernel.backend(), openControl: async () => { opened++; return kernel.backend().openControl(); } };
    const values = [
      ...hostileValues(slot),
      { label: 'backend null', value: { backend: null } }, { label: 'backend Symbol', value: { backend: Symbol('b') } },
      { label: 'backend without openControl', value: { backend: {} } }, { label: 'backend.openControl not a function', value: { backend: { openControl: 1 } } },
      { label: 'initialBufferSize Symbol with a backend', value: { backend, initialBufferSize: Symbol('s') } },
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
