/**
 * devicemapper/thin-metadata — a thin pool's metadata read from a file or device, and what
 * thin-provisioning-tools compute from it (thin_ls's rows, thin_delta's ranges, thin_dump's
 * text, the CSI SnapshotMetadata-shaped streams, the next free thin id), with the errors
 * these functions throw. The package root exports the same declarations; this entry point
 * loads only the reader (no client, no target schemas, no zod), for a process that reads
 * metadata and exits, as `dmctl thin` does.
 */
export * from './index.js';
export * from './tools.js';
export {
  DmAbortError, DmArgumentError, DmBaseError, DmOperationError, DmSyscallError, DmThinMetadataError, type DmThinMetadataErrorCode,
} from '../errors.js';
