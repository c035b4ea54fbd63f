/**
 * The concise device list: dmsetup's `table --concise` / `create --concise` text and the
 * kernel's `dm-mod.create=` boot parameter, which share one grammar
 * (`<name>,<uuid>,<minor>,<flags>,<table>[,<table>+][;<device>…]`) but not its details:
 * dmsetup quotes `,` `;` `\` with a backslash and reads table lines as it reads a table file
 * (`#` starts a comment), while the kernel (drivers/md/dm-init.c) knows no escapes, requires
 * `ro` or `rw`, accepts only six target types and bounds the whole value. The facts and
 * the differences are docs/concise.md.
 *
 * Errors are DmArgumentError, thrown before anything is sent; a table line of a
 * key-carrying target (crypt, integrity) is shown in them masked (docs/secrets.md).
 */
import { describeParams, describeTableLine, type Sectors, type TargetLine } from '../../codec/index.js';
import { DmArgumentError } from '../errors.js';

/** One device of a concise list, as formatted. */
export interface ConciseDevice {
  /** The device name (as the kernel holds it: mangled, where dmsetup mangles). */
  readonly name: string;
  /** Its uuid; undefined or '' for none. */
  readonly uuid?: string | undefined;
  /** The minor number to create it with; undefined for any. */
  readonly minor?: number | undefined;
  /** `ro` when true, `rw` otherwise. */
  readonly readOnly?: boolean | undefined;
  /** Its table; empty for a device without one (dmsetup only: the kernel needs a line). */
  readonly table: readonly ConciseTarget[];
}

/** One table line of a concise device. */
export interface ConciseTarget {
  readonly start: Sectors;
  readonly length: Sectors;
  readonly type: string;
  /** The params as dmsetup passes them to libdevmapper (text only). */
  readonly params: string;
}

/** One device as a concise list describes it. */
export interface ParsedConciseDevice {
  readonly name: string;
  /** undefined when the field was empty. */
  readonly uuid: string | undefined;
  /** undefined when the field was empty. */
  readonly minor: number | undefined;
  readonly readOnly: boolean;
  readonly table: readonly TargetLine[];
}

/** The limits drivers/md/dm-init.c puts on a `dm-mod.create=` argument (docs/concise.md). */
export const dmInitLimits = Object.freeze({
  /** `DM_MAX_DEVICES`: devices in one argument. */
  maxDevices: 256,
  /** `DM_MAX_TARGETS`: table lines of one device. */
  maxTargetsPerDevice: 256,
  /** `DM_MAX_STR_SIZE`: the value must be shorter than this (`strlen >= 4096` is refused). */
  maxValueBytes: 4096,
  /** `dm_allowed_targets`: the only target types it creates. */
  allowedTargets: Object.freeze(['crypt', 'delay', 'linear', 'snapshot-origin', 'striped', 'verity']) as readonly string[],
});
const DM_INIT_MAX_DEVICES = dmInitLimits.maxDevices;
const DM_INIT_MAX_TARGETS = dmInitLimits.maxTargetsPerDevice;
const DM_INIT_MAX_STR_SIZE = dmInitLimits.maxValueBytes;
const DM_INIT_TARGETS = dmInitLimits.allowedTargets;

/** dm-ioctl.h `DM_NAME_LEN` and `DM_UUID_LEN` less the NUL (dm-init.c truncates longer ones silently). */
const NAME_MAX_BYTES = 127;
const UUID_MAX_BYTES = 128;

const utf8 = new TextEncoder();
const isSpace = (c: string | undefined): boolean => c !== undefined && /^[ \t\n\v\f\r]$/.test(c);

/**
 * C's isspace() trimmed from both ends by index: a `\s+$` pattern backtracks quadratically
 * on a long run of whitespace that is not at the end (spec/lib/hostile-regex.spec.ts).
 */
function trimSpace(s: string, ends: 'both' | 'start' | 'end' = 'both'): string {
  let a = 0;
  let b = s.length;
  if (ends !== 'end') while (a < b && isSpace(s[a])) a++;
  if (ends !== 'start') while (b > a && isSpace(s[b - 1])) b--;
  return s.slice(a, b);
}

/** A table line as an error may show it (keys masked). */
function shownLine(t: { start: unknown; length: unknown; type: unknown; params: unknown }): string {
  return `${String(t.start)} ${String(t.length)} ${String(t.type)} ${describeParams(t.type, t.params, false)}`;
}

function fail(argument: string, expected: string, got: string, code: 'INVALID_ARGUMENT' | 'INVALID_TABLE' | 'STRING_TOO_LONG' | 'NAME_TOO_LONG' | 'UUID_TOO_LONG' = 'INVALID_ARGUMENT'): never {
  throw new DmArgumentError(argument, expected, got, code);
}

function sectorsOf(v: unknown, at: string): bigint {
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return fail(at, 'a sector count (a non-negative integer below 2^64)', typeof v === 'string' ? JSON.stringify(v) : typeof v);
}

const DEVICE_KEYS = new Set(['name', 'uuid', 'minor', 'readOnly', 'table']);
const TARGET_KEYS = new Set(['start', 'length', 'type', 'params']);

/** A misspelt key (`readonly`) would silently mean its default: refused, inherited ones too. */
function unknownKeys(o: object, at: string, known: ReadonlySet<string>): void {
  for (const k in o) if (!known.has(k)) fail(`${at}.${k}`, `not set (known: ${[...known].join(', ')})`, 'a value');
}

/** Checks one device's fields (shape, not the kernel's limits). */
function checkDevice(d: unknown, i: number): asserts d is ConciseDevice {
  const at = `devices[${i}]`;
  if (d === null || typeof d !== 'object') fail(at, 'an object { name, uuid?, minor?, readOnly?, table }', String(d));
  const x = d as Record<string, unknown>;
  unknownKeys(x, at, DEVICE_KEYS);
  if (typeof x.name !== 'string' || x.name === '') fail(`${at}.name`, 'a non-empty string', typeof x.name === 'string' ? '""' : typeof x.name);
  if (x.uuid !== undefined && typeof x.uuid !== 'string') fail(`${at}.uuid`, 'a string or undefined', typeof x.uuid);
  if (x.minor !== undefined && !(typeof x.minor === 'number' && Number.isSafeInteger(x.minor) && x.minor >= 0 && x.minor < 2 ** 20)) {
    fail(`${at}.minor`, 'a minor number (0 to 2^20 - 1) or undefined', String(x.minor));
  }
  if (x.readOnly !== undefined && typeof x.readOnly !== 'boolean') fail(`${at}.readOnly`, 'a boolean or undefined', typeof x.readOnly);
  if (!Array.isArray(x.table)) fail(`${at}.table`, 'an array of { start, length, type, params }', typeof x.table);
  // An index loop, not forEach: a hole in the array is an error, not a line left out.
  for (let k = 0; k < x.table.length; k++) {
    const t: unknown = x.table[k];
    const tat = `${at}.table[${k}]`;
    if (t === null || typeof t !== 'object') fail(tat, 'an object { start, length, type, params }', String(t));
    const l = t as Record<string, unknown>;
    unknownKeys(l, tat, TARGET_KEYS);
    sectorsOf(l.start, `${tat}.start`);
    sectorsOf(l.length, `${tat}.length`);
    if (typeof l.type !== 'string' || !/^\S+$/.test(l.type)) fail(`${tat}.type`, 'a target type (one word)', typeof l.type === 'string' ? JSON.stringify(l.type) : typeof l.type);
    if (typeof l.params !== 'string') fail(`${tat}.params`, 'a string (a concise list is text)', l.params instanceof Uint8Array ? 'bytes' : typeof l.params);
  }
}

/** Every device checked, holes included. */
function checkDevices(devices: unknown): asserts devices is readonly ConciseDevice[] {
  if (!Array.isArray(devices)) fail('devices', 'an array of devices', devices === null ? 'null' : typeof devices);
  for (let i = 0; i < devices.length; i++) checkDevice(devices[i], i);
}

/** dmsetup's `_print_string_quoted`: a backslash before each `,`, `;` and `\`. */
export function quoteConcise(text: string): string {
  if (typeof text !== 'string') fail('text', 'a string', typeof text);
  return text.replace(/[,;\\]/g, (c) => `\\${c}`);
}

/**
 * The devices as `dmsetup table --concise` prints them (without its final newline):
 * `name,uuid,minor,ro|rw` then `,<start> <length> <type> <params>` per table line, devices
 * separated by `;`, name, uuid and params quoted as dmsetup quotes them. `dmsetup create
 * --concise` and {@link parseConcise} read it back. A device without a minor gets an empty
 * minor field. The params are written as given: keys included (mask them first with
 * `redactTableParams` for display).
 */
export function formatConcise(devices: readonly ConciseDevice[]): string {
  checkDevices(devices);
  return devices.map((d) => {
    const head = `${quoteConcise(d.name)},${quoteConcise(d.uuid ?? '')},${d.minor ?? ''},${d.readOnly ? 'ro' : 'rw'}`;
    return head + d.table.map((t: ConciseTarget) => `,${sectorsOf(t.start, 'start')} ${sectorsOf(t.length, 'length')} ${t.type} ${quoteConcise(t.params)}`).join('');
  }).join(';');
}

/** The fields of one device as dmsetup's parser left them (unquoted; table lines joined by '\n'). */
interface RawDevice { fields: string[] }

/** The "Parsed N fields" detail of dmsetup's errors, the table masked. */
function parsedDetail(fields: readonly string[]): string {
  const names = ['name', 'uuid', 'minor', 'flags', 'table'];
  return `${fields.length} field(s): ` + fields.map((f, i) => `${names[i]}: ${JSON.stringify(i === 4 ? f.split('\n').map(describeTableLine).join(',') : f)}`).join(' ');
}

/**
 * dmsetup's `_create_concise` scan, character by character: `\` takes the next character
 * as it is, the first four commas of a device end its fields (whitespace after them is
 * skipped), later commas end table lines, `;` (or the last character) ends the device.
 */
function scanConcise(text: string): RawDevice[] {
  const out: RawDevice[] = [];
  let fields: string[] = [''];
  let cur = '';
  let c = 0;
  const chars = [...text];
  while (c < chars.length) {
    const ch = chars[c]!;
    if (ch === '\\') {
      if (c + 1 >= chars.length) {
        fields[fields.length - 1] = cur;
        fail('concise', 'a backslash followed by another character (at the end of the string)', parsedDetail(fields));
      }
      cur += chars[c + 1];
      c += 2;
      continue;
    }
    if (ch === ',' && fields.length < 5) {
      fields[fields.length - 1] = cur;
      fields.push('');
      cur = '';
      c++;
      while (isSpace(chars[c])) c++;
      continue;
    }
    if (ch === ',') { cur += '\n'; c++; continue; }
    if (ch === ';' || c + 1 === chars.length) {
      if (ch !== ';') cur += ch;
      fields[fields.length - 1] = cur;
      c++;
      if (fields.length !== 5) fail('concise', 'five comma-separated fields for each device', parsedDetail(fields));
      out.push({ fields });
      fields = [''];
      cur = '';
      while (isSpace(chars[c])) c++;
      continue;
    }
    cur += ch;
    c++;
  }
  if (cur !== '' || fields.length > 1) {
    fields[fields.length - 1] = cur;
    fail('concise', 'five comma-separated fields for each device (the last entry is incomplete)', parsedDetail(fields));
  }
  return out;
}

/**
 * dmsetup's `_parse_line` on one table line: trimmed, empty or `#` lines skipped,
 * `<start> <length> <type>` then the params up to a `#`.
 */
function parseTableLine(line: string, n: number, at: string): TargetLine | undefined {
  const s = trimSpace(line);
  if (s === '' || s.startsWith('#')) return undefined;
  const m = /^(\d+)[ \t\n\v\f\r]+(\d+)[ \t\n\v\f\r]+(\S+)(?:[ \t\n\v\f\r]+|$)([^]*)$/.exec(s);
  if (!m) fail(`${at}.table`, `table line ${n} as "<start> <length> <type> [<params>]"`, JSON.stringify(describeTableLine(s)), 'INVALID_TABLE');
  const start = BigInt(m[1]!);
  const length = BigInt(m[2]!);
  if (start >= 1n << 64n || length >= 1n << 64n) fail(`${at}.table`, `table line ${n} with sectors below 2^64`, JSON.stringify(describeTableLine(s)), 'INVALID_TABLE');
  const hash = m[4]!.indexOf('#');
  return { start, length, type: m[3]!, params: hash >= 0 ? m[4]!.slice(0, hash) : m[4]! };
}

/**
 * Reads `dmsetup create --concise` input as dmsetup does (its quoting, whitespace and
 * table-line rules; an empty string is no device), into the devices it would create.
 * Unlike dmsetup, a minor that is not a decimal number is an error (dmsetup's `atoi`
 * reads `x` as 0), and so is a flags field other than `ro`, `rw` or empty (as dmsetup).
 */
export function parseConcise(text: string): ParsedConciseDevice[] {
  if (typeof text !== 'string') fail('concise', 'a string', typeof text);
  return scanConcise(text).map(({ fields }, i) => {
    const [name, uuid, minor, flags, table] = fields as [string, string, string, string, string];
    const at = `devices[${i}]`;
    if (name === '') fail(`${at}.name`, 'a device name', '""');
    if (minor !== '' && !/^\d{1,7}$/.test(minor)) fail(`${at}.minor`, 'a decimal minor number or empty', JSON.stringify(minor));
    if (flags !== '' && flags !== 'ro' && flags !== 'rw') fail(`${at}.flags`, "'ro' or 'rw' or empty", JSON.stringify(flags));
    const lines: TargetLine[] = [];
    table.split('\n').forEach((l, k) => { const t = parseTableLine(l, k + 1, at); if (t) lines.push(t); });
    return { name, uuid: uuid === '' ? undefined : uuid, minor: minor === '' ? undefined : Number(minor), readOnly: flags === 'ro', table: lines };
  });
}

/** Checks a field the kernel reads without escapes: no separator it would split on, nothing it would trim. */
function kernelField(value: string, at: string, forbidden: RegExp, shown = value): void {
  const bad = forbidden.exec(value);
  if (bad) fail(at, `text without ${JSON.stringify(bad[0])} (dm-mod.create has no escapes)`, JSON.stringify(shown));
  if (value !== '' && (isSpace(value[0]) || isSpace(value[value.length - 1]))) fail(at, 'text without leading or trailing whitespace (the kernel trims it)', JSON.stringify(shown));
}

/** The kernel-grammar text of the devices (the value of `dm-mod.create=`), every limit checked. */
function dmInitValue(devices: readonly ConciseDevice[]): string {
  checkDevices(devices);
  if (devices.length === 0) fail('devices', 'at least one device', 'none');
  if (devices.length > DM_INIT_MAX_DEVICES) fail('devices', `at most ${DM_INIT_MAX_DEVICES} devices (dm-init.c DM_MAX_DEVICES)`, `${devices.length}`);
  devices.forEach((d, i) => {
    const at = `devices[${i}]`;
    kernelField(d.name, `${at}.name`, /[,;"\n]/);
    if (utf8.encode(d.name).length > NAME_MAX_BYTES) fail(`${at}.name`, `at most ${NAME_MAX_BYTES} bytes`, `${utf8.encode(d.name).length} bytes`, 'NAME_TOO_LONG');
    const uuid = d.uuid ?? '';
    kernelField(uuid, `${at}.uuid`, /[,;"\n]/);
    if (utf8.encode(uuid).length > UUID_MAX_BYTES) fail(`${at}.uuid`, `at most ${UUID_MAX_BYTES} bytes`, `${utf8.encode(uuid).length} bytes`, 'UUID_TOO_LONG');
    if (d.table.length === 0) fail(`${at}.table`, 'at least one table line (the kernel parses one from an empty field and fails)', 'none', 'INVALID_TABLE');
    if (d.table.length > DM_INIT_MAX_TARGETS) fail(`${at}.table`, `at most ${DM_INIT_MAX_TARGETS} lines (dm-init.c DM_MAX_TARGETS)`, `${d.table.length}`, 'INVALID_TABLE');
    d.table.forEach((t, k) => {
      const tat = `${at}.table[${k}]`;
      if (!DM_INIT_TARGETS.includes(t.type)) fail(`${tat}.type`, `one of ${DM_INIT_TARGETS.join(', ')} (dm-init.c dm_allowed_targets)`, JSON.stringify(t.type), 'INVALID_TABLE');
      // A backslash is an escape to dmsetup and to libdevmapper's doubling, not to the kernel's
      // parser: the same text would mean two tables, so it is refused.
      kernelField(t.params, `${tat}.params`, /[,;"\n\\]/, describeParams(t.type, t.params, false));
    });
  });
  const value = formatConcise(devices.map((d) => ({ ...d, readOnly: !!d.readOnly })));
  const bytes = utf8.encode(value).length;
  if (bytes >= DM_INIT_MAX_STR_SIZE) fail('devices', `a dm-mod.create value shorter than ${DM_INIT_MAX_STR_SIZE} bytes (dm-init.c DM_MAX_STR_SIZE)`, `${bytes} bytes`, 'STRING_TOO_LONG');
  return value;
}

/**
 * The kernel command-line argument that creates `devices` at boot:
 * `dm-mod.create="<name>,<uuid>,<minor>,<ro|rw>,<table>[,<table>…][;…]"` (quoted, so table
 * lines may hold spaces). Checked before it is returned, as the kernel would check it at
 * boot: at most 256 devices of at most 256 lines, a value under 4096 bytes, only
 * crypt, delay, linear, snapshot-origin, striped and verity lines, and no character the
 * kernel's parser cannot carry (`,` `;` `"` newline, a backslash in params, whitespace at
 * a field's edge). The same text is valid `dmsetup create --concise` input with the same
 * meaning. A crypt line's key is in it: treat the result as the key.
 */
export function dmModCreate(devices: readonly ConciseDevice[]): string {
  return `dm-mod.create="${dmInitValue(devices)}"`;
}

/**
 * The kernel's `next_arg` (lib/cmdline.c): one `param=value` of a command line, quotes
 * grouping spaces and removed around the value (or the whole argument).
 */
function* kernelArgs(cmdline: string): Generator<{ param: string; value: string | undefined }> {
  let i = 0;
  while (i < cmdline.length) {
    while (i < cmdline.length && isSpace(cmdline[i])) i++;
    if (i >= cmdline.length) return;
    let start = i;
    let quoted = false;
    if (cmdline[i] === '"') { i++; start = i; quoted = true; }
    let inQuote = quoted;
    let eq = -1;
    let j = i;
    for (; j < cmdline.length; j++) {
      const ch = cmdline[j]!;
      if (isSpace(ch) && !inQuote) break;
      if (eq < 0 && ch === '=') eq = j;
      if (ch === '"') inQuote = !inQuote;
    }
    let arg = cmdline.slice(start, j);
    if (quoted && arg.endsWith('"')) arg = arg.slice(0, -1);
    const k = eq < 0 ? -1 : eq - start;
    if (k < 0) yield { param: arg, value: undefined };
    else {
      let value = arg.slice(k + 1);
      if (value.startsWith('"')) { value = value.slice(1); if (value.endsWith('"')) value = value.slice(0, -1); }
      yield { param: arg.slice(0, k), value };
    }
    i = j;
  }
}

/** The kernel's `parameq`: `-` and `_` are the same in a parameter name. */
const sameParam = (a: string, b: string): boolean => a.replace(/-/g, '_') === b.replace(/-/g, '_');

/** The kernel's `kstrtoull(s, 0)`: decimal, `0x` hex or `0` octal. */
function kernelInteger(s: string): bigint | undefined {
  const m = /^(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9]\d*))\n?$/.exec(s.startsWith('+') ? s.slice(1) : s);
  if (!m) return undefined;
  const v = m[1] !== undefined ? BigInt(`0x${m[1]}`) : m[2] !== undefined ? BigInt(`0o${m[2] === '0' ? '0' : m[2].slice(1)}`) : BigInt(m[3]!);
  return v < 1n << 64n ? v : undefined;
}

/** The kernel's `str_field_delimit`: the field up to `sep` (trimmed), and the rest after it (or undefined). */
function delimit(s: string, sep: string): [string, string | undefined] {
  const t = trimSpace(s, 'start');
  const at = t.indexOf(sep);
  const field = trimSpace(at < 0 ? t : t.slice(0, at), 'end');
  return [field, at < 0 ? undefined : t.slice(at + 1)];
}

/**
 * The devices a kernel command line's `dm-mod.create=` (or `dm_mod.create=`; the last one
 * wins, as for any module parameter) creates, read as drivers/md/dm-init.c reads it (no
 * escapes, fields trimmed, `ro`/`rw` required, the limits and allowed target types
 * checked). `cmdline` is a whole command line (e.g. /proc/cmdline) or just the argument;
 * undefined when it has none.
 */
export function parseDmModCreate(cmdline: string): ParsedConciseDevice[] | undefined {
  if (typeof cmdline !== 'string') fail('cmdline', 'a string', typeof cmdline);
  let value: string | undefined;
  for (const a of kernelArgs(cmdline)) if (sameParam(a.param, 'dm-mod.create')) value = a.value ?? '';
  if (value === undefined) return undefined;
  if (utf8.encode(value).length >= DM_INIT_MAX_STR_SIZE) fail('dm-mod.create', `a value shorter than ${DM_INIT_MAX_STR_SIZE} bytes (dm-init.c DM_MAX_STR_SIZE)`, `${utf8.encode(value).length} bytes`, 'STRING_TOO_LONG');
  const devices: ParsedConciseDevice[] = [];
  let rest: string | undefined = value;
  while (rest !== undefined) {
    const i = devices.length;
    const at = `devices[${i}]`;
    if (i + 1 > DM_INIT_MAX_DEVICES) fail('dm-mod.create', `at most ${DM_INIT_MAX_DEVICES} devices (dm-init.c DM_MAX_DEVICES)`, `more`);
    const fields: string[] = [];
    let s: string | undefined = rest;
    for (let f = 0; f < 4; f++) {
      const [field, next]: [string, string | undefined] = delimit(s, ',');
      fields.push(field);
      if (next === undefined) fail(at, 'five comma-separated fields: <name>,<uuid>,<minor>,<flags>,<table>', `${fields.length} field(s)`);
      s = next;
    }
    const [tableField, nextDevice] = delimit(s!, ';');
    rest = nextDevice;
    const [name, uuid, minorText, flags] = fields as [string, string, string, string];
    let minor: number | undefined;
    if (minorText !== '') {
      const v = kernelInteger(minorText);
      if (v === undefined || v >= 1n << 20n) fail(`${at}.minor`, 'a minor number (kstrtoull base 0) or empty', JSON.stringify(minorText));
      minor = Number(v);
    }
    if (flags !== 'ro' && flags !== 'rw') fail(`${at}.flags`, "'ro' or 'rw'", JSON.stringify(flags));
    const table: TargetLine[] = [];
    let entry: string | undefined = tableField;
    while (entry !== undefined) {
      const k = table.length;
      if (k + 1 > DM_INIT_MAX_TARGETS) fail(`${at}.table`, `at most ${DM_INIT_MAX_TARGETS} lines (dm-init.c DM_MAX_TARGETS)`, 'more', 'INVALID_TABLE');
      const parts: string[] = [];
      let e: string = entry;
      for (let f = 0; f < 3; f++) {
        const [field, next]: [string, string | undefined] = delimit(e, ' ');
        parts.push(field);
        if (next === undefined) fail(`${at}.table[${k}]`, '"<start> <length> <type> <params>" (a space after the type)', JSON.stringify(describeTableLine(entry)), 'INVALID_TABLE');
        e = next;
      }
      const [params, nextEntry] = delimit(e, ',');
      entry = nextEntry;
      const [startText, lengthText, type] = parts as [string, string, string];
      const start = kernelInteger(startText);
      const length = kernelInteger(lengthText);
      if (start === undefined || length === undefined) fail(`${at}.table[${k}]`, 'sector numbers (kstrtoull base 0)', JSON.stringify(describeTableLine(`${startText} ${lengthText} ${type} ${params}`)), 'INVALID_TABLE');
      if (!DM_INIT_TARGETS.includes(type)) fail(`${at}.table[${k}].type`, `one of ${DM_INIT_TARGETS.join(', ')} (dm-init.c dm_allowed_targets)`, JSON.stringify(type), 'INVALID_TABLE');
      table.push({ start, length, type, params });
    }
    devices.push({ name, uuid: uuid === '' ? undefined : uuid, minor, readOnly: flags === 'ro', table });
  }
  return devices;
}

/** Which verity hash a systemd kernel argument names. */
export type VerityHashKind = 'root' | 'usr';

function hexOf(hash: string | Uint8Array, at: string): string {
  if (typeof hash !== 'string' && !(hash instanceof Uint8Array)) fail(at, 'a hex string or bytes', hash === null ? 'null' : typeof hash);
  const hex = typeof hash === 'string' ? hash : Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) fail(at, 'a root hash: an even number of hex digits, at least two', JSON.stringify(hex.slice(0, 80)));
  return hex.toLowerCase();
}

/**
 * systemd's kernel argument for a verity root hash: `roothash=<hex>` (or `usrhash=<hex>`),
 * read by systemd-veritysetup-generator to set up `root` (`usr`) as dm-verity. The hash as
 * hex (any case; written lower-case) or bytes.
 */
export function verityHashArgument(hash: string | Uint8Array, kind: VerityHashKind = 'root'): string {
  if (kind !== 'root' && kind !== 'usr') fail('kind', "'root' or 'usr'", JSON.stringify(kind));
  return `${kind}hash=${hexOf(hash, 'hash')}`;
}

/**
 * The `roothash=` and `usrhash=` values of a kernel command line (the last of each wins, as
 * systemd reads them), lower-case hex; a value that is not hex is an error.
 */
export function parseVerityHashes(cmdline: string): { root?: string; usr?: string } {
  if (typeof cmdline !== 'string') fail('cmdline', 'a string', typeof cmdline);
  const out: { root?: string; usr?: string } = {};
  for (const a of kernelArgs(cmdline)) {
    if (a.param === 'roothash') out.root = hexOf(a.value ?? '', 'roothash');
    else if (a.param === 'usrhash') out.usr = hexOf(a.value ?? '', 'usrhash');
  }
  return out;
}
