// The metadata reader and thin_dump's text against thin-provisioning-tools (the oracle):
// metadata files made by thin_restore from generated XML, dumped by thin_dump and by us;
// stdout must be equal byte for byte, and the devices, runs and reference counts must be
// what the XML says. Skips, saying so, where thin_restore or thin_dump is absent.
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import { openThinMetadata, thinDumpText, type ThinMetadataReader } from '../../lib/index.js';
import { generatePool, restore, runTool, thinTool, tmpDir, type GenPool } from './fixtures.js';

const HAVE = thinTool('thin_restore') !== undefined && thinTool('thin_dump') !== undefined;
if (!HAVE) console.warn('spec/thin-metadata/oracle.spec.ts: skipped, no thin_restore/thin_dump on this machine (the oracle)');
const d = HAVE ? describe : describe.skip;

const dir = HAVE ? tmpDir() : '';
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

async function ourDump(file: string, o: Parameters<typeof thinDumpText>[1] = {}, snap?: boolean): Promise<Buffer> {
  await using md = await openThinMetadata(file, snap ? { metadataSnap: true } : {});
  let s = '';
  for await (const c of thinDumpText(md, o)) s += c;
  return Buffer.from(s, 'utf8');
}

interface Case { readonly name: string; readonly pool: GenPool; readonly sizeBytes?: number }
const CASES: Case[] = HAVE ? [
  { name: 'one device, runs and single mappings', pool: generatePool({ seed: 1, originMappings: 300, snapshots: 0 }) },
  { name: 'an origin and 3 snapshots sharing its blocks (ref counts of 3 and more)', pool: generatePool({ seed: 2, originMappings: 2000, snapshots: 3 }) },
  { name: 'many devices (300), some empty', pool: generatePool({ seed: 3, originMappings: 50, snapshots: 2, others: 300 }) },
  { name: 'deep trees: 120k mappings and 2 snapshots', pool: generatePool({ seed: 4, originMappings: 120_000, snapshots: 2, maxRun: 6 }), sizeBytes: 256 << 20 },
] : [];

d('thin metadata against thin_restore + thin_dump 0.9', () => {
  const files = new Map<string, string>();
  const fileOf = (c: Case) => {
    let f = files.get(c.name);
    if (!f) { f = restore(dir, c.pool.xml, `meta-${files.size}.bin`, c.sizeBytes); files.set(c.name, f); }
    return f;
  };

  test.each(CASES)('$name: XML and human-readable dumps are byte-identical', async (c) => {
    const f = fileOf(c);
    for (const [args, opts] of [[[], {}], [['-f', 'human_readable'], { format: 'human_readable' }]] as const) {
      const theirs = runTool('thin_dump', [...args, f]);
      expect(theirs.status).toBe(0);
      const ours = await ourDump(f, opts);
      expect(ours.length).toBe(theirs.stdout.length);
      expect(ours.equals(theirs.stdout)).toBe(true);
    }
  }, 120_000);

  test.each(CASES)('$name: --skip-mappings and --dev-id are byte-identical', async (c) => {
    const f = fileOf(c);
    const ids = c.pool.devices.map((x) => x.id);
    const pick = [ids[ids.length - 1]!, ids[0]!];
    const cases: [string[], Parameters<typeof thinDumpText>[1]][] = [
      [['--skip-mappings'], { skipMappings: true }],
      [['--dev-id', String(pick[0])], { devIds: [pick[0]!] }],
      [['--dev-id', String(pick[0]), '--dev-id', String(pick[1]), '-f', 'human_readable'], { devIds: pick, format: 'human_readable' }],
      [['--dev-id', '999999'], { devIds: [999999] }],
    ];
    for (const [args, opts] of cases) {
      const theirs = runTool('thin_dump', [...args, f]);
      expect(theirs.status).toBe(0);
      expect((await ourDump(f, opts)).toString()).toBe(theirs.stdout.toString());
    }
  }, 120_000);

  test.each(CASES)('$name: devices, mappings and reference counts are what the XML says', async (c) => {
    const f = fileOf(c);
    await using md: ThinMetadataReader = await openThinMetadata(f);
    expect(md.superblock.time).toBe(c.pool.time);
    expect(md.superblock.transactionId).toBe(BigInt(c.pool.transaction));
    expect(md.superblock.dataBlockCount).toBe(BigInt(c.pool.nrDataBlocks));
    expect(md.superblock.dataBlockSizeSectors).toBe(c.pool.blockSize);
    const devs = await md.devices();
    expect(devs.map((x) => x.thinId)).toEqual(c.pool.devices.map((x) => x.id).sort((a, b) => a - b));
    const refs = new Map<number, number>();
    for (const g of c.pool.devices) {
      const dd = devs.find((x) => x.thinId === g.id)!;
      expect(dd.mappedBlocks).toBe(BigInt(g.mappings.length));
      expect(dd.creationTime).toBe(g.creation);
      expect(dd.snapshottedTime).toBe(g.snap);
      // The runs expanded are the XML's single mappings, in order.
      let i = 0;
      for await (const r of md.mappings(g.id)) {
        for (let k = 0n; k < r.lengthBlocks; k++, i++) {
          const m = g.mappings[i]!;
          expect([r.thinBlock + k, r.dataBlock + k, r.time]).toEqual([BigInt(m.origin), BigInt(m.data), m.time]);
        }
      }
      expect(i).toBe(g.mappings.length);
      for (const m of g.mappings) refs.set(m.data, (refs.get(m.data) ?? 0) + 1);
    }
    // Every counted block up to a sample, plus free ones; counts of 3+ come from the overflow tree.
    const sample = [...refs.keys()].filter((_, k) => k % Math.max(1, Math.floor(refs.size / 500)) === 0);
    for (const b of sample) expect([b, await md.dataBlockReferenceCount(BigInt(b))]).toEqual([b, refs.get(b)]);
    for (let b = 0; b < c.pool.nrDataBlocks; b += 97) if (!refs.has(b)) expect(await md.dataBlockReferenceCount(BigInt(b))).toBe(0);
  }, 120_000);
});
