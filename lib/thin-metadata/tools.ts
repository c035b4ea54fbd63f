/**
 * What the library computes from a pool's metadata (`ThinMetadata`): thin_ls's rows,
 * thin_delta's ranges, the CSI SnapshotMetadata-shaped streams and the next free thin id
 * (docs/thin-tools.md).
 */
export { listThinDevices, type ListThinDevicesOptions, type ThinDeviceUsage } from './ls.js';
export { thinDelta, thinDeltaBatches, type ThinDeltaKind, type ThinDeltaOptions, type ThinDeltaRange } from './delta.js';
export { allocatedByteRanges, changedByteRanges, type ThinByteRange, type ThinByteRangeBatch, type ThinByteRangeOptions } from './csi.js';
export { nextFreeThinId, thinIdsInUse, MAX_THIN_ID, type NextFreeThinIdOptions } from './next-id.js';
