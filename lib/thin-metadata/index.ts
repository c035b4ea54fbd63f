/**
 * A thin pool's metadata read in TypeScript (docs/thin-metadata.md): the reader and the
 * shapes it produces.
 */
export type { ThinDeviceDetails, ThinMappingRun, ThinMetadata, ThinMetadataSuperblock, ThinReadOptions } from './types.js';
export { openThinMetadata, ThinMetadataReader, type OpenThinMetadataOptions } from './reader.js';
export { thinDumpText, type ThinDumpOptions } from './dump.js';
