// openVerity on a real kernel against veritysetup's own open: `veritysetup format` makes the
// hash tree on files, the library opens it over loop devices, the data reads back, and
// `dmsetup table` of the library's device is the text of veritysetup's open of the same image
// with the same options (docs/verity-open.md). Signatures: a trusted key would have to be in
// the kernel's secondary keyring, which a test cannot arrange; so the keyring calls are
// checked live (add_key and unlink through /proc/keys), and a bogus signature is opened to
// show the kernel's verity constructor finds the key the library loaded (from the load's
// thread): it then rejects the signature itself (not ENOKEY).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachLoop, DeviceMapper, openVerity, type LoopDevice, type OpenVerityOptions } from '../../lib/index.js';
import { KEY_SPEC_PROCESS_KEYRING, openKeyring } from '../../ffi/keyring.js';
import { describeLiveOn, kernelLabel, recordLiveFact } from './live-env.js';
import { have, must, tool } from './realtools-env.js';

const NAME = `p24ver${process.pid}`;
const MiB = 1024 * 1024;

describeLiveOn(['6.1'], `openVerity against veritysetup [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;
  let dir: string;
  const loops: LoopDevice[] = [];
  let data: LoopDevice;
  let hash: LoopDevice;
  let format: { root: Uint8Array; salt: Uint8Array; uuid: string; dataBlocks: number };
  const haveTool = have('veritysetup');
  if (!haveTool) process.stderr.write('[live] verity-open: veritysetup is not installed; the comparison with its open is skipped\n');

  beforeAll(async () => {
    dm = await DeviceMapper.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verity-open-'));
    fs.mkdirSync('/run/cryptsetup', { recursive: true });
    fs.writeFileSync(path.join(dir, 'data.img'), randomBytes(4 * MiB));
    fs.writeFileSync(path.join(dir, 'hash.img'), '');
    if (haveTool) {
      const out = must('veritysetup', 'format', path.join(dir, 'data.img'), path.join(dir, 'hash.img'));
      const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(out)?.[1] ?? '';
      format = { root: Buffer.from(field('Root hash'), 'hex'), salt: Buffer.from(field('Salt'), 'hex'), uuid: field('UUID'), dataBlocks: Number(field('Data blocks')) };
    }
    data = await attachLoop(path.join(dir, 'data.img'), { readOnly: true });
    hash = await attachLoop(path.join(dir, 'hash.img'), { readOnly: true });
    loops.push(data, hash);
  }, 120_000);

  afterAll(async () => {
    await dm.removeDevice(NAME).catch(() => {});
    for (const l of loops) await Promise.resolve(l[Symbol.asyncDispose]()).catch(() => {});
    dm.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const opts = (extra: Partial<OpenVerityOptions> = {}): OpenVerityOptions => ({
    name: NAME, dataDevice: data.path, hashDevice: hash.path, rootHash: format.root, verityUuid: format.uuid,
    params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: format.dataBlocks, hashOffsetBytes: 0, salt: format.salt },
    ...extra,
  });
  const tableOf = () => must('dmsetup', 'table', NAME).trim();
  const uuidOf = () => must('dmsetup', 'info', '-c', '--noheadings', '-o', 'uuid', NAME).trim();

  (haveTool ? it : it.skip)('opens veritysetup\'s image, reads its data back, and loads the table and uuid veritysetup does (plain, then with options)', async () => {
    const v = await dm.getTargetVersion('verity');
    recordLiveFact('verityTargetVersion', v.join('.'));
    const cases: { flags: OpenVerityOptions['options']; args: string[] }[] = [
      { flags: {}, args: [] },
      { flags: { restartOnCorruption: true, ignoreZeroBlocks: true, checkAtMostOnce: true }, args: ['--restart-on-corruption', '--ignore-zero-blocks', '--check-at-most-once'] },
    ];
    if (v[0] > 1 || v[1] >= 9) cases.push({ flags: { panicOnCorruption: true, useTasklets: true }, args: ['--panic-on-corruption', '--use-tasklets'] });
    for (const c of cases) {
      {
        await using dev = await openVerity(dm, opts({ options: c.flags }));
        const fd = fs.openSync(`/dev/dm-${dev.dev.minor}`, 'r');
        const got = Buffer.alloc(4 * MiB);
        fs.readSync(fd, got, 0, got.length, 0);
        fs.closeSync(fd);
        expect(got.equals(fs.readFileSync(path.join(dir, 'data.img')))).toBe(true);
        const ours = { table: tableOf(), uuid: uuidOf() };
        await dev.close();
        must('veritysetup', 'open', data.path, NAME, hash.path, Buffer.from(format.root).toString('hex'), ...c.args);
        const theirs = { table: tableOf(), uuid: uuidOf() };
        must('veritysetup', 'close', NAME);
        expect({ args: c.args, ...ours }).toEqual({ args: c.args, ...theirs });
      }
    }
  }, 180_000);

  it('the keyring calls: a user key added to the process keyring shows in /proc/keys and is gone after unlink', async () => {
    const keyring = await openKeyring();
    const desc = `devicemapper-live:${process.pid}`;
    const serial = keyring.addKey('user', desc, new TextEncoder().encode('payload'), KEY_SPEC_PROCESS_KEYRING);
    expect(serial).toBeGreaterThan(0);
    expect(fs.readFileSync('/proc/keys', 'utf8')).toContain(desc);
    keyring.unlink(serial, KEY_SPEC_PROCESS_KEYRING);
    // The key is garbage-collected shortly after its last link goes.
    await new Promise((r) => setTimeout(r, 500));
    expect(fs.readFileSync('/proc/keys', 'utf8')).not.toMatch(new RegExp(`${serial.toString(16).padStart(8, '0')} .*${desc}`));
    expect(() => keyring.unlink(serial, KEY_SPEC_PROCESS_KEYRING)).toThrow(expect.objectContaining({ name: 'DmSyscallError' }));
  });

  // Known to fail on 6.1 (docs/verity-open.md, "Signatures": open problem): the load runs on
  // another thread than the one that added the key, and the kernel answers ENOKEY.
  (haveTool ? it.failing : it.skip)('a bogus signature: the kernel finds the key the library loaded and rejects the signature, as it does veritysetup\'s; no key is left', async () => {
    const bogus = new TextEncoder().encode('not a pkcs7 signature');
    const err = await openVerity(dm, opts({ signature: bogus })).then(() => undefined, (e: unknown) => e as { code?: string; errno?: number; message?: string });
    fs.writeFileSync(path.join(dir, 'bogus.sig'), bogus);
    const theirs = tool('veritysetup', 'open', data.path, NAME, hash.path, Buffer.from(format.root).toString('hex'), `--root-hash-signature=${path.join(dir, 'bogus.sig')}`);
    recordLiveFact('verityBogusSignature', { ours: err ? `${err.code} ${err.message}` : 'opened', veritysetup: `${theirs.code} ${theirs.stderr.trim()}` });
    expect(err).toBeDefined();
    expect(theirs.code).not.toBe(0);
    // ENOKEY would mean the constructor did not find the key (loaded on another thread's keyring).
    expect(err!.code).not.toBe('errno 126');
    expect(fs.readFileSync('/proc/keys', 'utf8')).not.toContain(`cryptsetup:${format.uuid}-${NAME}`);
    expect(tool('dmsetup', 'info', NAME).code).not.toBe(0);
  }, 120_000);

  (haveTool ? it : it.skip)('a bogus signature through a blocking client (the load on the thread whose keyring holds the key): the kernel rejects the signature as it does veritysetup\'s (EBADMSG), no key or device left', async () => {
    const blocking = await DeviceMapper.open({ blocking: true });
    try {
      const err = await openVerity(blocking, opts({ signature: new TextEncoder().encode('not a pkcs7 signature') })).then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
      recordLiveFact('verityBogusSignatureBlocking', err ? `${err.code} ${err.message}` : 'opened');
      expect(err?.code).toBe('EBADMSG');
      expect(fs.readFileSync('/proc/keys', 'utf8')).not.toContain(`cryptsetup:${format.uuid}-${NAME}`);
      expect(tool('dmsetup', 'info', NAME).code).not.toBe(0);
    } finally {
      blocking.close();
    }
  }, 120_000);
});
