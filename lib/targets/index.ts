/**
 * Typed device-mapper targets: builders (zod-validated) that render params, parsers for table
 * and status lines, `normalise` for round trips, and key handling for crypt and integrity.
 */
export { DmTargetError, DmTargetParseError, type DmTargetErrorCode } from '../errors.js';
export {
  Cursor, Secret, deviceSchema, u64Schema,
  type DeviceRef, type Piece, type Token, type RenderContext, type DeviceResolver, type RedactedKey, type WithExtra,
} from './common.js';
export { nodeResolver } from './resolve.js';
export { defineTarget, type TargetUnit, type LineHead, type EmptyStatus, type DefaultsContext } from './unit.js';
export {
  TARGET_UNITS, buildTarget, toTargetSpecs, tableNeedsSecure, tableNeedsReadOnly, wipeTargetSpecs, parseTarget, parseTable, parseStatus, normalise,
  loadTypedTable, createTypedDevice,
  type TargetType, type TypedTarget, type TypedTargetOf, type ParsedTarget, type ParsedTargetOf, type ParsedStatus, type ParsedStatusOf,
  type RawLine, type ParseOptions, type NormaliseOptions, type TableLoader, type DeviceCreator,
} from './table.js';
export { linear, striped, zero, error, type LinearParams, type StripedParams, type StripedStatus, type Stripe } from './basic.js';
export { crypt, KEYRING_TYPES, type CryptParams, type CryptIntegrity, type KeyringKey, type KeyringReference } from './crypt.js';
export { verity, type VerityParams, type VerityStatus, type VerityFec } from './verity.js';
export { integrity, type IntegrityParams, type IntegrityStatus, type IntegrityAlgorithm } from './integrity.js';
export { thinPool, thin, thinPoolMessage, type ThinPoolParams, type ThinPoolStatus, type ThinParams, type ThinStatus } from './thin.js';
export {
  cache, cacheMessage, writecache, writecacheMessage, era, eraMessage,
  type CacheParams, type CacheStatus, type WritecacheParams, type WritecacheStatus, type EraParams, type EraStatus,
} from './cache.js';
export { snapshotOrigin, snapshot, snapshotMerge, type SnapshotOriginParams, type SnapshotParams, type SnapshotStatus } from './snapshot.js';
export { flakey, delay, type FlakeyParams, type CorruptBioByte, type DelayParams, type DelayClass, type DelayStatus } from './faults.js';
export { mirror, raid, raidMessage, RAID_TYPES, RAID_MESSAGES, type MirrorParams, type MirrorLog, type MirrorCoreLog, type MirrorDiskLog, type MirrorLeg, type MirrorStatus, type RaidParams, type RaidDevice, type RaidStatus } from './raid.js';
export { multipath, type MultipathParams, type MultipathGroup, type MultipathPath, type MultipathStatus } from './multipath.js';
export { statsMessage, parseStatsPrint, type StatsArea } from './stats.js';
