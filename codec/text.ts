/**
 * UTF-8 helpers for NUL-terminated C strings. TextEncoder/TextDecoder exist in every
 * modern runtime; names are nearly always ASCII, so that path avoids the decoder.
 */
import { DmCodecError } from './errors.js';

// Typed here rather than through a runtime's lib (DOM, @types/node): codec/ is checked
// without either (tsconfig.codec.json), and these members are all it uses.
interface Utf8Encoder { encode(s: string): Uint8Array; encodeInto(s: string, into: Uint8Array): { read: number; written: number } }
interface Utf8Decoder { decode(b: Uint8Array): string }
const { TextEncoder: Encoder, TextDecoder: Decoder } = globalThis as unknown as {
  TextEncoder: new () => Utf8Encoder;
  TextDecoder: new (label: 'utf-8', options: { ignoreBOM: boolean; fatal?: boolean }) => Utf8Decoder;
};
const encoder = new Encoder();
// ignoreBOM: a name may start with U+FEFF; the default decoder would silently drop it.
const decoder = new Decoder('utf-8', { ignoreBOM: true });
const strict = new Decoder('utf-8', { ignoreBOM: true, fatal: true });

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Byte length of `s` in UTF-8, computed without allocating for ASCII strings. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else return encoder.encode(s).length;
  }
  return n;
}

/** Index of the first NUL in bytes[start, end), or -1. */
export function findNul(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (bytes[i] === 0) return i;
  return -1;
}

/**
 * Decodes bytes[start, end) as UTF-8 (replacement characters for invalid sequences).
 * TextDecoder gives flat strings at native speed even for short ASCII names; building them
 * char by char made rope strings that cost more in GC than the decode itself.
 */
export function utf8Decode(bytes: Uint8Array, start: number, end: number): string {
  return start === end ? '' : decoder.decode(bytes.subarray(start, end));
}

/**
 * Writes a char[n] field at bytes[off]: a string as UTF-8, or raw bytes (a name that is not
 * UTF-8) exactly, NUL-padded to n. Throws DmCodecError (naming `field`) on a NUL, more than
 * n-1 bytes, or anything else. The compiled layouts (codec/layout.ts), their `encode` and
 * their `template` encoders, write char fields with it: one error for one bad value.
 */
export function writeCharField(bytes: Uint8Array, off: number, s: unknown, n: number, field: string): void {
  if (s instanceof Uint8Array) {
    // Raw bytes (a name that is not UTF-8): written exactly, NUL-padded.
    if (s.indexOf(0) >= 0) throw new DmCodecError('STRING_HAS_NUL', `${field} must not contain NUL`, field);
    if (s.length > n - 1) throw new DmCodecError('STRING_TOO_LONG', `${field} is ${s.length} bytes; at most ${n - 1} fit`, field);
    bytes.set(s, off);
    bytes.fill(0, off + s.length, off + n);
    return;
  }
  if (typeof s !== 'string') throw new DmCodecError('INVALID_ARGUMENT', `${field} must be a string`, field);
  // Fast path, one pass: a short ASCII string without NUL is checked and written together.
  const units = s.length;
  if (units < n) {
    let i = 0;
    for (; i < units; i++) {
      const c = s.charCodeAt(i);
      if (c === 0 || c >= 0x80) break;
      bytes[off + i] = c;
    }
    if (i === units) {
      bytes.fill(0, off + units, off + n);
      return;
    }
  }
  if (s.indexOf('\0') >= 0) throw new DmCodecError('STRING_HAS_NUL', `${field} must not contain NUL`, field);
  const len = utf8Length(s);
  if (len > n - 1) throw new DmCodecError('STRING_TOO_LONG', `${field} is ${len} bytes; at most ${n - 1} fit`, field);
  writeCString(bytes, off, s, n);
}

/**
 * Writes `s` into bytes[offset, offset + n) as UTF-8 and zero-fills the rest. The caller
 * has validated that it fits with room for the NUL. Returns the number of bytes written.
 */
export function writeCString(bytes: Uint8Array, offset: number, s: string, n: number): number {
  let len: number;
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) { ascii = false; break; }
  if (ascii) {
    len = s.length;
    for (let i = 0; i < len; i++) bytes[offset + i] = s.charCodeAt(i);
  } else {
    len = encoder.encodeInto(s, bytes.subarray(offset, offset + n)).written;
  }
  bytes.fill(0, offset + len, offset + n);
  return len;
}

/**
 * The kernel's own bytes of a name or uuid when `decoded` (their UTF-8 decoding) lost
 * information, i.e. bytes[start, end) are not valid UTF-8; otherwise undefined. The kernel
 * accepts any bytes but NUL (and '/' in names), so this is how a decoded record stays
 * lossless (docs/kernel-facts.md, "Names as the kernel has them"). Only a decoding that
 * produced U+FFFD can have lost anything, so valid names pay one indexOf.
 */
export function rawIfLossy(decoded: string, bytes: Uint8Array, start: number, end: number): Uint8Array | undefined {
  if (decoded.indexOf('\uFFFD') < 0) return undefined;
  try {
    strict.decode(bytes.subarray(start, end));
    return undefined; // a genuine U+FFFD, encoded as EF BF BD
  } catch {
    return bytes.slice(start, end);
  }
}

/** Whether `bytes` are valid UTF-8. */
export function isUtf8(bytes: Uint8Array): boolean {
  try { strict.decode(bytes); return true; } catch { return false; }
}

/**
 * A printable, lossless rendering of a name or uuid for messages: a string as it is;
 * bytes with every byte outside printable ASCII (and the backslash) as `\xNN`, the way
 * libdevmapper mangles names.
 */
export function printableName(v: string | Uint8Array): string {
  if (typeof v === 'string') return v;
  let out = '';
  for (const c of v) out += c < 0x20 || c >= 0x7f || c === 0x5c ? `\\x${c.toString(16).padStart(2, '0')}` : String.fromCharCode(c);
  return out;
}
