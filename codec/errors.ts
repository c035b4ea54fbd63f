import { DmBaseError } from '../base/error.js';

/**
 * The one error type the codec throws: bad input rejected before anything is encoded,
 * or a reply that does not decode. `code` is stable and machine-readable; `field`
 * names the offending input or record when there is one.
 */
export type DmCodecErrorCode =
  | 'NAME_TOO_LONG'
  | 'UUID_TOO_LONG'
  | 'STRING_TOO_LONG'
  | 'STRING_HAS_NUL'
  | 'INVALID_NAME'
  | 'INVALID_DEVICE_ID'
  | 'INVALID_INTEGER'
  | 'INVALID_SECTOR'
  | 'INVALID_TABLE'
  | 'INVALID_ARGUMENT'
  | 'DATA_SIZE_OUT_OF_RANGE'
  | 'BUFFER_TOO_SMALL'
  | 'UNKNOWN_COMMAND'
  | 'MALFORMED_REPLY';

/** Bad input or a malformed reply, found by the codec before any syscall or while decoding; `code` says which check failed. */
export class DmCodecError extends DmBaseError<DmCodecErrorCode> {
  /** 'DmCodecError', or a subclass's name (the client's DmArgumentError). */
  override readonly name: string = 'DmCodecError';
  readonly code: DmCodecErrorCode;
  /** The input field or record that was rejected, when known. */
  readonly field: string | undefined;

  constructor(code: DmCodecErrorCode, message: string, field?: string) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

/** Shorthand for a decode failure: the reply does not fit its declared layout. */
export function malformed(message: string, field?: string): DmCodecError {
  return new DmCodecError('MALFORMED_REPLY', message, field);
}
