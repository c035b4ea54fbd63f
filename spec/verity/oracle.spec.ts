// formatVerity and verifyVerity against the system's veritysetup (the oracle): the same
// options, the same salt and UUID, and the hash images must be equal byte for byte (cmp),
// the root hashes too. veritysetup formats plain files without device-mapper, so this runs
// wherever it is installed; elsewhere it skips, saying so.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatVerity, verifyVerity, readVeritySuperblock } from '../../lib/index.js';

const VERITYSETUP = ['/usr/sbin/veritysetup', '/sbin/veritysetup', '/usr/bin/veritysetup'].find((p) => fs.existsSync(p));
if (!VERITYSETUP) console.warn('spec/verity/oracle.spec.ts: skipped, no veritysetup on this machine (the oracle)');
const d = VERITYSETUP ? describe : describe.skip;

const UUID = '0b7a1d52-3c4e-4f60-8a9b-0c1d2e3f4a5b';
const SALT = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'verity-oracle-'));
}

/** A data file of `bytes` pseudo-random bytes (deterministic). */
function dataFile(dir: string, bytes: number, seed = 1): string {
  const f = path.join(dir, `data-${bytes}-${seed}.img`);
  const b = Buffer.alloc(bytes);
  let x = seed * 2654435761;
  for (let i = 0; i < bytes; i += 4) { x = (x * 1103515245 + 12345) >>> 0; b.writeUInt32LE(x, i); }
  fs.writeFileSync(f, b);
  return f;
}

function veritysetup(args: string[]): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(VERITYSETUP!, args, { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

interface Case { name: string; dataBytes: number; cli: string[]; lib: Parameters<typeof formatVerity>[2] }

const CASES: Case[] = [
  { name: 'defaults (sha256, 4096/4096, format 1)', dataBytes: 1 << 20, cli: [], lib: {} },
  { name: 'no superblock', dataBytes: 1 << 20, cli: ['--no-superblock'], lib: { superblock: false } },
  { name: 'format 0 (Chrome OS)', dataBytes: 1 << 20, cli: ['--format', '0'], lib: { hashType: 0 } },
  { name: 'format 0, sha1, no superblock', dataBytes: 3 << 20, cli: ['--format', '0', '--hash', 'sha1', '--no-superblock'], lib: { hashType: 0, hashAlgorithm: 'sha1', superblock: false } },
  { name: 'sha1: padded digests', dataBytes: 1 << 20, cli: ['--hash', 'sha1'], lib: { hashAlgorithm: 'sha1' } },
  { name: 'sha512', dataBytes: 2 << 20, cli: ['--hash', 'sha512'], lib: { hashAlgorithm: 'sha512' } },
  { name: 'sha384 (48-byte digest in 64)', dataBytes: 1 << 20, cli: ['--hash', 'sha384'], lib: { hashAlgorithm: 'sha384' } },
  { name: 'sha224, upper case name', dataBytes: 1 << 20, cli: ['--hash', 'SHA224'], lib: { hashAlgorithm: 'SHA224' } },
  { name: 'blake2b-512, 512/512: three levels', dataBytes: 512 * 600, cli: ['--hash', 'blake2b-512', '--data-block-size', '512', '--hash-block-size', '512'], lib: { hashAlgorithm: 'blake2b-512', dataBlockSizeBytes: 512, hashBlockSizeBytes: 512 } },
  { name: 'sha3-256, 1024/2048', dataBytes: 1 << 20, cli: ['--hash', 'sha3-256', '--data-block-size', '1024', '--hash-block-size', '2048'], lib: { hashAlgorithm: 'sha3-256', dataBlockSizeBytes: 1024, hashBlockSizeBytes: 2048 } },
  { name: 'data 512, hash 4096', dataBytes: 5 << 20, cli: ['--data-block-size', '512'], lib: { dataBlockSizeBytes: 512 } },
  { name: 'data 8192, hash 1024', dataBytes: 1 << 20, cli: ['--data-block-size', '8192', '--hash-block-size', '1024'], lib: { dataBlockSizeBytes: 8192, hashBlockSizeBytes: 1024 } },
  { name: '--data-blocks 100 of 256', dataBytes: 1 << 20, cli: ['--data-blocks', '100'], lib: { dataBlocks: 100 } },
  { name: 'one data block: no levels', dataBytes: 4096, cli: [], lib: {} },
  { name: 'a partial last block is not covered', dataBytes: (1 << 20) + 1000, cli: [], lib: {} },
  { name: '--hash-offset 8192 with superblock', dataBytes: 1 << 20, cli: ['--hash-offset', '8192'], lib: { hashOffsetBytes: 8192 } },
  { name: '--hash-offset 1536 without superblock (rounded down to a hash block)', dataBytes: 1 << 20, cli: ['--hash-offset', '1536', '--no-superblock', '--hash-block-size', '1024'], lib: { hashOffsetBytes: 1536, superblock: false, hashBlockSizeBytes: 1024 } },
  { name: 'empty salt', dataBytes: 1 << 20, cli: ['--salt', '-'], lib: { salt: '-' } },
  { name: 'a 256-byte salt', dataBytes: 1 << 20, cli: ['--salt', 'ab'.repeat(256)], lib: { salt: 'ab'.repeat(256) } },
  { name: 'pool path: 12 MiB over the threads', dataBytes: 12 << 20, cli: [], lib: {} },
  { name: 'pool path, format 0 (salt after the block), sha1', dataBytes: 6 << 20, cli: ['--format', '0', '--hash', 'sha1'], lib: { hashType: 0, hashAlgorithm: 'sha1' } },
  { name: 'pool path, shake256, one thread', dataBytes: 6 << 20, cli: ['--hash', 'shake256'], lib: { hashAlgorithm: 'shake256', threads: 1 } },
];

d('formatVerity against veritysetup format: cmp-equal hash images', () => {
  const dir = tmp();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const c of CASES) {
    test(c.name, async () => {
      const data = dataFile(dir, c.dataBytes);
      const theirs = path.join(dir, `${c.name.replace(/\W+/g, '_')}.theirs`);
      const ours = path.join(dir, `${c.name.replace(/\W+/g, '_')}.ours`);
      const salt = c.cli.includes('--salt') ? [] : ['--salt', SALT];
      const r = veritysetup(['format', data, theirs, '--uuid', UUID, ...salt, ...c.cli]);
      expect(r.stderr).toBe(c.lib?.dataBlockSizeBytes !== undefined && c.lib.dataBlockSizeBytes > 4096 ? 'WARNING: Kernel cannot activate device if data block size exceeds page size (4096).\n' : '');
      expect(r.status).toBe(0);
      const root = /Root hash:\s+([0-9a-f]+)/.exec(r.stdout)![1];
      const result = await formatVerity(data, ours, { uuid: c.lib?.superblock === false ? undefined : UUID, salt: c.lib?.salt ?? SALT, ...c.lib });
      expect(result.rootHashHex).toBe(root);
      expect(execFileSync('cmp', [theirs, ours]).toString()).toBe('');
      expect(fs.statSync(ours).mode & 0o777).toBe(0o600);
      // And the other way: each verifies the other's image.
      const params = c.lib?.superblock === false ? { ...c.lib, salt: c.lib?.salt ?? SALT } : { hashOffsetBytes: c.lib?.hashOffsetBytes };
      await expect(verifyVerity(data, theirs, root!, params)).resolves.toMatchObject({ rootHashHex: root });
      expect(veritysetup(['verify', data, ours, root!, ...(c.lib?.superblock === false ? [...salt, ...c.cli] : c.cli.filter((a, i, all) => a === '--hash-offset' || all[i - 1] === '--hash-offset'))]).status).toBe(0);
    });
  }

  test('an existing larger hash image keeps the bytes outside the superblock and the tree', async () => {
    const data = dataFile(dir, 1 << 20, 7);
    const theirs = path.join(dir, 'keep.theirs');
    const ours = path.join(dir, 'keep.ours');
    const junk = Buffer.alloc(64 << 10, 0x5a);
    fs.writeFileSync(theirs, junk);
    fs.writeFileSync(ours, junk);
    expect(veritysetup(['format', data, theirs, '--uuid', UUID, '--salt', SALT]).status).toBe(0);
    await formatVerity(data, ours, { uuid: UUID, salt: SALT });
    expect(execFileSync('cmp', [theirs, ours]).toString()).toBe('');
  });

  test('readVeritySuperblock reads what veritysetup wrote', async () => {
    const data = dataFile(dir, 1 << 20, 3);
    const h = path.join(dir, 'sb.theirs');
    expect(veritysetup(['format', data, h, '--uuid', UUID, '--salt', '0011', '--hash', 'SHA512', '--format', '0', '--data-block-size', '1024']).status).toBe(0);
    const sb = await readVeritySuperblock(h);
    expect(sb).toMatchObject({ version: 1, hashType: 0, uuid: UUID, hashAlgorithm: 'sha512', dataBlockSizeBytes: 1024, hashBlockSizeBytes: 4096, dataBlocks: 1024n, hashOffsetBytes: 0n });
    expect(Buffer.from(sb.salt).toString('hex')).toBe('0011');
  });
});
