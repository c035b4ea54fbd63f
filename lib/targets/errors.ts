import { DmBaseError } from '../../base/error.js';

/**
 * Errors of the typed target layer. Messages never contain key material: for targets that
 * carry keys (crypt, integrity) the offending token is not quoted.
 */

export type DmTargetErrorCode =
  /** Builder input rejected by the target's schema. */
  | 'INVALID_INPUT'
  /** A device path could not be resolved to major:minor (normalise). */
  | 'UNRESOLVED_DEVICE'
  /** No typed unit for this target type. */
  | 'UNKNOWN_TARGET'
  /** A table or status line ended before a required field. */
  | 'MISSING_FIELD'
  /** A field is not a number in range. */
  | 'BAD_NUMBER'
  /** A field is not a major:minor device. */
  | 'BAD_DEVICE'
  /** A field has a value the target does not define. */
  | 'BAD_VALUE'
  /** Tokens left over after a table line that has no optional tail. */
  | 'TRAILING_FIELDS';

export class DmTargetError extends DmBaseError<DmTargetErrorCode> {
  override readonly name: string = 'DmTargetError';
  readonly code: DmTargetErrorCode;
  /** The target type, e.g. `thin-pool`. */
  readonly target: string;
  /** The field that was rejected, e.g. `metadataDevice` or `features[1]`. */
  readonly field: string | undefined;

  constructor(code: DmTargetErrorCode, target: string, message: string, field?: string) {
    super(`${target}: ${message}`);
    this.code = code;
    this.target = target;
    this.field = field;
  }
}

/** A table or status line that does not parse. */
export class DmTargetParseError extends DmTargetError {
  override readonly name: string = 'DmTargetParseError';
}
