// The poison test on a real kernel (docs/kernel-facts.md, "Stale bytes"): every command,
// run once with request buffers pre-filled with 0xA5 and once zeroed, decodes identically,
// including a 15-character target type (snapshot-origin), which 6.1 copies with
// strncpy(…, 15) and so leaves byte 15 as the request buffer held it.
import { expect, test } from '@jest/globals';
import { codec, requestCode } from '../../codec/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { realBackend } from '../../lib/kernel/kernel-backend.js';
import { ORIGIN_TYPE, poisonedBackend, poisonSequence, type Transcript } from '../conformance/poison.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

describeLive(`poison test [${kernelLabel}]`, () => {
  test('the kernel\'s copy of a 15-character target_type: byte 15 as the request held it (strncpy) or NUL (strscpy_pad)', async () => {
    const prefix = `poisonk-${process.pid % 10000}-`;
    const dm = await DeviceMapper.open();
    const t = await realBackend().openControl();
    try {
      await dm.createDevice({ name: `${prefix}base`, table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
      const b = await dm.info(`${prefix}base`);
      if (!b.exists) throw new Error('base missing');
      await dm.createDevice({ name: `${prefix}origin`, table: [{ start: 0, length: 8, type: ORIGIN_TYPE, params: `${b.dev.major}:${b.dev.minor}` }] });
      const req = codec.encodeRequest('status', { id: { name: `${prefix}origin` } });
      req.fill(0xa5, 312); // old bytes after the payload, on purpose: what the codec no longer sends
      expect(t.ioctl(requestCode('status'), req).ret).toBe(0);
      const byte15 = req[312 + 24 + 15]!;
      recordLiveFact('targetTypeByte15', { sent: 0xa5, returned: byte15 });
      expect(Buffer.from(req.subarray(312 + 24, 312 + 24 + 15)).toString()).toBe(ORIGIN_TYPE);
      // 6.1 (dm 4.47): strncpy(…, 15) leaves it; 6.12 (dm 4.48): strscpy_pad writes NUL.
      expect(byte15).toBe(dm.kernelVersion[1] <= 47 ? 0xa5 : 0);
      expect(codec.decodeReply('status', req).targets.map((x) => x.type)).toEqual([ORIGIN_TYPE]);
    } finally {
      t.close();
      await dm.remove(`${prefix}origin`).catch(() => undefined);
      await dm.remove(`${prefix}base`).catch(() => undefined);
      dm.close();
    }
  }, 60_000);

  test.each([[false], [true]])('blocking %s: 0xA5-filled and zeroed request buffers decode identically', async (blocking) => {
    const prefix = `poison-${process.pid % 10000}-`;
    const runs: Transcript[] = [];
    // The first run loads the snapshot module; the compared runs are the second and third.
    for (const fill of [undefined, 0xa5, undefined]) {
      const dm = await DeviceMapper.open({ backend: poisonedBackend(realBackend(), fill), blocking });
      try {
        runs.push(await poisonSequence(dm, prefix));
      } finally {
        dm.close();
      }
    }
    const [, poisoned, clean] = runs;
    expect(poisoned).toEqual(clean);
    const status = new Map(clean!).get('status origin') as { targets: { type: string }[] };
    expect(status.targets.map((t) => t.type)).toEqual([ORIGIN_TYPE]);
    const errors = clean!.filter(([, r]) => (r as { error?: string } | undefined)?.error !== undefined).map(([s]) => s);
    expect(errors).toEqual(['message (no handler)']);
  }, 120_000);
});
