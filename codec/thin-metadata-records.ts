/**
 * A thin pool's metadata on disk (persistent-data, as dm-thin-metadata.c and
 * thin-provisioning-tools write it: docs/thin-metadata.md): 4096-byte blocks, every record
 * packed and little-endian whatever the host. Declared once here; lib/thin-metadata/ decodes
 * them with a little-endian compile of these layouts and reads no offset of its own. Every
 * field falls on its natural alignment, so C's packed layout and this one agree (the
 * superblock's tail padding lies past its last field and is never read).
 */
import { array, struct, u32, u64, u8 } from './layout.js';

/** Every metadata block is 4096 bytes (the superblock's metadata_block_size is 8 sectors). */
export const THIN_METADATA_BLOCK_BYTES = 4096;
/** `THIN_SUPERBLOCK_MAGIC`. */
export const THIN_SUPERBLOCK_MAGIC = 27022010n;
/** The superblock lives in block 0; a held metadata snapshot's copy elsewhere. */
export const THIN_SUPERBLOCK_LOCATION = 0n;
/** Each block kind's checksum salt (XORed into the crc32c; a block of one kind never checks as another). */
export const THIN_CSUM_XOR = { superblock: 160774, btree: 121107, bitmap: 240779, index: 160478 } as const;
/** The kind of block a checksum salt belongs to. */
export type ThinBlockKind = keyof typeof THIN_CSUM_XOR;
/** node_header.flags: an internal node (values are child block numbers). */
export const BTREE_INTERNAL_NODE = 1;
/** node_header.flags: a leaf node (values are the tree's own values). */
export const BTREE_LEAF_NODE = 2;
/** Bits of a mapping value below the data block: the time it was made (`(block << 24) | time`). */
export const THIN_MAPPING_TIME_BITS = 24;
/** Reference counts a bitmap block holds: 2 bits each after its header (`ENTRIES_PER_BLOCK`). */
export const SM_ENTRIES_PER_BITMAP_BLOCK = (THIN_METADATA_BLOCK_BYTES - 16) * 4;
/** The bitmap value meaning "3 or more: look the count up in the ref-count btree". */
export const SM_BITMAP_OVERFLOW = 3;
/** The metadata space map's index block holds at most this many entries (`MAX_METADATA_BITMAPS`). */
export const SM_MAX_METADATA_BITMAPS = 255;

/** struct disk_sm_root (the 128 bytes of a space map root in the superblock hold one). */
export const spaceMapRoot = struct('disk_sm_root', {
  nr_blocks: u64,
  nr_allocated: u64,
  bitmap_root: u64,
  ref_count_root: u64,
});

/** struct thin_disk_superblock: block 0 (and a metadata snapshot's copy). */
export const thinSuperblock = struct('thin_disk_superblock', {
  csum: u32,
  flags: u32,
  blocknr: u64,
  uuid: array(u8, 16),
  magic: u64,
  version: u32,
  time: u32,
  trans_id: u64,
  held_root: u64,
  data_space_map_root: array(u8, 128),
  metadata_space_map_root: array(u8, 128),
  data_mapping_root: u64,
  device_details_root: u64,
  data_block_size: u32,
  metadata_block_size: u32,
  metadata_nr_blocks: u64,
  compat_flags: u32,
  compat_ro_flags: u32,
  incompat_flags: u32,
});

/** struct node_header: the first 32 bytes of a btree node; keys (`__le64[max_entries]`) follow, then the values. */
export const btreeNodeHeader = struct('node_header', {
  csum: u32,
  flags: u32,
  blocknr: u64,
  nr_entries: u32,
  max_entries: u32,
  value_size: u32,
  padding: u32,
});

/** struct disk_device_details: the value of the device-details btree (key: thin id). */
export const deviceDetails = struct('disk_device_details', {
  mapped_blocks: u64,
  transaction_id: u64,
  creation_time: u32,
  snapshotted_time: u32,
});

/** struct disk_index_entry: where one bitmap block is (data space map: the index btree's value). */
export const indexEntry = struct('disk_index_entry', {
  blocknr: u64,
  nr_free: u32,
  none_free_before: u32,
});

/** struct disk_metadata_index: the metadata space map's index block header; `disk_index_entry[255]` follow. */
export const metadataIndexHeader = struct('disk_metadata_index', {
  csum: u32,
  padding: u32,
  blocknr: u64,
});

/** struct disk_bitmap_header: a bitmap block's first 16 bytes; 2-bit counts follow in little-endian 64-bit words. */
export const bitmapHeader = struct('disk_bitmap_header', {
  csum: u32,
  not_used: u32,
  blocknr: u64,
});

/** Every record above, by name. */
export const THIN_METADATA_RECORDS = {
  thinSuperblock, spaceMapRoot, btreeNodeHeader, deviceDetails, indexEntry, metadataIndexHeader, bitmapHeader,
} as const;

/** A bottom-level mapping value split: `(dataBlock << 24) | time`. */
export function unpackBlockTime(value: bigint): { dataBlock: bigint; time: number } {
  return { dataBlock: value >> BigInt(THIN_MAPPING_TIME_BITS), time: Number(value & ((1n << BigInt(THIN_MAPPING_TIME_BITS)) - 1n)) };
}

/** A mapping value packed (thin_restore's and the kernel's `pack_block_time`). */
export function packBlockTime(dataBlock: bigint, time: number): bigint {
  return (dataBlock << BigInt(THIN_MAPPING_TIME_BITS)) | BigInt(time & ((1 << THIN_MAPPING_TIME_BITS) - 1));
}

/**
 * The 2-bit reference count of entry `index` of a bitmap block's data (the bytes after its
 * header): entry i holds bits 2i (high) and 2i+1 (low) of little-endian 64-bit words, which
 * is byte i/4, bits 2(i%4) and 2(i%4)+1 (the kernel's sm_lookup_bitmap with test_bit_le).
 */
export function bitmapEntry(block: Uint8Array, index: number): number {
  const byte = block[bitmapHeader.size + (index >>> 2)]!;
  const bit = (index & 3) << 1;
  return (((byte >>> bit) & 1) << 1) | ((byte >>> (bit + 1)) & 1);
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * persistent-data's block checksum (`dm_bm_checksum`): the kernel's crc32c seeded with ~0
 * and not inverted at the end, XORed with the block kind's salt, over `bytes[startBytes, endBytes)`.
 */
export function thinBlockChecksum(bytes: Uint8Array, startBytes: number, endBytes: number, kind: ThinBlockKind): number {
  let c = 0xffffffff;
  const t = CRC32C_TABLE;
  for (let i = startBytes; i < endBytes; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ((c ^ THIN_CSUM_XOR[kind]) >>> 0);
}
