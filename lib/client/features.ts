/**
 * The minimum device-mapper interface versions of the optional features the client uses
 * (docs/kernel-facts.md, "Feature versions"): one table, read by the command methods and the
 * operations built on them, so a feature check names the same version everywhere.
 */
import { commandSpec, type Version } from '../../codec/index.js';

/**
 * Minimum kernel versions of optional features (docs/kernel-facts.md, "Feature versions").
 * A whole command's is its row's in the command table, read from there.
 */
export const FEATURES = {
  /** DM_NOFLUSH_FLAG on suspend and status. */
  noflush: [4, 12, 0],
  /** DM_QUERY_INACTIVE_TABLE_FLAG: reading the inactive table. */
  inactiveTable: [4, 16, 0],
  /** DM_UUID_FLAG on rename: setting a uuid once. */
  setUuid: [4, 19, 0],
  /** DM_SECURE_DATA_FLAG: the kernel wipes its copies of the params. */
  secureData: [4, 20, 0],
  /** DM_DEFERRED_REMOVE: removal at last close. */
  deferredRemove: [4, 27, 0],
  /** DM_DEV_ARM_POLL: poll()-based events. */
  armPoll: commandSpec('armPoll').minVersion,
  /** DM_GET_TARGET_VERSION: one target's version. */
  getTargetVersion: commandSpec('getTargetVersion').minVersion,
  /** DM_LIST_DEVICES with uuids and event numbers, and prefix filters. */
  listFilters: [4, 45, 0],
  /** DM_IMA_MEASUREMENT_FLAG on status. */
  ima: [4, 45, 0],
} as const satisfies Record<string, Version>;
