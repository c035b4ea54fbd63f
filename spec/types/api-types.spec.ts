/**
 * Types that fit: compile-time checks that `npx tsc --noEmit` enforces (a change
 * that breaks one fails the type check), with the runtime behaviour they describe.
 * `expectType<Equal<A, B>>()` fails to compile unless A and B are the same type.
 */
import { describe, expect, test } from '@jest/globals';
import {
  DeviceMapper, buildTarget,
  type CreateOptions, type DeviceEvent, type DeviceInfo, type DepsOptions, type Geometry, type InfoOptions, type ListOptions,
  type LoadOptions, type RemoveResult, type RenameTarget, type ResumeOptions, type StatusOptions, type SuspendOptions,
  type TableOptions, type TypedTarget,
} from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(): T | void { return undefined; }
type Param<M extends keyof DeviceMapper, I extends number> = DeviceMapper[M] extends (...a: infer P) => unknown ? P[I] : never;

describe('types that fit', () => {
  test('key params take any Uint8Array: a Node Buffer too', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const t: TypedTarget = { start: 0, length: 8, type: 'crypt', cipher: 'aes-xts-plain64', key, ivOffsetSectors: 0, device: '7:0', offsetSectors: 0 };
    const spec = buildTarget(t);
    expect(spec.params).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(spec.params as Uint8Array).toString()).toContain('0123456789abcdef0123456789abcdef');
  });

  test('DeviceEvent is a discriminated union: oldName is a string after narrowing on kind', () => {
    type Renamed = Extract<DeviceEvent, { kind: 'renamed' }>;
    expectType<Equal<Renamed['oldName'], string>>();
    const names = (e: DeviceEvent): string => (e.kind === 'renamed' ? `${e.oldName} → ${e.name}` : e.name);
    expect(names({ kind: 'renamed', name: 'b', oldName: 'a', oldUuid: null, uuid: null, dev: { major: 254, minor: 0, raw: 65024n }, eventNr: 0, delta: 0 })).toBe('a → b');
  });

  test('client options and results have names users can import', () => {
    expectType<Equal<Param<'list', 0>, ListOptions | undefined>>();
    expectType<Equal<Param<'create', 0>, CreateOptions>>();
    expectType<Equal<Param<'rename', 1>, RenameTarget>>();
    expectType<Equal<Param<'suspend', 1>, SuspendOptions | undefined>>();
    expectType<Equal<Param<'resume', 1>, ResumeOptions | undefined>>();
    expectType<Equal<Param<'info', 1>, InfoOptions | undefined>>();
    expectType<Equal<Param<'deps', 1>, DepsOptions | undefined>>();
    expectType<Equal<Param<'status', 1>, StatusOptions | undefined>>();
    expectType<Equal<Param<'table', 1>, TableOptions | undefined>>();
    expectType<Equal<Param<'load', 2>, LoadOptions | undefined>>();
    expectType<Equal<Param<'setGeometry', 1>, Geometry>>();
  });

  test('"no uuid" is null everywhere: info(), remove(), create(), list(), events', async () => {
    expectType<Equal<DeviceInfo['uuid'], string | null>>();
    expectType<Equal<RemoveResult['uuid'], string | null>>();
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const it = dm.events();
    const first = it.next(); // the stream's baseline is taken here, before the create
    await new Promise((r) => setTimeout(r, 20));
    const created = await dm.create({ name: 'plain' });
    expect(created.uuid).toBeNull();
    const info = await dm.info('plain');
    expect(info.exists && info.uuid).toBeNull();
    expect((await dm.list())[0]!.uuid).toBeNull();
    expect((await first).value).toMatchObject({ kind: 'added', name: 'plain', uuid: null });
    await it.return?.();
    expect((await dm.remove('plain')).uuid).toBeNull();
    dm.close();
  });

  test('rename resolves with the new identity, by name and by uuid', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.create({ name: 'a', uuid: 'U-1' });
    expect(await dm.rename('a', { newName: 'b' })).toMatchObject({ name: 'b', uuid: 'U-1' });
    expect(await dm.rename({ uuid: 'U-1' }, { newName: 'c' })).toMatchObject({ name: 'c', uuid: 'U-1' });
    await dm.create({ name: 'nouuid' });
    expect(await dm.rename('nouuid', { newUuid: 'U-2' })).toMatchObject({ name: 'nouuid', uuid: 'U-2' });
    const bytes = Uint8Array.from([0x64, 0xff]);
    const odd = await dm.rename('c', { newName: bytes });
    expect(odd.nameBytes).toEqual(bytes);
    expect((await dm.info({ name: bytes })).exists).toBe(true);
    dm.close();
  });
});
