/**
 * devicemapper — Linux device-mapper from TypeScript, through the ioctl interface itself.
 */
export { DeviceMapper, FEATURES } from './client/client.js';
export type {
  CreateDeviceOptions, InfoResult, RemoveResult, Missing, OpenOptions, RemoveDeviceOptions, RemoveOptions, Settled, TableResult, WaitOptions,
  ListOptions, ListOrder, CreateOptions, RenameTarget, SuspendOptions, ResumeOptions, InfoOptions, DepsOptions, StatusOptions, TableOptions,
  LoadOptions, Geometry, DepsWithInfo,
} from './client/client.js';
export * from './errors.js';
export { addressOf, checkReply, identityOf } from './operations/identity.js';
export type { IdentityStep } from './operations/identity.js';
export { redactTableParams } from '../codec/index.js';
export { diffSnapshots } from './events/device-events.js';
export type {
  DeviceEvent, DeviceEventKind, DeviceAddedEvent, DeviceRemovedEvent, DeviceRenamedEvent, DeviceChangedEvent, EventFilter, EventsOptions,
} from './events/device-events.js';
export type { Backend, Watcher, AsyncCallKind, ControlTransport, IoctlResult, KernelLog, BlockIo, LoopAttachRequest, AttachedLoop } from './kernel/backend.js';
export type {
  DeviceId, DeviceInfo, DevNo, KernelString, ListedDevice, RawNames, ReplyFlags, Sectors, TargetLine, TargetSpecInput, TargetVersion, Version,
} from '../codec/index.js';
export { devToString } from '../codec/index.js';
export * from './targets/index.js';
export { attachLoop, detachLoop, loopInfo, blockDeviceBytes, blockDeviceSectors, refreshLoopCapacity, splitRdev } from './block/loop-devices.js';
export type { AttachLoopOptions, BlockCallOptions, LoopDevice, LoopStatus } from './block/loop-devices.js';
export { addNode, removeNode, renameNode, waitForNode, syncNodes, udevActive, nodePath, realNodeOps, DM_DIR } from './udev/device-nodes.js';
export type { NodeOps, NodeOptions, NodeResult } from './udev/device-nodes.js';
export { ThinPool, type ThinPoolCallOptions, type DeleteThinOptions, type ReloadOptions, type PoolStatus, type PoolBlockSizes, type PoolDeviceSpec, type PoolFeatures, type CreateThinPoolOptions, type OpenThinPoolOptions, type ActivateOptions, type DeactivateOptions, type ThinDevice, type ResizeOptions, type ThinPoolHealthyStatus } from './operations/thin-pool.js';
export { type PoolCondition, type PoolConditionKind, type PoolConditionsOptions } from './operations/thin-pool-events.js';
export { FaultyDevice, type FaultyDeviceCallOptions, type FaultMode, type FaultBehaviour, type Corruption, type CreateFaultyDeviceOptions } from './operations/faulty-device.js';
export { discardBlocks, type DiscardOptions, type DiscardResult } from './block/discard.js';
export { openBlockFile, type OpenBlockFileOptions } from './block/block-file.js';
export { DeviceTree, type TreeNode, type TreeDeviceRef, type ReadTreeOptions } from './operations/device-tree.js';
export {
  removeTree, suspendTree, resumeTree, reloadTree,
  type TreeOperationOptions, type RemoveTreeOptions, type RemoveTreeResult, type KeptReason, type SuspendTreeOptions, type SuspendTreeResult,
  type ResumeTreeOptions, type ResumeTreeResult, type TreeReload, type ReloadTreeResult,
} from './operations/tree-operations.js';
export {
  UdevCookies, realCookieHost, UDEV_FLAGS, DEFAULT_SYNC_FLAGS, encodeCookie, decodeCookie, udevFlagLines, cookiesSupported,
} from './udev/cookies.js';
export type { CookieHost, CookieEntry, CookieLifetime, CookieSemInfo, SemEntry, SemOps, SemStat, UdevFlagName } from './udev/cookies.js';
export type { UdevCallOptions } from './udev/cookie-call.js';
export type { RenameOptions, CallOptions, BatchOptions, RemoveAllOptions, SyncOptions } from './client/client.js';
export type { OperationOptions, OperationProgress } from './operations/operation.js';
export { DEFAULT_MANY_CONCURRENCY, type ManyOptions, type RemoveManyOptions, type RemoveManyEntry, type CreateManySpec, type CreateManyOptions, type ManyStopped } from './operations/many.js';
export { IOCTL_CHANNEL, OPERATION_CHANNEL, STEP_CHANNEL } from './trace/channels.js';
export type { IoctlTraceMessage, IoctlPath, OperationTraceContext, StepTraceContext } from './trace/channels.js';
// ---- Read-only inspection from sysfs, without root (docs/sysfs-inspection.md) ----
export { inspect, DeviceMapperInspector } from './inspect/sysfs-inspector.js';
export type { InspectOptions, InspectCallOptions, SysfsDeviceInfo, SysfsReplyFlags, SysfsInfoResult, SysfsDepsWithInfo } from './inspect/sysfs-inspector.js';
export type { SysfsReader } from './kernel/backend.js';
export type { TreeInfo } from './operations/device-tree.js';
// ---- end inspection ----
// NODE_DEBUG=devicemapper: subscribes to the channels above when the section is enabled.
import './trace/debug-log.js';
export type { RecoverOptions, RecoveryReport, RecoveredOperation, RecoveryAction } from './operations/recover.js';
export type { Keyring } from '../ffi/keyring.js';
export { fileIntentStore, DEFAULT_STATE_DIR, MAX_RECORD_BYTES, intentRecordProblem } from './kernel/intent-store.js';
export type { IntentStore, IntentRecord, IntentEffect, IntentDevice, StoredIntent, ProcessIdentity } from './kernel/intent-store.js';
// ---- dm-verity's hash tree: format, verify, superblock (docs/verity.md) ----
export * from './verity/index.js';
export type { BlockFile, BlockFileCallOptions, FileMapHandle } from './kernel/backend.js';
// Forward error correction over reader/writer callbacks (docs/verity-fec.md).
export * from './verity/index-fec.js';
// ---- end verity ----
// ---- Thin pool metadata: the reader and thin_dump's text (docs/thin-metadata.md) ----
export * from './thin-metadata/index.js';
// ---- end thin metadata ----
// ---- Concise device lists: dmsetup --concise and the kernel's dm-mod.create= (docs/concise.md) ----
export {
  formatConcise, parseConcise, quoteConcise, dmModCreate, parseDmModCreate, verityHashArgument, parseVerityHashes,
  dmInitLimits,
} from './tables/concise.js';
export type { ConciseDevice, ConciseTarget, ParsedConciseDevice, VerityHashKind } from './tables/concise.js';
// ---- dm-stats: regions, areas, histograms, groups and metrics (docs/stats.md) ----
export { DmStats, DMSTATS_PROGRAM_ID } from './stats/dm-stats.js';
export type { CreateFileRegionsOptions, FileRegions, FollowFileOptions, FollowFileResult } from './stats/dm-stats.js';
export type { StatsCallOptions, OpenStatsOptions, StatsRegion, StatsGroup, StatsListing, CreateRegionOptions, CreateSegmentRegionsOptions, PrintStatsOptions, RegionSample, StatsSample } from './stats/dm-stats.js';
export { statsMetrics, sumCounters } from './stats/metrics.js';
export type { StatsCounters, StatsMetrics } from './stats/metrics.js';
export { parseHistogramBounds, histogramToString, HISTOGRAM_FLAGS, UNBOUNDED_NS } from './stats/histogram.js';
export type { HistogramBin } from './stats/histogram.js';
export { parseStatsList, parseStatsPrintRows } from './stats/parse.js';
export type { ListedRegion, PrintedArea } from './stats/parse.js';
export { parseAuxData, buildAuxData, formatRegionList, parseRegionList } from './stats/aux-data.js';
export type { ParsedAuxData } from './stats/aux-data.js';
export {
  openVerity, closeVerity, verityDeviceUuid, verityKeyDescription, VERITY_OPTION_VERSIONS,
  type OpenVerityOptions, type CloseVerityOptions, type VerityDevice, type VerityOpenParams, type VerityOpenFlags, type VerityOpenFec,
} from './verity/open.js';
// ---- thin metadata tools: thin_ls, thin_delta, CSI-shaped ranges, next free thin id (docs/thin-tools.md) ----
export * from './thin-metadata/tools.js';
