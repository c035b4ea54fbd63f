import { DmBaseError } from '../../base/error.js';

/**
 * Errors of the multi-step helpers (ThinPool, FaultyDevice) that are not a failed ioctl:
 * a failed ioctl stays a `DmError` with the kernel's errno, and a failed block-device call a
 * `DmSyscallError`; these are what the helpers themselves refuse or detect.
 */

export type DmOperationErrorCode =
  /** Bad input, refused before any syscall. */
  | 'INVALID_INPUT'
  /** The device exists but is not what the helper manages (e.g. not a thin-pool table). */
  | 'WRONG_TARGET'
  /** The device, or the thin id, does not exist. */
  | 'NOT_FOUND'
  /** A step did not finish within the helper's bound (the device was resumed where possible). */
  | 'TIMEOUT'
  /** The device is in use (e.g. an active thin that would be deleted); `errno` is EBUSY. */
  | 'BUSY'
  /** The pool is in a state that refuses the request (failed, read-only, needs_check). */
  | 'POOL_STATE';

/** A failure a multi-step operation (ThinPool, FaultyDevice) detects or refuses itself; `code` says which. */
export class DmOperationError extends DmBaseError<DmOperationErrorCode> {
  override readonly name = 'DmOperationError';
  readonly code: DmOperationErrorCode;
  /** The errno this condition corresponds to, when there is one (BUSY: EBUSY). */
  readonly errno: number | undefined;
  constructor(code: DmOperationErrorCode, message: string, options?: { cause?: unknown; errno?: number }) {
    super(message, { cause: options?.cause });
    this.code = code;
    this.errno = options?.errno;
  }
}
