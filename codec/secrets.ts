/**
 * Key material in table params: which target types carry keys, where in their params the
 * keys sit, and the one rule every text the package builds from params follows (codec
 * errors, the client's load hint, dmctl's messages, kernel log lines attached to errors).
 *
 * The positions are dmsetup's (`dmsetup table` masks them unless --showkeys): the second
 * word of a crypt line (unless it is a keyring reference `:<size>:<type>:<desc>`, which
 * names a key and is not one), and what follows the algorithm in integrity's
 * `internal_hash:`, `journal_crypt:` and `journal_mac:` arguments. Error text is about lines
 * that failed, often because they are malformed and a key is not where it belongs, so text
 * built for errors also masks every run of 16 or more hex digits in a key-carrying line,
 * and shows nothing of the params of other lines of a secure load. docs/secrets.md has the
 * sources.
 */

/** Target types whose params may hold key material (dm-crypt, dm-integrity). */
export const KEY_CARRYING_TARGETS: ReadonlySet<string> = new Set(['crypt', 'integrity']);

/** Whether a target type's params may hold key material. */
export function carriesKeys(type: unknown): boolean {
  return typeof type === 'string' && KEY_CARRYING_TARGETS.has(type);
}

/** Whether a table has a line of a key-carrying type: load it with DM_SECURE_DATA_FLAG. */
export function tableCarriesKeys(targets: readonly { readonly type?: unknown }[]): boolean {
  if (!Array.isArray(targets)) return false;
  for (const t of targets) if (t !== null && typeof t === 'object' && carriesKeys(t.type)) return true;
  return false;
}

/** Params as code units (UTF-16 for strings, bytes for bytes): keys are ASCII, so both index alike. */
interface Units { readonly length: number; at(i: number): number }

function unitsOf(params: string | Uint8Array): Units {
  return typeof params === 'string'
    ? { length: params.length, at: (i) => params.charCodeAt(i) }
    : { length: params.length, at: (i) => params[i]! };
}

/** dm_split_args() splits on isspace(): space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

type Range = readonly [start: number, end: number];

function words(u: Units): Range[] {
  const out: Range[] = [];
  let i = 0;
  while (i < u.length) {
    while (i < u.length && isSpace(u.at(i))) i++;
    const s = i;
    while (i < u.length && !isSpace(u.at(i))) i++;
    if (i > s) out.push([s, i]);
  }
  return out;
}

function startsWith(u: Units, [s, e]: Range, prefix: string): boolean {
  if (e - s < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (u.at(s + k) !== prefix.charCodeAt(k)) return false;
  return true;
}

const INTEGRITY_KEYED = ['internal_hash:', 'journal_crypt:', 'journal_mac:'];

/** The key positions dmsetup masks. */
function keyRanges(type: string, u: Units): Range[] {
  const w = words(u);
  if (type === 'crypt') {
    const k = w[1];
    if (!k || u.at(k[0]) === 0x3a /* ':' keyring reference */) return [];
    return [k];
  }
  if (type === 'integrity') {
    const out: Range[] = [];
    for (const r of w) {
      const prefix = INTEGRITY_KEYED.find((p) => startsWith(u, r, p));
      if (!prefix) continue;
      // <option>:<algorithm>:<key>; the algorithm has no ':' (dmsetup's [^:\s]+).
      let i = r[0] + prefix.length;
      while (i < r[1] && u.at(i) !== 0x3a) i++;
      if (i > r[0] + prefix.length && i + 1 < r[1]) out.push([i + 1, r[1]]);
    }
    return out;
  }
  return [];
}

/** Runs of at least 16 hex digits: a key out of its place in a malformed line. */
function hexRuns(u: Units): Range[] {
  const out: Range[] = [];
  let i = 0;
  while (i < u.length) {
    if (!isHex(u.at(i))) { i++; continue; }
    const s = i;
    while (i < u.length && isHex(u.at(i))) i++;
    if (i - s >= 16) out.push([s, i]);
  }
  return out;
}

/** Replaces each range of a string by '0's of the same length. */
function mask(params: string, ranges: readonly Range[]): string {
  if (ranges.length === 0) return params;
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [s, e] of sorted) {
    if (e <= at) continue;
    const from = Math.max(s, at);
    out += params.slice(at, from) + '0'.repeat(e - from);
    at = e;
  }
  return out + params.slice(at);
}

/**
 * dmsetup's masking of table text (`dmsetup table` without --showkeys): crypt's key and
 * integrity's internal_hash / journal_crypt / journal_mac keys become '0's of the same
 * length; keyring references and other targets are left as they are.
 */
export function redactTableParams(type: string, params: string): string {
  if (!carriesKeys(type)) return params;
  return mask(params, keyRanges(type, unitsOf(params)));
}

/**
 * Params as any error text may show them: bytes never (`<bytes>`), a key-carrying line
 * masked (dmsetup's positions, and any run of 16+ hex digits), another line of a secure
 * load not at all (`<redacted>`: the caller said it holds secrets the codec cannot place),
 * anything else as given.
 */
export function describeParams(type: unknown, params: unknown, secure: boolean): string {
  if (typeof params !== 'string') return '<bytes>';
  if (carriesKeys(type)) {
    const u = unitsOf(params);
    return mask(params, [...keyRanges(type as string, u), ...hexRuns(u)]);
  }
  return secure ? '<redacted>' : params;
}

/** Ranges of params that must not appear in text: see describeParams. Words under 8 units are ignored. */
function secretRanges(type: unknown, params: string | Uint8Array, secure: boolean): Range[] {
  const u = unitsOf(params);
  let ranges: Range[];
  if (carriesKeys(type)) ranges = [...keyRanges(type as string, u), ...hexRuns(u)];
  else if (secure) ranges = words(u);
  else return [];
  return ranges.filter(([s, e]) => e - s >= 8);
}

function matchesAt(line: string, at: number, u: Units, [s, e]: Range): boolean {
  for (let k = 0; k < e - s; k++) if (line.charCodeAt(at + k) !== u.at(s + k)) return false;
  return true;
}

/**
 * Kernel log lines with every occurrence of a table's secret ranges replaced by '0's. A
 * target may log an argument it rejects (dm-crypt and dm-integrity log fixed strings as of
 * Linux 6.12, but out-of-tree and future targets may not), and these lines become part of
 * an error's message. The secrets are compared in place: no copy of them is made.
 */
export function scrubLogLines(lines: readonly string[], targets: readonly { readonly type?: unknown; readonly params?: unknown }[], secure: boolean): string[] {
  const secrets: { u: Units; r: Range }[] = [];
  for (const t of Array.isArray(targets) ? targets : []) {
    if (t === null || typeof t !== 'object') continue;
    const p = t.params;
    if (typeof p !== 'string' && !(p instanceof Uint8Array)) continue;
    const u = unitsOf(p);
    for (const r of secretRanges(t.type, p, secure)) secrets.push({ u, r });
  }
  if (secrets.length === 0) return [...lines];
  return lines.map((line) => {
    const hits: Range[] = [];
    for (const { u, r } of secrets) {
      const n = r[1] - r[0];
      for (let at = 0; at + n <= line.length; at++) if (matchesAt(line, at, u, r)) hits.push([at, at + n]);
    }
    return mask(line, hits);
  });
}

/**
 * Masks, in place, the key material of one line's params bytes as describeParams masks text
 * ('0' bytes of the same length): for dumps of encoded requests (dmctl --dry-run).
 */
export function maskParamBytes(type: unknown, params: Uint8Array): void {
  if (!carriesKeys(type)) return;
  const u = unitsOf(params);
  for (const [s, e] of [...keyRanges(type as string, u), ...hexRuns(u)]) params.fill(0x30, s, e);
}

/**
 * A whole table line as text (`<start> <length> <type> <params>`) for an error about a line
 * that did not even parse: the params after a key-carrying type word are masked as
 * describeParams does, and every run of 16+ hex digits anywhere in the line.
 */
export function describeTableLine(line: string): string {
  const u = unitsOf(line);
  const ranges = hexRuns(u);
  const w = words(u);
  const at = w.findIndex(([s, e]) => e - s <= 9 && carriesKeys(line.slice(s, e)));
  if (at >= 0) {
    const off = w[at]![1];
    const rest: Units = { length: u.length - off, at: (i) => u.at(off + i) };
    for (const [s, e] of keyRanges(line.slice(w[at]![0], off), rest)) ranges.push([s + off, e + off]);
  }
  return mask(line, ranges);
}
