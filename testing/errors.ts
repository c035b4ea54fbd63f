/**
 * The simulator's own error, in one place. It fails as the kernel would: `code` is the errno's
 * name (`EINVAL`, `ENXIO`, …) and `errno` its number, as everywhere in the package
 * (docs/conventions.md, "Errors").
 */
import { DmBaseError } from '../lib/index.js';
import { ERRNO } from '../ffi/errors.js';

/** The errno names a simulated target or helper fails with. */
export type SimErrorCode = 'EINVAL' | 'ENXIO' | 'EBUSY' | 'EEXIST' | 'ENOMEM' | 'ENODATA' | 'ENODEV' | 'ENOENT' | 'ENOTSUP' | 'ENOSPC';

/** A failure inside the simulated kernel: errno name plus the line it would log. */
export class SimError extends DmBaseError<SimErrorCode> {
  /** The errno's name the simulated ioctl fails with. */
  readonly code: SimErrorCode;
  /** Its number (positive). */
  readonly errno: number;
  constructor(
    /** The errno's name, the same as `code` (kept for the simulated targets that read it). */
    readonly errnoName: SimErrorCode,
    /** The kernel log line it would print. */
    readonly log: string,
  ) {
    super(log);
    this.code = errnoName;
    this.errno = ERRNO[errnoName];
  }
}
