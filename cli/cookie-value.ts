/** dmsetup's cookie argument parsing (dmsetup.c `_get_cookie_value`). */
import { CookieValueError } from './errors.js';

/**
 * `_get_cookie_value`: `strtoul(s, &end, 0)` — decimal, 0x hex or 0 octal, after leading
 * blanks; nothing may follow; 0 and values above UINT32_MAX are refused.
 */
export function parseCookieValue(s: string): number {
  const m = /^[ \t\n\v\f\r]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) throw new CookieValueError();
  const t = m[1]!;
  const v = /^0[xX]/.test(t) ? parseInt(t.slice(2), 16) : t.length > 1 && t[0] === '0' ? parseInt(t.slice(1), 8) : Number(t);
  if (!Number.isFinite(v) || v === 0 || v > 0xffffffff) throw new CookieValueError();
  return v;
}
