/**
 * Argument checks for the public API: types and shapes, before anything else runs.
 *
 * The codec validates values (name lengths, ranges, contiguous tables) but assumes the
 * shapes TypeScript promises; JavaScript callers (and `as never`) break those promises,
 * and then a `null` target, a sparse array or a Symbol became a `TypeError` from deep
 * inside, sometimes after an ioctl. Every public entry point calls one of these first, so
 * a bad argument is a `DmArgumentError` naming it, and nothing has been sent.
 *
 * Checks return fresh copies of what they accept (device ids, tables, options): a getter
 * or Proxy cannot show one value here and another when the codec reads it.
 */
import type { DeviceId, KernelString, TargetSpecInput } from '../codec/index.js';
import { DmArgumentError } from './errors.js';

/** What a value is, for messages. Never `String(value)` on unknowns: a Symbol would throw. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'undefined': return 'undefined';
    case 'string': return v.length > 40 ? `a string of ${v.length} characters` : `the string ${JSON.stringify(v)}`;
    case 'number': return `the number ${String(v)}`;
    case 'bigint': return `the bigint ${String(v)}n`;
    case 'boolean': return String(v);
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    default: return v instanceof Uint8Array ? 'a Uint8Array' : 'an object';
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A required object argument (not null, not an array). */
export function objectArg(v: unknown, argument: string, expected = 'an object'): Record<string, unknown> {
  if (!isPlainObject(v)) throw new DmArgumentError(argument, expected, describeValue(v));
  return v;
}

/** How an option is checked. `any`: accepted as is (checked where it is used). */
/** `kernelString`: a name or uuid as the kernel has it — a string, or its bytes (not UTF-8). */
export type OptionKind = 'boolean' | 'string' | 'kernelString' | 'uint' | 'sectors' | 'u64' | 'signal' | 'function' | 'object' | 'any';

const EXPECTED: Record<OptionKind, string> = {
  boolean: 'a boolean', string: 'a string', kernelString: 'a string or a Uint8Array', uint: 'a non-negative integer', sectors: 'a non-negative integer (number or bigint)',
  u64: 'a non-negative integer (number or bigint)',
  signal: 'an AbortSignal', function: 'a function', object: 'an object', any: 'anything',
};

function kindOk(kind: OptionKind, v: unknown): boolean {
  switch (kind) {
    case 'boolean': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
    case 'kernelString': return typeof v === 'string' || v instanceof Uint8Array;
    case 'uint': return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    case 'sectors': case 'u64': return (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n);
    case 'signal': return v instanceof AbortSignal;
    case 'function': return typeof v === 'function';
    case 'object': return isPlainObject(v);
    case 'any': return true;
  }
}

/** One value of a given kind (undefined is not accepted; see {@link optionsArg} for optional ones). */
export function valueArg(v: unknown, argument: string, kind: OptionKind): void {
  if (!kindOk(kind, v)) throw new DmArgumentError(argument, EXPECTED[kind], describeValue(v));
}

/**
 * An options object: undefined (= `{}`), or an object whose keys are all in `spec`, each
 * undefined or of its kind; `required` keys must be present. Unknown keys are refused:
 * a misspelt option (`{ readonly: true }` for `readOnly`) would otherwise be ignored.
 */
export function optionsArg<K extends string>(
  v: unknown, argument: string, spec: Readonly<Record<K, OptionKind>>, required: readonly NoInfer<K>[] = [],
): Partial<Record<K, unknown>> {
  if (v === undefined && required.length === 0) return {};
  const o = objectArg(v, argument, `an options object (${Object.keys(spec).join(', ') || 'no options'})`);
  for (const key of Reflect.ownKeys(o)) {
    if (typeof key !== 'string' || !Object.hasOwn(spec, key)) {
      throw new DmArgumentError(`${argument}.${String(key)}`, `one of the options ${Object.keys(spec).join(', ') || '(none)'}`, 'an unknown option');
    }
  }
  const out: Partial<Record<K, unknown>> = {};
  for (const key of Object.keys(spec) as K[]) {
    const x = o[key];
    if (x === undefined) {
      if (required.includes(key)) throw new DmArgumentError(`${argument}.${key}`, EXPECTED[spec[key]], 'undefined (it is required)');
      continue;
    }
    valueArg(x, `${argument}.${key}`, spec[key]);
    out[key] = x;
  }
  return out;
}

const DEVICE_EXPECTED = 'a name string or an object with exactly one of name, uuid or dev: { major, minor }';

/**
 * A device: a name string, or exactly one of `{ name }`, `{ uuid }`, `{ dev: { major, minor } }`
 * with the right types (major and minor non-negative integers). Values are checked by the
 * codec (name length, major/minor ranges); this checks what they are.
 */
export function deviceArg(v: unknown, argument = 'device'): DeviceId {
  if (typeof v === 'string') return { name: v };
  if (!isPlainObject(v)) throw new DmArgumentError(argument, DEVICE_EXPECTED, describeValue(v), 'INVALID_DEVICE_ID');
  const o = optionsArg(v, argument, { name: 'kernelString', uuid: 'kernelString', dev: 'object' });
  const given = (['name', 'uuid', 'dev'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new DmArgumentError(argument, DEVICE_EXPECTED, given.length === 0 ? 'none of them' : given.join(' and '), 'INVALID_DEVICE_ID');
  }
  // Bytes are copied: a caller changing its array later cannot change what is addressed.
  const copy = (x: unknown) => (x instanceof Uint8Array ? x.slice() : (x as string));
  if (o.name !== undefined) return { name: copy(o.name) };
  if (o.uuid !== undefined) return { uuid: copy(o.uuid) };
  // `raw` is allowed (and ignored) so that a DevNo from a reply can be passed back as it is.
  const dev = optionsArg(o.dev, `${argument}.dev`, { major: 'uint', minor: 'uint', raw: 'any' }, ['major', 'minor']);
  return { dev: { major: dev.major as number, minor: dev.minor as number } };
}

/**
 * A table: a dense array (no holes) of `{ start, length, type, params }` with sectors as
 * non-negative integers (number or bigint), `type` a string and `params` a string or bytes.
 * Returns copies of the lines (the params bytes themselves are not copied: secure loads
 * wipe the caller's buffers).
 */
export function targetsArg(v: unknown, argument = 'targets'): TargetSpecInput[] {
  if (!Array.isArray(v)) throw new DmArgumentError(argument, 'an array of { start, length, type, params }', describeValue(v), 'INVALID_TABLE');
  const out: TargetSpecInput[] = [];
  for (let i = 0; i < v.length; i++) {
    const at = `${argument}[${i}]`;
    if (!(i in v)) throw new DmArgumentError(at, 'a table line (the array has a hole here)', 'a hole', 'INVALID_TABLE');
    const t = optionsArg(v[i], at, { start: 'sectors', length: 'sectors', type: 'string', params: 'any' }, ['start', 'length', 'type', 'params']);
    if (typeof t.params !== 'string' && !(t.params instanceof Uint8Array)) {
      throw new DmArgumentError(`${at}.params`, 'a string or a Uint8Array', describeValue(t.params), 'INVALID_TABLE');
    }
    out.push({ start: t.start as TargetSpecInput['start'], length: t.length as TargetSpecInput['length'], type: t.type as string, params: t.params });
  }
  return out;
}

/** `rename`'s target: exactly one of `{ newName }` or `{ newUuid }`, a string. */
export function renameToArg(v: unknown, argument = 'to'): { newName: KernelString } | { newUuid: KernelString } {
  const o = optionsArg(v, argument, { newName: 'kernelString', newUuid: 'kernelString' });
  if ((o.newName === undefined) === (o.newUuid === undefined)) {
    throw new DmArgumentError(argument, 'exactly one of { newName } or { newUuid }', o.newName === undefined ? 'neither' : 'both');
  }
  return o.newName !== undefined ? { newName: o.newName as KernelString } : { newUuid: o.newUuid as KernelString };
}

/** `createDevice`'s options: a name and a table, as `create` and `load` take them. */
export function createDeviceArg(v: unknown, argument = 'options'): void {
  const o = optionsArg(v, argument, {
    name: 'kernelString', uuid: 'kernelString', table: 'any', readOnly: 'boolean', secure: 'boolean', minor: 'uint', signal: 'signal', rollback: 'object',
  }, ['name', 'table']);
  targetsArg(o.table, `${argument}.table`);
}

/** `removeDevice`'s options (`retries` and `delayMs` are checked where they are used). */
export function removeDeviceArg(device: unknown, options: unknown): void {
  deviceArg(device);
  // `retries`, `delayMs` (retry.ts) and `expect` (identity.ts) are checked where they are used.
  optionsArg(options, 'options', { deferred: 'boolean', retries: 'any', delayMs: 'any', signal: 'signal', expect: 'object' });
}
