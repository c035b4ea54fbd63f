/**
 * Every record of the device-mapper ioctl interface, declared once, in the order and with
 * the names of `include/uapi/linux/dm-ioctl.h`. Offsets and sizes are derived; the tests
 * check them against a C program compiled with the kernel's own header.
 */
import { array, char, flex, flexOf, pad, s32, struct, u32, u64 } from './layout.js';
import { rememberStrings } from './char-memo.js';

/** Size of `dm_ioctl.name`, the terminating NUL included (linux/dm-ioctl.h). */
export const DM_NAME_LEN = 128;
/** Size of `dm_ioctl.uuid`, the terminating NUL included (linux/dm-ioctl.h). */
export const DM_UUID_LEN = 129;
/** Size of `dm_target_spec.target_type`, the terminating NUL included (linux/dm-ioctl.h). */
export const DM_MAX_TYPE_NAME = 16;

/** struct dm_ioctl: the 312-byte header every command starts with. */
export const dmIoctl = rememberStrings(struct('dm_ioctl', {
  version: array(u32, 3), // in/out: lowest version the caller needs / the kernel's version
  data_size: u32,         // in: total buffer size including this header; out: bytes returned
  data_start: u32,        // in/out: offset of the payload from the start of this struct
  target_count: u32,      // in: specs in a TABLE_LOAD; out: targets in the table
  open_count: s32,        // out
  flags: u32,             // in/out
  event_nr: u32,          // in: event number to wait on, or udev cookie; out: device event number
  padding: u32,           // keeps `dev` at offset 40 on every ABI
  dev: u64,               // in/out: huge_encode_dev(major, minor)
  name: char(DM_NAME_LEN),
  uuid: char(DM_UUID_LEN),
  data: pad(7),           // padding or data: makes sizeof 312 everywhere
}));

/** struct dm_target_spec: one target of a table, followed by its NUL-terminated params. */
export const dmTargetSpec = rememberStrings(struct('dm_target_spec', {
  sector_start: u64,
  length: u64,
  status: s32,            // out (always 0)
  next: u32,              // LOAD: from this spec; STATUS/WAIT: from data_start
  target_type: char(DM_MAX_TYPE_NAME),
}));

/** struct dm_target_deps: the output of TABLE_DEPS, followed by `count` u64 devs. */
export const dmTargetDeps = struct('dm_target_deps', {
  count: u32,
  padding: u32,
  dev: flexOf(u64),       // __u64 dev[]: starts at offset 8
});

/** struct dm_name_list: one record of LIST_DEVICES; an event_nr/flags/uuid trailer follows the name. */
export const dmNameList = struct('dm_name_list', {
  dev: u64,
  next: u32,              // from the start of this record to the next; 0 = last
  name: flex,             // char name[]: offset 12; sizeof is 16 (tail padding)
});

/** struct dm_target_versions: one record of LIST_VERSIONS / GET_TARGET_VERSION. */
export const dmTargetVersions = struct('dm_target_versions', {
  next: u32,              // from the start of this record; 0 = last
  version: array(u32, 3),
  name: flex,             // char name[]: offset 16
});

/** struct dm_target_msg: the input of TARGET_MSG, followed by the message string. */
export const dmTargetMsg = struct('dm_target_msg', {
  sector: u64,
  message: flex,          // char message[]: offset 8
});

/** The event_nr/flags pair that follows each dm_name_list name (4.37+), 8-aligned. */
export const dmNameListTrailer = struct('dm_name_list_trailer', {
  event_nr: u32,
  flags: u32,
});

/** The struct layouts of linux/dm-ioctl.h, as data. */
export const RECORDS = { dmIoctl, dmTargetSpec, dmTargetDeps, dmNameList, dmTargetVersions, dmTargetMsg } as const;
