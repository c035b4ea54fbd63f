/**
 * dm-verity's on-disk superblock (cryptsetup lib/verity/verity.c, `struct verity_sb`,
 * packed, little-endian on disk whatever the host): 512 bytes at the hash area's offset of
 * the hash device, before the hash tree. Declared once here; lib/verity/superblock.ts
 * encodes and decodes it with a little-endian compile of this layout (docs/verity.md).
 */
import { array, pad, struct, u16, u32, u64, u8 } from './layout.js';

/** `verity\0\0`: the superblock's first 8 bytes. */
export const VERITY_SIGNATURE: readonly number[] = [0x76, 0x65, 0x72, 0x69, 0x74, 0x79, 0, 0];

/** The largest salt a superblock holds (`salt[256]`). */
export const VERITY_MAX_SALT_BYTES = 256;

/** struct verity_sb: 512 bytes; every field falls on its natural alignment, so C's packed layout and this one agree. */
export const veritySuperblock = struct('verity_sb', {
  signature: array(u8, 8),
  version: u32,
  hash_type: u32,
  uuid: array(u8, 16),
  algorithm: array(u8, 32),
  data_block_size: u32,
  hash_block_size: u32,
  data_blocks: u64,
  salt_size: u16,
  _pad1: pad(6),
  salt: array(u8, VERITY_MAX_SALT_BYTES),
  _pad2: pad(168),
});

export const VERITY_RECORDS = { veritySuperblock } as const;
