/**
 * libdm's report engine as dmsetup drives it (`_report_init` in dmsetup.c,
 * `dm_report_init_with_selection` and `dm_report_output` in libdm-report.c of libdevmapper
 * 1.02.185): the `-o` field list (`+` appends to the default, `<type>_all`, `all`, names
 * matched without underscores and case), `-O` sort keys, `-S` selection, and the output
 * (aligned columns, `--separator`, `--noheadings`, `--nameprefixes`, `--unquoted`,
 * `--rows`, `--unbuffered`), byte for byte. docs/dmctl.md, "Reports".
 */
import { FIELDS, REPORT_TYPES, SPECIAL_FIELDS, fieldHelp, type FieldDef, type ReportType } from './fields.js';
import { parseSelection, selectionHelp, selects, type SelectionNode, type SortValue } from './select.js';
import { ReportError, SelectionSyntaxError } from '../errors.js';

export { ReportError };

/** One field's value: the text shown and the value sorted and selected on. */
export interface Cell { readonly text: string; readonly sort: SortValue }

/** A row's source: the cell of a field, or undefined when the object has no data for it. */
export type RowSource = (field: FieldDef) => Cell | undefined;

/** The report options of a command line (dmsetup's switches). */
export interface ReportOptions {
  /** `-o`: the field list (a leading `+` appends it to `defaults`). */
  readonly options?: string | undefined;
  readonly defaults: string;
  /** `-O|--sort`. */
  readonly sort?: string | undefined;
  /** `-S|--select`. */
  readonly select?: string | undefined;
  readonly separator?: string | undefined;
  readonly noheadings?: boolean | undefined;
  readonly nameprefixes?: boolean | undefined;
  readonly unquoted?: boolean | undefined;
  readonly rows?: boolean | undefined;
  readonly unbuffered?: boolean | undefined;
  /** The report type the command starts from (`name` for splitname, none for info -c): its prefix may be left out of `all`. */
  readonly baseType?: ReportType | undefined;
  /**
   * Several starting types (dmstats report's DR_STATS|DR_STATS_META): `all` means their
   * fields, and no prefix may be left out (libdm finds no report type with that exact id).
   */
  readonly baseTypes?: readonly ReportType[] | undefined;
}


interface Prop { field: FieldDef; hidden: boolean; sortKey?: { pos: number; descending: boolean } }

const canonical = (name: string) => name.replace(/_/g, '');
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const bytes = (s: string) => Buffer.byteLength(s);

/** `printf("%-*.*s")` / `"%*.*s"` by bytes, as libdm pads (a UTF-8 name counts its bytes). */
function pad(text: string, width: number, right: boolean): string {
  const n = bytes(text);
  if (n > width) return Buffer.from(text).subarray(0, width).toString();
  return right ? ' '.repeat(width - n) + text : text + ' '.repeat(width - n);
}

/** A report set up from the options: add rows, then take the output. */
export class Report {
  readonly props: Prop[] = [];
  readonly #flags: { aligned: boolean; headings: boolean; buffered: boolean; prefixes: boolean; quoted: boolean; rows: boolean; separator: string };
  readonly #reportTypes = new Set<ReportType>();
  readonly #prefix: string;
  #selection: SelectionNode | undefined;
  #rows: { cells: Cell[]; selected: boolean }[] = [];
  #headingsPrinted = false;
  /** Column widths once libdm has computed them (RH_FIELD_CALC_NEEDED cleared): later outputs keep them. */
  #widths: number[] | undefined;
  /** What libdm printed on stderr while setting up (warnings, or the help asked for). */
  warnings = '';
  /** `-o help` or `-S help`: the help is in `warnings`, and no row is reported. */
  readonly helpOnly: boolean;

  constructor(o: ReportOptions) {
    let headings = true;
    let aligned = true;
    let separator = ' ';
    let buffered = !o.unbuffered;
    // dmsetup: --noheadings emulates the old output, ':'-separated and unaligned.
    if (o.noheadings) { separator = ':'; aligned = false; headings = false; }
    if (o.nameprefixes) aligned = false;
    let options = o.defaults;
    if (o.options !== undefined) {
      if (o.options.includes('help')) headings = false;
      options = o.options.startsWith('+') ? `${o.defaults},${o.options.slice(1)}` : o.options;
    }
    if (o.sort !== undefined) buffered = true;
    if (o.separator !== undefined) { separator = o.separator; aligned = false; }
    // Rows must be buffered and are never aligned.
    if (o.rows) { buffered = true; aligned = false; }
    this.#flags = { aligned, headings, buffered, prefixes: !!o.nameprefixes, quoted: !o.unquoted, rows: !!o.rows, separator };
    if (o.baseType) this.#reportTypes.add(o.baseType);
    for (const t of o.baseTypes ?? []) this.#reportTypes.add(t);
    this.#prefix = o.baseType && !o.baseTypes?.length ? REPORT_TYPES.find((t) => t.type === o.baseType)!.prefix : '';

    // libdm parses the lists twice: first only for the report types (what `all` means), then for the fields.
    this.#parseFields(options, true);
    this.#parseKeys(o.sort ?? '', true);
    this.#parseFields(options, false);
    this.#parseKeys(o.sort ?? '', false);
    let help = false;
    if (this.props.some((p) => p.field.type === 'special' && p.field.uncomparable)) {
      this.warnings += fieldHelp(true, false) + ' \n';
      help = true;
    }
    const sel = o.select ?? '';
    if (sel !== '') {
      if (sel.toLowerCase() === 'help' || sel === '?') {
        this.warnings += fieldHelp(false, true) + ' \n' + selectionHelp();
        help = true;
      } else {
        try {
          this.#selection = parseSelection(sel, {
            find: (name) => this.#find(name),
            slot: (field) => this.#slot(field),
          });
        } catch (e) {
          if (e instanceof SelectionSyntaxError) throw new ReportError(this.warnings + e.stderr);
          throw e;
        }
      }
    }
    this.helpOnly = help;
  }

  /** The report types the fields (shown, sorted or selected on) read from: what the command must fetch. */
  get reportTypes(): ReadonlySet<ReportType> { return this.#reportTypes; }

  /** libdm's `_get_field`: the special fields first, then dmsetup's, names compared without underscores and case. */
  #find(name: string): FieldDef | undefined {
    if (name === '') return undefined;
    const c = canonical(name);
    const prefixLen = this.#prefix.length - 1;
    const matches = (id: string) => same(id, c) || (prefixLen >= 0 && same(id.slice(0, prefixLen), this.#prefix.slice(0, prefixLen)) && same(id.slice(prefixLen), c));
    return SPECIAL_FIELDS.find((f) => matches(f.id)) ?? FIELDS.find((f) => matches(canonical(f.id)));
  }

  /** libdm's `_all_match`: the report types `all` or `<prefix>all` names, or undefined. */
  #allMatch(word: string): Set<ReportType> | undefined {
    const types = new Set<ReportType>();
    let unprefixed = false;
    let field = word;
    if (word.length === 3 && same(word, 'all')) {
      if (this.#prefix === '') return this.#reportTypes.size > 0 ? new Set(this.#reportTypes) : new Set(REPORT_TYPES.map((t) => t.type));
      unprefixed = true;
      field = this.#prefix;
      for (const t of this.#reportTypes) types.add(t);
    }
    const c = canonical(field);
    for (const t of REPORT_TYPES) {
      const n = t.prefix.length - 1;
      if (same(c.slice(0, n), t.prefix.slice(0, n)) && ((unprefixed && c.length === n) || (same(c.slice(n, n + 3), 'all') && c.length === n + 3))) types.add(t.type);
    }
    return types.size > 0 ? types : undefined;
  }

  #add(field: FieldDef, hidden: boolean): Prop {
    const p: Prop = { field, hidden };
    // Hidden fields go first, so the last field is always a shown one (libdm's separators rely on it).
    if (hidden) this.props.unshift(p);
    else this.props.push(p);
    return p;
  }

  #slot(field: FieldDef): Prop {
    let p = this.props.find((x) => x.field === field);
    if (!p) {
      p = this.#add(field, true);
      this.#reportTypes.add(field.type);
    }
    return p;
  }

  #parseFields(list: string, typesOnly: boolean): void {
    for (const word of words(list)) {
      const f = this.#find(word);
      if (f) {
        if (typesOnly) this.#reportTypes.add(f.type);
        else this.#add(f, false);
        continue;
      }
      const all = word === '' ? undefined : this.#allMatch(word);
      if (all) {
        if (typesOnly) for (const t of all) this.#reportTypes.add(t);
        else for (const x of FIELDS) if (all.has(x.type)) this.#add(x, false);
        continue;
      }
      throw new ReportError(`${this.warnings}${fieldHelp(true, false)} \nUnrecognised field: ${word}\n`);
    }
  }

  #parseKeys(list: string, typesOnly: boolean): void {
    let pos = this.props.filter((p) => p.sortKey).length;
    for (const word of words(list)) {
      let key = word;
      let descending = false;
      if (key.startsWith('+')) key = key.slice(1);
      else if (key.startsWith('-')) { key = key.slice(1); descending = true; }
      let missing = '';
      if (word !== '' && key === '') missing = 'dm_report: Missing sort field name\n';
      const f = key === '' ? undefined : this.#find(key);
      if (!f) throw new ReportError(`${this.warnings}${missing}${fieldHelp(true, false)} \ndm_report: Unrecognised field: ${word}\n`);
      if (typesOnly) {
        if (!this.props.some((p) => p.field === f)) this.#reportTypes.add(f.type);
        continue;
      }
      const p = this.props.find((x) => x.field === f) ?? this.#add(f, true);
      if (p.sortKey) {
        this.warnings += `dm_report: Ignoring duplicate sort field: ${f.id}.\n`;
        continue;
      }
      p.sortKey = { pos: pos++, descending };
    }
  }

  /** Whether an object passes the selection, nothing kept (`dm_report_object_is_selected` without output). */
  matches(source: RowSource): boolean {
    if (this.#selection === undefined) return true;
    const cells = this.props.map((p) => (p.field.type === 'special' ? { text: '1', sort: 1n } : source(p.field)));
    if (cells.some((c) => c === undefined)) return false;
    return selects(this.#selection, (slot) => cells[this.props.indexOf(slot as Prop)]!.sort);
  }

  /**
   * Reports one object (`dm_report_object`): each field's cell from `source`; a row the
   * selection refuses is dropped, unless the `selected` field is shown. Unbuffered, the row
   * is returned as text at once (and the headings before the first).
   */
  add(source: RowSource): string {
    if (this.helpOnly) return '';
    const cells: Cell[] = [];
    let selectedAt = -1;
    for (const [i, p] of this.props.entries()) {
      if (p.field.id === 'selected') { selectedAt = i; cells.push({ text: '1', sort: 1n }); continue; }
      const c = p.field.type === 'special' ? { text: '', sort: '' } : source(p.field);
      if (!c) throw new ReportError(`_do_report_object: no data assigned to field ${p.field.id}\n`);
      cells.push(c);
    }
    const selected = this.#selection === undefined || selects(this.#selection, (slot) => cells[this.props.indexOf(slot as Prop)]!.sort);
    if (!selected) {
      if (selectedAt < 0 || this.props[selectedAt]!.hidden) return '';
      cells[selectedAt] = { text: '0', sort: 0n };
    }
    this.#rows.push({ cells, selected });
    return this.#flags.buffered ? '' : this.output();
  }

  /** `dm_report_output`: the rows added since the last call (sorted when buffered), with the headings once. */
  output(): string {
    const rows = this.#flags.buffered ? this.#sorted(this.#rows) : this.#rows;
    if (rows.length === 0) return '';
    const f = this.#flags;
    const widths = this.#columnWidths();
    this.#rows = [];
    const right = (p: Prop) => p.field.valueType !== 'string';
    const fieldText = (p: Prop, i: number, c: Cell): string => {
      let s = '';
      if (f.prefixes) s += `DM_${p.field.id.toUpperCase()}=${f.quoted ? '\'' : ''}`;
      s += f.aligned ? pad(c.text, widths[i]!, right(p)) : c.text;
      if (f.prefixes && f.quoted) s += '\'';
      return s;
    };
    const shown = this.props.map((p, i) => ({ p, i })).filter((x) => !x.p.hidden);
    let out = '';
    if (f.rows) {
      for (const { p, i } of shown) {
        out += (f.headings ? p.field.heading + f.separator : '') + rows.map((r) => fieldText(p, i, r.cells[i]!)).join(f.separator) + '\n';
      }
      return out;
    }
    if (!this.#headingsPrinted) {
      this.#headingsPrinted = true;
      if (f.headings) out += shown.map(({ p, i }) => (f.aligned ? pad(p.field.heading, widths[i]!, false) : p.field.heading)).join(f.separator) + '\n';
    }
    for (const r of rows) out += shown.map(({ p, i }) => fieldText(p, i, r.cells[i]!)).join(f.separator) + '\n';
    return out;
  }

  /**
   * libdm computes the widths once, from the rows buffered at the first output (or the first
   * `columnHeadings`); a repeated report keeps them and cuts longer values. Unbuffered, each
   * row is laid out on its own.
   */
  #columnWidths(): number[] {
    const computed = this.props.map((p, i) => Math.max(p.field.width, ...this.#rows.map((r) => bytes(r.cells[i]!.text))));
    if (!this.#flags.buffered) return computed;
    this.#widths ??= computed;
    return this.#widths;
  }

  /** Whether no row waits for output (`dm_report_is_empty`). */
  get isEmpty(): boolean { return this.#rows.length === 0; }

  /**
   * `dm_report_column_headings`: the headings line now (none with --rows or --noheadings),
   * laid out with the widths of the rows buffered so far; output() then prints no other.
   * dmsetup calls it before each output of a repeating report.
   */
  columnHeadings(): string {
    if (this.#flags.rows) return '';
    const widths = this.#columnWidths();
    this.#headingsPrinted = true;
    if (!this.#flags.headings) return '';
    const shown = this.props.map((p, i) => ({ p, i })).filter((x) => !x.p.hidden);
    return shown.map(({ p, i }) => (this.#flags.aligned ? pad(p.field.heading, widths[i]!, false) : p.field.heading)).join(this.#flags.separator) + '\n';
  }

  /** The shown fields' ids, in order (the `--json` form's keys). */
  get shownFields(): FieldDef[] { return this.props.filter((p) => !p.hidden).map((p) => p.field); }

  /** The rows kept so far as records of the shown fields' texts, consumed (the `--json` form), sorted as output() would. */
  takeJson(): Record<string, string>[] {
    const shown = this.props.map((p, i) => ({ p, i })).filter((x) => !x.p.hidden);
    const order = this.#sorted(this.#rows);
    this.#rows = [];
    return order.map((r) => Object.fromEntries(shown.map(({ p, i }) => [p.field.id, r.cells[i]!.text])));
  }

  #sorted(rows: { cells: Cell[]; selected: boolean }[]) {
    const keys = this.props.map((p, i) => ({ p, i })).filter((k) => k.p.sortKey).sort((a, b) => a.p.sortKey!.pos - b.p.sortKey!.pos);
    if (keys.length === 0) return rows;
    return [...rows].sort((a, b) => {
      for (const { p, i } of keys) {
        const x = a.cells[i]!.sort;
        const y = b.cells[i]!.sort;
        const c = typeof x === 'string' || typeof y === 'string' ? Buffer.compare(Buffer.from(String(x)), Buffer.from(String(y))) : x === y ? 0 : x > y ? 1 : -1;
        if (c !== 0) return p.sortKey!.descending ? -c : c;
      }
      return 0;
    });
  }
}

/** libdm's list splitting: words between commas, consecutive commas skipped, but a trailing comma leaves an empty word. */
function words(list: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < list.length) {
    while (i < list.length && list[i] === ',') i++;
    const start = i;
    while (i < list.length && list[i] !== ',') i++;
    out.push(list.slice(start, i));
  }
  return out;
}
