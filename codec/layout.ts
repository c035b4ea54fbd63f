/**
 * The layout language: a C struct declared once as data, compiled once into straight-line
 * DataView encode/decode functions (binary-parser style). Sizes, offsets and alignment
 * are derived with C's rules, so a declaration reads like the kernel header it mirrors:
 *
 *   struct('dm_target_spec', {
 *     sector_start: u64,
 *     length: u64,
 *     status: s32,
 *     next: u32,
 *     target_type: char(16),
 *   })
 *
 * Types: u8 u16 u32 s32 (numbers), u64 (bigint on decode; number or bigint on encode),
 * char(N) (a NUL-padded string of at most N-1 UTF-8 bytes, or raw bytes on encode; decode
 * never reads byte N-1), array(T, N), pad(N)
 * (bytes that are zero on encode and skipped on decode) and flex (a C flexible array
 * member `char x[]`: size 0, marks where variable data starts).
 *
 * A little over 500 lines: the language, its generated compiler, its interpreted twin (the
 * same semantics, tested against each other) and the template encoder all read one model of
 * placed fields; apart, that model would have to be exported from the codec.
 */
import { DmCodecError } from './errors.js';
import { resolveEndian, type EndianOption, type Endianness } from './endian.js';
import { findNul, utf8Decode, writeCharField } from './text.js';
import { remembersStrings } from './char-memo.js';

/** The integer scalar types of the dm structs. */
export type ScalarName = 'u8' | 'u16' | 'u32' | 's32' | 'u64';

/** An integer field of a struct layout. */
export interface ScalarType<S extends ScalarName = ScalarName> { readonly kind: 'scalar'; readonly scalar: S }
/** A fixed-length, NUL-padded char array in a struct layout. */
export interface CharType { readonly kind: 'char'; readonly length: number }
/** A fixed-length array of scalars in a struct layout. */
export interface ArrayType<S extends ScalarName = ScalarName> { readonly kind: 'array'; readonly of: ScalarType<S>; readonly length: number }
/** Padding bytes in a struct layout (not decoded, written as zero). */
export interface PadType { readonly kind: 'pad'; readonly length: number }
/** A flexible array member (C `type name[]`) at the end of a struct. */
export interface FlexType { readonly kind: 'flex'; readonly of: ScalarName | 'char' }
/** Any field of a struct layout. */
export type FieldType = ScalarType | CharType | ArrayType | PadType | FlexType;

/** An unsigned 8-bit field. */
export const u8: ScalarType<'u8'> = { kind: 'scalar', scalar: 'u8' };
/** An unsigned 16-bit field. */
export const u16: ScalarType<'u16'> = { kind: 'scalar', scalar: 'u16' };
/** An unsigned 32-bit field. */
export const u32: ScalarType<'u32'> = { kind: 'scalar', scalar: 'u32' };
/** A signed 32-bit field. */
export const s32: ScalarType<'s32'> = { kind: 'scalar', scalar: 's32' };
/** An unsigned 64-bit field (decoded as `bigint`). */
export const u64: ScalarType<'u64'> = { kind: 'scalar', scalar: 'u64' };
/** A C flexible array member of chars (`char name[]`). */
export const flex: FlexType = { kind: 'flex', of: 'char' };
/** A C flexible array member of scalars (`__u64 dev[]`): aligned like its element. */
export function flexOf(of: ScalarType): FlexType { return { kind: 'flex', of: of.scalar }; }
/** A char array field of `length` bytes. */
export function char(length: number): CharType { return { kind: 'char', length: positive(length) }; }
/** A field of `length` scalars. */
export function array<S extends ScalarName>(of: ScalarType<S>, length: number): ArrayType<S> {
  return { kind: 'array', of, length: positive(length) };
}
/** A padding field of `length` bytes. */
export function pad(length: number): PadType { return { kind: 'pad', length: positive(length) }; }

function positive(n: number): number {
  if (!Number.isInteger(n) || n <= 0) throw new DmCodecError('INVALID_ARGUMENT', `layout length must be a positive integer, got ${n}`);
  return n;
}

const SCALAR_SIZE: Record<ScalarName, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8 };

/** Value type of one field, as decoded. */
export type FieldValue<T> =
  T extends ScalarType<'u64'> ? bigint :
  T extends ScalarType ? number :
  T extends CharType ? string :
  T extends ArrayType<'u64'> ? bigint[] :
  T extends ArrayType ? number[] : never;

/** Value type of one field, as accepted by encode (u64 also takes a safe integer number). */
export type FieldInput<T> =
  T extends ScalarType<'u64'> ? bigint | number :
  T extends ArrayType<'u64'> ? ReadonlyArray<bigint | number> :
  T extends ArrayType ? ReadonlyArray<number> :
  T extends CharType ? string | Uint8Array : FieldValue<T>;

/** The fields of a struct layout, in declaration order. */
export type Fields = Record<string, FieldType>;
/** The keys of `F` that carry values (padding and flexible arrays left out); not exported (docs/api-reference.md). */
type ValueKeys<F extends Fields> = { [K in keyof F]: F[K] extends PadType | FlexType ? never : K }[keyof F];
/** What decoding a struct of these fields gives (padding left out). */
export type Decoded<F extends Fields> = { [K in ValueKeys<F>]: FieldValue<F[K]> };
/** What encoding a struct of these fields takes (padding left out). */
export type EncodeInput<F extends Fields> = { [K in ValueKeys<F>]: FieldInput<F[K]> };

/** One field with its derived placement. */
export interface PlacedField {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
  readonly size: number;
  readonly align: number;
}

/** A declared struct with C's layout derived: offsets, size (tail-padded) and alignment. */
export interface Layout<F extends Fields = Fields> {
  readonly name: string;
  readonly fields: readonly PlacedField[];
  readonly declared: F;
  readonly size: number;
  readonly align: number;
  /** offsetof() by field name. */
  readonly offsetOf: { readonly [K in keyof F]: number };
}

function typeSizeAlign(t: FieldType): [number, number] {
  switch (t.kind) {
    case 'scalar': return [SCALAR_SIZE[t.scalar], SCALAR_SIZE[t.scalar]];
    case 'array': return [SCALAR_SIZE[t.of.scalar] * t.length, SCALAR_SIZE[t.of.scalar]];
    case 'char': return [t.length, 1];
    case 'pad': return [t.length, 1];
    case 'flex': return [0, t.of === 'char' ? 1 : SCALAR_SIZE[t.of]];
  }
}

/**
 * Declares a struct. `options.align` raises the struct's alignment (as `__aligned__` would).
 * Derives every offset the way a C compiler does for these types.
 */
export function struct<F extends Fields>(name: string, fields: F, options: { align?: number } = {}): Layout<F> {
  const placed: PlacedField[] = [];
  const offsetOf: Record<string, number> = {};
  let offset = 0;
  let align = options.align ?? 1;
  const names = Object.keys(fields);
  names.forEach((fieldName, i) => {
    const type = fields[fieldName]!;
    if (type.kind === 'flex' && i !== names.length - 1) {
      throw new DmCodecError('INVALID_ARGUMENT', `${name}.${fieldName}: a flexible array must be the last field`);
    }
    const [size, a] = typeSizeAlign(type);
    offset = alignUp(offset, a);
    placed.push({ name: fieldName, type, offset, size, align: a });
    offsetOf[fieldName] = offset;
    offset += size;
    align = Math.max(align, a);
  });
  return {
    name,
    fields: placed,
    declared: fields,
    size: alignUp(offset, align),
    align,
    offsetOf: offsetOf as Layout<F>['offsetOf'],
  };
}

/** Rounds `n` up to a multiple of `a`. */
export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** A compiled layout: encode/decode at an offset of a buffer, in a fixed byte order. */
export interface StructCodec<F extends Fields = Fields> {
  readonly layout: Layout<F>;
  readonly endian: Endianness;
  readonly size: number;
  /** Decodes the struct at bytes[offsetBytes]. The caller guarantees offsetBytes + size <= length. */
  decode(view: DataView, bytes: Uint8Array, offsetBytes: number): Decoded<F>;
  /** Encodes every field (pad bytes zeroed, strings NUL-padded) at bytes[offsetBytes]. Throws DmCodecError on a bad value; the bytes may then be partly written. */
  encode(view: DataView, bytes: Uint8Array, offsetBytes: number, value: EncodeInput<F>): void;
  /**
   * A template encoder for structs whose fields are mostly the same from call to call: the
   * `fixed` fields are encoded once (by `encode`) into a template, and each call copies the
   * template and writes only the other fields, and of those only the ones not zero or empty.
   * The bytes are exactly what `encode` writes for the same values. The patched fields may be
   * scalars and char arrays (an array field must be fixed). Throws DmCodecError when a fixed
   * value is bad, as `encode` would.
   */
  template<K extends keyof EncodeInput<F>>(fixed: Pick<EncodeInput<F>, K>): TemplateEncoder<Omit<EncodeInput<F>, K>>;
  /**
   * A decoder of only the named fields: straight-line code (or closures, as `decode`) over
   * the same placed fields, so it reads exactly what `decode` reads for those fields and
   * nothing else; its char fields have memos of their own. For a hot reply whose reader needs
   * a few fields of a large struct (a device reply's header: codec/commands.ts). Throws
   * DmCodecError for a name that is not a value field of the layout.
   */
  pick<K extends keyof Decoded<F> & string>(names: readonly K[]): (view: DataView, bytes: Uint8Array, offsetBytes: number) => Pick<Decoded<F>, K>;
}

/** The encoder `StructCodec.template` makes: the template's fixed fields are already written. */
export interface TemplateEncoder<P> {
  /**
   * Writes the struct at bytes[offsetBytes] (`view` over `bytes`; offsetBytes + size <= length)
   * and returns true. Returns false, having written nothing, when a scalar value is not one
   * its field holds: the caller's general `encode` then throws its own error. A bad char
   * field throws the DmCodecError `encode` throws for it: every scalar is checked before a
   * byte is written and the chars are written in field order, so the first bad field in
   * declaration order is the one that throws, as in `encode`.
   */
  encode(view: DataView, bytes: Uint8Array, offsetBytes: number, value: P): boolean;
}

/** The last string a char field decoded, and its `len` bytes (len -1: none yet). */
interface CharMemo { len: number; readonly bytes: Uint8Array; str: string }

function charMemo(n: number): CharMemo {
  return { len: -1, bytes: new Uint8Array(n - 1), str: '' };
}

/** Helpers the generated code calls; kept tiny so the hot paths stay monomorphic. */
const rt = {
  /**
   * A char[n] field holds at most n-1 meaningful bytes: the kernel writes `name`/`uuid`
   * with strscpy and `target_type` with strncpy(…, n-1) before a 2023 change (Debian's 6.1), which leaves
   * byte n-1 as the caller's buffer had it (docs/kernel-facts.md, "Stale bytes"). So the
   * last byte is never read, whatever it holds.
   *
   * Each char field of the package's own records (codec/char-memo.ts) keeps the last string it decoded and its bytes: the
   * same bytes again (the same device's name and uuid, call after call; the same target type
   * in every line of a table) give that string back without a TextDecoder call, which with
   * its subarray was a quarter of an infoSync's own cost (bench/call-path.bench.ts; the
   * figure is in bench/README.md). A string is a pure function of its bytes, so what comes back
   * is exactly what decoding would give (spec/codec/char-memo.spec.ts).
   */
  readChar(bytes: Uint8Array, off: number, n: number, memo: CharMemo | undefined): string {
    const lim = off + n - 1;
    if (memo === undefined) {
      const nul = findNul(bytes, off, lim);
      return utf8Decode(bytes, off, nul < 0 ? lim : nul);
    }
    // One pass: find the NUL and compare with the remembered bytes on the way. Bytes past
    // memo.len in memo.bytes are an older, longer string's: equal lengths are required too.
    const last = memo.bytes;
    let end = off;
    let same = true;
    for (; end < lim; end++) {
      const c = bytes[end];
      if (c === 0) break;
      if (same && c !== last[end - off]) same = false;
    }
    const len = end - off;
    if (same && len === memo.len) return memo.str;
    const s = utf8Decode(bytes, off, end);
    for (let i = 0; i < len; i++) last[i] = bytes[off + i]!;
    memo.len = len;
    memo.str = s;
    return s;
  },
  /** A char[n] field from a string (UTF-8) or raw bytes, NUL-padded; codec/text.ts. */
  writeChar: writeCharField,
  setU64(view: DataView, off: number, v: unknown, le: boolean, field: string): void {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v) || v < 0) throw badInt(field, v, 'u64');
      const lo = v % 0x100000000;
      const hi = (v - lo) / 0x100000000;
      view.setUint32(off + (le ? 0 : 4), lo, le);
      view.setUint32(off + (le ? 4 : 0), hi, le);
    } else if (typeof v === 'bigint') {
      if (v < 0n || v > 0xffffffffffffffffn) throw badInt(field, v, 'u64');
      view.setBigUint64(off, v, le);
    } else {
      throw badInt(field, v, 'u64');
    }
  },
  badInt,
  checkArray(v: unknown, n: number, field: string): void {
    if (!Array.isArray(v) || v.length !== n) {
      throw new DmCodecError('INVALID_ARGUMENT', `${field} must be an array of ${n}`, field);
    }
  },
};

function badInt(field: string, v: unknown, type: string): DmCodecError {
  return new DmCodecError('INVALID_INTEGER', `${field} must be a ${type} integer, got ${String(v)}`, field);
}

const GETTER: Record<ScalarName, string> = { u8: 'getUint8', u16: 'getUint16', u32: 'getUint32', s32: 'getInt32', u64: 'getBigUint64' };
const SETTER: Record<Exclude<ScalarName, 'u64'>, string> = { u8: 'setUint8', u16: 'setUint16', u32: 'setUint32', s32: 'setInt32' };
/** An expression that is true when `v` is NOT a valid value of the scalar type. */
const INVALID: Record<Exclude<ScalarName, 'u64'>, (v: string) => string> = {
  u8: (v) => `(typeof ${v} !== 'number' || (${v} & 0xff) !== ${v})`,
  u16: (v) => `(typeof ${v} !== 'number' || (${v} & 0xffff) !== ${v})`,
  u32: (v) => `(typeof ${v} !== 'number' || (${v} >>> 0) !== ${v})`,
  s32: (v) => `(typeof ${v} !== 'number' || (${v} | 0) !== ${v})`,
};

function scalarRead(s: ScalarName, off: string, le: string): string {
  return s === 'u8' ? `view.getUint8(${off})` : `view.${GETTER[s]}(${off}, ${le})`;
}

function scalarWrite(s: ScalarName, off: string, v: string, le: string, field: string): string {
  if (s === 'u64') return `rt.setU64(view, ${off}, ${v}, ${le}, ${JSON.stringify(field)});`;
  const set = s === 'u8' ? `view.setUint8(${off}, ${v});` : `view.${SETTER[s]}(${off}, ${v}, ${le});`;
  return `if (${INVALID[s](v)}) throw rt.badInt(${JSON.stringify(field)}, ${v}, '${s}'); ${set}`;
}

function generate(layout: Layout, le: boolean, remember = remembersStrings(layout)): { decode: string; encode: string; memos: (CharMemo | undefined)[] } {
  const L = String(le);
  const memos: (CharMemo | undefined)[] = [];
  const parts: string[] = [];
  const enc: string[] = [];
  for (const f of layout.fields) {
    const key = JSON.stringify(f.name);
    const qualified = `${layout.name}.${f.name}`;
    const v = `value[${key}]`;
    const at = (k: number) => `o + ${f.offset + k}`;
    switch (f.type.kind) {
      case 'scalar':
        parts.push(`${key}: ${scalarRead(f.type.scalar, at(0), L)}`);
        enc.push(scalarWrite(f.type.scalar, at(0), v, L, qualified));
        break;
      case 'array': {
        const es = SCALAR_SIZE[f.type.of.scalar];
        const items: string[] = [];
        enc.push(`rt.checkArray(${v}, ${f.type.length}, ${JSON.stringify(qualified)});`);
        for (let i = 0; i < f.type.length; i++) {
          items.push(scalarRead(f.type.of.scalar, at(i * es), L));
          enc.push(scalarWrite(f.type.of.scalar, at(i * es), `${v}[${i}]`, L, `${qualified}[${i}]`));
        }
        parts.push(`${key}: [${items.join(', ')}]`);
        break;
      }
      case 'char':
        parts.push(`${key}: rt.readChar(bytes, ${at(0)}, ${f.type.length}, memo[${memos.length}])`);
        memos.push(remember ? charMemo(f.type.length) : undefined);
        enc.push(`rt.writeChar(bytes, ${at(0)}, ${v}, ${f.type.length}, ${JSON.stringify(qualified)});`);
        break;
      case 'pad':
        enc.push(`bytes.fill(0, ${at(0)}, ${at(f.size)});`);
        break;
      case 'flex':
        break;
    }
  }
  // Tail padding between the last field and sizeof() is zeroed too: byte-exact output.
  const last = layout.fields[layout.fields.length - 1];
  const end = last ? last.offset + last.size : 0;
  if (end < layout.size) enc.push(`bytes.fill(0, o + ${end}, o + ${layout.size});`);
  // Gaps between fields (C's implicit padding) are zeroed as well.
  let cursor = 0;
  for (const f of layout.fields) {
    if (f.offset > cursor) enc.push(`bytes.fill(0, o + ${cursor}, o + ${f.offset});`);
    cursor = f.offset + f.size;
  }
  return { decode: `return { ${parts.join(',\n  ')} };`, encode: enc.join('\n'), memos };
}

let codegenAllowed: boolean | undefined;
/** Whether `new Function` works here (it does not under a strict CSP or on some edge runtimes). */
function canGenerate(): boolean {
  if (codegenAllowed === undefined) {
    try { codegenAllowed = new Function('return 1')() === 1; } catch { codegenAllowed = false; }
  }
  return codegenAllowed;
}

/** Options of `compile`: the byte order of the generated code. */
export interface CompileOptions {
  endian?: EndianOption;
  /** 'auto' (default) generates code when the runtime allows it; 'interpret' forces closures. */
  mode?: 'auto' | 'interpret';
}

/** Compiles a layout once; the result is reused for every encode/decode. */
export function compile<F extends Fields>(layout: Layout<F>, options: CompileOptions = {}): StructCodec<F> {
  const endian = resolveEndian(options.endian);
  const le = endian === 'little';
  let decode: StructCodec<F>['decode'];
  let encode: StructCodec<F>['encode'];
  if (options.mode !== 'interpret' && canGenerate()) {
    const src = generate(layout, le);
    decode = new Function('rt', 'memo', `return function decode_${layout.name}(view, bytes, o) {\n${src.decode}\n}`)(rt, src.memos);
    encode = new Function('rt', `return function encode_${layout.name}(view, bytes, o, value) {\n${src.encode}\n}`)(rt);
  } else {
    ({ decode, encode } = interpret(layout, le));
  }
  const generated = options.mode !== 'interpret' && canGenerate();
  const template = <K extends keyof EncodeInput<F>>(fixed: Pick<EncodeInput<F>, K>): TemplateEncoder<Omit<EncodeInput<F>, K>> =>
    templateEncoder(layout, le, encode as StructCodec['encode'], fixed as Record<string, unknown>, generated) as unknown as TemplateEncoder<Omit<EncodeInput<F>, K>>;
  const pick = <K extends keyof Decoded<F> & string>(names: readonly K[]) =>
    pickDecoder(layout, le, names, generated) as (view: DataView, bytes: Uint8Array, offsetBytes: number) => Pick<Decoded<F>, K>;
  return { layout, endian, size: layout.size, decode, encode, template, pick };
}

/**
 * Builds `StructCodec.pick`: the layout with only the named fields kept (same placements),
 * run through the same generator or interpreter as `decode`. Pad and flex fields, and
 * names the layout lacks, are refused.
 */
function pickDecoder(layout: Layout, le: boolean, names: readonly string[], generated: boolean): StructCodec['decode'] {
  const want = new Set(names);
  for (const n of want) {
    const f = layout.fields.find((x) => x.name === n);
    if (!f || f.type.kind === 'pad' || f.type.kind === 'flex') {
      throw new DmCodecError('INVALID_ARGUMENT', `${layout.name} has no value field ${JSON.stringify(n)} to pick`, `${layout.name}.${n}`);
    }
  }
  const sub: Layout = { ...layout, name: `${layout.name}_pick`, fields: layout.fields.filter((f) => want.has(f.name)) };
  const remember = remembersStrings(layout);
  if (!generated) return interpret(sub, le, remember).decode;
  const src = generate(sub, le, remember);
  return new Function('rt', 'memo', `return function decode_${sub.name}(view, bytes, o) {\n${src.decode}\n}`)(rt, src.memos);
}

const U64_MAX = 0xffffffffffffffffn;

/** A field the template encoder writes per call: a scalar or a char array. */
type Patched = PlacedField & { readonly type: ScalarType | CharType };

/**
 * Builds `StructCodec.template`: the template is `encode`'s own output for the fixed values
 * with every patched field zero or empty, so a patched field left at zero or empty needs no
 * write, and the bytes match `encode`'s by construction. The per-call function is generated
 * code where the runtime allows it (the same straight-line form as `encode`), else closures.
 */
function templateEncoder(
  layout: Layout, le: boolean, encode: StructCodec['encode'], fixed: Record<string, unknown>, generated: boolean,
): TemplateEncoder<Record<string, unknown>> {
  const patched: Patched[] = [];
  const base: Record<string, unknown> = {};
  for (const f of layout.fields) {
    const t = f.type;
    if (t.kind === 'pad' || t.kind === 'flex') continue;
    if (Object.prototype.hasOwnProperty.call(fixed, f.name)) { base[f.name] = fixed[f.name]; continue; }
    if (t.kind === 'array') throw new DmCodecError('INVALID_ARGUMENT', `${layout.name}.${f.name}: a template patches scalars and char arrays; an array must be fixed`, `${layout.name}.${f.name}`);
    base[f.name] = t.kind === 'char' ? '' : t.scalar === 'u64' ? 0n : 0;
    patched.push(f as Patched);
  }
  const tpl = new Uint8Array(layout.size);
  encode(viewOf(tpl), tpl, 0, base as never);
  const scalars = patched.filter((f) => f.type.kind === 'scalar');
  const chars = patched.filter((f) => f.type.kind === 'char');

  if (generated) {
    const L = String(le);
    const src: string[] = [];
    const local = new Map(patched.map((f, i) => [f, `v${i}`]));
    for (const f of patched) src.push(`const ${local.get(f)} = value[${JSON.stringify(f.name)}];`);
    for (const f of scalars) {
      const v = local.get(f)!;
      const s = (f.type as ScalarType).scalar;
      src.push(s === 'u64'
        ? `if (typeof ${v} === 'bigint' ? (${v} < 0n || ${v} > ${U64_MAX}n) : !(typeof ${v} === 'number' && Number.isSafeInteger(${v}) && ${v} >= 0)) return false;`
        : `if (${INVALID[s](v)}) return false;`);
    }
    src.push('bytes.set(tpl, o);');
    for (const f of scalars) {
      const v = local.get(f)!;
      const s = (f.type as ScalarType).scalar;
      const at = `o + ${f.offset}`;
      if (s === 'u64') {
        src.push(`if (typeof ${v} === 'bigint') { if (${v} !== 0n) view.setBigUint64(${at}, ${v}, ${L}); } else if (${v} !== 0) rt.setU64(view, ${at}, ${v}, ${L}, ${JSON.stringify(`${layout.name}.${f.name}`)});`);
      } else {
        src.push(`if (${v} !== 0) ${s === 'u8' ? `view.setUint8(${at}, ${v});` : `view.${SETTER[s]}(${at}, ${v}, ${L});`}`);
      }
    }
    for (const f of chars) {
      const v = local.get(f)!;
      src.push(`if (${v} !== '') rt.writeChar(bytes, o + ${f.offset}, ${v}, ${(f.type as CharType).length}, ${JSON.stringify(`${layout.name}.${f.name}`)});`);
    }
    src.push('return true;');
    const fn = new Function('rt', 'tpl', `return function template_${layout.name}(view, bytes, o, value) {\n${src.join('\n')}\n}`)(rt, tpl);
    return { encode: fn };
  }

  const valid: Record<ScalarName, (v: unknown) => boolean> = {
    u8: (v) => typeof v === 'number' && (v & 0xff) === v,
    u16: (v) => typeof v === 'number' && (v & 0xffff) === v,
    u32: (v) => typeof v === 'number' && v >>> 0 === v,
    s32: (v) => typeof v === 'number' && (v | 0) === v,
    u64: (v) => typeof v === 'bigint' ? v >= 0n && v <= U64_MAX : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0,
  };
  const checks = scalars.map((f) => [f.name, valid[(f.type as ScalarType).scalar]] as const);
  const writes = scalars.map((f) => {
    const s = (f.type as ScalarType).scalar;
    const field = `${layout.name}.${f.name}`;
    return (view: DataView, o: number, v: unknown): void => {
      if (v === 0 || v === 0n) return;
      if (s === 'u64') rt.setU64(view, o + f.offset, v, le, field);
      else if (s === 'u8') view.setUint8(o + f.offset, v as number);
      else if (s === 'u16') view.setUint16(o + f.offset, v as number, le);
      else if (s === 'u32') view.setUint32(o + f.offset, v as number, le);
      else view.setInt32(o + f.offset, v as number, le);
    };
  });
  return {
    encode(view, bytes, o, value) {
      for (const [name, ok] of checks) if (!ok(value[name])) return false;
      bytes.set(tpl, o);
      scalars.forEach((f, i) => writes[i]!(view, o, value[f.name]));
      for (const f of chars) {
        const v = value[f.name];
        if (v !== '') rt.writeChar(bytes, o + f.offset, v, (f.type as CharType).length, `${layout.name}.${f.name}`);
      }
      return true;
    },
  };
}

/** The same semantics as the generated code, built from closures (for runtimes without eval). */
function interpret<F extends Fields>(layout: Layout<F>, le: boolean, remember = remembersStrings(layout)): Pick<StructCodec<F>, 'decode' | 'encode'> {
  type R = (view: DataView, bytes: Uint8Array, o: number) => unknown;
  type W = (view: DataView, bytes: Uint8Array, o: number, v: unknown) => void;
  const readScalar = (s: ScalarName, off: number): R =>
    s === 'u64' ? (view, _b, o) => view.getBigUint64(o + off, le)
      : s === 'u8' ? (view, _b, o) => view.getUint8(o + off)
        : s === 'u16' ? (view, _b, o) => view.getUint16(o + off, le)
          : s === 'u32' ? (view, _b, o) => view.getUint32(o + off, le)
            : (view, _b, o) => view.getInt32(o + off, le);
  const writeScalar = (s: ScalarName, off: number, field: string): W => {
    if (s === 'u64') return (view, _b, o, v) => rt.setU64(view, o + off, v, le, field);
    const ok: Record<string, (v: number) => boolean> = {
      u8: (v) => (v & 0xff) === v, u16: (v) => (v & 0xffff) === v, u32: (v) => (v >>> 0) === v, s32: (v) => (v | 0) === v,
    };
    const check = ok[s]!;
    return (view, _b, o, v) => {
      if (typeof v !== 'number' || !check(v)) throw rt.badInt(field, v, s);
      if (s === 'u8') view.setUint8(o + off, v);
      else if (s === 'u16') view.setUint16(o + off, v, le);
      else if (s === 'u32') view.setUint32(o + off, v, le);
      else view.setInt32(o + off, v, le);
    };
  };
  const readers: [string, R][] = [];
  const writers: W[] = [];
  for (const f of layout.fields) {
    const qualified = `${layout.name}.${f.name}`;
    const t = f.type;
    if (t.kind === 'scalar') {
      readers.push([f.name, readScalar(t.scalar, f.offset)]);
      const w = writeScalar(t.scalar, f.offset, qualified);
      writers.push((view, b, o, value) => w(view, b, o, (value as Record<string, unknown>)[f.name]));
    } else if (t.kind === 'array') {
      const es = SCALAR_SIZE[t.of.scalar];
      const rs = Array.from({ length: t.length }, (_, i) => readScalar(t.of.scalar, f.offset + i * es));
      const ws = Array.from({ length: t.length }, (_, i) => writeScalar(t.of.scalar, f.offset + i * es, `${qualified}[${i}]`));
      readers.push([f.name, (view, b, o) => rs.map((r) => r(view, b, o))]);
      writers.push((view, b, o, value) => {
        const arr = (value as Record<string, unknown>)[f.name];
        rt.checkArray(arr, t.length, qualified);
        ws.forEach((w, i) => w(view, b, o, (arr as unknown[])[i]));
      });
    } else if (t.kind === 'char') {
      const memo = remember ? charMemo(t.length) : undefined;
      readers.push([f.name, (_v, b, o) => rt.readChar(b, o + f.offset, t.length, memo)]);
      writers.push((_v, b, o, value) => rt.writeChar(b, o + f.offset, (value as Record<string, unknown>)[f.name], t.length, qualified));
    } else if (t.kind === 'pad') {
      writers.push((_v, b, o) => b.fill(0, o + f.offset, o + f.offset + f.size));
    }
  }
  let cursor = 0;
  for (const f of layout.fields) {
    if (f.offset > cursor) { const a = cursor, z = f.offset; writers.push((_v, b, o) => b.fill(0, o + a, o + z)); }
    cursor = f.offset + f.size;
  }
  if (cursor < layout.size) { const a = cursor; writers.push((_v, b, o) => b.fill(0, o + a, o + layout.size)); }
  return {
    decode: (view, bytes, o) => {
      const out: Record<string, unknown> = {};
      for (const [k, r] of readers) out[k] = r(view, bytes, o);
      return out as Decoded<F>;
    },
    encode: (view, bytes, o, value) => { for (const w of writers) w(view, bytes, o, value); },
  };
}

/** A DataView over exactly the bytes of `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
