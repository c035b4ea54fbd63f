// docs/conventions.md, "Units": every public field, option or parameter that is a size, an
// offset, a count of storage units or a duration carries its unit in its name. This walks
// the public types of every entry point (spec/api/units.ts) and fails on a number-valued
// name that denotes a quantity without a unit (`size`, `offset`, `timeout`, `lowWaterMark`)
// or is a unit alone (`sectors`: which quantity?), printing each as `Type.field`.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { publicEntries } from '../boundaries/imports.js';
import { isKernelStructField, programOf, unitOffenders, unitProblem } from './units.js';

const ROOT = path.join(__dirname, '..', '..');

/**
 * Names that are not quantities, or whose unit is fixed by what they mirror, each with its
 * reason. Kernel wire-struct fields (`data_size`, `target_count`, `sector_start`: the raw
 * codec's records mirror linux/dm-ioctl.h, loop.h and poll.h field for field) are exempt by
 * rule in `isKernelStructField`, not listed here.
 */
const ALLOWED: ReadonlyMap<string, string> = new Map([
  // A thin pool's "time" is its snapshot counter (dm-thin-metadata.c bumps it per snapshot),
  // not a duration: the metadata's and thin_dump's own names (time, creation_time, snap_time).
  ...['ThinMetadataSuperblock.time', 'ThinMappingRun.time', 'ThinDeviceDetails.creationTime', 'ThinDeviceDetails.snapshottedTime',
    'ThinDeviceUsage.creationTime', 'ThinDeviceUsage.snapshottedTime', 'SimPool.time', 'SimThin.creationTime', 'SimThin.snapshottedTime',
    'ImageState.time', 'ImageThin.creationTime', 'ImageThin.snapshottedTime', 'packBlockTime.time', 'unpackBlockTime().time', 'Layout.offsetOf.time']
    .map((k) => [k, "a thin pool's snapshot counter (the metadata's time), not a duration"] as const),
  // The layout language describes C structs in C's own terms: `size` is sizeof and `offset`
  // is offsetof, both always in bytes, and `length` is an array's extent in elements.
  ['ArrayType.length', "a C array's extent, in elements (C's [N])"],
  ['CharType.length', "a C char array's extent (char[N])"],
  ['PadType.length', 'padding bytes in a C layout, as C counts them'],
  ['PlacedField.offset', 'offsetof() of a C field, in bytes by definition'],
  ['PlacedField.size', 'sizeof() of a C field, in bytes by definition'],
  ['StructCodec.size', 'sizeof() of the C struct, in bytes by definition'],
  ['Layout.size', 'sizeof() of the C struct, in bytes by definition'],
  ['array.length', "the layout builder's C array extent (C's [N])"],
  ['char.length', "the layout builder's char[N]"],
  ['pad.length', "the layout builder's padding, as C counts it"],
  ['Layout.offsetOf.length', "a C array's extent passed through offsetOf"],
  // A record decoded or encoded through a layout has the C struct's own field names; this is
  // dm_target_spec's `length`, the one C name the snake_case rule cannot tell from ours.
  ['Decoded.length', 'dm_target_spec.length, a C field name'],
  ['EncodeInput.length', 'dm_target_spec.length, a C field name'],
  // A thin pool's "time" is its snapshot counter (each snapshot bumps it; docs/thin-metadata.md),
  // a generation number and not a duration: thin_dump's time, creation_time and snap_time.
  ...['ThinDeviceDetails.creationTime', 'ThinDeviceDetails.snapshottedTime', 'ThinMappingRun.time', 'ThinMetadataSuperblock.time']
    .map((k) => [k, "a thin pool's snapshot counter (a generation number, not a duration)"] as const),
  // The reply encoder's input for one status line is dm_target_spec's sector_start and length.
  ['StatusRecord.start', "dm_target_spec.sector_start of a status reply, in sectors (the table line's start)"],
  ['StatusRecord.length', "dm_target_spec.length of a status reply, in sectors (the table line's length)"],
  // The table line head `{ start, length, type, params }` mirrors the kernel's dm_target_spec
  // (`sector_start`, `length`) and dmsetup's table line `<start> <length> <type> <params>`,
  // field for field, in every layer that carries a line; its type (`Sectors`) gives the unit.
  // The typed targets' line interfaces (`ThinPoolTarget`) extend LineHead and inherit its head.
  ...['TargetLine', 'TargetSpecInput', 'ConciseTarget', 'LineHead', 'RawLine', 'ParsedTargetOf', 'ParsedStatusOf', 'PreparedTable.specs', 'SimTable.lines', 'parseTarget()',
    ...['Linear', 'Striped', 'Zero', 'Error', 'Crypt', 'Verity', 'Integrity', 'ThinPool', 'Thin', 'Cache', 'Writecache', 'Era', 'SnapshotOrigin', 'Snapshot',
      'SnapshotMerge', 'Flakey', 'Delay', 'Mirror', 'Raid', 'Multipath', 'Clone', 'Ebs', 'Vdo'].map((t) => `${t}Target`)]
    .flatMap((t) => [`${t}.start`, `${t}.length`])
    .map((k) => [k, "a table line's head: dm_target_spec's sector_start/length and dmsetup's <start> <length>, typed Sectors"] as const),
]);

describe('units in public names (docs/conventions.md, "Units")', () => {
  test('the rule: quantities without a unit and units alone fail; a unit, a kernel struct field or a non-quantity pass', () => {
    for (const bad of ['size', 'offset', 'length', 'start', 'timeout', 'delay', 'upInterval', 'lowWaterMark', 'blockSize', 'chunkSize', 'maxAge', 'commitTime', 'sectors', 'bytes']) {
      expect([bad, unitProblem(bad)]).toEqual([bad, expect.any(String)]);
    }
    for (const good of ['sizeSectors', 'offsetSectors', 'lowWaterMarkBlocks', 'blockSizeSectors', 'timeoutMs', 'upSeconds', 'dataBytes', 'highWatermarkPercent', 'retries', 'count', 'deviceId', 'mode']) {
      expect([good, unitProblem(good)]).toEqual([good, undefined]);
    }
    expect(isKernelStructField('data_size')).toBe(true);
    expect(isKernelStructField('lowWaterMark')).toBe(false);
  });

  test('a planted offender is found, named Type.field, through options, parameters, nested objects and returned types', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'units-'));
    try {
      const file = path.join(dir, 'planted.ts');
      fs.writeFileSync(file, [
        'export interface Opts { readonly timeout?: number; readonly timeoutMs?: number; readonly name: string; readonly key: Uint8Array }',
        'export interface Nested { readonly inner: { readonly offset: bigint; readonly offsetSectors: bigint } }',
        'export function resize(device: string, size: number | bigint, options?: Opts): Promise<{ readonly sizeSectors: bigint; readonly length: bigint }> { return null!; }',
        'export const raw = { data_size: 0, bytes: new Uint8Array(0) };',
        'export class Pool { readonly blockSize = 128; readonly lowWaterMarkBlocks = 0n; readonly sectors = 0n }',
      ].join('\n'));
      const found = unitOffenders(programOf(ROOT, [file]), [file]).map((o) => o.where);
      expect(found).toEqual(['Nested.inner.offset', 'Opts.timeout', 'Pool.blockSize', 'Pool.sectors', 'resize().length', 'resize.size']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('no public name of any entry point is a quantity without its unit', () => {
    const files = publicEntries(ROOT).map((s) => path.join(ROOT, s));
    const found = unitOffenders(programOf(ROOT, files), files);
    const listed = new Set(ALLOWED.keys());
    const offending = found.filter((o) => !listed.has(o.where)).map((o) => `${o.where}: ${o.why}`);
    if (offending.length) console.log(`names without a unit (docs/conventions.md, "Units"):\n  ${offending.join('\n  ')}`);
    expect(offending).toEqual([]);
    // An entry that no longer matches anything is stale: converted, so it leaves the lists.
    const stale = [...listed].filter((k) => !found.some((o) => o.where === k));
    expect(stale).toEqual([]);
  }, 180_000);
});
