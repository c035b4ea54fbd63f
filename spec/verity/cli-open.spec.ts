// `dmctl verity open|close` on the simulator: veritysetup's argument order and options, nothing
// printed on success, its error lines and exit statuses; the table is openVerity's for the same
// parameters (from the superblock, --no-superblock, corruption flags, FEC).
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { attachLoop, DeviceMapper, formatVerity, openVerity, type VerityFormatResult } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';
import { cliEnv } from '../cli/harness.js';

let env: ReturnType<typeof cliEnv>;
let dm: DeviceMapper;
let data: string;
let hash: string;
let r: VerityFormatResult;

const SALT = '00112233445566778899aabbccddeeff';
const line = async (name: string) => (await dm.table(name)).targets.map((t) => `${t.start} ${t.length} ${t.type} ${t.params}`).join('\n');

/** An image formatted on the simulator's files: 256 data blocks of 4 KiB, a hash file of `hashBytes`. */
async function image(superblock: boolean, hashBytes = 64 << 10) {
  const io = simBlockIo(env.kernel);
  const f = await io.openFile('/img/data', 'create');
  await f.write(0, Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 13) & 0xff));
  await f.close();
  const h = await io.openFile('/img/hash', 'create');
  await h.write(0, new Uint8Array(hashBytes));
  await h.close();
  data = (await attachLoop('/img/data', { dm })).path;
  r = await formatVerity(data, '/img/hash', { dm, salt: SALT, superblock });
  hash = (await attachLoop('/img/hash', { dm })).path;
}

beforeEach(async () => {
  env = cliEnv(new SimulatedKernel());
  dm = await DeviceMapper.open({ backend: env.kernel.backend() });
});
afterEach(() => { dm.close(); env.cleanup(); });

describe('dmctl verity open / close', () => {
  test('from the superblock: silent, exit 0, openVerity\'s table under veritysetup\'s uuid; close removes it', async () => {
    await image(true);
    expect(await env.dmctl(['verity', 'open', data, 'v', hash, r.rootHashHex])).toEqual({ code: 0, stdout: '', stderr: '' });
    const cli = await line('v');
    const info = await dm.info('v');
    expect(info.exists && info.uuid).toBe(`CRYPT-VERITY-${r.uuid!.replaceAll('-', '')}-v`);
    expect(info.exists && info.flags.readOnly).toBe(true);
    expect(await env.dmctl(['verity', 'close', 'v'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await dm.info('v')).exists).toBe(false);
    {
      await using _v = await openVerity(dm, {
        name: 'v', dataDevice: data, hashDevice: hash, rootHash: Uint8Array.from(Buffer.from(r.rootHashHex, 'hex')),
        params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 256, hashOffsetBytes: 0, salt: Uint8Array.from(Buffer.from(SALT, 'hex')) },
      });
      expect(cli).toBe(await line('v'));
    }
    expect(cli).toBe(`0 2048 verity 1 7:0 7:1 4096 4096 256 1 sha256 ${r.rootHashHex} ${SALT}`);
    // veritysetup close of a name not there: "not active", exit 4.
    expect(await env.dmctl(['verity', 'close', 'v'])).toEqual({ code: 4, stdout: '', stderr: 'Device v is not active.\n' });
  });

  test('--root-hash-file instead of the operand; -v prints "Command successful."', async () => {
    await image(true);
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'verity-open-')), 'root');
    fs.writeFileSync(file, `${r.rootHashHex}\n`);
    expect(await env.dmctl(['verity', 'open', '-v', '--root-hash-file', file, data, 'v', hash])).toEqual({ code: 0, stdout: 'Command successful.\n', stderr: '' });
    expect(await line('v')).toContain(r.rootHashHex);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  test('--no-superblock with the format options; --hash-offset places the tree', async () => {
    await image(false);
    const argv = ['verity', 'open', '--no-superblock', '--salt', SALT, '--data-blocks', '256', data, 'n', hash, r.rootHashHex];
    expect(await env.dmctl(argv)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await line('n')).toBe(`0 2048 verity 1 7:0 7:1 4096 4096 256 0 sha256 ${r.rootHashHex} ${SALT}`);
    expect((await dm.info('n')).exists && (await dm.info('n') as { uuid?: string }).uuid).toBe('CRYPT-VERITY-n');
    // Without --data-blocks the data device's size decides (1 MiB: 256 blocks); no --salt: "-".
    expect((await env.dmctl(['verity', 'open', '--no-superblock', '--hash-offset', '8192', data, 'm', hash, r.rootHashHex])).code).toBe(0);
    expect(await line('m')).toBe(`0 2048 verity 1 7:0 7:1 4096 4096 256 2 sha256 ${r.rootHashHex} -`);
  });

  test('corruption and verification flags become table options, in cryptsetup\'s order', async () => {
    await image(true);
    expect((await env.dmctl(['verity', 'open', '--check-at-most-once', '--ignore-zero-blocks', '--restart-on-corruption', data, 'f', hash, r.rootHashHex])).code).toBe(0);
    expect(await line('f')).toMatch(/ 3 restart_on_corruption ignore_zero_blocks check_at_most_once$/);
    expect((await env.dmctl(['verity', 'open', '--panic-on-corruption', data, 'p', hash, r.rootHashHex])).code).toBe(0);
    expect(await line('p')).toMatch(/ 1 panic_on_corruption$/);
    // The simulator's verity target is 1.8.1: tasklets need 1.9, refused before anything is loaded.
    const t = await env.dmctl(['verity', 'open', '--use-tasklets', data, 't', hash, r.rootHashHex]);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/1\.9/);
    expect((await dm.info('t')).exists).toBe(false);
  });

  test('--fec-device: fec_blocks = data blocks + the hash device from the tree on, fec_start = --fec-offset / block size', async () => {
    await image(true, 64 << 10);
    const io = simBlockIo(env.kernel);
    const f = await io.openFile('/img/fec', 'create');
    await f.write(0, new Uint8Array(64 << 10));
    await f.close();
    const fec = (await attachLoop('/img/fec', { dm })).path;
    expect((await env.dmctl(['verity', 'open', '--fec-device', fec, '--fec-roots', '4', '--fec-offset', '8192', data, 'e', hash, r.rootHashHex])).code).toBe(0);
    // 256 data blocks + 16 hash-device blocks from block 1 on (64 KiB of 4 KiB blocks): 271.
    expect(await line('e')).toBe(`0 2048 verity 1 7:0 7:1 4096 4096 256 1 sha256 ${r.rootHashHex} ${SALT} 8 use_fec_from_device 7:2 fec_blocks 271 fec_start 2 fec_roots 4`);
  });

  test('--root-hash-signature: the file\'s bytes as a user key in the simulator\'s keyring for the load, veritysetup\'s description, unlinked after', async () => {
    await image(true);
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'verity-sig-')), 'sig');
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4]));
    expect(await env.dmctl(['verity', 'open', '--root-hash-signature', file, data, 's', hash, r.rootHashHex])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(env.kernel.keyring.history.map((h) => h.call)).toEqual(['add_key', 'unlink']);
    expect(await line('s')).toMatch(new RegExp(` 2 root_hash_sig_key_desc cryptsetup:${r.uuid!}-s$`));
    expect((await env.dmctl(['verity', 'open', '--root-hash-signature', `${file}.none`, data, 'u', hash, r.rootHashHex])).code).toBe(1);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  test('veritysetup\'s refusals: exit status and message, nothing created', async () => {
    await image(true);
    const cases: [string[], number, RegExp][] = [
      [['verity', 'open', data, 'x', hash, 'zz'], 1, /^Invalid root hash string specified\.\n$/],
      [['verity', 'open', data, 'x', hash], 1, /^Command requires <root_hash> or --root-hash-file option as argument\.\n$/],
      [['verity', 'open', data, 'x', data, r.rootHashHex], 1, new RegExp(`^Device ${data} is not a valid VERITY device\\.\\n$`)],
      [['verity', 'open', data, 'x', '/dev/nothing', r.rootHashHex], 4, /^Device \/dev\/nothing does not exist or access denied\.\n$/],
      [['verity', 'open', '--ignore-corruption', '--panic-on-corruption', data, 'x', hash, r.rootHashHex], 1, /allowed only once/],
      [['verity', 'open', '--fec-roots', '4', data, 'x', hash, r.rootHashHex], 1, /only with --fec-device/],
      [['verity', 'open', data, 'x'], 1, /open: requires <data_device> <name> <hash_device> as arguments/],
    ];
    for (const [argv, code, message] of cases) {
      const res = await env.dmctl(argv);
      expect({ argv, code: res.code, stdout: res.stdout }).toEqual({ argv, code, stdout: '' });
      expect(res.stderr).toMatch(message);
    }
    expect((await dm.info('x')).exists).toBe(false);
    // A name in use: "already exists", exit 5, the first device untouched.
    expect((await env.dmctl(['verity', 'open', data, 'v', hash, r.rootHashHex])).code).toBe(0);
    expect(await env.dmctl(['verity', 'open', data, 'v', hash, r.rootHashHex])).toEqual({ code: 5, stdout: '', stderr: 'Device v already exists.\n' });
    expect((await dm.info('v')).exists).toBe(true);
  });

  test('plain files: read-only autoclear loops in the table, --json names them; close --json; gone after close; a failed open leaves none', async () => {
    await image(true);
    const io = simBlockIo(env.kernel);
    // The image's own loops (from image()) are not wanted here: the CLI gets the files.
    for (const p of [...io.loops.keys()]) await io.detachLoop(p);
    const opened = await env.dmctl(['verity', 'open', '--json', '/img/data', 'v', '/img/hash', r.rootHashHex]);
    expect({ code: opened.code, stderr: opened.stderr }).toEqual({ code: 0, stderr: '' });
    const info = await dm.info('v');
    if (!info.exists) throw new Error('v is not there');
    expect(JSON.parse(opened.stdout)).toEqual({
      schemaVersion: expect.any(Number), action: 'open', name: 'v', uuid: info.uuid, major: info.dev.major, minor: info.dev.minor, path: '/dev/mapper/v', loopDevices: ['/dev/loop0', '/dev/loop1'],
    });
    expect([...io.loops.entries()].map(([p, l]) => [p, l.file, l.flags])).toEqual([['/dev/loop0', '/img/data', 5], ['/dev/loop1', '/img/hash', 5]]);
    expect(await line('v')).toBe(`0 2048 verity 1 7:0 7:1 4096 4096 256 1 sha256 ${r.rootHashHex} ${SALT}`);
    const closed = await env.dmctl(['verity', 'close', '--json', 'v']);
    expect(JSON.parse(closed.stdout)).toEqual({ schemaVersion: expect.any(Number), action: 'close', name: 'v', uuid: info.uuid, deferred: false });
    expect(io.loops.size).toBe(0);
    // The name taken: the open fails at the create, and its loops are detached again.
    await dm.createDevice({ name: 'v', table: [{ start: 0n, length: 8n, type: 'zero', params: '' }] });
    const failed = await env.dmctl(['verity', 'open', '/img/data', 'v', '/img/hash', r.rootHashHex]);
    expect(failed).toEqual({ code: 5, stdout: '', stderr: 'Device v already exists.\n' });
    expect(io.loops.size).toBe(0);
  });

  test('close --deferred: an open device is "still in use" without it; with it, exit 0 and removed at its last close (--json says deferred)', async () => {
    await image(true);
    expect((await env.dmctl(['verity', 'open', data, 'v', hash, r.rootHashHex])).code).toBe(0);
    env.kernel.openDevice('v');
    expect(await env.dmctl(['verity', 'close', 'v'])).toEqual({ code: 5, stdout: '', stderr: 'Device v is still in use.\n' });
    const res = await env.dmctl(['verity', 'close', '--deferred', '--json', 'v']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ action: 'close', name: 'v', deferred: true });
    expect(env.kernel.devices.get('v')?.deferredRemove).toBe(true);
    env.kernel.closeDevice('v');
    await new Promise((r) => setImmediate(r));
    expect((await dm.info('v')).exists).toBe(false);
    // Not open: --deferred removes at once.
    expect((await env.dmctl(['verity', 'open', data, 'w', hash, r.rootHashHex])).code).toBe(0);
    expect(await env.dmctl(['verity', 'close', '--deferred', 'w'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await dm.info('w')).exists).toBe(false);
  });
});
