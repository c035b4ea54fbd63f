/**
 * The structs of the other system calls the package makes, declared like the dm records
 * (codec/records.ts): the loop driver's `struct loop_info64` and `struct loop_config`
 * (<linux/loop.h>), poll(2)'s `struct pollfd` (<poll.h>) and semctl(2)'s `struct semid_ds`
 * (IPC_STAT). lib/ encodes and decodes them with these layouts and hands the bytes to ffi/,
 * which only makes the calls.
 */
import { array, char, pad, s32, struct, u16, u32, u64, u8 } from './layout.js';

export const LO_NAME_SIZE = 64;
export const LO_KEY_SIZE = 32;

/** struct loop_info64: 232 bytes. */
export const loopInfo64 = struct('loop_info64', {
  lo_device: u64,               // r/o
  lo_inode: u64,                // r/o
  lo_rdevice: u64,              // r/o
  lo_offset: u64,
  lo_sizelimit: u64,            // bytes, 0 == to the end of the file
  lo_number: u32,               // r/o
  lo_encrypt_type: u32,         // obsolete, ignored
  lo_encrypt_key_size: u32,
  lo_flags: u32,
  lo_file_name: char(LO_NAME_SIZE),
  lo_crypt_name: char(LO_NAME_SIZE),
  lo_encrypt_key: array(u8, LO_KEY_SIZE),
  lo_init: array(u64, 2),
});

/**
 * struct loop_config (LOOP_CONFIGURE, 5.8+): 304 bytes. `info` is a struct loop_info64
 * encoded with its own layout at `offsetOf.info` (the layout language has no nested structs:
 * here it is its size of bytes, aligned like the u32s before it leave it — at 8).
 */
export const loopConfig = struct('loop_config', {
  fd: u32,
  block_size: u32,
  info: pad(loopInfo64.size),
  __reserved: array(u64, 8),
});

/** struct pollfd: `short events, revents` as u16 (every POLL* bit the package uses is below 0x8000). */
export const pollfd = struct('pollfd', {
  fd: s32,
  events: u16,
  revents: u16,
});

/**
 * The `struct ipc_perm` that opens `struct semid_ds` on 64-bit Linux, as glibc and musl lay
 * it out there (the kernel's `struct ipc64_perm`, which semctl fills: glibc and musl pass the
 * buffer through on 64-bit): 48 bytes. `cuid` is the creator's uid; no creator pid exists.
 */
const ipcPerm64 = {
  key: s32,
  uid: u32,
  gid: u32,
  cuid: u32,
  cgid: u32,
  mode: u32,
  seq: u16,
  __pad2: pad(2),
  __unused1: u64,
  __unused2: u64,
} as const;

/**
 * semctl(IPC_STAT)'s `struct semid_ds` on x86-64 (arch/x86/include/uapi/asm/sembuf.h: each
 * time is followed by a reserved word): 104 bytes. Times in seconds since the epoch.
 */
export const semidDsX86_64 = struct('semid64_ds_x86_64', {
  ...ipcPerm64,
  sem_otime: u64,
  __otime_high: u64,
  sem_ctime: u64,
  __ctime_high: u64,
  sem_nsems: u64,
  __unused3: u64,
  __unused4: u64,
});

/**
 * semctl(IPC_STAT)'s `struct semid_ds` on the other 64-bit architectures
 * (include/uapi/asm-generic/sembuf.h with 64-bit longs: arm64, riscv64, ppc64, s390x,
 * loongarch64): 88 bytes. Times in seconds since the epoch.
 */
export const semidDsGeneric64 = struct('semid64_ds', {
  ...ipcPerm64,
  sem_otime: u64,
  sem_ctime: u64,
  sem_nsems: u64,
  __unused3: u64,
  __unused4: u64,
});

/**
 * FS_IOC_FIEMAP's `struct fiemap` (<linux/fiemap.h>): 32 bytes, followed in the same buffer
 * by `fm_extent_count` `struct fiemap_extent`s that the filesystem fills. dm-stats file maps
 * read a file's extents with it (lib/stats/fiemap.ts).
 */
export const fiemap = struct('fiemap', {
  fm_start: u64,          // logical offset (bytes) where the mapping starts
  fm_length: u64,         // logical length (bytes) of the mapping asked for
  fm_flags: u32,          // FIEMAP_FLAG_* in, the flags the filesystem honoured out
  fm_mapped_extents: u32, // extents written back
  fm_extent_count: u32,   // extents the buffer has room for
  fm_reserved: u32,
});

/** `struct fiemap_extent`: 56 bytes; byte offsets and length; FIEMAP_EXTENT_* flags. */
export const fiemapExtent = struct('fiemap_extent', {
  fe_logical: u64,
  fe_physical: u64,
  fe_length: u64,
  fe_reserved64: array(u64, 2),
  fe_flags: u32,
  fe_reserved: array(u32, 3),
});

export const SYSCALL_RECORDS = { loopInfo64, loopConfig, pollfd, semidDsX86_64, semidDsGeneric64, fiemap, fiemapExtent } as const;
