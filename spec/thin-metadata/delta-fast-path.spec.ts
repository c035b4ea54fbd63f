// thinDelta's fast path over the reader (run chunks of numbers, each walk reading through its
// own 16-block window): the same ranges as the generic path over the public ThinMappingRun
// streams, the exact path when a block number passes 2^53, leaves that stay valid while other
// walks read, far fewer reads than blocks, and memory that does not grow with the pool.
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import { openThinMetadata, thinDelta, thinDeltaBatches, type ThinDeltaRange, type ThinMetadata } from '../../lib/index.js';
import { hostBlockIo } from '../../lib/kernel/host-block-io.js';
import { MetadataBlocks } from '../../lib/thin-metadata/blocks.js';
import { ThinMetadataReader } from '../../lib/thin-metadata/reader.js';
import { readSuperblock } from '../../lib/thin-metadata/superblock.js';
import { runThinDelta } from '../../cli/thin-delta.js';
import { generatePool, restore, runTool, thinTool, tmpDir } from './fixtures.js';

const HAVE = thinTool('thin_restore') !== undefined && thinTool('thin_delta') !== undefined;
if (!HAVE) console.warn('spec/thin-metadata/delta-fast-path.spec.ts: skipped, no thin_restore/thin_delta on this machine (they make and check the metadata)');
const d = HAVE ? describe : describe.skip;
const dir = HAVE ? tmpDir() : '';
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

const collect = async (it: AsyncIterable<ThinDeltaRange>) => { const out: ThinDeltaRange[] = []; for await (const r of it) out.push(r); return out; };

/** The same metadata seen only through ThinMetadata's public methods: thinDelta's generic path. */
function publicOnly(md: ThinMetadata): ThinMetadata {
  return {
    superblock: md.superblock,
    devices: (o) => md.devices(o),
    mappings: (id, o) => md.mappings(id, o),
    dataBlockReferenceCount: (b, o) => md.dataBlockReferenceCount(b, o),
    close: () => md.close(),
    [Symbol.asyncDispose]: () => md.close(),
  };
}

/** A reader whose block store the test can look into (the cache's size). */
async function openWithBlocks(file: string): Promise<{ md: ThinMetadataReader; blocks: MetadataBlocks }> {
  const f = await hostBlockIo.openFile(file, 'read');
  const blocks = new MetadataBlocks(f, await f.sizeBytes());
  return { md: new ThinMetadataReader(blocks, await readSuperblock(blocks, 0n, {})), blocks };
}

d('thinDelta over the reader', () => {
  const small = HAVE ? restore(dir, generatePool({ seed: 3, originMappings: 4000, snapshots: 2, others: 1 }).xml, 'small.bin', 8 << 20) : '';
  const big = HAVE ? restore(dir, generatePool({ seed: 4, originMappings: 60000, snapshots: 2 }).xml, 'big.bin', 32 << 20) : '';

  test('gives the ranges the generic path gives, for every pair of thins, batches and all', async () => {
    await using md = await openThinMetadata(small);
    const ids = (await md.devices()).map((x) => x.thinId);
    for (const a of ids) {
      for (const b of ids) {
        const fast = await collect(thinDelta(md, a, b));
        expect(fast).toEqual(await collect(thinDelta(publicOnly(md), a, b)));
        const batched: ThinDeltaRange[] = [];
        for await (const batch of thinDeltaBatches(md, a, b, { includeSame: false })) batched.push(...batch);
        expect(batched).toEqual(fast.filter((r) => r.kind !== 'same'));
      }
    }
  });

  test('takes the exact path when a block number passes 2^53, and prints what thin_delta prints', async () => {
    const xml = `<superblock uuid="" time="1" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="100">
  <device dev_id="1" mapped_blocks="3" transaction="0" creation_time="0" snap_time="0">
    <range_mapping origin_begin="9007199254740990" data_begin="10" length="3" time="0"/>
  </device>
  <device dev_id="2" mapped_blocks="2" transaction="0" creation_time="0" snap_time="0">
    <single_mapping origin_block="9007199254740991" data_block="11" time="0"/>
    <single_mapping origin_block="9007199254740993" data_block="50" time="0"/>
  </device>
</superblock>
`;
    const file = restore(dir, xml, 'huge-blocks.bin', 1 << 20);
    await using md = await openThinMetadata(file);
    expect((await collect(thinDelta(md, 1, 2))).map((r) => [r.kind, r.thinBlock, r.lengthBlocks, r.leftDataBlock, r.rightDataBlock])).toEqual([
      ['leftOnly', 9007199254740990n, 1n, 10n, undefined],
      ['same', 9007199254740991n, 1n, 11n, 11n],
      ['leftOnly', 9007199254740992n, 1n, 12n, undefined],
      ['rightOnly', 9007199254740993n, 1n, undefined, 50n],
    ]);
    for (const args of [['--snap1', '1', '--snap2', '2', file], ['--verbose', '--snap1', '1', '--snap2', '2', file]]) {
      let out = '';
      expect(await runThinDelta(args, { stdout: (t) => { out += t; }, stderr: (t) => { out += t; } })).toBe(0);
      expect(out).toBe(runTool('thin_delta', args).stdout.toString('utf8'));
    }
  });

  test("a walk's leaf stays valid while other walks read through their own windows", async () => {
    await using md = await openThinMetadata(big);
    const ids = (await md.devices()).map((x) => x.thinId);
    const alone = [];
    for (const id of ids) { const runs = []; for await (const r of md.mappings(id)) runs.push(r); alone.push(runs); }
    // Every walk steps once in turn: each holds its leaf while the others read theirs.
    const its = ids.map((id) => md.mappings(id)[Symbol.asyncIterator]());
    const together: (typeof alone) = ids.map(() => []);
    for (let live = its.length; live > 0;) {
      live = 0;
      for (let k = 0; k < its.length; k++) {
        const r = await its[k]!.next();
        if (!r.done) { together[k]!.push(r.value); live++; }
      }
    }
    expect(together).toEqual(alone);
  });

  test('reads every block once, in far fewer reads of the file, and holds no more blocks for a larger pool', async () => {
    const held: Record<string, { cached: number; read: number; fileReads: number; leaves: number }> = {};
    for (const [name, file] of [['small', small], ['big', big]] as const) {
      const { md, blocks } = await openWithBlocks(file);
      try {
        const ids = (await md.devices()).map((x) => x.thinId);
        let cached = 0;
        const before = { read: md.blocksRead, file: md.fileReads };
        for await (const batch of thinDeltaBatches(md, ids[0]!, ids[ids.length - 1]!)) {
          cached = Math.max(cached, blocks.cachedBlocks);
          expect(batch.length).toBeGreaterThan(0);
        }
        held[name] = { cached, read: md.blocksRead - before.read, fileReads: md.fileReads - before.file, leaves: 0 };
      } finally {
        await md.close();
      }
    }
    // The big pool has 15 times the mappings: more blocks read, the same few held.
    expect(held['big']!.read).toBeGreaterThan(10 * held['small']!.read);
    expect(held['big']!.cached).toBeLessThanOrEqual(64);
    expect(held['big']!.cached).toBeLessThanOrEqual(held['small']!.cached + 8);
    // thin_restore lays a tree's leaves out in order: a 16-block window serves most of them.
    expect(held['big']!.fileReads).toBeLessThan(held['big']!.read / 4);
  });
});
