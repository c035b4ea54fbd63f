// Adversarial review of the synchronous delta walk, the caller's TIMEOUT and thin_dump --repair:
// each case here failed on the code before its fix.
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import { DeviceMapper, DmAbortError, DmThinMetadataError, openThinMetadata, thinDelta, thinDumpText } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo, simFaults } from '../../testing/index.js';
import { THIN_METADATA_BLOCK_BYTES as B, btreeNodeHeader, thinBlockChecksum } from '../../codec/thin-metadata-records.js';
import { generatePool, restore, thinTool, tmpDir } from './fixtures.js';

const HAVE = thinTool('thin_restore') !== undefined;
if (!HAVE) console.warn('spec/thin-metadata/review3.spec.ts: skipped, no thin_restore on this machine (it makes the metadata)');
const d = HAVE ? describe : describe.skip;
const dir = HAVE ? tmpDir() : '';
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/** Two devices, each one run of `n` consecutive thin and data blocks (a device written sequentially). */
function contiguousPair(n: number): string {
  return [
    `<superblock uuid="" time="1" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="${2 * n + 10}">`,
    `  <device dev_id="1" mapped_blocks="${n}" transaction="0" creation_time="0" snap_time="0">`,
    `    <range_mapping origin_begin="0" data_begin="0" length="${n}" time="0"/>`,
    '  </device>',
    `  <device dev_id="2" mapped_blocks="${n}" transaction="0" creation_time="0" snap_time="0">`,
    `    <range_mapping origin_begin="0" data_begin="${n + 5}" length="${n}" time="0"/>`,
    '  </device>',
    '</superblock>',
  ].join('\n') + '\n';
}

d('thinDelta over long runs (one run spanning many leaves)', () => {
  // 60,000 mappings: some 240 leaves per device, all one run.
  const file = HAVE ? restore(dir, contiguousPair(60_000), 'contiguous.bin', 8 << 20) : '';

  test('host file: an abort() scheduled before the delta stops it mid-walk (the merge gives the event loop a turn every few leaves, not every few runs)', async () => {
    await using md = await openThinMetadata(file);
    const ac = new AbortController();
    setImmediate(() => ac.abort());
    const ranges: unknown[] = [];
    const walk = (async () => { for await (const r of thinDelta(md, 1, 2, { signal: ac.signal })) ranges.push(r); })();
    await expect(walk).rejects.toBeInstanceOf(DmAbortError);
    expect(ranges).toEqual([]);
  });

  test('simulator file, slow reads: timeoutMs ends the delta within a few leaves, not after the whole run', async () => {
    const kernel = new SimulatedKernel();
    const io = simBlockIo(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const h = await io.openFile('/sim/contiguous.bin', 'create');
      await h.write(0, fs.readFileSync(file));
      await h.close();
      await using md = await openThinMetadata('/sim/contiguous.bin', { dm });
      await md.devices(); // the details tree read before reads slow down
      const before = md.blocksRead;
      simFaults(kernel).delayFile('/sim/contiguous.bin', 'read', 5, { times: Infinity });
      const walk = (async () => { for await (const _ of thinDelta(md, 1, 2, { timeoutMs: 150 })) { /* drained */ } })();
      const err = await walk.then(() => undefined, (x: unknown) => x);
      expect(err).toMatchObject({ code: 'TIMEOUT' });
      // Some 480 leaves in all; the time is up after a handful.
      expect(md.blocksRead - before).toBeLessThan(150);
    } finally {
      await dm.close();
    }
  });
});

d('a reader closed during an async walk of a host file', () => {
  const file = HAVE ? restore(dir, generatePool({ seed: 5, originMappings: 20_000, snapshots: 0, maxRun: 1 }).xml, 'closing.bin', 8 << 20) : '';

  test('the walk fails with THIN_METADATA_CLOSED, not a syscall error of the closed fd, whichever read the turn falls before', async () => {
    const codes = new Set<string>();
    // The walk gives the event loop a turn every few reads; the reads made before it (each
    // devices() reads the details root again) move which read of the walk follows that turn.
    for (let shift = 0; shift < 32; shift++) {
      const md = await openThinMetadata(file);
      for (let j = 0; j < shift; j++) await md.devices();
      let runs = 0;
      try {
        // close() lands on the turn the walk gives the event loop.
        for await (const _ of md.mappings(1)) if (runs++ === 100) setImmediate(() => void md.close());
        codes.add('done');
      } catch (e) {
        codes.add(`${(e as Error).name} ${(e as { code?: string }).code}`);
      }
      await md.close();
    }
    expect([...codes]).toEqual(['DmThinMetadataError THIN_METADATA_CLOSED']);
  });

  test('thin dump --repair: a reader closed mid-dump still fails (THIN_METADATA_CLOSED), nothing is left out silently', async () => {
    const md = await openThinMetadata(file);
    let chunks = 0;
    const dump = (async () => {
      for await (const _ of thinDumpText(md, { repair: true })) if (chunks++ === 0) setImmediate(() => void md.close());
    })();
    await expect(dump).rejects.toMatchObject({ code: 'THIN_METADATA_CLOSED' });
    await md.close();
  });
});

d("thinDumpText's TIMEOUT", () => {
  const file = HAVE ? restore(dir, generatePool({ seed: 3, originMappings: 2_000, snapshots: 1 }).xml, 'dump.bin', 4 << 20) : '';

  test.each([false, true])("carries the caller's frames and the caller's timeoutMs (repair %s)", async (repair) => {
    const kernel = new SimulatedKernel();
    const io = simBlockIo(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const h = await io.openFile('/sim/dump.bin', 'create');
      await h.write(0, fs.readFileSync(file));
      await h.close();
      await using md = await openThinMetadata('/sim/dump.bin', { dm });
      simFaults(kernel).delayFile('/sim/dump.bin', 'read', 50, { times: Infinity });
      async function dumpCallerWithAName() {
        try { for await (const _ of thinDumpText(md, { timeoutMs: 20, repair })) { /* drained */ } } catch (e) { return e as Error; }
        return undefined;
      }
      const e = await dumpCallerWithAName();
      expect(e).toMatchObject({ code: 'TIMEOUT' });
      expect(e!.stack).toContain('dumpCallerWithAName');
      expect(e!.message).toContain('20 ms');
    } finally {
      await dm.close();
    }
  });
});

d('forged child pointers (checksums made good): the synchronous delta walk and the repair dump end, typed', () => {
  test('every child of an internal node pointing at itself or at its parent: thinDelta errors naming a block, repair ends', async () => {
    const file = restore(dir, generatePool({ seed: 31, originMappings: 3000, snapshots: 1 }).xml, 'forged.bin', 2 << 20);
    const original = fs.readFileSync(file);
    const h = btreeNodeHeader.offsetOf;
    const internals: { block: number; parent: number }[] = [];
    for (let b = 1; b < original.length / B; b++) {
      const buf = original.subarray(b * B, (b + 1) * B);
      if (buf.readUInt32LE(0) !== thinBlockChecksum(buf, 4, B, 'btree') || buf.readUInt32LE(h.flags) !== 1) continue;
      const nr = buf.readUInt32LE(h.nr_entries);
      const vals = btreeNodeHeader.size + 8 * buf.readUInt32LE(h.max_entries);
      for (let i = 0; i < nr; i++) internals.push({ block: Number(buf.readBigUInt64LE(vals + 8 * i)), parent: b });
    }
    let forged = 0;
    for (let b = 1; b < original.length / B; b++) {
      const buf0 = original.subarray(b * B, (b + 1) * B);
      if (buf0.readUInt32LE(0) !== thinBlockChecksum(buf0, 4, B, 'btree') || buf0.readUInt32LE(h.flags) !== 1) continue;
      const nr = buf0.readUInt32LE(h.nr_entries);
      const vals = btreeNodeHeader.size + 8 * buf0.readUInt32LE(h.max_entries);
      const parent = internals.find((x) => x.block === b)?.parent ?? b;
      for (const target of [b, parent]) {
        const buf = Buffer.from(buf0);
        for (let i = 0; i < nr; i++) buf.writeBigUInt64LE(BigInt(target), vals + 8 * i);
        buf.writeUInt32LE(thinBlockChecksum(buf, 4, B, 'btree'), 0);
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, buf, 0, B, b * B);
        fs.closeSync(fd);
        forged++;
        try {
          await using md = await openThinMetadata(file);
          try {
            for await (const _ of thinDelta(md, 1, 11, { timeoutMs: 20_000 })) { /* drained */ }
          } catch (e) {
            if (!(e instanceof DmThinMetadataError) || e.code !== 'THIN_METADATA_CORRUPT' || typeof e.block !== 'bigint') throw new Error(`thinDelta: ${(e as Error).stack}`);
          }
          let text = '';
          for await (const c of thinDumpText(md, { repair: true, timeoutMs: 20_000 })) text += c;
          expect(text).toContain('</superblock>');
        } finally {
          const fd = fs.openSync(file, 'r+');
          fs.writeSync(fd, buf0, 0, B, b * B);
          fs.closeSync(fd);
        }
      }
    }
    expect(forged).toBeGreaterThan(2);
  }, 300_000);
});
