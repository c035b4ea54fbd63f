// The reader's contract apart from the oracle: crc32c and the record helpers, the simulator's
// files as a source (`{ dm }`), arguments refused before any I/O, signal/timeout, close, and
// the typed errors that are not corruption. The metadata comes from thin_restore (skipped,
// saying so, where it is absent); the pure checks always run.
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import {
  DeviceMapper, DmAbortError, DmArgumentError, DmThinMetadataError, openThinMetadata, thinDelta, thinDumpText, type ThinMetadataReader,
} from '../../lib/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';
import { THIN_CSUM_XOR, bitmapEntry, bitmapHeader, packBlockTime, thinBlockChecksum, unpackBlockTime } from '../../codec/thin-metadata-records.js';
import { addMetadataSnap, generatePool, restore, thinTool, tmpDir } from './fixtures.js';

describe('codec: checksums and record helpers', () => {
  test("crc32c is the kernel's (seed ~0, no final inversion) XORed with each kind's salt", () => {
    const bytes = new TextEncoder().encode('123456789');
    // The standard crc32c check value of "123456789" is 0xE3069283 (seeded ~0, inverted at the end).
    for (const kind of Object.keys(THIN_CSUM_XOR) as (keyof typeof THIN_CSUM_XOR)[]) {
      expect((thinBlockChecksum(bytes, 0, 9, kind) ^ THIN_CSUM_XOR[kind]) >>> 0).toBe(~0xe3069283 >>> 0);
    }
  });
  test('mapping values pack and unpack: (block << 24) | time', () => {
    for (const [b, t] of [[0n, 0], [1n, 1], [123456789n, 0xffffff], [(1n << 40n) - 1n, 7]] as const) {
      expect(unpackBlockTime(packBlockTime(b, t))).toEqual({ dataBlock: b, time: t });
    }
    expect(packBlockTime(5n, 3)).toBe((5n << 24n) | 3n);
  });
  test('bitmap entries: 2 bits each, entry i at bits 2i (high) and 2i+1 (low) of little-endian words', () => {
    const block = new Uint8Array(4096);
    // Entry 0 = 1 (low bit: bit 1), entry 1 = 2 (high bit: bit 2), entry 2 = 3 (bits 4 and 5), entry 5 = 1 (byte 1, bit 3).
    block[bitmapHeader.size] = 0b00110110;
    block[bitmapHeader.size + 1] = 0b00001000;
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => bitmapEntry(block, i))).toEqual([1, 2, 3, 0, 0, 1, 0]);
  });
});

const HAVE = thinTool('thin_restore') !== undefined;
if (!HAVE) console.warn('spec/thin-metadata/library.spec.ts: the reader cases skipped, no thin_restore on this machine (it makes the metadata)');
const d = HAVE ? describe : describe.skip;
const dir = HAVE ? tmpDir() : '';
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

d('the reader', () => {
  const file = HAVE ? restore(dir, generatePool({ seed: 7, originMappings: 800, snapshots: 2 }).xml, 'meta.bin', 1 << 20) : '';
  const dump = async (md: ThinMetadataReader) => { let s = ''; for await (const c of thinDumpText(md)) s += c; return s; };

  test("reads the simulator's files through { dm }, never the host's", async () => {
    const kernel = new SimulatedKernel();
    const io = simBlockIo(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      // The host's path is not in the simulator's memory.
      await expect(openThinMetadata(file, { dm })).rejects.toMatchObject({ code: 'ENOENT' });
      const h = await io.openFile('/sim/meta.bin', 'create');
      await h.write(0, fs.readFileSync(file));
      await h.close();
      await using sim = await openThinMetadata('/sim/meta.bin', { dm });
      await using host = await openThinMetadata(file);
      expect(await dump(sim)).toBe(await dump(host));
      // The host file reads synchronously (thinDelta reads it directly); the simulator's file
      // does not (thinDelta reads it ahead): both paths give the same delta.
      expect(host.readsSynchronously).toBe(true);
      expect(sim.readsSynchronously).toBe(false);
      const ids = (await host.devices()).map((x) => x.thinId);
      const delta = async (md: ThinMetadataReader) => { const out = []; for await (const r of thinDelta(md, ids[0]!, ids[ids.length - 1]!)) out.push(r); return out; };
      const fromHost = await delta(host);
      expect(fromHost.some((r) => r.kind === 'different')).toBe(true);
      expect(await delta(sim)).toEqual(fromHost);
    } finally {
      await dm.close();
    }
  });

  test('arguments are refused before any I/O', async () => {
    await expect(openThinMetadata(42 as unknown as string)).rejects.toBeInstanceOf(DmArgumentError);
    await expect(openThinMetadata('/no/such/file', { metadataSnap: 'yes' as unknown as boolean })).rejects.toBeInstanceOf(DmArgumentError);
    await expect(openThinMetadata('/no/such/file', { bogus: 1 } as never)).rejects.toBeInstanceOf(DmArgumentError);
    await using md = await openThinMetadata(file);
    for (const id of [-1, 1.5, 2 ** 24, Number.NaN]) await expect(md.mappings(id).next()).rejects.toBeInstanceOf(DmArgumentError);
    await expect(md.dataBlockReferenceCount(-1n)).rejects.toBeInstanceOf(DmArgumentError);
    await expect(md.dataBlockReferenceCount(md.superblock.dataBlockCount)).rejects.toBeInstanceOf(DmArgumentError);
    await expect(md.devices({ timeoutMs: -5 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(thinDumpText(md, { format: 'yaml' as 'xml' }).next()).rejects.toBeInstanceOf(DmArgumentError);
    await expect(thinDumpText(md, { devIds: [1, -2] }).next()).rejects.toBeInstanceOf(DmArgumentError);
  });

  test('an aborted signal stops a read; an unknown id and a closed reader are typed errors', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(openThinMetadata(file, { signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    const md = await openThinMetadata(file);
    await expect(md.devices({ signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    await expect(md.mappings(999).next()).rejects.toMatchObject({ name: 'DmThinMetadataError', code: 'THIN_METADATA_NO_DEVICE' });
    // Aborted mid-walk: the iterator stops at the next block it would read.
    const mid = new AbortController();
    const it = md.mappings(1, { signal: mid.signal });
    await it.next();
    mid.abort();
    await expect((async () => { for (;;) { const r = await it.next(); if (r.done) return 'done'; } })()).rejects.toBeInstanceOf(DmAbortError);
    await md.close();
    await md.close();
    await expect(md.devices()).rejects.toMatchObject({ code: 'THIN_METADATA_CLOSED' });
  });

  test('a metadata snapshot: -m semantics, and no space map to count references in', async () => {
    await expect(openThinMetadata(file, { metadataSnap: true })).rejects.toMatchObject({ code: 'THIN_METADATA_NO_SNAPSHOT', message: 'no current metadata snap' });
    const snapped = `${dir}/snapped.bin`;
    fs.copyFileSync(file, snapped);
    addMetadataSnap(snapped, 200n);
    await expect(openThinMetadata(snapped, { metadataSnap: 199n })).rejects.toBeInstanceOf(DmThinMetadataError);
    await using md = await openThinMetadata(snapped, { metadataSnap: 200 });
    expect(md.superblock.blockNumber).toBe(200n);
    expect(md.superblock.dataBlockCount).toBe(0n);
    await expect(md.dataBlockReferenceCount(0n)).rejects.toMatchObject({ code: 'THIN_METADATA_NO_SPACE_MAP' });
    await using live = await openThinMetadata(snapped);
    expect(live.superblock.metadataSnapBlock).toBe(200n);
    expect(await md.devices()).toEqual(await live.devices());
  });
});

// A host file is read synchronously (BlockFile.readSync); the walk must still give the event
// loop turns, or an abort() from a timer could not run until the walk had ended.
d('synchronous reads and the event loop', () => {
  const big = HAVE ? restore(dir, generatePool({ seed: 11, originMappings: 40_000, snapshots: 0, maxRun: 1 }).xml, 'big.bin', 8 << 20) : '';

  test('an abort() scheduled by a timer during a walk stops it (DmAbortError), long before its end', async () => {
    await using md = await openThinMetadata(big);
    const ac = new AbortController();
    let runs = 0;
    const walk = (async () => {
      for await (const _ of md.mappings(1, { signal: ac.signal })) {
        if (runs++ === 0) setTimeout(() => ac.abort(), 0);
      }
    })();
    await expect(walk).rejects.toBeInstanceOf(DmAbortError);
    expect(runs).toBeGreaterThan(0);
    expect(runs).toBeLessThan(11_000); // under half of the device
  });

  test('a timer fires while a whole device is walked', async () => {
    await using md = await openThinMetadata(big);
    let ticks = 0;
    const t = setInterval(() => { ticks++; }, 0);
    let runs = 0;
    try {
      for await (const _ of md.mappings(1)) runs++;
    } finally { clearInterval(t); }
    expect(runs).toBeGreaterThan(20_000); // 22,051 runs: a walk of some 300 leaves
    expect(ticks).toBeGreaterThan(0);
  });

  // thinDelta walks a host file's two trees synchronously (no promise per leaf): its merge
  // must give the event loop the turns the walk does not.
  const pair = HAVE ? restore(dir, generatePool({ seed: 12, originMappings: 40_000, snapshots: 1, maxRun: 1 }).xml, 'pair.bin', 8 << 20) : '';

  test("thinDelta: an abort() scheduled by a timer during the merge stops it (DmAbortError), long before its end", async () => {
    await using md = await openThinMetadata(pair);
    const ac = new AbortController();
    let ranges = 0;
    const walk = (async () => {
      for await (const _ of thinDelta(md, 1, 11, { signal: ac.signal })) {
        if (ranges++ === 0) setTimeout(() => ac.abort(), 0);
      }
    })();
    await expect(walk).rejects.toBeInstanceOf(DmAbortError);
    let all = 0;
    for await (const _ of thinDelta(md, 1, 11)) all++;
    expect(ranges).toBeGreaterThan(0);
    expect(ranges).toBeLessThan(all / 2);
  });

  test('thinDelta: a timer fires while two whole devices are compared, and the ranges cover both', async () => {
    await using md = await openThinMetadata(pair);
    let ticks = 0;
    const t = setInterval(() => { ticks++; }, 0);
    let blocks = 0n;
    try {
      for await (const r of thinDelta(md, 1, 11)) blocks += r.lengthBlocks;
    } finally { clearInterval(t); }
    expect(blocks).toBe(40_000n); // every mapped block once: same or different (the snapshot remaps 5 %)
    expect(ticks).toBeGreaterThan(1);
  });
});
