/**
 * Input checks made before anything is encoded. The kernel truncates over-long strings
 * silently and accepts names udev cannot use, so the codec rejects them itself.
 */
import { DM_NAME_LEN, DM_UUID_LEN, DM_MAX_TYPE_NAME } from './records.js';
import { DmCodecError } from './errors.js';
import { utf8Length } from './text.js';

function checkString(value: unknown, field: string, max: number, tooLong: 'NAME_TOO_LONG' | 'UUID_TOO_LONG' | 'STRING_TOO_LONG'): string {
  if (typeof value !== 'string') throw new DmCodecError('INVALID_ARGUMENT', `${field} must be a string`, field);
  if (value.includes('\0')) throw new DmCodecError('STRING_HAS_NUL', `${field} must not contain a NUL character`, field);
  const len = utf8Length(value);
  if (len > max) throw new DmCodecError(tooLong, `${field} is ${len} bytes long; the limit is ${max}`, field);
  return value;
}

/** A name or uuid as raw bytes (one that is not UTF-8): no NUL, at most `max` bytes. */
function checkBytes(value: Uint8Array, field: string, max: number, tooLong: 'NAME_TOO_LONG' | 'UUID_TOO_LONG' | 'STRING_TOO_LONG'): Uint8Array {
  if (value.indexOf(0) >= 0) throw new DmCodecError('STRING_HAS_NUL', `${field} must not contain a NUL byte`, field);
  if (value.length > max) throw new DmCodecError(tooLong, `${field} is ${value.length} bytes long; the limit is ${max}`, field);
  return value;
}

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * A device name: 1…127 bytes, no NUL or '/', not "control", "." or "..". A string is sent
 * as UTF-8; a Uint8Array is sent as it is (the kernel's rules are about bytes, not text).
 */
export function checkName(value: unknown, field = 'name'): string | Uint8Array {
  if (value instanceof Uint8Array) {
    const b = checkBytes(value, field, DM_NAME_LEN - 1, 'NAME_TOO_LONG');
    if (b.length === 0) throw new DmCodecError('INVALID_NAME', `${field} must not be empty`, field);
    if (b.indexOf(SLASH) >= 0) throw new DmCodecError('INVALID_NAME', `${field} must not contain '/'`, field);
    const dots = b.every((c) => c === DOT);
    if ((dots && b.length <= 2) || (b.length === 7 && String.fromCharCode(...b) === 'control')) {
      throw new DmCodecError('INVALID_NAME', `${field} must not be "control", "." or ".."`, field);
    }
    return b;
  }
  const s = checkString(value, field, DM_NAME_LEN - 1, 'NAME_TOO_LONG');
  if (s.length === 0) throw new DmCodecError('INVALID_NAME', `${field} must not be empty`, field);
  if (s.includes('/')) throw new DmCodecError('INVALID_NAME', `${field} must not contain '/': ${JSON.stringify(s)}`, field);
  if (s === 'control' || s === '.' || s === '..') {
    throw new DmCodecError('INVALID_NAME', `${field} must not be ${JSON.stringify(s)}`, field);
  }
  return s;
}

/** A device uuid: 1…128 bytes, no NUL; a string (UTF-8) or raw bytes. */
export function checkUuid(value: unknown, field = 'uuid'): string | Uint8Array {
  if (value instanceof Uint8Array) {
    const b = checkBytes(value, field, DM_UUID_LEN - 1, 'UUID_TOO_LONG');
    if (b.length === 0) throw new DmCodecError('INVALID_ARGUMENT', `${field} must not be empty`, field);
    return b;
  }
  const s = checkString(value, field, DM_UUID_LEN - 1, 'UUID_TOO_LONG');
  if (s.length === 0) throw new DmCodecError('INVALID_ARGUMENT', `${field} must not be empty`, field);
  return s;
}

/** A prefix filter (may be empty): at most the field's length; a string or raw bytes. */
export function checkPrefix(value: unknown, field: string, max: number): string | Uint8Array {
  const code = field === 'uuidPrefix' ? 'UUID_TOO_LONG' : 'NAME_TOO_LONG';
  if (value instanceof Uint8Array) return checkBytes(value, field, max, code);
  return checkString(value, field, max, code);
}

/** A target type name: 1…15 bytes, no NUL or whitespace. */
export function checkTargetType(value: unknown, field = 'type'): string {
  const s = checkString(value, field, DM_MAX_TYPE_NAME - 1, 'STRING_TOO_LONG');
  if (s.length === 0 || /\s/.test(s)) throw new DmCodecError('INVALID_ARGUMENT', `${field} must be a non-empty word, got ${JSON.stringify(s)}`, field);
  return s;
}

export function checkCString(value: unknown, field: string, max = Infinity): string {
  return checkString(value, field, max, 'STRING_TOO_LONG');
}

const U64_MAX = 0xffffffffffffffffn;

/** A non-negative integer that fits 64 bits (sectors, lengths): number or bigint → bigint. */
export function checkU64(value: unknown, field: string, code: 'INVALID_SECTOR' | 'INVALID_INTEGER' = 'INVALID_INTEGER'): bigint {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  } else if (typeof value === 'bigint') {
    if (value >= 0n && value <= U64_MAX) return value;
  }
  throw new DmCodecError(code, `${field} must be a non-negative integer below 2^64, got ${String(value)}`, field);
}

/** An integer in [min, max]. */
export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new DmCodecError('INVALID_INTEGER', `${field} must be an integer in ${min}…${max}, got ${String(value)}`, field);
  }
  return value;
}

export function checkBool(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new DmCodecError('INVALID_ARGUMENT', `${field} must be a boolean`, field);
  return value;
}
