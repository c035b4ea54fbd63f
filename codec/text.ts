/**
 * UTF-8 helpers for NUL-terminated C strings. TextEncoder/TextDecoder exist in every
 * modern runtime; names are nearly always ASCII, so that path avoids the decoder.
 */
const encoder = new TextEncoder();
// ignoreBOM: a name may start with U+FEFF; the default decoder would silently drop it.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

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
