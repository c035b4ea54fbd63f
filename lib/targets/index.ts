/**
 * Typed device-mapper targets: builders (zod-validated) that render params, parsers for table
 * and status lines, `normalise` for round trips, and key handling for crypt and integrity.
 */
export { DmTargetError, DmTargetParseError, type DmTargetErrorCode } from '../errors.js';
export {
  Cursor, Secret,
  type DeviceRef, type Piece, type Token, type RenderContext, type DeviceResolver, type RedactedKey, type WithExtra,
} from './common.js';
export { nodeResolver } from './resolve.js';
export type { TargetUnit, TargetSchema, TargetSchemaResult, TargetSchemaIssue, LineHead, EmptyStatus, DefaultsContext } from './unit.js';
export {
  TARGET_UNITS, buildTarget, toTargetSpecs, tableNeedsSecure, tableNeedsReadOnly, wipeTargetSpecs, parseTarget, parseTable, parseStatus, normalise,
  loadTypedTable, createTypedDevice,
  type TargetType, type TypedTarget, type TypedTargetOf, type ParsedTarget, type ParsedTargetOf, type ParsedStatus, type ParsedStatusOf,
  type TypedTargets, type RawLine, type ParseOptions, type NormaliseOptions, type TableLoader, type DeviceCreator, type TypedCallBounds,
} from './table.js';
export { linear, striped, zero, error, type LinearParams, type LinearInput, type LinearTarget, type StripedParams, type StripedInput, type StripeInput, type StripedTarget, type NoInput, type ZeroTarget, type ErrorTarget, type StripedStatus, type Stripe } from './basic.js';
export { crypt, KEYRING_TYPES, type CryptParams, type CryptInput, type CryptTarget, type CryptIntegrity, type KeyringKey, type KeyringReference } from './crypt.js';
export { verity, type VerityParams, type VerityInput, type VerityFecInput, type VerityTarget, type VerityStatus, type VerityFec } from './verity.js';
export { integrity, type IntegrityParams, type IntegrityInput, type IntegrityAlgorithmInput, type IntegrityTarget, type IntegrityStatus, type IntegrityAlgorithm } from './integrity.js';
export { thinPool, thin, thinPoolMessage, type ThinPoolParams, type ThinPoolInput, type ThinPoolTarget, type ThinPoolStatus, type ThinParams, type ThinInput, type ThinTarget, type ThinStatus } from './thin.js';
export {
  cache, cacheMessage, writecache, writecacheMessage, era, eraMessage,
  type CacheParams, type CacheInput, type CacheTarget, type CacheStatus, type WritecacheParams, type WritecacheInput, type WritecacheTarget, type WritecacheStatus, type EraParams, type EraInput, type EraTarget, type EraStatus,
} from './cache.js';
export { snapshotOrigin, snapshot, snapshotMerge, type SnapshotOriginParams, type SnapshotOriginInput, type SnapshotOriginTarget, type SnapshotInput, type SnapshotTarget, type SnapshotMergeTarget, type SnapshotParams, type SnapshotStatus } from './snapshot.js';
export { flakey, delay, type FlakeyParams, type FlakeyInput, type FlakeyTarget, type CorruptBioByte, type DelayParams, type DelayInput, type DelayClassInput, type DelayTarget, type DelayClass, type DelayStatus } from './faults.js';
export { mirror, raid, raidMessage, RAID_TYPES, RAID_MESSAGES, type MirrorParams, type MirrorInput, type MirrorDiskLogInput, type MirrorLegInput, type MirrorTarget, type MirrorLog, type MirrorCoreLog, type MirrorDiskLog, type MirrorLeg, type MirrorStatus, type RaidParams, type RaidInput, type RaidDeviceInput, type RaidTarget, type RaidDevice, type RaidStatus } from './raid.js';
export { multipath, type MultipathParams, type MultipathInput, type MultipathGroupInput, type MultipathPathInput, type MultipathTarget, type MultipathGroup, type MultipathPath, type MultipathStatus } from './multipath.js';
export { statsMessage, parseStatsPrint, type StatsArea } from './stats.js';
export { clone, cloneMessage, type CloneParams, type CloneInput, type CloneTarget, type CloneStatus } from './clone.js';
export { ebs, type EbsParams, type EbsInput, type EbsTarget } from './ebs.js';
export { vdo, vdoMessage, type VdoParams, type VdoInput, type VdoTarget, type VdoStatus, type VdoLegacyLine } from './vdo.js';
export { parseVdoStats, type VdoStats, type VdoStatsGroup } from './vdo-stats.js';
export { targetVersionNeed, checkTargetVersion, type TargetVersionNeed } from './versions.js';
