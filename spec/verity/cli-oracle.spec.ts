// dmctl verity format|verify|dump (verify with --fec-device too) against the system's veritysetup: the same command line
// gives the same stdout byte for byte, the same stderr lines and the same exit status, and
// the same hash image (cmp). Skips, saying so, where veritysetup is not installed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../cli/index.js';

const VERITYSETUP = ['/usr/sbin/veritysetup', '/sbin/veritysetup', '/usr/bin/veritysetup'].find((p) => fs.existsSync(p));
if (!VERITYSETUP) console.warn('spec/verity/cli-oracle.spec.ts: skipped, no veritysetup on this machine (the oracle)');
const d = VERITYSETUP ? describe : describe.skip;

const UUID = '0b7a1d52-3c4e-4f60-8a9b-0c1d2e3f4a5b';
const SALT = '00112233445566778899aabbccddeeff';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verity-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function dataFile(name: string, bytes: number): string {
  const f = path.join(dir, name);
  const b = Buffer.alloc(bytes);
  let x = bytes;
  for (let i = 0; i < bytes; i += 4) { x = (x * 1103515245 + 12345) >>> 0; b.writeUInt32LE(x, i); }
  fs.writeFileSync(f, b);
  return f;
}

interface Out { stdout: string; stderr: string; status: number }

function theirs(args: string[]): Out {
  const r = spawnSync(VERITYSETUP!, args, { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

async function ours(args: string[]): Promise<Out> {
  let stdout = '';
  let stderr = '';
  const status = await run(['verity', ...args], { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; } });
  return { stdout, stderr, status };
}

/** Runs both with `{h}` in args replaced by each one's own hash image; the outputs name it, so ours is renamed back. */
async function both(args: string[], prepare?: (hash: string) => void): Promise<{ t: Out; o: Out; th: string; oh: string }> {
  const n = Math.random().toString(36).slice(2);
  const th = path.join(dir, `t-${n}.img`);
  const oh = path.join(dir, `o-${n}.img`);
  prepare?.(th);
  prepare?.(oh);
  const t = theirs(args.map((a) => (a === '{h}' ? th : a)));
  const o = await ours(args.map((a) => (a === '{h}' ? oh : a)));
  const fix = (s: string) => s.split(oh).join(th);
  return { t, o: { stdout: fix(o.stdout), stderr: fix(o.stderr), status: o.status }, th, oh };
}

d('dmctl verity prints what veritysetup prints', () => {
  const data = dataFile('data.img', 1 << 20);
  const small = dataFile('small.img', 64 << 10);

  const formats: [string, string[]][] = [
    ['defaults', []],
    ['--no-superblock', ['--no-superblock']],
    ['--format 0 --hash sha1 --salt -', ['--format', '0', '--hash', 'sha1', '--salt', '-']],
    ['-h sha512 -s <hex> --data-block-size 512 --hash-block-size 1024', ['-h', 'sha512', '-s', 'abcdef', '--data-block-size', '512', '--hash-block-size', '1024']],
    ['--hash=SHA256 (as given) --data-blocks=10', ['--hash=SHA256', '--data-blocks=10']],
    ['--hash-offset 4096 (no device size line)', ['--hash-offset', '4096']],
    ['--data-block-size 8192: the page-size warning', ['--data-block-size', '8192']],
  ];
  for (const [name, opts] of formats) {
    test(`format ${name}`, async () => {
      const salt = opts.includes('--salt') || opts.includes('-s') ? [] : ['--salt', SALT];
      const uuid = opts.includes('--no-superblock') ? [] : ['--uuid', UUID];
      const { t, o, th, oh } = await both(['format', data, '{h}', ...uuid, ...salt, ...opts]);
      expect(o).toEqual(t);
      expect(t.status).toBe(0);
      expect(execFileSync('cmp', [th, oh]).toString()).toBe('');
    });
  }

  test('format -v: "Command successful."; --root-hash-file writes the hex', async () => {
    const { t, o } = await both(['format', '-v', small, '{h}', '--uuid', UUID, '--salt', SALT]);
    expect(o).toEqual(t);
    const rf = path.join(dir, 'root.txt');
    expect((await ours(['format', small, path.join(dir, 'rh.img'), '--salt', SALT, '--root-hash-file', rf])).status).toBe(0);
    expect(fs.readFileSync(rf, 'utf8')).toMatch(/^[0-9a-f]{64}$/);
  });

  const refused: [string, string[]][] = [
    ['an unknown hash', ['--hash', 'foo']],
    ['a block size that is not a power of two', ['--data-block-size', '1000']],
    ['a hash block size too large', ['--hash-block-size', '1048576']],
    ['a bad salt', ['-s', 'zz']],
    ['an odd salt', ['-s', 'abc']],
    ['hash type 2', ['--format', '2']],
    ['a hash offset off 512', ['--hash-offset', '100']],
    ['a bad uuid', ['--uuid', 'not-a-uuid']],
    ['more data blocks than the device has', ['--data-blocks', '1000']],
  ];
  for (const [name, opts] of refused) {
    test(`format refuses ${name} as veritysetup does`, async () => {
      const { t, o } = await both(['format', small, '{h}', ...opts]);
      expect(o.stderr).toBe(t.stderr);
      expect(o.status).toBe(t.status);
      expect(o.stdout).toBe(t.stdout);
      expect(t.status).not.toBe(0);
    });
  }

  test('format of a data device that is not there: exit 4', async () => {
    const { t, o } = await both(['format', path.join(dir, 'missing.img'), '{h}']);
    expect(o).toEqual(t);
    expect(t.status).toBe(4);
  });

  test('dump: the superblock as veritysetup shows it; at an offset; of a device that is none', async () => {
    const h = path.join(dir, 'dump.img');
    expect(theirs(['format', data, h, '--uuid', UUID, '--salt', SALT, '--hash', 'sha384', '--format', '0']).status).toBe(0);
    expect(await ours(['dump', h])).toEqual(theirs(['dump', h]));
    const ho = path.join(dir, 'dump-off.img');
    expect(theirs(['format', data, ho, '--uuid', UUID, '--salt', SALT, '--hash-offset', '8192']).status).toBe(0);
    expect(await ours(['dump', ho, '--hash-offset', '8192'])).toEqual(theirs(['dump', ho, '--hash-offset', '8192']));
    expect(await ours(['dump', ho])).toEqual(theirs(['dump', ho]));
    expect(await ours(['dump', data])).toEqual(theirs(['dump', data]));
    expect(await ours(['dump', path.join(dir, 'nothing.img')])).toEqual(theirs(['dump', path.join(dir, 'nothing.img')]));
  });

  describe('verify', () => {
    const h = path.join(dir, 'v.img');
    let root = '';
    beforeAll(() => {
      const r = theirs(['format', data, h, '--uuid', UUID, '--salt', SALT]);
      root = /Root hash:\s+([0-9a-f]+)/.exec(r.stdout)![1]!;
    });
    const corrupt = (src: string, at: number, name: string) => {
      const f = path.join(dir, name);
      const b = fs.readFileSync(src);
      b[at] = b[at]! ^ 0x55;
      fs.writeFileSync(f, b);
      return f;
    };
    test('a whole tree: exit 0, nothing printed (-v: "Command successful.")', async () => {
      expect(await ours(['verify', data, h, root])).toEqual(theirs(['verify', data, h, root]));
      expect(await ours(['verify', '-v', data, h, root])).toEqual(theirs(['verify', '-v', data, h, root]));
    });
    test('a changed data block: its position, exit 2', async () => {
      const bad = corrupt(data, 20000, 'bad-data.img');
      const t = theirs(['verify', bad, h, root]);
      expect(t.stderr).toBe('Verification failed at position 16384.\nVerification of data area failed.\n');
      expect(await ours(['verify', bad, h, root])).toEqual(t);
      expect(await ours(['verify', '-v', bad, h, root])).toEqual(theirs(['verify', '-v', bad, h, root]));
    });
    test('a changed digest in the bottom level, in the top level, in a spare area', async () => {
      for (const at of [8200, 4096, 4196, 12000]) {
        const bad = corrupt(h, at, `bad-hash-${at}.img`);
        const t = theirs(['verify', data, bad, root]);
        expect(t.status).toBe(2);
        expect(await ours(['verify', data, bad, root])).toEqual(t);
      }
    });
    test('another root hash; a root hash of the wrong length; none; a hash device that is no verity one', async () => {
      const other = root.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      for (const args of [[data, h, other], [data, h, `00${root}`], [data, h], [data, data, root], [data, path.join(dir, 'absent.img'), root]]) {
        expect(await ours(['verify', ...args])).toEqual(theirs(['verify', ...args]));
      }
    });
    test('--fec-device: whole; a repairable data block (the failure, then "Found N repairable errors", exit 0); beyond repair (exit 2); FEC shared with the hash file', async () => {
      const hf = path.join(dir, 'vf.img');
      const fec = path.join(dir, 'vf.fec');
      const r = theirs(['format', data, hf, '--uuid', UUID, '--salt', SALT, '--fec-device', fec, '--fec-roots', '4']);
      const rf = /Root hash:\s+([0-9a-f]+)/.exec(r.stdout)![1]!;
      const fecArgs = ['--fec-device', fec, '--fec-roots', '4'];
      const repairable = corrupt(data, 20000, 'fec-bad.img');
      const twice = corrupt(repairable, 20001, 'fec-bad2.img');
      // The first byte of twelve blocks: six damaged bytes in each round's codeword 0, more than 4 roots correct.
      const beyond = path.join(dir, 'fec-beyond.img');
      const b = fs.readFileSync(data);
      for (let i = 0; i < 12; i++) b[i * 4096] = b[i * 4096]! ^ 0xff;
      fs.writeFileSync(beyond, b);
      for (const bad of [data, repairable, twice, beyond]) {
        const t = theirs(['verify', bad, hf, rf, ...fecArgs]);
        expect(await ours(['verify', bad, hf, rf, ...fecArgs])).toEqual(t);
      }
      expect(theirs(['verify', repairable, hf, rf, ...fecArgs])).toEqual({ stdout: '', stderr: 'Verification failed at position 16384.\nVerification of data area failed.\nFound 1 repairable errors with FEC device.\n', status: 0 });
      const t = theirs(['verify', beyond, hf, rf, ...fecArgs]);
      expect({ status: t.status, last: t.stderr.split('\n').slice(-3) }).toEqual({ status: 2, last: ['Failed to repair parity for block 0.', 'Errors cannot be repaired with FEC device.', ''] });
      // The FEC area in the hash file, behind the tree.
      const hs = path.join(dir, 'vs.img');
      fs.writeFileSync(hs, Buffer.alloc(64 << 10));
      const rs = /Root hash:\s+([0-9a-f]+)/.exec(theirs(['format', data, hs, '--salt', SALT, '--fec-device', hs, '--fec-offset', '65536', '--fec-roots', '2']).stdout)![1]!;
      for (const bad of [data, repairable]) {
        const args = ['verify', bad, hs, rs, '--fec-device', hs, '--fec-offset', '65536', '--fec-roots', '2'];
        expect(await ours(args)).toEqual(theirs(args));
      }
    });
    test('--no-superblock with the parameters on the command line', async () => {
      const hn = path.join(dir, 'vn.img');
      const r = theirs(['format', data, hn, '--no-superblock', '--salt', SALT, '--hash', 'sha1', '--format', '0']);
      const rn = /Root hash:\s+([0-9a-f]+)/.exec(r.stdout)![1]!;
      const args = ['verify', data, hn, rn, '--no-superblock', '--salt', SALT, '--hash', 'sha1', '--format', '0'];
      expect(await ours(args)).toEqual(theirs(args));
      const wrong = ['verify', data, hn, rn, '--no-superblock', '--salt', SALT, '--hash', 'sha1'];
      expect(await ours(wrong)).toEqual(theirs(wrong));
    });
  });

  test('usage errors: no action, an unknown one, missing operands (exit 1, nothing on stdout)', async () => {
    for (const args of [[], ['bogus'], ['format', data]]) {
      const o = await ours(args);
      expect(o.status).toBe(theirs(args).status);
      expect(o.stdout).toBe('');
    }
  });

  test('--json: the document, with the root hash', async () => {
    const o = await ours(['format', small, path.join(dir, 'j.img'), '--uuid', UUID, '--salt', SALT, '--json']);
    expect(o.status).toBe(0);
    const doc = JSON.parse(o.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ action: 'format', uuid: UUID, hashType: 1, dataBlocks: '16', hashAlgorithm: 'sha256', salt: SALT, hashDeviceSizeBytes: '8192' });
    expect(await ours(['verify', small, path.join(dir, 'j.img'), doc.rootHash as string, '--json']).then((r) => JSON.parse(r.stdout))).toMatchObject({ action: 'verify', verified: true });
  });
});

d('dmctl verity format --fec-device writes what veritysetup writes', () => {
  const data = dataFile('fec-data.img', 1 << 20);
  const cases: [string, (fec: string) => string[], boolean][] = [
    ['roots 2, own FEC file', (fec) => ['format', data, '{h}', '--salt', SALT, '--uuid', UUID, '--fec-device', fec, '--fec-roots', '2'], false],
    ['roots 8, own FEC file', (fec) => ['format', data, '{h}', '--salt', SALT, '--uuid', UUID, '--fec-device', fec, '--fec-roots', '8'], false],
    ['roots 8, FEC in the hash file at --fec-offset', () => ['format', data, '{h}', '--salt', SALT, '--uuid', UUID, '--fec-device', '{h}', '--fec-roots', '8', '--fec-offset', String(64 << 10)], true],
  ];
  test.each(cases)('%s', async (_name, argv, shared) => {
    const tf = path.join(dir, `tf-${Math.random().toString(36).slice(2)}`);
    const of = path.join(dir, `of-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(tf, '');
    fs.writeFileSync(of, '');
    const n = Math.random().toString(36).slice(2);
    const th = path.join(dir, `ft-${n}.img`);
    const oh = path.join(dir, `fo-${n}.img`);
    // Shared: veritysetup covers the hash file up to --fec-offset, so that much must exist.
    if (shared) for (const h of [th, oh]) fs.writeFileSync(h, Buffer.alloc(64 << 10));
    const sub = (args: string[], h: string, f: string) => args.map((x) => (x === '{h}' ? h : x === '{f}' ? f : x));
    const t = theirs(sub(argv('{f}'), th, tf));
    const o = await ours(sub(argv('{f}'), oh, of));
    expect(t.status).toBe(0);
    expect({ ...o, stdout: o.stdout.split(oh).join(th) }).toEqual(t);
    expect(fs.readFileSync(oh).equals(fs.readFileSync(th))).toBe(true);
    if (!shared) {
      expect(fs.statSync(tf).size).toBeGreaterThan(0);
      expect(fs.readFileSync(of).equals(fs.readFileSync(tf))).toBe(true);
    }
  }, 120_000);
});
