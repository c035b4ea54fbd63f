// createDevice encodes its load request once: the bytes it checks before DM_DEV_CREATE are
// the bytes DM_TABLE_LOAD sends, so a keyed table is escaped (copied out of its string) and
// wiped once per call, not once to check and once more to send. Counted with the codec's copy
// observer (codec/copies.ts): every escape of a table line's params makes one copy of exactly
// their length, which here no other buffer of the call has. Bad input still fails before any
// ioctl with the codec's typed error, and nothing the call made keeps the key.
import { describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { observeCopies } from '../../codec/copies.js';
import { DmCodecError } from '../../codec/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const HEX = randomBytes(32).toString('hex');
// A length of its own (no header, name or buffer size of the call is this long).
const PARAMS = `aes-xts-plain64 ${HEX} 0 /dev/loop0 0`;

async function setup(blocking: boolean) {
  const kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/loop0', 7, 0, 1 << 20);
  const dm = await DeviceMapper.open({ backend: kernel.backend(), blocking });
  let ioctls = 0;
  kernel.intercept({ before: () => { ioctls++; } });
  return { dm, ioctls: () => ioctls };
}

/** Runs `body`, returning the copies the package made of exactly the keyed params' length. */
async function escapesDuring(body: () => Promise<unknown>): Promise<{ escapes: Uint8Array[]; error: unknown }> {
  const escapes: Uint8Array[] = [];
  const stop = observeCopies((b) => { if (b.length === PARAMS.length) escapes.push(b); });
  let error: unknown;
  try { await body(); } catch (e) { error = e; } finally { stop(); }
  return { escapes, error };
}

describe.each([['async', false], ['blocking', true]] as const)('%s client', (_mode, blocking) => {
  test('one createDevice of a crypt table escapes the keyed params once, and the copy is wiped', async () => {
    const { dm } = await setup(blocking);
    const { escapes, error } = await escapesDuring(() => dm.createDevice({ name: 'c', uuid: 'ONCE-c', table: [{ start: 0, length: 8, type: 'crypt', params: PARAMS }] }));
    expect(error).toBeUndefined();
    expect(escapes).toHaveLength(1);
    expect(escapes[0]!.every((x) => x === 0)).toBe(true);
    dm.close();
  });

  test('a bad table still fails before DM_DEV_CREATE with the codec\'s typed error, the key escaped at most once and wiped', async () => {
    const { dm, ioctls } = await setup(blocking);
    const table = [{ start: 0, length: 8, type: 'crypt', params: PARAMS }, { start: 16, length: 8, type: 'zero', params: '' }]; // a gap
    const { escapes, error } = await escapesDuring(() => dm.createDevice({ name: 'c', table }));
    expect(error).toBeInstanceOf(DmCodecError);
    expect(String(error)).not.toContain(HEX);
    expect(ioctls()).toBe(0);
    expect(escapes.length).toBeLessThanOrEqual(1);
    for (const b of escapes) expect(b.every((x) => x === 0)).toBe(true);
    dm.close();
  });
});
