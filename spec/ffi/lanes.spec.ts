// The lanes of parallel operations (removeMany, createMany) on the transport: a single call
// given a lane runs on that lane's engine thread (LANE_ENGINES of them per control node), so
// calls that sleep in the kernel on different lanes overlap; the pool carries a lane until
// its engine is ready, and asyncPath 'pool' never starts one. The engines' fake kernel sleeps
// every call for SLEEP_MS and answers ret 0; the pool path is the real ioctl on a node that
// refuses it (ENOTTY), so each result says which thread ran the call.
import * as fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { LANE_ENGINES, openControl } from '../../ffi/control.js';
import { ERRNO } from '../../ffi/errors.js';
import { requestCode } from '../../codec/index.js';

const linux = process.platform === 'linux' && fs.existsSync('/dev/full');
const onLinux = linux ? describe : describe.skip;
const SLEEP_MS = 150;
const fake = `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${SLEEP_MS}); return [0, 0];`;
const code = requestCode('remove');

onLinux('transport lanes', () => {
  test('calls on different lanes run on threads of their own and overlap; a lane number past LANE_ENGINES shares an engine; no lane is the pool', async () => {
    const t = await openControl('/dev/full', { engineFake: fake });
    try {
      // Until a lane's engine has loaded, its calls take the pool (ENOTTY here).
      for (let lane = 0; lane < 8; lane++) {
        let r = await t.ioctlAsync(code, new Uint8Array(312), 'single', lane);
        for (let i = 0; i < 1000 && r.ret !== 0; i++) { // hang guard: 10 s
          await new Promise((res) => setTimeout(res, 10));
          r = await t.ioctlAsync(code, new Uint8Array(312), 'single', lane);
        }
        expect(r).toEqual({ ret: 0, errno: 0 });
      }
      let t0 = performance.now();
      const eight = await Promise.all(Array.from({ length: 8 }, (_, lane) => t.ioctlAsync(code, new Uint8Array(312), 'single', lane)));
      const overlapped = performance.now() - t0;
      for (const r of eight) expect(r).toEqual({ ret: 0, errno: 0 });
      expect(overlapped).toBeLessThan(4 * SLEEP_MS); // one after another would be 8 × SLEEP_MS
      // Lane 0 and lane LANE_ENGINES share one engine: one after the other.
      t0 = performance.now();
      await Promise.all([t.ioctlAsync(code, new Uint8Array(312), 'single', 0), t.ioctlAsync(code, new Uint8Array(312), 'single', LANE_ENGINES)]);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(2 * SLEEP_MS - 5);
      // No lane: a single call takes the pool; a batch or wait with a lane is not laned either.
      expect(await t.ioctlAsync(code, new Uint8Array(312), 'single')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(await t.ioctlAsync(code, new Uint8Array(312), 'wait', 1)).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
    } finally {
      t.close();
    }
  });

  test("asyncPath 'pool': a lane never starts an engine", async () => {
    const t = await openControl('/dev/zero', { asyncPath: 'pool', engineFake: fake });
    try {
      // Long enough for an engine to have loaded (the first test waits for the same).
      for (let i = 0; i < 100; i++) {
        expect(await t.ioctlAsync(code, new Uint8Array(312), 'single', 3)).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
        await new Promise((res) => setTimeout(res, 10));
      }
    } finally {
      t.close();
    }
  });
});
