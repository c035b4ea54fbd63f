// A failed call's kernelLog holds only the kernel lines that name its device;
// lines of other clients, processes or devices go to unattributedKernelLog and never into
// the message. Line formats: docs/kernel-facts.md, "Kernel log lines".
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmError } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { formatError } from '../../cli/errors.js';

const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];
const missing = (path: string) => [{ start: 0, length: 8, type: 'linear', params: `${path} 0` }];

async function failure(p: Promise<unknown>): Promise<DmError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof DmError)) throw new Error(`expected a DmError, got ${String(e)}`);
  return e;
}

async function setup(clients = 2) {
  const kernel = new SimulatedKernel();
  const dms = await Promise.all(Array.from({ length: clients }, () => DeviceMapper.open({ backend: kernel.backend() })));
  return { kernel, dms, close: () => { for (const dm of dms) dm.close(); } };
}

async function devOf(dm: DeviceMapper, name: string): Promise<string> {
  const i = await dm.info(name);
  if (!i.exists) throw new Error(`no ${name}`);
  return `${i.dev.major}:${i.dev.minor}`;
}

describe('kernel log attribution', () => {
  test('another client\'s "Device lookup failed" is not this call\'s (remove of an unrelated name)', async () => {
    const { dms: [a, b], close } = await setup();
    await a!.create({ name: 'a' });
    const devA = await devOf(a!, 'a');
    const ea = await failure(a!.load('a', missing('/dev/nope-a')));
    expect(ea.kernelLog).toEqual([`device-mapper: table: ${devA}: linear: Device lookup failed`]);
    const eb = await failure(b!.remove('unrelated'));
    expect(eb.code).toBe('ENXIO');
    expect(eb.kernelLog.join('\n')).not.toMatch(/Device lookup failed/);
    expect(eb.message).not.toMatch(/Device lookup failed/);
    // Seen meanwhile, so kept — but apart, and never printed as this call's.
    expect(eb.unattributedKernelLog.join('\n')).toMatch(/Device lookup failed/);
    close();
  });

  test('two clients failing concurrently each get their own line, not the other\'s', async () => {
    const { dms: [a, b], close } = await setup();
    await a!.create({ name: 'a' });
    await b!.create({ name: 'b' });
    const [devA, devB] = [await devOf(a!, 'a'), await devOf(b!, 'b')];
    for (let round = 0; round < 3; round++) {
      const [ea, eb] = await Promise.all([failure(a!.load('a', missing('/dev/nope-a'))), failure(b!.load('b', missing('/dev/nope-b')))]);
      expect(ea.kernelLog).toEqual([`device-mapper: table: ${devA}: linear: Device lookup failed`]);
      expect(eb.kernelLog).toEqual([`device-mapper: table: ${devB}: linear: Device lookup failed`]);
      expect(ea.message).not.toContain(`${devB}:`);
      expect(eb.message).not.toContain(`${devA}:`);
    }
    close();
  });

  test('one client, concurrent failures: each call keeps its own line (the first to fail does not swallow the other\'s)', async () => {
    const { dms: [dm], close } = await setup(1);
    await dm!.create({ name: 'x' });
    await dm!.create({ name: 'y' });
    const [devX, devY] = [await devOf(dm!, 'x'), await devOf(dm!, 'y')];
    const [ex, ey] = await Promise.all([failure(dm!.load('x', missing('/dev/nope-x'))), failure(dm!.load('y', missing('/dev/nope-y')))]);
    expect(ex.kernelLog).toEqual([`device-mapper: table: ${devX}: linear: Device lookup failed`]);
    expect(ey.kernelLog).toEqual([`device-mapper: table: ${devY}: linear: Device lookup failed`]);
    close();
  });

  test('a call by name or uuid learns its dev with one DM_DEV_STATUS after the failure; a call by dev needs none', async () => {
    const { dms: [dm], close } = await setup(1);
    const created = await dm!.create({ name: 'u', uuid: 'UUID-u' });
    const dev = `${created.dev.major}:${created.dev.minor}`;
    const line = `device-mapper: table: ${dev}: linear: Device lookup failed`;
    const infos = () => dm!.ioctlCounts.get('info') ?? 0;

    let before = infos();
    expect((await failure(dm!.load({ uuid: 'UUID-u' }, missing('/dev/nope')))).kernelLog).toEqual([line]);
    expect(infos() - before).toBe(1);

    before = infos();
    expect((await failure(dm!.load({ dev: created.dev }, missing('/dev/nope')))).kernelLog).toEqual([line]);
    expect(infos() - before).toBe(0);

    // No line that names a device: no lookup either.
    before = infos();
    const e = await failure(dm!.resume('no-such-device'));
    expect(e.kernelLog).toEqual([]);
    expect(infos() - before).toBe(0);
    close();
  });

  test('lines that name the device by name: rename conflicts and removing an open device, exact names only', async () => {
    const { kernel, dms: [a, b], close } = await setup();
    for (const n of ['d', 'dd', 'taken']) await a!.createDevice({ name: n, table: zero });
    const [ea, eb] = await Promise.all([
      failure(a!.rename('d', { newName: 'taken' })),
      failure(b!.rename('dd', { newName: 'taken' })),
    ]);
    expect(ea.kernelLog).toEqual(['device-mapper: ioctl: Unable to change name on mapped device d to one that already exists: taken']);
    expect(eb.kernelLog).toEqual(['device-mapper: ioctl: Unable to change name on mapped device dd to one that already exists: taken']);

    kernel.openDevice('d');
    kernel.openDevice('dd');
    const [ra, rb] = await Promise.all([failure(a!.remove('d')), failure(b!.remove('dd'))]);
    expect(ra.kernelLog).toEqual(['device-mapper: ioctl: unable to remove open device d']);
    expect(rb.kernelLog).toEqual(['device-mapper: ioctl: unable to remove open device dd']);
    kernel.closeDevice('d');
    kernel.closeDevice('dd');
    close();
  });

  test('lines that name no device are kept apart, not printed as the call\'s', async () => {
    const { dms: [dm], close } = await setup(1);
    await dm!.create({ name: 'x' });
    const e = await failure(dm!.load('x', missing('/dev/nope')));
    expect(e.unattributedKernelLog).toEqual(['device-mapper: ioctl: error adding target to table']);
    expect(e.message).toContain('kernel: device-mapper: table: ');
    expect(e.message).not.toContain('error adding target to table');
    // dmctl shows them, marked as such.
    expect(formatError(e, 'load')).toContain('\n  kernel, not attributed to this call: device-mapper: ioctl: error adding target to table\n');
    close();
  });

  test('a pool message the target refuses: its own line (dm-thin echoes the message\'s ids) is in the message; another pool\'s is not', async () => {
    const { dms: [dm], close } = await setup(1);
    const { ThinPool } = await import('../../lib/index.js');
    const p = await ThinPool.create(dm!, { name: 'p', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n } });
    const q = await ThinPool.create(dm!, { name: 'q', data: { file: '/d2', sizeBytes: 64n << 20n }, metadata: { file: '/m2', sizeBytes: 4n << 20n } });
    await p.createThin(1);
    await q.createThin(2);
    const e = await p.createThin(1).then(() => undefined, (x: unknown) => x);
    const d = (e instanceof DmError ? e : (e as { cause?: unknown }).cause) as DmError;
    expect(d).toBeInstanceOf(DmError);
    expect(d.code).toBe('EEXIST');
    expect(d.kernelLog).toEqual(['device-mapper: thin: Creation of new thinly-provisioned device with id 1 failed.']);
    expect(d.unattributedKernelLog).toEqual([]);
    expect((e as Error).message).toContain('kernel: device-mapper: thin: Creation of new thinly-provisioned device with id 1 failed.');
    // The same words for another id, or another message, are not this call's.
    const [e1, e2] = await Promise.all([
      dm!.message('p', 0, 'create_thin 1').then(() => undefined, (x: unknown) => x as DmError),
      dm!.message('q', 0, 'create_thin 2').then(() => undefined, (x: unknown) => x as DmError),
    ]);
    expect(e1!.kernelLog).toEqual(['device-mapper: thin: Creation of new thinly-provisioned device with id 1 failed.']);
    expect(e2!.kernelLog).toEqual(['device-mapper: thin: Creation of new thinly-provisioned device with id 2 failed.']);
    close();
  });

  test('a table naming a missing device: the message names that device and its table line, not the device being loaded as missing', async () => {
    const { kernel, dms: [dm], close } = await setup(1);
    kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
    const e = await failure(dm!.createDevice({ name: 'bad2', table: [
      { start: 0, length: 8, type: 'zero', params: '' },
      { start: 8, length: 8, type: 'linear', params: '/dev/sdz 0' },
    ] }));
    expect(e.code).toBe('ENOENT');
    expect(e.message).toContain('"/dev/sdz" (table line 2: "8 8 linear /dev/sdz 0")');
    expect(e.message).not.toContain('does not exist "bad2"');
    expect(e.message).toContain('the table of "bad2"');
    // Only lines of the target type the kernel's line names are candidates.
    const e2 = await failure(dm!.createDevice({ name: 'bad3', table: [
      { start: 0, length: 8, type: 'striped', params: '1 8 /dev/loop0 0' },
      { start: 8, length: 8, type: 'linear', params: '254:77 0' },
    ] }));
    expect(e2.message).toContain('"254:77" (table line 2: "8 8 linear 254:77 0")');
    expect(e2.message).not.toContain('/dev/loop0');
    close();
  });
});
