// Hostile values, generated from a description of what an argument position takes
// (shared by the hostile-argument specs).
export type Kind = 'boolean' | 'string' | 'uint' | 'sectors' | 'signal' | 'function' | 'object' | 'any';

export const ZERO = { start: 0, length: 8, type: 'zero', params: '' };

/** What one argument position takes. */
export type Slot =
  | { readonly kind: 'device' }
  | { readonly kind: 'targets' }
  /** One value; `optional`: undefined is fine (then not attacked with it). */
  | { readonly kind: 'value'; readonly of: Kind; readonly valid: unknown; readonly optional?: boolean; readonly extra?: readonly unknown[] }
  /** A position with its own list of hostile values. */
  | { readonly kind: 'custom'; readonly valid: unknown; readonly hostile: readonly unknown[] }
  /** An object of options; `required` keys must be present (then the slot is required). */
  | { readonly kind: 'object'; readonly keys: Readonly<Record<string, Kind>>; readonly required?: readonly string[]; readonly valid?: Readonly<Record<string, unknown>> };

/** Values that are wrong for a kind (undefined is fine for an optional key, so not here). */
export function wrongFor(kind: Kind): unknown[] {
  const always = [null, Symbol('hostile'), [], [, 1], {}, () => 1];
  switch (kind) {
    case 'boolean': return [...always, 'yes', 1, 0n];
    case 'string': return [...always, 5, true, 5n, new String('x')];
    case 'uint': return [...always, -1, 1.5, NaN, Infinity, 2 ** 53, '1', 1n, true];
    case 'sectors': return [...always, -1, 1.5, NaN, 2 ** 53, '0', -1n, true];
    case 'signal': return [...always, 'abort', 1, { aborted: true, reason: 'x' }];
    case 'function': return [null, Symbol('hostile'), [], {}, 'fn', 1];
    case 'object': return [null, Symbol('hostile'), [], [, 1], 'str', 1, true, 1n, () => 1];
    case 'any': return [];
  }
}

/** Wrong container values: not an object at all, or an object with hostile keys. */
export const NOT_AN_OBJECT = [null, Symbol('hostile'), 42, 'str', true, 7n, [], [, 1], () => ({})];

const targets: Slot = { kind: 'targets' };

export const show = (v: unknown): string => {
  if (typeof v === 'symbol') return 'Symbol';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'fn';
  if (Array.isArray(v) && v.length && !(0 in v)) return '[hole]';
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'symbol' ? 'Symbol' : typeof x === 'function' ? 'fn' : x)) ?? String(v);
  } catch {
    return typeof v;
  }
};

export function hostileValues(slot: Slot): { label: string; value: unknown }[] {
  const out: { label: string; value: unknown }[] = [];
  const add = (label: string, value: unknown) => out.push({ label, value });
  switch (slot.kind) {
    case 'device':
      // A string is a device name (and names are the codec's to check): not hostile here.
      for (const v of [undefined, ...NOT_AN_OBJECT.filter((x) => typeof x !== 'string')]) add(show(v), v);
      for (const [label, v] of [
        ['{}', {}], ['name and uuid', { name: 'a', uuid: 'b' }], ['name and dev', { name: 'a', dev: { major: 1, minor: 1 } }],
        ['misspelt key', { nmae: 'a' }], ['extra key', { name: 'a', extra: 1 }], ['inherited unknown key', Object.assign(Object.create({ bogus: 1 }), { name: 'a' })],
        ['dev null', { dev: null }], ['dev array', { dev: [1, 2] }], ['dev missing minor', { dev: { major: 1 } }],
        ['dev extra key', { dev: { major: 1, minor: 1, extra: 1 } }],
      ] as const) add(label, v);
      for (const v of wrongFor('string')) { add(`name ${show(v)}`, { name: v }); add(`uuid ${show(v)}`, { uuid: v }); }
      for (const v of wrongFor('uint')) { add(`major ${show(v)}`, { dev: { major: v, minor: 0 } }); add(`minor ${show(v)}`, { dev: { major: 0, minor: v } }); }
      break;
    case 'targets': {
      for (const v of [undefined, ...NOT_AN_OBJECT.filter((x) => !Array.isArray(x)), {}, { length: 1, 0: ZERO }]) add(show(v), v);
      const holey = [ZERO, ZERO];
      delete holey[1];
      for (const [label, v] of [
        ['[hole]', [, ZERO]], ['hole in the middle', [ZERO, , { ...ZERO, start: 16 }]], ['hole at the end', holey],
        ['[null]', [null]], ['[undefined]', [undefined]], ['[Symbol]', [Symbol('t')]], ['[string]', ['0 8 zero']], ['[array]', [[0, 8, 'zero', '']]], ['[{}]', [{}]],
        ['missing params', [{ start: 0, length: 8, type: 'zero' }]], ['missing type', [{ start: 0, length: 8, params: '' }]],
        ['extra key', [{ ...ZERO, device: '/dev/x' }]],
      ] as const) add(label, v);
      for (const v of wrongFor('sectors')) { add(`start ${show(v)}`, [{ ...ZERO, start: v }]); add(`length ${show(v)}`, [{ ...ZERO, length: v }]); }
      for (const v of wrongFor('string')) add(`type ${show(v)}`, [{ ...ZERO, type: v }]);
      for (const v of [null, 5, Symbol('p'), {}, [], new Uint16Array(2), 5n]) add(`params ${show(v)}`, [{ ...ZERO, params: v }]);
      break;
    }
    case 'value':
      for (const v of [...(slot.optional ? [] : [undefined]), ...wrongFor(slot.of), ...(slot.extra ?? [])]) add(show(v), v);
      break;
    case 'custom':
      for (const v of slot.hostile) add(show(v), v);
      break;
    case 'object': {
      const required = slot.required ?? [];
      for (const v of required.length ? [undefined, ...NOT_AN_OBJECT] : NOT_AN_OBJECT) add(show(v), v);
      const base = slot.valid ?? {};
      add('unknown key', { ...base, bogus: true });
      add('inherited unknown key', Object.assign(Object.create({ bogus: true }), base));
      for (const k of required) { const v: Record<string, unknown> = { ...base }; delete v[k]; add(`missing ${k}`, v); }
      for (const [k, kind] of Object.entries(slot.keys)) for (const v of wrongFor(kind)) add(`${k} ${show(v)}`, { ...base, [k]: v });
      if (slot.keys.table === 'any') for (const t of hostileValues(targets)) if (t.value !== undefined) add(`table ${t.label}`, { ...base, table: t.value });
      break;
    }
  }
  return out;
}

export function validValue(slot: Slot): unknown {
  switch (slot.kind) {
    case 'device': return 'hx';
    case 'targets': return [ZERO];
    case 'value': return slot.valid;
    case 'custom': return slot.valid;
    case 'object': return slot.valid;
  }
}

/** Calls f and returns what it threw or rejected with (or `undefined` if it did neither). */
export async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  return undefined;
}

