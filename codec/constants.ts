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

/** The client-side name of one of the 18 dm ioctl commands (`version`, `listDevices`, `load`, …). */
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

/** The ioctl command number (`DM_*_CMD` of linux/dm-ioctl.h) of a command. */
export function commandNumber(command: CommandName): number {
  return COMMANDS.indexOf(command);
}

/** The kernel's major version; it rejects any other. */
export const DM_VERSION_MAJOR = 4;

/** A dm interface or target version: `[major, minor, patch]`. */
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
/** Request flag of `DM_DEV_SUSPEND`: suspend (without it: resume); reply flag: the device is suspended. */
export const DM_SUSPEND_FLAG = 1 << 1;
/** Request flag of `DM_DEV_CREATE`: use the minor number given in `dev`. */
export const DM_PERSISTENT_DEV_FLAG = 1 << 3;
/** Request flag of `DM_TABLE_STATUS`: return the table instead of the status. */
export const DM_STATUS_TABLE_FLAG = 1 << 4;
/** Reply flag: the device has a live table. */
export const DM_ACTIVE_PRESENT_FLAG = 1 << 5;
/** Reply flag: the device has an inactive (loaded, not yet resumed) table. */
export const DM_INACTIVE_PRESENT_FLAG = 1 << 6;
/** Reply flag: the reply did not fit in `data_size`; retry with a bigger buffer. */
export const DM_BUFFER_FULL_FLAG = 1 << 8;
/** Request flag the kernel now ignores. */
export const DM_SKIP_BDGET_FLAG = 1 << 9;
/** Request flag of suspend: do not freeze the filesystem. */
export const DM_SKIP_LOCKFS_FLAG = 1 << 10;
/** Request flag of suspend/status: do not flush pending I/O (queue it). */
export const DM_NOFLUSH_FLAG = 1 << 11;
/** Request flag: report on the inactive table instead of the live one. */
export const DM_QUERY_INACTIVE_TABLE_FLAG = 1 << 12;
/** Reply flag: the kernel sent a uevent (udev will act on it). */
export const DM_UEVENT_GENERATED_FLAG = 1 << 13;
/** Request flag of `DM_DEV_RENAME`: set the uuid instead of the name. */
export const DM_UUID_FLAG = 1 << 14;
/** Request flag: the kernel wipes its copy of the ioctl buffer (key-carrying tables). */
export const DM_SECURE_DATA_FLAG = 1 << 15;
/** Reply flag of `DM_TARGET_MSG`: the message produced output (in the data area). */
export const DM_DATA_OUT_FLAG = 1 << 16;
/** Request flag of `DM_DEV_REMOVE`: remove at the last close; reply flag: removal is deferred. */
export const DM_DEFERRED_REMOVE = 1 << 17;
/** Reply flag: the device is suspended internally by the kernel (e.g. a thin-pool's thins). */
export const DM_INTERNAL_SUSPEND_FLAG = 1 << 18;
/** Request flag of `DM_TABLE_STATUS`: the table as IMA would measure it, instead of the status. */
export const DM_IMA_MEASUREMENT_FLAG = 1 << 19;

/** dm_name_list trailer flags (4.45+). */
export const DM_NAME_LIST_FLAG_HAS_UUID = 1;
/** `dm_name_list` flag (4.45+): the device has no uuid. */
export const DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID = 2;

/** Header size and where every payload starts (align8(sizeof(struct dm_ioctl))). */
export const DM_IOCTL_SIZE = 312;
/** Where the data area starts: the size of `struct dm_ioctl`. */
export const DM_DATA_START = 312;
/** offsetof(struct dm_ioctl, data): the smallest data_size the kernel accepts. */
export const DM_MIN_DATA_SIZE = 305;
/** The largest data_size the kernel accepts (DM_MAX_TARGETS * DM_MAX_TARGET_PARAMS). */
export const DM_MAX_DATA_SIZE = 1 << 30;
/** Where payload-returning commands start (libdevmapper uses the same). */
export const DEFAULT_BUFFER_SIZE = 16 * 1024;
