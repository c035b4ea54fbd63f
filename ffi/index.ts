/**
 * The FFI layer: the only code in this package that calls native functions.
 * It knows ioctl, poll and pipes; it knows nothing about device-mapper's
 * structures (that is codec/) or its semantics (lib/), and no struct offsets at all:
 * structs arrive as bytes encoded by lib/ with codec/ layouts.
 *
 * @module
 */
export type { AsyncCallKind, CancelPipe, ControlTransport, IoctlResult, RawPoller } from './types.js';
export { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI } from './types.js';
export {
  DmClosedError,
  DmEngineError,
  DmFfiError,
  DmLibcError,
  DmPermissionError,
  DmPlatformError,
  DmUnavailableError,
  ERRNO,
  errnoName,
  ioctlPermissionError,
  mapOpenError,
} from './errors.js';
export type { DmErrorOptions, ErrnoName, OpenErrorLike } from './errors.js';
export { libcCandidates, loadLibc } from './libc.js';
export type { Libc } from './libc.js';
export { createCancelPipe, createPoller, DM_CONTROL_PATH, openControl, pollAsync } from './control.js';
export type { AsyncPath, OpenControlOptions } from './control.js';
export { CALLS_IN_FLIGHT, engineSupported, IoctlEngine } from './engine.js';
export type { EngineOptions } from './engine.js';
export {
  blockDeviceBytes, blockDiscard, DmSyscallError, loopClear, loopConfigure, loopGetFree, loopSetCapacity, loopStatus, BLKDISCARD, LOOP_SET_CAPACITY,
  makedev, mknodBlock, BLKGETSIZE64, LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_GET_FREE, LOOP_GET_STATUS64, LOOP_SET_FD,
  LOOP_SET_STATUS64, LO_FLAGS_AUTOCLEAR, LO_FLAGS_DIRECT_IO, LO_FLAGS_PARTSCAN, LO_FLAGS_READ_ONLY,
} from './block.js';
