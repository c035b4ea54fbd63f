// Kernel log attribution on a real kernel: two clients fail at the same time —
// each failed load by name carries its own "Device lookup failed" line with its own
// major:minor, never the other's, and an unrelated failure (remove of a missing name)
// carries neither. Line formats: docs/kernel-facts.md, "Kernel log lines".
import { expect, test } from '@jest/globals';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, DmError, IOCTL_CHANNEL, ThinPool, type IoctlTraceMessage } from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

async function failure(p: Promise<unknown>): Promise<DmError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof DmError)) throw new Error(`expected a DmError, got ${String(e)}`);
  return e;
}

describeLive(`kernel log attribution [kernel ${kernelLabel}]`, () => {
  test('concurrent failures of two clients: each keeps its own line; an unrelated failure gets none', async () => {
    const a = await DeviceMapper.open();
    const b = await DeviceMapper.open();
    const na = `dmts-kla-${process.pid}`;
    const nb = `dmts-klb-${process.pid}`;
    try {
      const da = (await a.create({ name: na })).dev;
      const db = (await b.create({ name: nb })).dev;
      const missing = (p: string) => [{ start: 0, length: 8, type: 'linear', params: `${p} 0` }];
      const [ea, eb, eu] = await Promise.all([
        failure(a.load(na, missing('/dev/dmts-nonexistent-a'))),
        failure(b.load(nb, missing('/dev/dmts-nonexistent-b'))),
        failure(b.remove(`dmts-unrelated-${process.pid}`)),
      ]);
      recordLiveFact('kernelLogAttribution', {
        a: { dev: `${da.major}:${da.minor}`, own: ea.kernelLog, other: ea.unattributedKernelLog },
        b: { dev: `${db.major}:${db.minor}`, own: eb.kernelLog, other: eb.unattributedKernelLog },
        unrelated: { code: eu.code, own: eu.kernelLog, other: eu.unattributedKernelLog },
      });
      const line = (d: { major: number; minor: number }) => new RegExp(`^device-mapper: table: ${d.major}:${d.minor}: linear: .*Device lookup failed`);
      expect(ea.kernelLog).toHaveLength(1);
      expect(ea.kernelLog[0]).toMatch(line(da));
      expect(eb.kernelLog).toHaveLength(1);
      expect(eb.kernelLog[0]).toMatch(line(db));
      expect(ea.message).not.toContain(`${db.major}:${db.minor}:`);
      expect(eb.message).not.toContain(`${da.major}:${da.minor}:`);
      expect(eu.code).toBe('ENXIO');
      expect(eu.kernelLog).toEqual([]);
      expect(eu.message).not.toMatch(/Device lookup failed/);
    } finally {
      for (const [dm, n] of [[a, na], [b, nb]] as const) if ((await dm.info(n)).exists) await dm.remove(n);
      a.close();
      b.close();
    }
  });

  test('a refused create_thin: dm-thin\'s line is the call\'s; a missing table device is named; the ioctl channel sees real calls', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-klt-'));
    const dm = await DeviceMapper.open();
    const seen: IoctlTraceMessage[] = [];
    const on = (m: unknown) => { seen.push(m as IoctlTraceMessage); };
    subscribe(IOCTL_CHANNEL, on);
    let pool: ThinPool | undefined;
    const name = `dmts-klm-${process.pid}`;
    try {
      pool = await ThinPool.create(dm, {
        name: `dmts-klp${process.pid}`, data: { file: path.join(dir, 'data.img'), sizeBytes: 64n << 20n }, metadata: { file: path.join(dir, 'meta.img'), sizeBytes: 4n << 20n },
      });
      await pool.createThin(1);
      const e = await pool.createThin(1).then(() => undefined, (x: unknown) => x as Error);
      const d = (e instanceof DmError ? e : (e as { cause?: unknown } | undefined)?.cause) as DmError;
      const missing = await failure(dm.createDevice({ name, table: [{ start: 0, length: 8, type: 'linear', params: '/dev/dmts-nonexistent-m 0' }] }));
      recordLiveFact('messageAttribution', { code: d?.code, own: d?.kernelLog, other: d?.unattributedKernelLog, missing: missing.message });
      expect(d).toBeInstanceOf(DmError);
      expect(d.code).toBe('EEXIST');
      expect(d.kernelLog).toContain('device-mapper: thin: Creation of new thinly-provisioned device with id 1 failed.');
      expect(e!.message).toContain('kernel: device-mapper: thin: Creation of new thinly-provisioned device with id 1 failed.');
      expect(missing.message).toContain(`the table of "${name}" names a device that does not exist`);
      expect(missing.message).toContain('"/dev/dmts-nonexistent-m" (table line 1: "0 8 linear /dev/dmts-nonexistent-m 0")');
      // createThin first probes the id (`create_snap 1 1`, for crash recovery: docs/crash-safety.md),
      // which the kernel also refuses with EEXIST; the create_thin is the one the error is about.
      const msg = seen.filter((m) => m.command === 'message' && m.code === 'EEXIST' && m.message?.startsWith('create_thin'));
      expect(msg).toHaveLength(1);
      expect(msg[0]).toMatchObject({ ioctl: 'DM_TARGET_MSG', operation: 'message', message: 'create_thin 1', errno: 17 });
      expect(seen.some((m) => m.operation === 'resume' && m.errno === 0)).toBe(true);
    } finally {
      unsubscribe(IOCTL_CHANNEL, on);
      if (pool) await pool.destroy().catch(() => {});
      if ((await dm.info(name)).exists) await dm.remove(name);
      dm.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
