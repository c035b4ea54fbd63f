// Typed tables through the client on the simulated kernel: build → load (secure when keys are
// present, built key bytes wiped) → table → parse equals normalise. The simulator knows only
// linear/striped/zero/error, so the other targets are registered as echo targets that print
// their args with devices as major:minor, as the kernel does.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DeviceMapper, TARGET_UNITS, createTypedDevice, loadTypedTable, normalise, parseTable, type TypedTarget } from '../../lib/index.js';
import { SimulatedKernel, SimError, type SimBlockDevice, type SimTargetType } from '../../testing/index.js';
import type { TargetSpecInput } from '../../codec/index.js';
import { KEY32, TABLE_CASES, resolveLoop } from './cases.js';

function echoTarget(name: string): SimTargetType {
  return {
    name, version: [1, 0, 0],
    construct(argv, _len, ctx) {
      const deps: SimBlockDevice[] = [];
      const table = argv.map((a) => {
        const d = /^\/dev\/|^\d+:\d+$/.test(a) ? ctx.lookup(a) : undefined;
        if (/^\/dev\//.test(a) && !d) throw new SimError('ENODEV', `${name}: Device lookup failed`);
        if (d) deps.push(d);
        return d ? `${d.major}:${d.minor}` : a;
      }).join(' ');
      return { table, status: () => '', deps };
    },
  };
}

let kernel: SimulatedKernel;
let dm: DeviceMapper;

beforeEach(async () => {
  kernel = new SimulatedKernel();
  for (let i = 0; i < 8; i++) kernel.addBlockDevice(`/dev/loop${i}`, 7, i, 1 << 20);
  kernel.addBlockDevice('/dev/pool', 254, 0, 1 << 20);
  for (const t of Object.keys(TARGET_UNITS)) if (!['linear', 'striped', 'zero', 'error'].includes(t)) kernel.registerTarget(echoTarget(t));
  dm = await DeviceMapper.open({ backend: kernel.backend() });
});
afterEach(() => dm.close());

// Cases whose kernel text is the builder's text with devices resolved (no kernel defaults).
const echoCases = TABLE_CASES.filter((c) => c.kernel.trim() === c.params.replace(/\/dev\/loop(\d)/g, '7:$1'));

describe('typed tables through the client (simulator)', () => {
  test.each(echoCases.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const name = `tt-${c.name.replace(/\W+/g, '-')}`;
    const input = { ...c.input, start: 0 } as TypedTarget;
    await createTypedDevice(dm, { name, table: [input] });
    const parsed = parseTable((await dm.table(name)).targets);
    expect(parsed).toEqual([normalise(input, { resolve: resolveLoop })]);
    await dm.removeDevice(name);
  });

  test('crypt and integrity keys: secure load, built bytes wiped, caller key intact', async () => {
    const seen: { secure?: boolean; specs: readonly TargetSpecInput[] }[] = [];
    const loader = { load: async (device: string | object, specs: readonly TargetSpecInput[], o: { secure?: boolean } = {}) => {
      seen.push({ secure: o.secure, specs });
      return dm.load(device as string, specs, o);
    } };
    await dm.create({ name: 'tt-crypt' });
    const table: TypedTarget[] = [
      { start: 0, length: 2048, type: 'crypt', cipher: 'aes-xts-plain64', key: KEY32, ivOffsetSectors: 0, device: '/dev/loop0', offsetSectors: 0 },
      { start: 2048, length: 8, type: 'integrity', device: '/dev/loop1', offsetSectors: 0, tagSizeBytes: 32, mode: 'J', internalHash: { algorithm: 'hmac(sha256)', key: KEY32 } },
    ];
    await loadTypedTable(loader, 'tt-crypt', table);
    expect(seen[0]!.secure).toBe(true);
    expect(seen[0]!.specs.every((s) => s.params instanceof Uint8Array && s.params.every((b) => b === 0))).toBe(true);
    expect(KEY32[0]).toBe(0x01);
    await dm.resume('tt-crypt');
    // client.table() redacts as dmsetup does; the parser turns that into { redacted, size }
    const parsed = parseTable((await dm.table('tt-crypt')).targets);
    expect(parsed[0]).toMatchObject({ key: { redacted: true, sizeBytes: 32 } });
    const shown = parseTable((await dm.table('tt-crypt', { showKeys: true })).targets, { showKeys: true });
    expect(shown[0]).toMatchObject({ key: KEY32 });
    await loadTypedTable(loader, 'tt-crypt', [{ start: 0, length: 8, type: 'linear', device: '/dev/loop0', offsetSectors: 0 }]);
    expect(seen[1]!.secure).toBe(false);
    await dm.removeDevice('tt-crypt');
  });

  test('a verity table is loaded read-only; a DevNo from info.dev is a device', async () => {
    const seen: { readOnly?: boolean }[] = [];
    const loader = { load: async (_d: unknown, _s: readonly TargetSpecInput[], o: { readOnly?: boolean } = {}) => { seen.push(o); return undefined as never; } };
    const v: TypedTarget = { start: 0, length: 64, type: 'verity', version: 1, dataDevice: '/dev/loop6', hashDevice: '/dev/loop7', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 8, hashStartBlocks: 0, algorithm: 'sha256', rootDigest: new Uint8Array(32), salt: new Uint8Array(0) };
    await loadTypedTable(loader, 'x', [v]);
    await loadTypedTable(loader, 'x', [{ start: 0, length: 8, type: 'zero' }]);
    expect(seen.map((o) => o.readOnly)).toEqual([true, false]);
    const pool = await dm.create({ name: 'tt-pool' });
    const th: TypedTarget = { start: 0, length: 8, type: 'thin', poolDevice: pool.dev, deviceId: 0 };
    expect(normalise(th)).toMatchObject({ poolDevice: `${pool.dev.major}:${pool.dev.minor}` });
    await dm.remove('tt-pool');
  });

  test('a non-contiguous typed table is refused by the codec before the syscall, naming the line', async () => {
    await expect(createTypedDevice(dm, { name: 'tt-gap', table: [
      { start: 0, length: 8, type: 'zero' }, { start: 16, length: 8, type: 'linear', device: '/dev/loop0', offsetSectors: 0 },
    ] })).rejects.toMatchObject({ name: 'DmCodecError', code: 'INVALID_TABLE', message: expect.stringContaining('line 2') });
    expect((await dm.info('tt-gap')).exists).toBe(false);
  });
});
