/**
 * The pieces every target unit uses: device references, the token model a builder renders
 * into (keys stay bytes), and the cursor parsers read tokens with. The zod building blocks are
 * schemas.ts: nothing here names zod, so the root's declarations load none of zod's.
 */
import { madeCopy } from '../../codec/copies.js';
import { DmTargetError, DmTargetParseError } from '../errors.js';

// ------------------------------------------------------------------ devices ---

/** A block device: a path (`/dev/loop0`), a `major:minor` string, or `{ major, minor }`. */
export type DeviceRef = string | { readonly major: number; readonly minor: number };

/** Resolves a device path to its numbers (see `nodeResolver`). */
export type DeviceResolver = (path: string) => { readonly major: number; readonly minor: number };

const MAJOR_MINOR = /^(\d{1,4}):(\d{1,7})$/;


/** A device as a builder renders it: paths as given, objects as major:minor. */
export function deviceToken(ref: DeviceRef): string {
  return typeof ref === 'string' ? ref : `${ref.major}:${ref.minor}`;
}

/** A device as the kernel prints it (major:minor), resolving paths with `resolve`. */
export function deviceNumbers(ref: DeviceRef, target: string, field: string, resolve: DeviceResolver | undefined): string {
  if (typeof ref !== 'string') return `${ref.major}:${ref.minor}`;
  const m = MAJOR_MINOR.exec(ref);
  if (m) return `${Number(m[1])}:${Number(m[2])}`;
  if (!resolve) throw new DmTargetError('UNRESOLVED_DEVICE', target, `no resolver for device path ${ref}`, field);
  let d: { major: number; minor: number };
  try {
    d = resolve(ref);
  } catch (e) {
    throw new DmTargetError('UNRESOLVED_DEVICE', target, `cannot resolve ${ref}: ${(e as Error).message}`, field);
  }
  return `${d.major}:${d.minor}`;
}

/**
 * Bytes of a key, digest or salt: any `Uint8Array`, a `Buffer` included. An interface rather
 * than `Uint8Array` itself so that the shipped declarations name it: TypeScript ≥ 5.7 spells an
 * expanded `Uint8Array` out as `Uint8Array<ArrayBufferLike>` (or `<ArrayBuffer>` when inferred
 * from the constructor), which TypeScript before 5.7 cannot read (TS2315, "Uint8Array is not
 * generic"; the consumer test compiles against the tarball with 5.5).
 */
export interface Bytes extends Uint8Array {}

// ------------------------------------------------------------------ tokens ---

/** Key bytes inside a rendered line: written as lowercase hex straight into the params bytes. */
export class Secret {
  constructor(readonly bytes: Uint8Array) {}
  /** Never print key material by accident. */
  toString(): string { return '<secret>'; }
  /** Never the secret: `<secret>`. */
  toJSON(): string { return '<secret>'; }
}
/** A piece of a rendered argument: text, or key bytes written as hex ({@link Secret}). */
export type Piece = string | Secret;
/** One argument; an array is one argument glued from pieces (`internal_hash:crc32c:<key>`). */
export type Token = Piece | readonly Piece[];

/**
 * How a unit renders devices and keys: for the kernel (build) or for comparison (normalise).
 * A unit made with `defineTarget` receives it in `render(input, ctx)`.
 */
export interface RenderContext {
  /** A device (path or major:minor) as the kernel prints it (`major:minor`); `field` names it in errors. */
  dev(ref: DeviceRef, field: string): string;
  /** Key bytes as one piece of an argument: a {@link Secret} for the kernel, a placeholder for comparison. */
  key(bytes: Uint8Array): Piece;
}

const HEX = '0123456789abcdef';

export function hasSecret(tokens: readonly Token[]): boolean {
  for (const t of tokens) {
    if (t instanceof Secret) return true;
    if (Array.isArray(t) && t.some((p) => p instanceof Secret)) return true;
  }
  return false;
}

function pieces(tokens: readonly Token[]): Piece[] {
  const out: Piece[] = [];
  tokens.forEach((t, i) => {
    if (i > 0) out.push(' ');
    if (Array.isArray(t)) out.push(...(t as readonly Piece[]));
    else out.push(t as Piece);
  });
  return out;
}

/** Joins tokens into the params string (secrets must have been rendered as strings). */
export function tokensToString(tokens: readonly Token[]): string {
  return pieces(tokens).map((p) => (p instanceof Secret ? hex(p.bytes) : p)).join('');
}

/** Joins tokens into params bytes; key bytes are hex-encoded in place, never via a string. */
export function tokensToBytes(tokens: readonly Token[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = pieces(tokens).map((p) => (p instanceof Secret ? p : enc.encode(p)));
  let n = 0;
  for (const p of parts) n += p instanceof Secret ? p.bytes.length * 2 : p.length;
  const out = madeCopy(new Uint8Array(n));
  let j = 0;
  for (const p of parts) {
    if (p instanceof Secret) {
      for (const b of p.bytes) {
        out[j++] = HEX.charCodeAt(b >> 4);
        out[j++] = HEX.charCodeAt(b & 15);
      }
    } else {
      out.set(p, j);
      j += p.length;
    }
  }
  return out;
}

export function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b >> 4]! + HEX[b & 15]!;
  return s;
}

export function unhex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A key as parsed output shows it unless `showKeys`: only its size survives. */
export interface RedactedKey {
  readonly redacted: true;
  /** The key's length in bytes. */
  readonly sizeBytes: number;
}

// ------------------------------------------------------------------ cursor ---

const DEC = /^\d+$/;

/** Reads the whitespace-separated fields of a table or status line, with typed errors. */
export class Cursor {
  #i = 0;
  readonly tokens: readonly string[];

  constructor(readonly target: string, text: string, readonly sensitive = false) {
    const t = text.trim();
    this.tokens = t === '' ? [] : t.split(/\s+/);
  }

  /** Whether every word was taken. */
  get done(): boolean { return this.#i >= this.tokens.length; }
  /** How many words are left. */
  get remaining(): number { return this.tokens.length - this.#i; }
  /** The next word, not taken. */
  peek(): string | undefined { return this.tokens[this.#i]; }

  /** Throws a {@link DmTargetParseError} about the current position. */
  fail(code: 'MISSING_FIELD' | 'BAD_NUMBER' | 'BAD_DEVICE' | 'BAD_VALUE' | 'TRAILING_FIELDS', field: string, what: string, token?: string): never {
    const shown = token === undefined || this.sensitive ? '' : `: ${JSON.stringify(token.length > 40 ? token.slice(0, 37) + '...' : token)}`;
    throw new DmTargetParseError(code, this.target, `${field}: ${what}${shown}`, field);
  }

  /** Takes the next word; fails with MISSING_FIELD naming `field` if there is none. */
  next(field: string): string {
    const t = this.tokens[this.#i];
    if (t === undefined) this.fail('MISSING_FIELD', field, 'missing');
    this.#i++;
    return t;
  }

  /** A non-negative integer that fits `max` (default u32). */
  num(field: string, max = 0xffffffff): number {
    const t = this.next(field);
    if (!DEC.test(t) || t.length > 16) this.fail('BAD_NUMBER', field, 'not a number', t);
    const v = Number(t);
    if (v > max) this.fail('BAD_NUMBER', field, `above ${max}`, t);
    return v;
  }

  /** A signed integer (error indicators). */
  int(field: string): number {
    const t = this.next(field);
    if (!/^-?\d{1,15}$/.test(t)) this.fail('BAD_NUMBER', field, 'not an integer', t);
    return Number(t);
  }

  /** A u64 (sectors, counters). */
  big(field: string): bigint {
    const t = this.next(field);
    if (!DEC.test(t) || t.length > 20) this.fail('BAD_NUMBER', field, 'not a number', t);
    const v = BigInt(t);
    if (v > 0xffffffffffffffffn) this.fail('BAD_NUMBER', field, 'above 2^64-1', t);
    return v;
  }

  /** `<used>/<total>`. */
  ratio(field: string): { used: bigint; total: bigint } {
    const t = this.next(field);
    const m = /^(\d{1,20})\/(\d{1,20})$/.exec(t);
    if (!m) this.fail('BAD_VALUE', field, 'not <used>/<total>', t);
    return { used: BigInt(m[1]!), total: BigInt(m[2]!) };
  }

  /** A device as the kernel prints it: major:minor (normalised, leading zeros dropped). */
  dev(field: string): string {
    const t = this.next(field);
    const m = MAJOR_MINOR.exec(t);
    if (!m) this.fail('BAD_DEVICE', field, 'not major:minor', t);
    return `${Number(m[1])}:${Number(m[2])}`;
  }

  /** One of the given words. */
  oneOf<T extends string>(field: string, values: readonly T[]): T {
    const t = this.next(field);
    if (!(values as readonly string[]).includes(t)) this.fail('BAD_VALUE', field, `expected ${values.join('|')}`, t);
    return t as T;
  }

  /** `<#n> <arg>{n}` as used for feature and option lists. */
  counted(field: string, max = 1024): string[] {
    const n = this.num(`${field}.count`, max);
    if (n > this.remaining) this.fail('MISSING_FIELD', field, `count ${n} exceeds the ${this.remaining} remaining fields`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.next(`${field}[${i}]`));
    return out;
  }

  /** Everything left. */
  rest(): string[] {
    const r = this.tokens.slice(this.#i);
    this.#i = this.tokens.length;
    return r;
  }

  /** For table lines: nothing may be left over. */
  end(): void {
    if (!this.done) this.fail('TRAILING_FIELDS', 'params', `${this.remaining} unexpected trailing field(s)`, this.peek());
  }
}

/** `key:value` option word → [key, value] (value may itself contain ':'). */
export function splitOption(word: string): [string, string | undefined] {
  const i = word.indexOf(':');
  return i < 0 ? [word, undefined] : [word.slice(0, i), word.slice(i + 1)];
}

/** Parses a decimal option value, failing with the option's name. */
export function optNum(c: Cursor, field: string, v: string | undefined, max = 0xffffffff): number {
  if (v === undefined || !DEC.test(v) || v.length > 16 || Number(v) > max) c.fail('BAD_NUMBER', field, 'not a number in range', v);
  return Number(v);
}

export function optBig(c: Cursor, field: string, v: string | undefined): bigint {
  if (v === undefined || !DEC.test(v) || v.length > 20 || BigInt(v) > 0xffffffffffffffffn) c.fail('BAD_NUMBER', field, 'not a number in range', v);
  return BigInt(v);
}

/** Status lines: any fields a newer kernel appends, kept verbatim. */
export interface WithExtra { readonly extra: readonly string[] }


/** An array argument without holes (a hole would be skipped by map/some/every). */
export function denseArray(value: unknown, target: string, field: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new DmTargetError('INVALID_INPUT', target, `${field}: expected an array`, field);
  for (let i = 0; i < value.length; i++) if (!(i in value)) throw new DmTargetError('INVALID_INPUT', target, `${field}[${i}]: a hole in the array`, `${field}[${i}]`);
  return value;
}

