/**
 * Command numbers, request codes, flags and per-command minimum versions of the
 * device-mapper ioctl interface (major version 4). Facts: dm-ioctl.h and libdevmapper's
 * `_cmd_data_v4` table (the minimum version each command is sent with).
 */
import { DmCodecError } from './errors.js';

/** The 18 control-node commands, in kernel order (`DM_*_CMD`). */
export const COMMANDS = [
  'version',          // 0  DM_VERSION
  'removeAll',        // 1  DM_REMOVE_ALL
  'listDevices',      // 2  DM_LIST_DEVICES
  'create',           // 3  DM_DEV_CREATE
  'remove',           // 4  DM_DEV_REMOVE
  'rename',           // 5  DM_DEV_RENAME
  'suspend',          // 6  DM_DEV_SUSPEND (also resume)
  'info',             // 7  DM_DEV_STATUS
  'wait',             // 8  DM_DEV_WAIT
  'load',             // 9  DM_TABLE_LOAD
  'clear',            // 10 DM_TABLE_CLEAR
  'deps',             // 11 DM_TABLE_DEPS
  'status',           // 12 DM_TABLE_STATUS (status or table text)
  'listVersions',     // 13 DM_LIST_VERSIONS
  'message',          // 14 DM_TARGET_MSG
  'setGeometry',      // 15 DM_DEV_SET_GEOMETRY
  'armPoll',          // 16 DM_DEV_ARM_POLL
  'getTargetVersion', // 17 DM_GET_TARGET_VERSION
] as const;

export type CommandName = (typeof COMMANDS)[number];

/** Kernel names, for messages and annotated dumps. */
export const KERNEL_COMMAND_NAMES: Record<CommandName, string> = {
  version: 'DM_VERSION', removeAll: 'DM_REMOVE_ALL', listDevices: 'DM_LIST_DEVICES',
  create: 'DM_DEV_CREATE', remove: 'DM_DEV_REMOVE', rename: 'DM_DEV_RENAME',
  suspend: 'DM_DEV_SUSPEND', info: 'DM_DEV_STATUS', wait: 'DM_DEV_WAIT', load: 'DM_TABLE_LOAD',
  clear: 'DM_TABLE_CLEAR', deps: 'DM_TABLE_DEPS', status: 'DM_TABLE_STATUS',
  listVersions: 'DM_LIST_VERSIONS', message: 'DM_TARGET_MSG', setGeometry: 'DM_DEV_SET_GEOMETRY',
  armPoll: 'DM_DEV_ARM_POLL', getTargetVersion: 'DM_GET_TARGET_VERSION',
};

/** `_IOWR(0xfd, nr, struct dm_ioctl)` = 0xC138FD00 | nr, as a plain unsigned number. */
export function requestCode(command: CommandName): number {
  const nr = COMMANDS.indexOf(command);
  if (nr < 0) throw new DmCodecError('UNKNOWN_COMMAND', `unknown command ${typeof command === 'string' ? JSON.stringify(command) : typeof command}`);
  return (0xc138fd00 | nr) >>> 0;
}

export function commandNumber(command: CommandName): number {
  return COMMANDS.indexOf(command);
}

/** The kernel's major version; it rejects any other. */
export const DM_VERSION_MAJOR = 4;

export type Version = readonly [number, number, number];

/** The lowest version each command needs (sent in requests, as libdevmapper does). */
export const MIN_VERSION: Record<CommandName, Version> = {
  version: [4, 0, 0], removeAll: [4, 0, 0], listDevices: [4, 0, 0], create: [4, 0, 0],
  remove: [4, 0, 0], rename: [4, 0, 0], suspend: [4, 0, 0], info: [4, 0, 0], wait: [4, 0, 0],
  load: [4, 0, 0], clear: [4, 0, 0], deps: [4, 0, 0], status: [4, 0, 0],
  listVersions: [4, 1, 0], message: [4, 2, 0], setGeometry: [4, 6, 0],
  armPoll: [4, 37, 0], getTargetVersion: [4, 41, 0],
};

/** dm_ioctl.flags bits. */
export const DM_READONLY_FLAG = 1 << 0;
export const DM_SUSPEND_FLAG = 1 << 1;
export const DM_PERSISTENT_DEV_FLAG = 1 << 3;
export const DM_STATUS_TABLE_FLAG = 1 << 4;
export const DM_ACTIVE_PRESENT_FLAG = 1 << 5;
export const DM_INACTIVE_PRESENT_FLAG = 1 << 6;
export const DM_BUFFER_FULL_FLAG = 1 << 8;
export const DM_SKIP_BDGET_FLAG = 1 << 9;
export const DM_SKIP_LOCKFS_FLAG = 1 << 10;
export const DM_NOFLUSH_FLAG = 1 << 11;
export const DM_QUERY_INACTIVE_TABLE_FLAG = 1 << 12;
export const DM_UEVENT_GENERATED_FLAG = 1 << 13;
export const DM_UUID_FLAG = 1 << 14;
export const DM_SECURE_DATA_FLAG = 1 << 15;
export const DM_DATA_OUT_FLAG = 1 << 16;
export const DM_DEFERRED_REMOVE = 1 << 17;
export const DM_INTERNAL_SUSPEND_FLAG = 1 << 18;
export const DM_IMA_MEASUREMENT_FLAG = 1 << 19;

/** dm_name_list trailer flags (4.45+). */
export const DM_NAME_LIST_FLAG_HAS_UUID = 1;
export const DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID = 2;

/** Header size and where every payload starts (align8(sizeof(struct dm_ioctl))). */
export const DM_IOCTL_SIZE = 312;
export const DM_DATA_START = 312;
/** offsetof(struct dm_ioctl, data): the smallest data_size the kernel accepts. */
export const DM_MIN_DATA_SIZE = 305;
/** The largest data_size the kernel accepts (DM_MAX_TARGETS * DM_MAX_TARGET_PARAMS). */
export const DM_MAX_DATA_SIZE = 1 << 30;
/** Where payload-returning commands start (libdevmapper uses the same). */
export const DEFAULT_BUFFER_SIZE = 16 * 1024;
