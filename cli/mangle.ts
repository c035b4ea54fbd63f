/**
 * libdevmapper's name mangling (`libdm-common.c`: `mangle_string`, `unmangle_string`),
 * so names given to dmctl reach the kernel exactly as dmsetup would send them.
 *
 * Characters outside the udev-safe whitelist `[0-9A-Za-z#+-.:=@_]` become `\xNN`
 * (each UTF-8 byte). Modes: `auto` (the default, as Debian's build: already-mangled
 * input is kept, mixed input is refused), `hex` (always mangle), `none` (send as given).
 * Output is unmangled in `auto` and `hex` mode.
 *
 * One documented difference: a device whose kernel name holds characters outside the
 * whitelist without being mangled (made by another tool, e.g. this library's API with a
 * raw name) makes dmsetup (auto mode) fail the whole command ("should be mangled but it
 * contains blacklisted characters"); dmctl prints such names (UTF-8 text as it is, other
 * bytes as `\xNN`, see displayName) and accepts the printed form back (rawAlternative).
 */
import { ManglingError } from './errors.js';

/** libdevmapper's name mangling modes (`--manglename`). */
export type ManglingMode = 'auto' | 'hex' | 'none';

const WHITELIST = /^[0-9A-Za-z#+\-.:=@_]$/;

function isWhitelisted(byte: number): boolean {
  return byte < 0x80 && WHITELIST.test(String.fromCharCode(byte));
}

const enc = new TextEncoder();

/** The mangled form of `s` (what goes into the ioctl), or throws ManglingError. */
export function mangle(s: string, mode: ManglingMode, what = 'name'): string {
  if (mode === 'none' || s === '') return s;
  if (mode === 'auto' && s.includes('\\x5cx')) throw new ManglingError(`The ${what} "${s}" seems to be mangled more than once. This is not allowed in auto mode.`);
  const b = enc.encode(s);
  let out = '';
  let need: -1 | 0 | 1 = -1;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (mode === 'auto' && c === 0x5c && b[i + 1] === 0x78) {
      if (b.length - i < 4 || need === 1) throw new ManglingError(`The ${what} "${s}" contains mixed mangled and unmangled characters or it's already mangled improperly.`);
      out += String.fromCharCode(...b.subarray(i, i + 4));
      i += 3;
      need = 0;
      continue;
    }
    if (isWhitelisted(c)) {
      out += String.fromCharCode(c);
    } else {
      if (mode !== 'hex' && need === 0) throw new ManglingError(`The ${what} "${s}" contains mixed mangled and unmangled characters or it's already mangled improperly.`);
      out += `\\x${c.toString(16).padStart(2, '0')}`;
      need = 1;
    }
  }
  return out;
}

/**
 * libdevmapper's `unmangle_string` on bytes: the bytes a correctly mangled kernel name
 * stands for, or undefined when the name holds bytes outside the whitelist (not made by
 * libdevmapper; dmsetup in auto mode fails the whole command on such a name).
 */
export function unmangleBytes(kernel: Uint8Array): Uint8Array | undefined {
  for (const c of kernel) if (!(isWhitelisted(c) || c === 0x5c)) return undefined;
  const out: number[] = [];
  for (let i = 0; i < kernel.length; i++) {
    if (kernel[i] === 0x5c && kernel[i + 1] === 0x78) {
      const hex = String.fromCharCode(...kernel.subarray(i + 2, i + 4));
      const m = /^[0-9a-fA-F]{1,2}/.exec(hex);
      if (m) {
        out.push(parseInt(m[0], 16));
        i += 1 + m[0].length;
        continue;
      }
    }
    out.push(kernel[i]!);
  }
  return new Uint8Array(out);
}

const strict = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

function utf8OrUndefined(b: Uint8Array): string | undefined {
  try { return strict.decode(b); } catch { return undefined; }
}

/** Every byte outside the whitelist as `\xNN` (libdevmapper's hex mangling of raw bytes). */
export function hexMangle(b: Uint8Array): string {
  let out = '';
  for (const c of b) out += isWhitelisted(c) ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * How dmctl prints a kernel name (or uuid), given as its decoded text and, when the kernel's
 * bytes are not UTF-8, those bytes. The printed form is always one dmctl accepts back for
 * the same device (Ctx.deviceId), and it is dmsetup's wherever dmsetup prints one:
 * - `none`: the name as it is; bytes that are not UTF-8 as `\xNN`.
 * - `auto`/`hex`, a correctly mangled name: unmangled (as dmsetup), unless the unmangled
 *   bytes are not UTF-8 — dmsetup writes those raw bytes; a string cannot hold them, so the
 *   mangled name is printed (auto mode sends it back unchanged).
 * - `auto`/`hex`, a name with bytes outside the whitelist (made without libdevmapper;
 *   dmsetup fails the whole command): UTF-8 text as it is, other bytes hex-mangled.
 */
export function displayName(text: string, raw: Uint8Array | undefined, mode: ManglingMode): string {
  if (mode === 'none') return raw ? hexMangle(raw) : text;
  const kernel = raw ?? enc.encode(text);
  const plain = unmangleBytes(kernel);
  if (plain === undefined) return raw ? hexMangle(raw) : text;
  if (!text.includes('\\x')) return text;
  return utf8OrUndefined(plain) ?? text;
}

/** The unmangled form of a kernel name given as text (see displayName). */
export function unmangle(s: string, mode: ManglingMode): string {
  return displayName(s, undefined, mode);
}

/**
 * The raw bytes an auto/hex-mode argument may stand for besides its mangled form: a name
 * printed by displayName from bytes outside the whitelist (e.g. `odd\xff` for the kernel
 * name 6F 64 64 FF). Undefined when the argument has no such escapes.
 */
export function rawAlternative(mangled: string): Uint8Array | undefined {
  if (!mangled.includes('\\x')) return undefined;
  const plain = unmangleBytes(enc.encode(mangled));
  if (!plain) return undefined;
  return plain.every((c) => isWhitelisted(c) || c === 0x5c) ? undefined : plain;
}

/** Whether a kernel name is one dmsetup (auto mode) refuses to print. */
export function needsMangling(s: string): boolean {
  for (const c of enc.encode(s)) if (!(isWhitelisted(c) || c === 0x5c)) return true;
  return false;
}

export function manglingMode(value: string | undefined, env: Readonly<Record<string, string | undefined>>): ManglingMode {
  const v = value ?? env.DM_DEFAULT_NAME_MANGLING_MODE ?? 'auto';
  if (v === 'auto' || v === 'hex' || v === 'none') return v;
  throw new ManglingError(`Unknown name mangling mode "${v}" (auto, hex or none)`);
}
