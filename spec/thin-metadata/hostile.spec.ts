// Hostile metadata: a metadata file thin_restore made, damaged thousands of ways (flipped
// bits, zeroed blocks, truncation, forged counts, keys and pointers with their checksums
// made good again so the deeper checks are the ones that must catch them). Every read must
// end — with the right result or a DmThinMetadataError naming a block — never another
// error, a hang, or a crash. The counts of each kind of damage and outcome are printed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DmThinMetadataError, openThinMetadata, thinDumpText } from '../../lib/index.js';
import { THIN_METADATA_BLOCK_BYTES as B, THIN_CSUM_XOR, btreeNodeHeader, thinBlockChecksum, thinSuperblock } from '../../codec/thin-metadata-records.js';
import { generatePool, restore, rng, thinTool, tmpDir } from './fixtures.js';

const HAVE = thinTool('thin_restore') !== undefined;
if (!HAVE) console.warn('spec/thin-metadata/hostile.spec.ts: skipped, no thin_restore on this machine (it makes the metadata to damage)');
const d = HAVE ? describe : describe.skip;

type Kind = keyof typeof THIN_CSUM_XOR;
type Outcome = 'intact' | 'typed';
const counts: Record<string, Record<Outcome, number>> = {};
let dir = '';
let file = '';
let original: Buffer;
let fullDump = '';
/** Each metadata block in use and its kind (found by which salt its checksum matches). */
const used: { block: number; kind: Kind }[] = [];

/** Reads everything the reader offers; resolves to the dump text, or throws. */
async function readAll(): Promise<string> {
  const o = { timeoutMs: 20_000 };
  await using md = await openThinMetadata(file, o);
  let s = '';
  for await (const c of thinDumpText(md, o)) s += c;
  const n = md.superblock.dataBlockCount;
  for (let b = 0n; b < n; b += 61n) await md.dataBlockReferenceCount(b, o);
  return s;
}

/** Runs the reader over the damaged file and counts the outcome under `kind`; any other error fails. */
async function expectTyped(kind: string): Promise<void> {
  const c = (counts[kind] ??= { intact: 0, typed: 0 });
  try {
    await readAll();
    c.intact++;
  } catch (e) {
    if (!(e instanceof DmThinMetadataError)) throw new Error(`${kind}: not a DmThinMetadataError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.code).toBe('THIN_METADATA_CORRUPT');
    if (!/^mappings present/.test(e.message)) expect(typeof e.block).toBe('bigint');
    c.typed++;
  }
}

function writeBlock(b: number, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'r+');
  try { fs.writeSync(fd, bytes, 0, bytes.length, b * B); } finally { fs.closeSync(fd); }
}
const blockOf = (b: number) => Buffer.from(original.subarray(b * B, (b + 1) * B));
const reseal = (buf: Buffer, kind: Kind) => buf.writeUInt32LE(thinBlockChecksum(buf, 4, B, kind), 0);

/** Damages block `b` with `mutate`, reads, restores it. */
async function damaged(kind: string, b: number, mutate: (buf: Buffer) => void): Promise<void> {
  const buf = blockOf(b);
  mutate(buf);
  writeBlock(b, buf);
  try { await expectTyped(kind); } finally { writeBlock(b, blockOf(b)); }
}

d('hostile metadata', () => {
  beforeAll(async () => {
    dir = tmpDir();
    // Origin + 3 snapshots (shared blocks, ref counts of 3+), other devices: every tree is multi-level.
    file = restore(dir, generatePool({ seed: 21, originMappings: 3000, snapshots: 3, others: 8 }).xml, 'meta.bin', 4 << 20);
    original = fs.readFileSync(file);
    for (let b = 0; b < original.length / B; b++) {
      const buf = original.subarray(b * B, (b + 1) * B);
      for (const k of Object.keys(THIN_CSUM_XOR) as Kind[]) {
        if (thinBlockChecksum(buf, 4, B, k) === buf.readUInt32LE(0) && buf.readBigUInt64LE(8) === BigInt(b)) { used.push({ block: b, kind: k }); break; }
      }
    }
    fullDump = await readAll();
  }, 120_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    const lines = Object.entries(counts).map(([k, c]) => `  ${k}: ${c.intact + c.typed} cases, ${c.typed} typed errors, ${c.intact} read without error (the damage hit an unread block, a value, or a root leaf's count)`);
    if (lines.length) console.log(`hostile metadata outcomes (no other error, no hang):\n${lines.join('\n')}`);
  });

  test('the undamaged file reads and every block kind is present', () => {
    expect(fullDump).toMatch(/^<superblock /);
    const kinds = new Set(used.map((u) => u.kind));
    expect([...kinds].sort()).toEqual(['bitmap', 'btree', 'index', 'superblock']);
    expect(used.length).toBeGreaterThan(50);
  });

  test('a flipped bit anywhere in a used block', async () => {
    const r = rng(5);
    for (let i = 0; i < 800; i++) {
      const u = used[Math.floor(r() * used.length)]!;
      await damaged('flipped bit', u.block, (buf) => { const at = Math.floor(r() * B); buf[at]! ^= 1 << Math.floor(r() * 8); });
    }
    // A checksum covers every byte but its own: nothing flipped reads as it was, except in unread blocks.
    expect(counts['flipped bit']!.typed).toBeGreaterThan(500);
  }, 600_000);

  test('each used block zeroed', async () => {
    for (const u of used) await damaged('zeroed block', u.block, (buf) => buf.fill(0));
    expect(counts['zeroed block']!.typed).toBeGreaterThan(0);
  }, 600_000);

  test('truncated at block and byte boundaries', async () => {
    const sizes = [0, 100, B - 1, B, B + 7, ...used.map((u) => u.block * B + 2048)];
    for (const size of sizes) {
      fs.truncateSync(file, size);
      await expectTyped('truncation');
      fs.writeFileSync(file, original);
    }
  }, 600_000);

  test('forged node counts, flags and value sizes (checksums made good)', async () => {
    const h = btreeNodeHeader.offsetOf;
    const nodes = used.filter((u) => u.kind === 'btree');
    const forge: [string, (buf: Buffer) => void][] = [
      ['nr_entries 2^32-1', (b) => b.writeUInt32LE(0xffffffff, h.nr_entries)],
      ['nr_entries max+1', (b) => b.writeUInt32LE(b.readUInt32LE(h.max_entries) + 1, h.nr_entries)],
      ['nr_entries 0', (b) => b.writeUInt32LE(0, h.nr_entries)],
      ['max_entries 2^32-1', (b) => b.writeUInt32LE(0xffffffff, h.max_entries)],
      ['max_entries 0', (b) => b.writeUInt32LE(0, h.max_entries)],
      ['value_size 2^31', (b) => b.writeUInt32LE(0x80000000, h.value_size)],
      ['value_size 0', (b) => b.writeUInt32LE(0, h.value_size)],
      ['flags 0', (b) => b.writeUInt32LE(0, h.flags)],
      ['flags 3', (b) => b.writeUInt32LE(3, h.flags)],
      ['internal as leaf', (b) => b.writeUInt32LE(b.readUInt32LE(h.flags) === 1 ? 2 : 1, h.flags)],
    ];
    for (const u of nodes) for (const [name, f] of forge) await damaged(`forged count: ${name}`, u.block, (buf) => { f(buf); reseal(buf, 'btree'); });
    for (const [name] of forge) expect(counts[`forged count: ${name}`]!.typed).toBeGreaterThan(0);
  }, 600_000);

  test('forged keys and child pointers: out of order, out of range, cycles (checksums made good)', async () => {
    const h = btreeNodeHeader.offsetOf;
    const r = rng(9);
    const nodes = used.filter((u) => u.kind === 'btree');
    for (const u of nodes) {
      const buf0 = blockOf(u.block);
      const nr = buf0.readUInt32LE(h.nr_entries);
      const max = buf0.readUInt32LE(h.max_entries);
      const internal = buf0.readUInt32LE(h.flags) === 1;
      const vals = btreeNodeHeader.size + 8 * max;
      if (nr >= 2) await damaged('forged: keys swapped', u.block, (b) => { const k0 = b.readBigUInt64LE(32); b.writeBigUInt64LE(b.readBigUInt64LE(40), 32); b.writeBigUInt64LE(k0, 40); reseal(b, 'btree'); });
      if (nr >= 1) await damaged('forged: key 2^64-1', u.block, (b) => { b.writeBigUInt64LE(0xffffffffffffffffn, 32 + 8 * (nr - 1)); reseal(b, 'btree'); });
      if (internal) {
        await damaged('forged: child past the end', u.block, (b) => { b.writeBigUInt64LE(BigInt(original.length / B + 5), vals); reseal(b, 'btree'); });
        await damaged('forged: child is itself (cycle)', u.block, (b) => { b.writeBigUInt64LE(BigInt(u.block), vals + 8 * Math.floor(r() * nr)); reseal(b, 'btree'); });
        await damaged('forged: child is the superblock', u.block, (b) => { b.writeBigUInt64LE(0n, vals); reseal(b, 'btree'); });
        const other = nodes[Math.floor(r() * nodes.length)]!.block;
        await damaged('forged: child is another node', u.block, (b) => { b.writeBigUInt64LE(BigInt(other), vals + 8 * Math.floor(r() * nr)); reseal(b, 'btree'); });
      }
      // A random byte rewritten and the checksum made good: whatever it hits must be caught or harmless.
      for (let i = 0; i < 4; i++) await damaged('forged: random byte, checksum good', u.block, (b) => { b[Math.floor(r() * (B - 4)) + 4] = Math.floor(r() * 256); reseal(b, 'btree'); });
    }
    expect(counts['forged: child is itself (cycle)']!.typed).toBe(counts['forged: child is itself (cycle)']!.typed + counts['forged: child is itself (cycle)']!.intact);
    expect(counts['forged: child past the end']!.intact).toBe(0);
  }, 600_000);

  test('forged superblock fields (checksum made good)', async () => {
    const o = thinSuperblock.offsetOf;
    const forge: [string, (b: Buffer) => void][] = [
      ['magic', (b) => b.writeBigUInt64LE(1n, o.magic)],
      ['metadata_block_size', (b) => b.writeUInt32LE(16, o.metadata_block_size)],
      ['data_block_size 0', (b) => b.writeUInt32LE(0, o.data_block_size)],
      ['mapping root past the end', (b) => b.writeBigUInt64LE(1n << 40n, o.data_mapping_root)],
      ['details root is the superblock', (b) => b.writeBigUInt64LE(0n, o.device_details_root)],
      ['data space map index root past the end', (b) => b.writeBigUInt64LE(1n << 50n, o.data_space_map_root + 16)],
      ['blocknr', (b) => b.writeBigUInt64LE(7n, o.blocknr)],
    ];
    for (const [name, f] of forge) await damaged(`forged superblock: ${name}`, 0, (b) => { f(b); reseal(b, 'superblock'); });
    for (const [name] of forge) expect(counts[`forged superblock: ${name}`]!.typed).toBe(1);
  }, 120_000);
});

// The base file's path for the error message test below is not shared: this one builds its own.
d('hostile metadata: the error names the block', () => {
  test('a bad checksum names the block and the kind', async () => {
    const dir2 = tmpDir();
    try {
      const f = restore(dir2, generatePool({ seed: 3, originMappings: 500, snapshots: 1 }).xml, 'm.bin', 1 << 20);
      const buf = fs.readFileSync(f);
      const root = buf.readBigUInt64LE(thinSuperblock.offsetOf.device_details_root);
      buf[Number(root) * B + 100]! ^= 0xff;
      fs.writeFileSync(f, buf);
      await using md = await openThinMetadata(f);
      const e = await md.devices().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmThinMetadataError);
      expect(e).toMatchObject({ code: 'THIN_METADATA_CORRUPT', block: root });
      expect((e as Error).message).toMatch(new RegExp(`^metadata block ${root}: bad checksum in btree block`));
      expect(path.basename(f)).toBe('m.bin');
    } finally {
      fs.rmSync(dir2, { recursive: true, force: true });
    }
  });
});
