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
import { attachLoop, closeVerity, DeviceMapper, formatVerity, openVerity, VERITY_OPTION_VERSIONS, type LoopDevice, type OpenVerityOptions } from '../../lib/index.js';
import { KEY_SPEC_PROCESS_KEYRING, openKeyring } from '../../ffi/keyring.js';
import { describeLiveOn, kernelLabel, recordLiveFact } from './live-env.js';
import { dmctl, have, must, tool } from './realtools-env.js';

const NAME = `p24ver${process.pid}`;
const MiB = 1024 * 1024;

describeLiveOn(['5.10', '6.1', 'newest'], `openVerity against veritysetup [kernel ${kernelLabel}]`, () => {
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
  /** The loop devices backed by `file`, from sysfs (what `losetup -j` reads). */
  const loopsOf = (file: string) => fs.readdirSync('/sys/block').filter((d) => /^loop\d+$/.test(d)).flatMap((d) => {
    const attr = (a: string) => { try { return fs.readFileSync(`/sys/block/${d}/${a}`, 'utf8').trim(); } catch { return undefined; } };
    return attr('loop/backing_file') === fs.realpathSync(file) ? [{ name: d, dev: attr('dev')!, ro: attr('ro'), autoclear: attr('loop/autoclear') }] : [];
  });
  /** The kernel detaches an autoclear loop at its last close, which may land just after the remove. */
  const settle = async (files: string[], left = () => files.flatMap(loopsOf)) => {
    for (let i = 0; i < 50 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  };
  /** The kernel log's records so far (/dev/kmsg from its start, read until EAGAIN). */
  const kmsg = () => {
    const fd = fs.openSync('/dev/kmsg', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const out: string[] = [];
    const buf = Buffer.alloc(8192);
    try {
      for (;;) {
        try { out.push(buf.subarray(0, fs.readSync(fd, buf)).toString('utf8').split(';').slice(1).join(';').split('\n')[0]!); } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EPIPE') continue; // records overwritten since: go on
          break;
        }
      }
    } finally { fs.closeSync(fd); }
    return out;
  };
  const tableOf = () => must('dmsetup', 'table', NAME).trim();
  const uuidOf = () => must('dmsetup', 'info', '-c', '--noheadings', '-o', 'uuid', NAME).trim();

  (haveTool ? it : it.skip)('opens veritysetup\'s image, reads its data back, and loads the table and uuid veritysetup does (plain, then with options)', async () => {
    const v = await dm.getTargetVersion('verity');
    recordLiveFact('verityTargetVersion', v.join('.'));
    const cases: { flags: OpenVerityOptions['options']; args: string[] }[] = [
      { flags: {}, args: [] },
      { flags: { restartOnCorruption: true, ignoreZeroBlocks: true, checkAtMostOnce: true }, args: ['--restart-on-corruption', '--ignore-zero-blocks', '--check-at-most-once'] },
    ];
    if (v[0] > 1 || v[1] >= 7) cases.push({ flags: { panicOnCorruption: true }, args: ['--panic-on-corruption'] });
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

  (haveTool ? it : it.skip)('each option\'s version gate: an option newer than the kernel\'s verity target is DmUnsupportedError before any device, the others open', async () => {
    const v = await dm.getTargetVersion('verity');
    const atLeast = (need: readonly number[]) => v[0] > need[0]! || (v[0] === need[0] && (v[1] > need[1]! || (v[1] === need[1] && v[2] >= need[2]!)));
    const seen: Record<string, string> = {};
    for (const k of ['ignoreCorruption', 'restartOnCorruption', 'ignoreZeroBlocks', 'checkAtMostOnce', 'panicOnCorruption', 'useTasklets'] as const) {
      const need = VERITY_OPTION_VERSIONS[k];
      const r = await openVerity(dm, opts({ options: { [k]: true } })).then(async (d) => { await d.close(); return 'opened'; }, (e: unknown) => (e as { name: string }).name);
      seen[k] = `${need.join('.')}: ${r}`;
      expect([k, r]).toEqual([k, atLeast(need) ? 'opened' : 'DmUnsupportedError']);
    }
    recordLiveFact('verityOptionGates', { target: v.join('.'), ...seen });
    expect(tool('dmsetup', 'info', NAME).code).not.toBe(0);
  }, 120_000);

  it('plain files (a tree the library made): two read-only autoclear loops, every block reads back, a corrupted data block is EIO with the kernel\'s log line, close leaves no loop', async () => {
    const dataFile = path.join(dir, 'fdata.img');
    const hashFile = path.join(dir, 'fhash.img');
    fs.writeFileSync(dataFile, randomBytes(4 * MiB));
    fs.writeFileSync(hashFile, '');
    const f = await formatVerity(dataFile, hashFile);
    const started = Date.now();
    const v = await openVerity(dm, { name: NAME, dataDevice: dataFile, hashDevice: hashFile, rootHash: f.rootHash });
    try {
      const ours = [...loopsOf(dataFile), ...loopsOf(hashFile)];
      const table = tableOf();
      recordLiveFact('verityFileOpen', { table, loops: ours, openMs: Date.now() - started });
      expect(ours.map((l) => l.name)).toHaveLength(2);
      expect(new Set(ours.map((l) => l.name)).size).toBe(2);
      expect(ours.map((l) => [l.ro, l.autoclear])).toEqual([['1', '1'], ['1', '1']]);
      expect(table).toContain(` ${ours[0]!.dev} ${ours[1]!.dev} `);
      const dmPath = `/dev/dm-${v.dev.minor}`;
      const fd = fs.openSync(dmPath, 'r');
      const got = Buffer.alloc(4 * MiB);
      try { fs.readSync(fd, got, 0, got.length, 0); } finally { fs.closeSync(fd); }
      expect(got.equals(fs.readFileSync(dataFile))).toBe(true);
      // Corrupt data block 100 in the file (the loop reads through the same page cache), drop
      // the dm device's cached copy, read it again.
      const block = 100;
      const wfd = fs.openSync(dataFile, 'r+');
      fs.writeSync(wfd, Buffer.from(got.subarray(block * 4096, block * 4096 + 16)).map((b) => b ^ 0xff), 0, 16, block * 4096);
      fs.fsyncSync(wfd);
      fs.closeSync(wfd);
      fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
      const kmsgBefore = kmsg().length;
      const rfd = fs.openSync(dmPath, 'r');
      let err: NodeJS.ErrnoException | undefined;
      try { fs.readSync(rfd, Buffer.alloc(4096), 0, 4096, block * 4096); } catch (e) { err = e as NodeJS.ErrnoException; } finally { fs.closeSync(rfd); }
      expect(err?.code).toBe('EIO');
      const lines = kmsg().slice(kmsgBefore).filter((l) => /verity/.test(l));
      recordLiveFact('verityCorruptionLog', lines);
      // The kernel names the data device (v->data_dev->name: the loop's major:minor) and the block.
      expect(lines.some((l) => l.includes(`${ours[0]!.dev}: data block ${block} is corrupted`))).toBe(true);
    } finally {
      await closeVerity(dm, NAME);
    }
    await settle([dataFile, hashFile]);
    // What `losetup -a` would list (its source, sysfs's backing_file of every loop; the package
    // runs no losetup: spec/boundaries): no loop is backed by our files.
    expect([...loopsOf(dataFile), ...loopsOf(hashFile)]).toEqual([]);
  }, 180_000);

  (haveTool ? it : it.skip)('plain files: dmctl verity open and veritysetup open attach loops, load the same table but for the loop numbers, and leave no loop after close', async () => {
    const dataFile = path.join(dir, 'data.img');
    const hashFile = path.join(dir, 'hash.img');
    const rootHex = Buffer.from(format.root).toString('hex');
    const v1 = `${NAME}f1`;
    const v2 = `${NAME}f2`;
    const extra = () => [...loopsOf(dataFile), ...loopsOf(hashFile)].filter((l) => !loops.some((x) => x.path === `/dev/${l.name}`));
    try {
      expect(await dmctl('verity', 'open', dataFile, v1, hashFile, rootHex)).toMatchObject({ code: 0, stdout: '' });
      must('veritysetup', 'open', dataFile, v2, hashFile, rootHex);
      const t1 = must('dmsetup', 'table', v1).trim();
      const t2 = must('dmsetup', 'table', v2).trim();
      recordLiveFact('verityFileTables', { dmctl: t1, veritysetup: t2, loops: extra() });
      expect(t1).toMatch(/ 7:\d+ 7:\d+ /);
      const anyLoop = (t: string) => t.replace(/\b7:\d+\b/g, '7:N');
      expect(anyLoop(t1)).toBe(anyLoop(t2));
      expect(await dmctl('verity', 'close', v1)).toMatchObject({ code: 0 });
      must('veritysetup', 'close', v2);
      await settle([dataFile, hashFile], extra);
      expect(extra()).toEqual([]);
    } finally {
      tool('veritysetup', 'close', v1);
      tool('veritysetup', 'close', v2);
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
      // Unlinked at once; the kernel's key garbage collector drops it from /proc/keys shortly
      // after (live on 6.1 it was still listed right after the open once).
      const desc = `cryptsetup:${format.uuid}-${NAME}`;
      for (let i = 0; i < 30 && fs.readFileSync('/proc/keys', 'utf8').includes(desc); i++) await new Promise((r) => setTimeout(r, 100));
      expect(fs.readFileSync('/proc/keys', 'utf8')).not.toContain(desc);
      expect(tool('dmsetup', 'info', NAME).code).not.toBe(0);
    } finally {
      blocking.close();
    }
  }, 120_000);
});
