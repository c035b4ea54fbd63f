// openVerity / closeVerity on the simulator: the table veritysetup would load for the same
// options, the signature key's life (in the keyring at the load, gone after success, failure
// and abort), the target version each option needs, and no signature byte in an error or a
// trace.
import { afterAll, describe, expect, test } from '@jest/globals';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import * as util from 'node:util';
import { closeVerity, DeviceMapper, IOCTL_CHANNEL, OPERATION_CHANNEL, openVerity, STEP_CHANNEL, type OpenVerityOptions } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const traced: string[] = [];
const see = (v: unknown) => { traced.push(util.inspect(v, { depth: Infinity, showHidden: true })); };
const seeTrace = { start: see, end: see, asyncStart: see, asyncEnd: see, error: see };
subscribe(IOCTL_CHANNEL, see);
for (const name of [OPERATION_CHANNEL, STEP_CHANNEL]) tracingChannel(name).subscribe(seeTrace);
afterAll(() => {
  unsubscribe(IOCTL_CHANNEL, see);
  for (const name of [OPERATION_CHANNEL, STEP_CHANNEL]) tracingChannel(name).unsubscribe(seeTrace);
});

const ROOT = Uint8Array.from({ length: 32 }, (_, i) => i + 0xa0);
const SALT = Uint8Array.from({ length: 32 }, (_, i) => i);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
// A signature no other text of the package could hold: its bytes and its hex are looked for everywhere.
const SIGNATURE = new TextEncoder().encode('VERITY-SIGNATURE-CANARY-5f0c1d');

async function rig() {
  const kernel = new SimulatedKernel();
  kernel.addBlockDevice('/dev/vdd', 254, 48, 2048);
  kernel.addBlockDevice('/dev/vde', 254, 64, 64);
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  return { kernel, dm };
}

const base = (extra: Partial<OpenVerityOptions> = {}): OpenVerityOptions => ({
  name: 'vroot', dataDevice: '/dev/vdd', hashDevice: '/dev/vde', rootHash: ROOT,
  params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 256, hashOffsetBytes: 0, salt: SALT },
  ...extra,
});

describe('openVerity', () => {
  test('loads veritysetup\'s table, read-only, under veritysetup\'s uuid; the handle closes it', async () => {
    const { kernel, dm } = await rig();
    {
      await using v = await openVerity(dm, base({ verityUuid: '4d5a8f3e-1c2b-4e6f-9a0b-7c8d9e0f1a2b', options: { restartOnCorruption: true, ignoreZeroBlocks: true, checkAtMostOnce: true } }));
      expect(v).toMatchObject({ name: 'vroot', uuid: 'CRYPT-VERITY-4d5a8f3e1c2b4e6f9a0b7c8d9e0f1a2b-vroot', path: '/dev/mapper/vroot' });
      const t = await dm.table('vroot');
      // cryptsetup's get_dm_verity_params: the header, then the option count and words; the
      // hash tree starts one block after the 512-byte superblock at offset 0.
      expect(t.targets).toEqual([{ start: 0n, length: 2048n, type: 'verity', params: `1 254:48 254:64 4096 4096 256 1 sha256 ${hex(ROOT)} ${hex(SALT)} 3 restart_on_corruption ignore_zero_blocks check_at_most_once` }]);
      const info = await dm.info('vroot');
      expect(info.exists && info.flags.readOnly).toBe(true);
    }
    expect(kernel.devices.has('vroot')).toBe(false);
    dm.close();
  });

  test('without a superblock, a salt or options: hash start from the offset, `-` for the salt', async () => {
    const { dm } = await rig();
    const v = await openVerity(dm, base({ params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 256, hashOffsetBytes: 8192, noSuperblock: true, salt: new Uint8Array(0) } }));
    expect((await dm.table('vroot')).targets[0]!.params).toBe(`1 254:48 254:64 4096 4096 256 2 sha256 ${hex(ROOT)} -`);
    expect(v.uuid).toBe('CRYPT-VERITY-vroot');
    await v.close();
    await v.close(); // twice: gone is not an error
    await closeVerity(dm, 'vroot');
    dm.close();
  });

  test.each([['no session keyring', false, -5], ['a session keyring', true, -3]] as const)('a signature (%s): loaded as a user key in the keyring every thread searches before the table, named in it, unlinked once the device exists', async (_what, session, ring) => {
    const { kernel, dm } = await rig();
    kernel.keyring.hasSessionKeyring = session;
    const atLoad: unknown[] = [];
    kernel.intercept({ before: (e) => { if (e.command === 'load') atLoad.push(kernel.keyring.keys().map((k) => ({ type: k.type, description: k.description, payload: hex(k.payload), keyrings: [...k.keyrings] }))); } });
    const v = await openVerity(dm, base({ signature: SIGNATURE }));
    expect(atLoad).toEqual([[{ type: 'user', description: 'cryptsetup:vroot', payload: hex(SIGNATURE), keyrings: [ring] }]]);
    expect((await dm.table('vroot')).targets[0]!.params).toMatch(/ 2 root_hash_sig_key_desc cryptsetup:vroot$/);
    expect(kernel.keyring.keys()).toEqual([]);
    expect(kernel.keyring.history.map((h) => h.call)).toEqual(['add_key', 'unlink']);
    await v.close();
    dm.close();
  });

  test('a signature through a blocking client (its ioctls on this thread): the thread keyring, as cryptsetup', async () => {
    const kernel = new SimulatedKernel();
    kernel.addBlockDevice('/dev/vdd', 254, 48, 2048);
    kernel.addBlockDevice('/dev/vde', 254, 64, 64);
    const dm = await DeviceMapper.open({ backend: kernel.backend(), blocking: true });
    const atLoad: number[][] = [];
    kernel.intercept({ before: (e) => { if (e.command === 'load') atLoad.push(kernel.keyring.keys().flatMap((k) => [...k.keyrings])); } });
    await (await openVerity(dm, base({ signature: SIGNATURE }))).close();
    expect(atLoad).toEqual([[-1]]);
    expect(kernel.keyring.history.map((h) => h.call)).toEqual(['add_key', 'unlink']);
    expect(kernel.keyring.keys()).toEqual([]);
    dm.close();
  });

  test.each(['fail', 'abort', 'timeout'] as const)('the key is unlinked and nothing is left when the open ends by %s at the load', async (ending) => {
    const { kernel, dm } = await rig();
    const ac = new AbortController();
    kernel.intercept({
      fault: (e) => (e.command !== 'load' ? undefined : ending === 'fail' ? { errno: 22 } : ending === 'timeout' ? { delayMs: 200 } : undefined),
      before: (e) => { if (ending === 'abort' && e.command === 'load') ac.abort(); },
    });
    const err = await openVerity(dm, base({ signature: SIGNATURE, signal: ac.signal, ...(ending === 'timeout' ? { timeoutMs: 50 } : {}) })).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 300));
    expect(kernel.keyring.keys()).toEqual([]);
    expect(kernel.devices.has('vroot')).toBe(false);
    for (const s of [util.inspect(err, { depth: Infinity, showHidden: true }), String((err as Error).stack)]) {
      expect(s).not.toContain('VERITY-SIGNATURE-CANARY');
      expect(s).not.toContain(hex(SIGNATURE));
    }
    dm.close();
  });

  test('an option the kernel\'s verity target is too old for: DmUnsupportedError before any key or device', async () => {
    const { kernel, dm } = await rig();
    const [maj, min] = (await dm.getTargetVersion('verity'));
    expect([maj, min]).toEqual([1, 8]); // the simulator's verity: 1.8.1 (6.1 has 1.8.x or newer)
    await expect(openVerity(dm, base({ signature: SIGNATURE, options: { useTasklets: true } }))).rejects.toMatchObject({ name: 'DmUnsupportedError', code: 'UNSUPPORTED', required: [1, 9, 0] });
    expect(kernel.keyring.history).toEqual([]);
    expect(kernel.devices.has('vroot')).toBe(false);
    dm.close();
  });

  test.each([
    ['two corruption modes', base({ options: { ignoreCorruption: true, panicOnCorruption: true } })],
    ['both hashStartBlocks and hashOffsetBytes', base({ params: { ...base().params!, hashStartBlocks: 1 } })],
    ['an empty root hash', base({ rootHash: new Uint8Array(0) })],
    ['a salt as a string', base({ params: { ...base().params!, salt: '00' as never } })],
    ['an unknown option', base({ options: { verifyTwice: true } as never })],
    ['a key description without a signature', base({ keyDescription: 'x' })],
  ])('bad input (%s): a typed error before any ioctl', async (_what, o) => {
    const { kernel, dm } = await rig();
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    await expect(openVerity(dm, o)).rejects.toMatchObject({ code: expect.stringMatching(/INVALID_INPUT|INVALID_ARGUMENT|UNKNOWN_OPTION|BAD_VALUE/) });
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
    expect(kernel.keyring.history).toEqual([]);
    dm.close();
  });

  test('an aborted signal rejects with DmAbortError before any ioctl or key; a bad timeoutMs is a typed error', async () => {
    const { kernel, dm } = await rig();
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    await expect(openVerity(dm, base({ signature: SIGNATURE, signal: AbortSignal.abort() }))).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await expect(openVerity(dm, base({ timeoutMs: -1 }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
    expect(kernel.keyring.history).toEqual([]);
    dm.close();
  });

  test('no byte of the signature reaches a trace', () => {
    const all = traced.join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain('VERITY-SIGNATURE-CANARY');
    expect(all).not.toContain(hex(SIGNATURE));
  });
});
