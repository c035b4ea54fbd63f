/**
 * libdm's report selection language (`-S|--select`, libdm/libdm-report.c of libdevmapper
 * 1.02.185): the parser, its error messages word for word, and the evaluation of a row.
 * dmsetup registers no reserved values and no string-list or time fields, so neither
 * appears here. The grammar and the messages are written down in docs/dmctl.md, "Reports".
 */
import { fieldHelp, type FieldDef } from './fields.js';
import { SelectionSyntaxError } from '../errors.js';

/** The comparison operators, longest first where one is a prefix of another (libdm's `_op_cmp`). */
const CMP_OPS = [
  { op: '=~', kind: 'regex', not: false, desc: 'Matching regular expression. [regex]' },
  { op: '!~', kind: 'regex', not: true, desc: 'Not matching regular expression. [regex]' },
  { op: '=', kind: 'eq', not: false, desc: 'Equal to. [number, size, percent, string, string list, time]' },
  { op: '!=', kind: 'eq', not: true, desc: 'Not equal to. [number, size, percent, string, string_list, time]' },
  { op: '>=', kind: 'ge', not: false, desc: 'Greater than or equal to. [number, size, percent, time]' },
  { op: '>', kind: 'gt', not: false, desc: 'Greater than. [number, size, percent, time]' },
  { op: '<=', kind: 'le', not: false, desc: 'Less than or equal to. [number, size, percent, time]' },
  { op: '<', kind: 'lt', not: false, desc: 'Less than. [number, size, percent, time]' },
  { op: 'since', kind: 'time', not: false, desc: 'Since specified time (same as \'>=\'). [time]' },
  { op: 'after', kind: 'time', not: false, desc: 'After specified time (same as \'>\'). [time]' },
  { op: 'until', kind: 'time', not: false, desc: 'Until specified time (same as \'<=\'). [time]' },
  { op: 'before', kind: 'time', not: false, desc: 'Before specified time (same as \'<\'). [time]' },
] as const;
type CmpKind = (typeof CMP_OPS)[number]['kind'];

/** The logical and grouping operators (libdm's `_op_log`); `[ ] { }` only delimit string lists, which dmsetup has none of. */
const LOG_OPS = [
  { op: '&&', flag: 'and', desc: 'All fields must match' },
  { op: ',', flag: 'and', desc: 'All fields must match' },
  { op: '||', flag: 'or', desc: 'At least one field must match' },
  { op: '#', flag: 'or', desc: 'At least one field must match' },
  { op: '!', flag: 'not', desc: 'Logical negation' },
  { op: '(', flag: 'ps', desc: 'Left parenthesis' },
  { op: ')', flag: 'pe', desc: 'Right parenthesis' },
  { op: '[', flag: 'ls', desc: 'List start' },
  { op: ']', flag: 'le', desc: 'List end' },
  { op: '{', flag: 'sls', desc: 'List subset start' },
  { op: '}', flag: 'sle', desc: 'List subset end' },
] as const;
type LogFlag = (typeof LOG_OPS)[number]['flag'];

/** libdm's `_display_selection_help` (no reserved values: dmsetup registers none). */
export function selectionHelp(): string {
  let s = 'Selection operands\n------------------\n';
  s += '  field               - Reporting field.\n';
  s += '  number              - Non-negative integer value.\n';
  s += '  size                - Floating point value with units, \'m\' unit used by default if not specified.\n';
  s += '  percent             - Non-negative integer with or without % suffix.\n';
  s += '  string              - Characters quoted by \' or " or unquoted.\n';
  s += '  string list         - Strings enclosed by [ ] or { } and elements delimited by either\n';
  s += '                        "all items must match" or "at least one item must match" operator.\n';
  s += '  regular expression  - Characters quoted by \' or " or unquoted.\n';
  s += ' \n';
  s += 'Selection operators\n-------------------\n  Comparison operators:\n';
  for (const t of CMP_OPS) s += `    ${t.op.padStart(6)}  - ${t.desc}\n`;
  s += ' \n  Logical and grouping operators:\n';
  for (const t of LOG_OPS) s += `    ${t.op.padStart(4)}  - ${t.desc}\n`;
  return s + ' \n';
}

/** A comparison of one field against a value. */
export interface SelectionItem {
  readonly kind: 'item';
  /** The report's own handle of the field (its first occurrence, hidden or shown). */
  readonly slot: object;
  readonly field: FieldDef;
  readonly cmp: CmpKind;
  readonly not: boolean;
  readonly value: { readonly string: string } | { readonly number: bigint } | { readonly sizeSectors: number } | { readonly regex: RegExp };
  negated: boolean;
}

/** An AND or OR of nodes, maybe negated (`!( … )`). */
export interface SelectionSet { readonly kind: 'and' | 'or'; readonly nodes: SelectionNode[]; negated: boolean }
export type SelectionNode = SelectionItem | SelectionSet;

/** What the parser needs from the report: to find a field by name, and its slot (added hidden when new). */
export interface SelectionHost {
  /** The field a selection names (canonical match, as `-o`), or undefined. */
  find(name: string): FieldDef | undefined;
  /** The report's handle of `field`, adding it as a hidden field when the report does not show it. */
  slot(field: FieldDef): object;
}


const SPACE = /[ \t\n\v\f\r]/;
const skipSpace = (s: string, i: number): number => { while (i < s.length && SPACE.test(s[i]!)) i++; return i; };
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const FIELD_CHAR = /[0-9A-Za-z_-]/;

/** Size unit letters libdm's `dm_units_to_factor` knows, and their factor in bytes. */
const UNIT_FACTORS: Record<string, number> = {
  h: 1, H: 1, r: 1, R: 1, b: 1, B: 1, s: 512,
  k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60,
  K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

class Parser {
  out = '';
  constructor(readonly s: string, readonly host: SelectionHost) {}

  log(line: string): void { this.out += `${line}\n`; }

  /** `_tok_op` over the logical operators: the flag found at i (after spaces) among `expect`, and where it ends. */
  tokLog(i: number, expect: readonly LogFlag[]): { flag: LogFlag | undefined; end: number } {
    const at = skipSpace(this.s, i);
    for (const t of LOG_OPS) {
      if (!expect.includes(t.flag)) continue;
      if (this.s.startsWith(t.op, at)) return { flag: t.flag, end: at + t.op.length };
    }
    return { flag: undefined, end: at };
  }

  /** `_tok_value_string`: up to `endChar`, or (unquoted) up to `&&`, `,`, `||`, `#`, `)` or a space. */
  tokString(i: number, endChar: string | undefined): { begin: number; end: number; next: number } | undefined {
    const s = this.s;
    if (endChar !== undefined) {
      const j = s.indexOf(endChar, i);
      if (j < 0) { this.log('Missing end quote.'); return undefined; }
      return { begin: i, end: j, next: j + 1 };
    }
    let j = i;
    while (j < s.length && s[j] !== ' ' && !['&&', ',', '||', '#', ')'].some((op) => s.startsWith(op, j))) j++;
    return { begin: i, end: j, next: j };
  }

  bad(at: number): undefined {
    this.log(`Selection syntax error at '${this.s.slice(at)}'.`);
    this.log('Use \'help\' for selection to get more help.');
    return undefined;
  }

  /** `_parse_selection`: FIELD OP VALUE. */
  selection(at: number): { node: SelectionNode; next: number } | undefined {
    const s = this.s;
    const ws = skipSpace(s, at);
    let we = ws;
    while (we < s.length && FIELD_CHAR.test(s[we]!)) we++;
    if (we === ws) { this.log('Expecting field name'); return this.bad(at); }
    const name = s.slice(ws, we);
    const field = this.host.find(name);
    if (!field) {
      this.out += fieldHelp(false, true) + ' \n';
      this.log(`Unrecognised selection field: ${name}`);
      return this.bad(at);
    }
    if (field.uncomparable) {
      this.out += fieldHelp(false, true) + ' \n';
      this.log(`Selection field is uncomparable: ${name}.`);
      return this.bad(at);
    }
    const opAt = skipSpace(s, we);
    const op = CMP_OPS.find((t) => s.startsWith(t.op, opAt));
    if (!op) {
      this.out += selectionHelp();
      this.log(`Unrecognised comparison operator: ${s.slice(we)}`);
      return this.bad(at);
    }
    let i = opAt + op.op.length;
    let value: SelectionItem['value'];
    if (op.kind === 'regex') {
      i = skipSpace(s, i);
      if (i >= s.length) { this.log(`Regular expression expected for selection field ${field.id}`); return this.bad(at); }
      const close = ({ '(': ')', '{': '}', '[': ']', '"': '"', '\'': '\'' } as Record<string, string>)[s[i]!];
      const t = this.tokString(close !== undefined ? i + 1 : i, close);
      if (!t) { this.log(`Failed to parse regex value for selection field ${field.id}.`); return this.bad(at); }
      i = t.next;
      if (field.valueType !== 'string') {
        // libdm checks the regex's string type against the field only after parsing it, without the syntax-error lines.
        this.log(`dm_report: incompatible comparison type for selection field ${field.id}`);
        return undefined;
      }
      let regex: RegExp;
      try {
        regex = new RegExp(s.slice(t.begin, t.end));
      } catch {
        this.log(`dm_report: failed to create regex matcher for selection field ${field.id}`);
        return undefined;
      }
      value = { regex };
    } else {
      if (['ge', 'gt', 'le', 'lt'].includes(op.kind) && field.valueType === 'string') {
        this.out += selectionHelp();
        this.log(`Operator can be used only with number, size, time or percent fields: ${s.slice(ws)}`);
        return this.bad(at);
      }
      if (op.kind === 'time') {
        this.out += selectionHelp();
        this.log(`Operator can be used only with time fields: ${s.slice(ws)}`);
        return this.bad(at);
      }
      i = skipSpace(s, i);
      if (field.valueType === 'string') {
        const quote = s[i] === '"' || s[i] === '\'' ? s[i] : undefined;
        const t = this.tokString(quote ? i + 1 : i, quote);
        if (!t) { this.log(`Failed to parse string value for selection field ${field.id}.`); return this.bad(at); }
        value = { string: s.slice(t.begin, t.end) };
        i = t.next;
      } else {
        // `_tok_value_number`: digits with at most one '.', then '%' or a size unit.
        const begin = i;
        let dot = false;
        while (i < s.length && (isDigit(s[i]) || (!dot && s[i] === '.' && (dot = true)))) i++;
        if (i === begin) { this.log(`Failed to parse numeric value for selection field ${field.id}.`); return this.bad(at); }
        const text = s.slice(begin, i);
        const kind = field.valueType === 'number' ? 'numeric' : 'size';
        if (s[i] === '%') {
          this.log(`Found percent value but ${kind} value expected for selection field ${field.id}.`);
          return this.bad(at);
        }
        const unit = s[i] !== undefined && Object.hasOwn(UNIT_FACTORS, s[i]!) ? s[i]! : undefined;
        if (unit !== undefined && field.valueType === 'number') {
          this.log(`Found size unit specifier but numeric value expected for selection field ${field.id}.`);
          return this.bad(at);
        }
        if (unit !== undefined) i++;
        if (field.valueType === 'number') {
          // strtoull: the digits before any '.'; past 2^64-1 it is out of range.
          const n = BigInt(text.split('.')[0] || '0');
          if (n > 0xffffffffffffffffn) { this.log(`Field selection value ${text} out of supported range for field ${field.id}.`); return undefined; }
          value = { number: n };
        } else {
          value = { sizeSectors: (Number(text) * (unit !== undefined ? UNIT_FACTORS[unit]! : 2 ** 20)) / 512 };
        }
      }
    }
    const node: SelectionItem = { kind: 'item', slot: this.host.slot(field), field, cmp: op.kind, not: op.not, value, negated: false };
    return { node, next: skipSpace(s, i) };
  }

  /** `_parse_ex`: `!( … )`, `( … )` or a comparison. */
  ex(at: number): { node: SelectionNode; next: number } | undefined {
    const t = this.tokLog(at, ['not', 'ps']);
    if (t.flag === 'not') {
      const ps = this.tokLog(t.end, ['ps']);
      if (!ps.flag) { this.log(`Syntax error: left parenthesis expected at '${this.s.slice(t.end)}'`); return undefined; }
      const inner = this.or(ps.end);
      if (!inner) return undefined;
      inner.node.negated = true;
      const pe = this.tokLog(inner.next, ['pe']);
      if (!pe.flag) { this.log(`Syntax error: right parenthesis expected at '${this.s.slice(inner.next)}'`); return undefined; }
      return { node: inner.node, next: pe.end };
    }
    if (t.flag === 'ps') {
      const inner = this.or(t.end);
      if (!inner) return undefined;
      const pe = this.tokLog(inner.next, ['pe']);
      if (!pe.flag) { this.log(`Syntax error: right parenthesis expected at '${this.s.slice(pe.end)}'`); return undefined; }
      return { node: inner.node, next: pe.end };
    }
    return this.selection(skipSpace(this.s, at));
  }

  /** `_parse_and_ex` / `_parse_or_ex`: a chain of `ex` joined by `&&`/`,` binds tighter than one joined by `||`/`#`. */
  chain(at: number, kind: 'and' | 'or'): { node: SelectionNode; next: number } | undefined {
    const nodes: SelectionNode[] = [];
    let i = at;
    for (;;) {
      const n = kind === 'and' ? this.ex(i) : this.chain(i, 'and');
      if (!n) return undefined;
      nodes.push(n.node);
      const op = this.tokLog(n.next, kind === 'and' ? ['and'] : ['or']);
      if (!op.flag) return { node: nodes.length === 1 ? nodes[0]! : { kind, nodes, negated: false }, next: n.next };
      i = op.end;
    }
  }

  or(at: number) { return this.chain(at, 'or'); }
}

/**
 * Parses a selection (libdm's `_report_set_selection`): undefined for none (empty or
 * `all`); throws {@link SelectionSyntaxError} with libdm's lines when it refuses it.
 * `help` and `?` are the caller's (they print help instead of selecting).
 */
export function parseSelection(text: string, host: SelectionHost): SelectionNode | undefined {
  if (text === '' || text.toLowerCase() === 'all') return undefined;
  const p = new Parser(text, host);
  const r = p.or(0);
  if (!r) throw new SelectionSyntaxError(p.out);
  const next = skipSpace(text, r.next);
  if (next < text.length) {
    p.log('Expecting logical operator');
    p.bad(next);
    throw new SelectionSyntaxError(p.out);
  }
  return r.node;
}

/** A field's value as selection and sorting see it: a string, or an unsigned number (sectors for a size). */
export type SortValue = string | bigint | number;

const byteCompare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function compare(item: SelectionItem, v: SortValue): boolean {
  const val = item.value;
  if ('regex' in val) {
    const hit = val.regex.test(String(v));
    return item.not ? !hit : hit;
  }
  if ('string' in val) {
    const eq = byteCompare(String(v), val.string) === 0;
    return item.not ? !eq : eq;
  }
  const a = typeof v === 'string' ? Number(v) : v;
  const b = 'number' in val ? val.number : val.sizeSectors;
  const [x, y] = typeof a === 'bigint' && typeof b === 'bigint' ? [a, b] : [Number(a), Number(b)];
  switch (item.cmp) {
    case 'eq': return item.not ? x !== y : x === y;
    case 'gt': return x > y;
    case 'ge': return x >= y;
    case 'lt': return x < y;
    case 'le': return x <= y;
    default: return false;
  }
}

/** Whether a row passes (libdm's `_check_selection`): `valueOf(slot)` is a field's value in the row. */
export function selects(node: SelectionNode, valueOf: (slot: object) => SortValue): boolean {
  let r: boolean;
  if (node.kind === 'item') r = compare(node, valueOf(node.slot));
  else if (node.kind === 'and') r = node.nodes.every((n) => selects(n, valueOf));
  else r = node.nodes.some((n) => selects(n, valueOf));
  return node.negated ? !r : r;
}
