// Kernel log attribution on a real kernel: two clients fail at the same time —
// each failed load by name carries its own "Device lookup failed" line with its own
// major:minor, never the other's, and an unrelated failure (remove of a missing name)
// carries neither. Line formats: docs/kernel-facts.md, "Kernel log lines".
import { expect, test } from '@jest/globals';
import { DeviceMapper, DmError } from '../../lib/index.js';
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
});
