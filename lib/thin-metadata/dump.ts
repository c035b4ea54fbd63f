/**
 * thin_dump's output (thin-provisioning-tools 0.9.0: metadata_dumper.cc, xml_format.cc,
 * human_readable_format.cc) from a {@link ThinMetadataReader}, byte for byte: the superblock
 * line, then each device the mapping tree's top level holds (in id order, details from the
 * device-details tree), its mappings as maximal runs. Text is produced in chunks, so a dump
 * of millions of mappings holds one leaf's worth of text at a time.
 */
import { optionsArg } from '../client/args.js';
import { callOptionsArg } from '../client/call-bounds.js';
import { DmArgumentError, DmThinMetadataError } from '../errors.js';
import { describeValue } from '../client/args.js';
import { THIN_SUPERBLOCK_LOCATION } from '../../codec/thin-metadata-records.js';
import { CALLER_TIMEOUT, SKIP_DAMAGED, boundsOf } from './blocks.js';
import type { ThinMetadataReader } from './reader.js';
import type { ThinDeviceDetails, ThinMappingRun, ThinReadOptions } from './types.js';

/** Options of {@link thinDumpText}: thin_dump's. */
export interface ThinDumpOptions extends ThinReadOptions {
  /** `-f`: `xml` (the default) or `human_readable`. */
  readonly format?: 'xml' | 'human_readable' | undefined;
  /** `--dev-id` (repeatable): only these thin ids. */
  readonly devIds?: readonly number[] | undefined;
  /** `--skip-mappings`: devices without their mappings. */
  readonly skipMappings?: boolean | undefined;
  /** `--transaction-id`: printed in the superblock line instead of the metadata's. */
  readonly transactionId?: bigint | undefined;
  /** `--data-block-size`: printed instead of the metadata's. */
  readonly dataBlockSizeSectors?: number | undefined;
  /** `--nr-data-blocks`: printed instead of the metadata's. */
  readonly nrDataBlocks?: bigint | undefined;
  /**
   * `--repair` with an intact superblock: a btree node that fails its checks (checksum, block
   * number, kind, counts, key order, a cycle) is left out with its whole subtree instead of
   * ending the dump, and a device in only one of the details and mapping trees is left out, as
   * thin_dump 0.9's damage visitor does. A damaged superblock still fails (thin_dump would
   * then search the device for candidate roots, which this reader does not do).
   */
  readonly repair?: boolean | undefined;
}

/** One format's lines (thin_dump's emitter interface). */
interface Emitter {
  beginSuperblock(time: number, transaction: bigint, flags: number, version: number, dataBlockSize: number, nrDataBlocks: bigint): string;
  endSuperblock(): string;
  beginDevice(d: ThinDeviceDetails): string;
  endDevice(): string;
  run(r: ThinMappingRun): string;
}

const xml: Emitter = {
  beginSuperblock: (time, trans, flags, version, bs, nr) =>
    `<superblock uuid="" time="${time}" transaction="${trans}" flags="${flags}" version="${version}" data_block_size="${bs}" nr_data_blocks="${nr}">\n`,
  endSuperblock: () => '</superblock>\n',
  beginDevice: (d) =>
    `  <device dev_id="${d.thinId}" mapped_blocks="${d.mappedBlocks}" transaction="${d.transactionId}" creation_time="${d.creationTime}" snap_time="${d.snapshottedTime}">\n`,
  endDevice: () => '  </device>\n',
  run: (r) => r.lengthBlocks === 1n
    ? `    <single_mapping origin_block="${r.thinBlock}" data_block="${r.dataBlock}" time="${r.time}"/>\n`
    : `    <range_mapping origin_begin="${r.thinBlock}" data_begin="${r.dataBlock}" length="${r.lengthBlocks}" time="${r.time}"/>\n`,
};

const humanReadable: Emitter = {
  beginSuperblock: (time, trans, flags, version, bs, nr) => `begin superblock: "", ${time}, ${trans}, ${flags}, ${version}, ${bs}, ${nr}\n`,
  endSuperblock: () => 'end superblock\n',
  beginDevice: (d) =>
    `device: ${d.thinId}\nmapped_blocks: ${d.mappedBlocks}\ntransaction: ${d.transactionId}\ncreation time: ${d.creationTime}\nsnap time: ${d.snapshottedTime}\n`,
  endDevice: () => '\n',
  run: (r) => r.lengthBlocks === 1n
    ? `    ${r.thinBlock} -> ${r.dataBlock}, ${r.time}\n`
    : `    (${r.thinBlock}..${r.thinBlock + r.lengthBlocks - 1n}) -> (${r.dataBlock}..${r.dataBlock + r.lengthBlocks - 1n}), ${r.time}\n`,
};

/** Text is handed out once this many characters have gathered. */
const CHUNK_CHARS = 64 * 1024;

/**
 * thin_dump's stdout for `metadata`, in chunks. A metadata fault throws (after the chunks
 * before it, as thin_dump prints what it walked before failing); a device the mapping tree
 * holds without details throws THIN_METADATA_CORRUPT with thin_dump's message.
 */
export async function* thinDumpText(metadata: ThinMetadataReader, options: ThinDumpOptions = {}): AsyncGenerator<string> {
  optionsArg(options, 'options', { format: 'string', devIds: 'any', skipMappings: 'boolean', repair: 'boolean', transactionId: 'u64', dataBlockSizeSectors: 'uint', nrDataBlocks: 'u64', signal: 'signal', timeoutMs: 'any' });
  callOptionsArg(options);
  const format = options.format ?? 'xml';
  if (format !== 'xml' && format !== 'human_readable') throw new DmArgumentError('options.format', "'xml' or 'human_readable'", describeValue(format));
  const e = format === 'xml' ? xml : humanReadable;
  if (options.devIds !== undefined && (!Array.isArray(options.devIds) || !options.devIds.every((x) => Number.isSafeInteger(x) && x >= 0))) {
    throw new DmArgumentError('options.devIds', 'an array of thin ids', describeValue(options.devIds));
  }
  const selected = options.devIds === undefined ? undefined : new Set(options.devIds);
  // One deadline for the whole dump: each walk gets the time left of it.
  const bounds = boundsOf(options);
  const repair = options.repair === true;
  // The dump's own TIMEOUT rides along (a symbol key): a read deep in a walk that finds the
  // time up throws the error made here, with the caller's frames and timeoutMs.
  const read = (): ThinReadOptions => ({
    signal: options.signal, timeoutMs: bounds.deadline === undefined ? undefined : Math.max(1, Math.floor(bounds.deadline - performance.now())),
    ...(bounds.timeoutError === undefined ? {} : { [CALLER_TIMEOUT]: bounds.timeoutError }),
    ...(repair ? { [SKIP_DAMAGED]: true } : {}),
  });
  const details = new Map<number, ThinDeviceDetails>();
  for (const d of await metadata.devices(read())) if (selected === undefined || selected.has(d.thinId)) details.set(d.thinId, d);
  const sb = metadata.superblock;
  // thin_dump reads nr_data_blocks from the data space map's root; a metadata snapshot
  // records no space maps, and it prints 0 then.
  const nrDataBlocks = sb.blockNumber === THIN_SUPERBLOCK_LOCATION ? sb.dataBlockCount : 0n;
  // thin_dump's override emitter: the command line's values replace the metadata's.
  let text = e.beginSuperblock(
    sb.time, options.transactionId ?? sb.transactionId, sb.flags, sb.version, options.dataBlockSizeSectors ?? sb.dataBlockSizeSectors, options.nrDataBlocks ?? nrDataBlocks,
  );
  for await (const { thinId, root } of metadata.mappingRoots(read())) {
    if (selected !== undefined && !selected.has(thinId)) continue;
    const d = details.get(thinId);
    if (d === undefined) {
      if (repair) continue; // thin_dump --repair dumps only devices both trees hold
      yield text;
      throw new DmThinMetadataError('THIN_METADATA_CORRUPT', `mappings present for device ${thinId}, but it isn't present in device tree`);
    }
    text += e.beginDevice(d);
    if (options.skipMappings !== true) {
      try {
        for await (const r of metadata.mappingsAt(thinId, root, read())) {
          text += e.run(r);
          if (text.length >= CHUNK_CHARS) { yield text; text = ''; }
        }
      } catch (err) {
        // thin_dump closes the device it was in before it fails.
        yield text + e.endDevice();
        throw err;
      }
    }
    text += e.endDevice();
  }
  yield text + e.endSuperblock();
}
