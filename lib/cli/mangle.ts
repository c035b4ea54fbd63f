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
 * contains blacklisted characters"); dmctl prints such names as they are.
 */
export type ManglingMode = 'auto' | 'hex' | 'none';

export class ManglingError extends Error {
  override readonly name = 'ManglingError';
  readonly code = 'MANGLING';
}

const WHITELIST = /^[0-9A-Za-z#+\-.:=@_]$/;

function isWhitelisted(byte: number): boolean {
  return byte < 0x80 && WHITELIST.test(String.fromCharCode(byte));
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true });

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
 * The unmangled form of a kernel name. A name that holds non-whitelisted characters
 * (not mangled by its creator) is returned as it is (dmsetup would fail instead).
 */
export function unmangle(s: string, mode: ManglingMode): string {
  if (mode === 'none' || !s.includes('\\x')) return s;
  const b = enc.encode(s);
  for (const c of b) if (!(isWhitelisted(c) || c === 0x5c)) return s;
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x5c && b[i + 1] === 0x78) {
      const hex = String.fromCharCode(...b.subarray(i + 2, i + 4));
      if (/^[0-9a-fA-F]{1,2}$/.test(hex)) {
        const m = /^[0-9a-fA-F]+/.exec(hex)![0];
        out.push(parseInt(m, 16));
        i += 1 + m.length;
        continue;
      }
    }
    out.push(b[i]!);
  }
  return dec.decode(new Uint8Array(out));
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
