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

/** A dm interface or target version: `[major, minor, patch]`. */
export type Version = readonly [number, number, number];

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

/**
 * The upper 16 bits of every udev cookie and of its semaphore's key (libdevmapper.h
 * DM_COOKIE_MAGIC); a cookie travels in dm_ioctl.event_nr (docs/udev-cookies.md).
 */
export const DM_COOKIE_MAGIC = 0x0d4d;
/** Where the DM_UDEV_* flags start in a cookie value (dm_ioctl.event_nr): bit 16. */
export const DM_UDEV_FLAGS_SHIFT = 16;
/** The bits of a cookie value that carry DM_UDEV_* flags (the upper 16). */
export const DM_UDEV_FLAGS_MASK = 0xffff0000;
