/**
 * The thin pool's superblock (codec/thin-metadata-records.ts) read and checked: checksum and
 * block number (blocks.ts), magic, metadata block size, and roots that point inside the file.
 */
import { compile } from '../../codec/layout.js';
import { THIN_SUPERBLOCK_MAGIC, spaceMapRoot, thinSuperblock } from '../../codec/thin-metadata-records.js';
import { corrupt, type MetadataBlocks, type ReadBounds } from './blocks.js';
import type { ThinMetadataSuperblock } from './types.js';

const superblockCodec = compile(thinSuperblock, { endian: 'little' });
const spaceMapRootCodec = compile(spaceMapRoot, { endian: 'little' });

/** A decoded space map root. */
export interface SpaceMapRoot {
  readonly nrBlocks: bigint;
  readonly nrAllocated: bigint;
  /** The data space map: root of the index btree; the metadata space map: its index block. */
  readonly bitmapRoot: bigint;
  /** Root of the btree of reference counts of 3 and more. */
  readonly refCountRoot: bigint;
}

/** The superblock with the roots the walks start from. */
export interface SuperblockRoots {
  readonly superblock: ThinMetadataSuperblock;
  readonly dataMappingRoot: bigint;
  readonly deviceDetailsRoot: bigint;
  readonly dataSpaceMap: SpaceMapRoot;
}

/** Reads the superblock at `location` (0, or a metadata snapshot's block). */
export async function readSuperblock(blocks: MetadataBlocks, location: bigint, bounds: ReadBounds): Promise<SuperblockRoots> {
  const { bytes, view } = await blocks.read(location, 'superblock', bounds, 'the superblock location');
  const s = superblockCodec.decode(view, bytes, 0);
  if (s.magic !== THIN_SUPERBLOCK_MAGIC) throw corrupt(location, `superblock magic is ${s.magic}, not ${THIN_SUPERBLOCK_MAGIC}`);
  if (s.metadata_block_size !== 8) throw corrupt(location, `superblock's metadata_block_size is ${s.metadata_block_size} sectors, not 8`);
  if (s.data_block_size === 0) throw corrupt(location, `superblock's data_block_size is 0`);
  const sm = spaceMapRootCodec.decode(view, bytes, thinSuperblock.offsetOf.data_space_map_root);
  for (const [what, b] of [['data mapping root', s.data_mapping_root], ['device details root', s.device_details_root]] as const) {
    if (b >= blocks.blockCount) throw corrupt(location, `superblock's ${what} ${b} lies past the metadata's end (${blocks.blockCount} blocks)`);
  }
  return {
    superblock: {
      blockNumber: location,
      uuid: Uint8Array.from(s.uuid),
      version: s.version,
      time: s.time,
      transactionId: s.trans_id,
      metadataSnapBlock: s.held_root,
      dataBlockSizeSectors: s.data_block_size,
      metadataBlockSizeSectors: s.metadata_block_size,
      metadataBlockCount: s.metadata_nr_blocks,
      dataBlockCount: sm.nr_blocks,
      flags: s.flags,
    },
    dataMappingRoot: s.data_mapping_root,
    deviceDetailsRoot: s.device_details_root,
    dataSpaceMap: { nrBlocks: sm.nr_blocks, nrAllocated: sm.nr_allocated, bitmapRoot: sm.bitmap_root, refCountRoot: sm.ref_count_root },
  };
}
