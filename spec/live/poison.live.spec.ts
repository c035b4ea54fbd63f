// The poison test on a real kernel (docs/kernel-facts.md, "Stale bytes"): every command,
// run once with request buffers pre-filled with 0xA5 and once zeroed, decodes identically,
// including a 15-character target type (snapshot-origin), which 6.1 copies with
// strncpy(…, 15) and so leaves byte 15 as the request buffer held it.
import { expect, test } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { realBackend } from '../../lib/real-backend.js';
import { ORIGIN_TYPE, poisonSequence, type Transcript } from '../conformance/poison.js';
import { describeLive, kernelLabel } from './live-env.js';

describeLive(`poison test [${kernelLabel}]`, () => {
  test.each([[false], [true]])('blocking %s: 0xA5-filled and zeroed request buffers decode identically', async (blocking) => {
    const prefix = `poison-${process.pid % 10000}-`;
    const runs: Transcript[] = [];
    // The first run loads the snapshot module; the compared runs are the second and third.
    for (const fill of [undefined, 0xa5, undefined]) {
      const dm = await DeviceMapper.open({ backend: { ...realBackend(), requestFill: fill }, blocking });
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
