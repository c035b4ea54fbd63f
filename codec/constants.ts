/**
 * Flags and sizes of the device-mapper ioctl interface (major version 4), from dm-ioctl.h.
 * The commands themselves (numbers, names, minimum versions) are rows of
 * codec/command-table.ts.
 */
import { dmIoctl } from './records.js';

/** The ioctl type byte of device-mapper (`DM_IOCTL`, 0xfd). */
export const DM_IOCTL = 0xfd;

/** The kernel's major version; it rejects any other. */
export const DM_VERSION_MAJOR = 4;

export type Version = readonly [number, number, number];

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

/** sizeof(struct dm_ioctl) (312), from its layout. */
export const DM_IOCTL_SIZE = dmIoctl.size;
/** Where every payload starts: the header, 8-aligned (libdevmapper and the kernel's get_result_buffer()). */
export const DM_DATA_START = Math.ceil(dmIoctl.size / 8) * 8;
/** offsetof(struct dm_ioctl, data) (305): the smallest data_size the kernel accepts. */
export const DM_MIN_DATA_SIZE = dmIoctl.offsetOf.data;
/** The largest data_size the kernel accepts (DM_MAX_TARGETS * DM_MAX_TARGET_PARAMS). */
export const DM_MAX_DATA_SIZE = 1 << 30;
/** Where payload-returning commands start (libdevmapper uses the same). */
export const DEFAULT_BUFFER_SIZE = 16 * 1024;
