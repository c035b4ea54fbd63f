/** The one way an operation attaches the failure of its own undo to the error it throws. */
import { DmBaseError } from '../../base/error.js';

/**
 * Records that undoing a failed operation failed too: `cleanup` becomes `error.cleanupError`.
 * The package's errors declare the field; anything else thrown through an operation (a bug's
 * TypeError) gets it as a non-enumerable property, so the rollback's failure is never lost.
 */
export function attachCleanupError(error: unknown, cleanup: unknown): void {
  if (error instanceof DmBaseError) error.cleanupError = cleanup;
  else if (error !== null && typeof error === 'object' && Object.isExtensible(error)) {
    Object.defineProperty(error, 'cleanupError', { value: cleanup, writable: true, configurable: true, enumerable: false });
  }
}
