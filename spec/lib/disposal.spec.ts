// docs/conventions.md, "Handles": whatever owns devices is `await using`-disposable. The
// classes of the package's entry points are enumerated, so a new handle that can release
// what it owns (a remove, destroy, detach or close method) but is not disposable fails here;
// and each handle's disposal is run on the simulator: what it owns is gone afterwards, and
// disposing what is already gone is no error.
import { describe, expect, test } from '@jest/globals';
import * as root from '../../lib/index.js';
import { attachLoop, DeviceMapper, FaultyDevice, ThinPool } from '../../lib/index.js';
import * as testing from '../../testing/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';

/**
 * Methods that say an object can release what it owns: one of these names taking no required
 * argument (a `destroy(cookie)` releases what its argument names, not the object's own).
 */
const RELEASERS = ['remove', 'destroy', 'detach', 'close', 'deactivate'];
const releases = (c: { prototype: object }): boolean => RELEASERS.some((m) => {
  const f = (c.prototype as Record<string, unknown>)[m];
  return typeof f === 'function' && f.length === 0;
});

function classesOf(mod: Record<string, unknown>): [string, { prototype: object }][] {
  return Object.entries(mod).filter((e): e is [string, { prototype: object }] =>
    typeof e[1] === 'function' && /^class\b/.test(Function.prototype.toString.call(e[1])));
}

describe('handles that own devices are await using-disposable', () => {
  test('every exported class with a method that releases what it owns has Symbol.asyncDispose', () => {
    const handles = classesOf({ ...root, ...testing })
      .filter(([, c]) => releases(c));
    const names = handles.map(([n]) => n).sort();
    // The walk must see the handles this rule is about, or it passes vacuously.
    expect(names).toEqual(expect.arrayContaining(['DeviceMapper', 'FaultyDevice', 'ThinPool']));
    const missing = handles.filter(([, c]) => typeof (c.prototype as Record<symbol, unknown>)[Symbol.asyncDispose] !== 'function').map(([n]) => n);
    expect(missing).toEqual([]);
  });

  test('a planted handle without asyncDispose is found', () => {
    class LeakyHandle { async remove(): Promise<void> {} }
    const found = classesOf({ LeakyHandle })
      .filter(([, c]) => releases(c))
      .filter(([, c]) => typeof (c.prototype as Record<symbol, unknown>)[Symbol.asyncDispose] !== 'function');
    expect(found.map(([n]) => n)).toEqual(['LeakyHandle']);
  });

  test('each handle releases what it owns at the end of its scope, and a second disposal is no error', async () => {
    const kernel = new SimulatedKernel();
    const io = simBlockIo(kernel);
    kernel.addBlockDevice('/dev/vdb', 252, 16, 1n << 21n);
    let client: DeviceMapper;
    {
      await using dm = await DeviceMapper.open({ backend: kernel.backend() });
      client = dm;
      {
        await using pool = await ThinPool.create(dm, { name: 'p', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n } });
        await pool.createThin(1);
        await pool.activate(1, { name: 't1', sizeSectors: 8192 });
        await using disk = await FaultyDevice.create(dm, { name: 'fd', device: '/dev/vdb' });
        await io.ensureFile('/img', 8n << 20n);
        await using loop = await attachLoop('/img', { dm });
        expect(new Set(kernel.devices.keys())).toEqual(new Set(['p', 't1', 'fd']));
        expect(io.loops.size).toBe(3);
        void disk; void loop;
      }
      expect([...kernel.devices.keys()]).toEqual([]);
      expect(io.loops.size).toBe(0);
    }
    await expect(client.version()).rejects.toBeInstanceOf(root.DmClosedError);
    await client[Symbol.asyncDispose]();
  });
});
