/**
 * The FFI layer: the only code in this package that calls native functions.
 * It knows ioctl, poll and pipes; it knows nothing about device-mapper's
 * structures (that is codec/) or its semantics (lib/).
 *
 * @module
 */
export type { CancelPipe, ControlTransport, IoctlResult, PollFd, Poller, PollResult } from './types.js';
export { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI } from './types.js';
export {
  DmClosedError,
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
