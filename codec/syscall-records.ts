/**
 * The structs of the other system calls the package makes, declared like the dm records
 * (codec/records.ts): the loop driver's `struct loop_info64` and `struct loop_config`
 * (<linux/loop.h>) and poll(2)'s `struct pollfd` (<poll.h>). lib/ encodes and decodes
 * them with these layouts and hands the bytes to ffi/, which only makes the calls.
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

export const SYSCALL_RECORDS = { loopInfo64, loopConfig, pollfd } as const;
