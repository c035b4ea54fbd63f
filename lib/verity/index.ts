/**
 * dm-verity's hash tree without veritysetup: format, verify and the superblock
 * (docs/verity.md). Paths reach files and block devices through a client's backend
 * (`{ dm }`), the host's by default.
 */
export { formatVerity, type VerityFormatOptions, type VerityFormatResult } from './format.js';
export { verifyVerity, type VerityVerifyOptions, type VerityVerifyResult } from './verify.js';
export { readVeritySuperblock, type VerityHeader, type VeritySuperblockOptions } from './read.js';
export { decodeVeritySuperblock, encodeVeritySuperblock, VERITY_SUPERBLOCK_SIZE_BYTES, type VeritySuperblock, type VeritySuperblockInput } from './superblock.js';
export { VERITY_HASH_NAMES } from './hashes.js';
export type { VerityCallOptions, VerityProgress, VerityTreeOptions } from './params.js';
