// A small, documented heuristic for regular expressions that backtrack super-linearly.
// It parses a pattern into terms (atom + quantifier) and flags three shapes:
//
//   nested     an unbounded quantifier inside a group that is itself repeated without
//              bound: `(a+)+`, `(?:\s+\d+)+` — exponential or polynomial on failure.
//   leading    an unanchored pattern (no `^`, no sticky flag) that starts with an unbounded
//              quantifier and continues: `\s+$`, `x*y` — each start position rescans the
//              run, O(n²) when the rest fails (the dmctl table bug: 156 KiB took 19 s).
//   adjacent   two unbounded quantifiers in a row whose atoms can match the same
//              character, with nothing in between that only one of them can match:
//              `\s*(.*)$`, `\d+1\d+` — the run can be split between them in O(n) ways.
//
// Overlap is decided by probing: both atoms are tried on every ASCII character and a few
// non-ASCII ones (NBSP, line separators, BOM, CJK space, é, an emoji). Groups count as
// matching whatever any single-character term inside them matches. False positives are
// fine (they go to the allowlist with a reason); the shapes above are what matters.
import ts from 'typescript';
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Term {
  /** The atom's source, without its quantifier. */
  readonly src: string;
  /** The atom with its quantifier, for messages. */
  readonly text: string;
  /** Alternatives of a group, when the atom is a group. */
  readonly group: Term[][] | undefined;
  /** ^, $, \b, \B and lookarounds: they consume nothing. */
  readonly assertion: boolean;
  readonly min: number;
  readonly max: number;
}

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  alternatives(): Term[][] {
    const alts = [this.sequence()];
    while (this.s[this.i] === '|') { this.i++; alts.push(this.sequence()); }
    return alts;
  }

  sequence(): Term[] {
    const out: Term[] = [];
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') out.push(this.term());
    return out;
  }

  term(): Term {
    const s = this.s;
    const start = this.i;
    let group: Term[][] | undefined;
    let assertion = false;
    const c = s[this.i];
    if (c === '(') {
      this.i++;
      if (s.startsWith('?:', this.i)) this.i += 2;
      else if (s.startsWith('?=', this.i) || s.startsWith('?!', this.i)) { this.i += 2; assertion = true; }
      else if (s.startsWith('?<=', this.i) || s.startsWith('?<!', this.i)) { this.i += 3; assertion = true; }
      else if (s.startsWith('?<', this.i)) this.i = s.indexOf('>', this.i) + 1;
      group = this.alternatives();
      this.i++; // ')'
    } else if (c === '[') {
      this.i++;
      if (s[this.i] === '^') this.i++;
      if (s[this.i] === ']') this.i++;
      while (this.i < s.length && s[this.i] !== ']') this.i += s[this.i] === '\\' ? 2 : 1;
      this.i++;
    } else if (c === '\\') {
      const e = s[this.i + 1];
      this.i += 2;
      if (e === 'b' || e === 'B') assertion = true;
      else if (e === 'x') this.i += 2;
      else if (e === 'u') this.i += s[this.i] === '{' ? s.indexOf('}', this.i) + 1 - this.i : 4;
      else if (e === 'c') this.i += 1;
      else if (e === 'p' || e === 'P') this.i = s.indexOf('}', this.i) + 1;
    } else if (c === '^' || c === '$') {
      this.i++;
      assertion = true;
    } else {
      this.i++;
    }
    const src = s.slice(start, this.i);
    let min = 1;
    let max = 1;
    const q = s[this.i];
    if (q === '*') { min = 0; max = Infinity; this.i++; }
    else if (q === '+') { min = 1; max = Infinity; this.i++; }
    else if (q === '?') { min = 0; max = 1; this.i++; }
    else if (q === '{') {
      const close = s.indexOf('}', this.i);
      const body = close < 0 ? '' : s.slice(this.i + 1, close);
      const [lo, hi] = body.split(',');
      if (close >= 0 && lo !== undefined && lo !== '' && [...lo].every((d) => d >= '0' && d <= '9')) {
        min = Number(lo);
        max = hi === undefined ? min : hi === '' ? Infinity : Number(hi);
        this.i = close + 1;
      }
    }
    if (s[this.i] === '?' && (q === '*' || q === '+' || q === '?' || q === '{')) this.i++; // lazy
    return { src, text: s.slice(start, this.i), group, assertion, min, max };
  }
}

const PROBES: string[] = [
  ...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)),
  '\u00a0', '\u2028', '\u2029', '\ufeff', '\u3000', '\u00e9', '\u{1F600}',
];

const unbounded = (t: Term) => t.max === Infinity;

function containsUnbounded(alts: readonly Term[][]): boolean {
  return alts.some((seq) => seq.some((t) => unbounded(t) || (t.group !== undefined && containsUnbounded(t.group))));
}

/** Which probe characters a term can start with (groups: any single-character term inside). */
function matchSet(t: Term, flags: string): Set<string> {
  const out = new Set<string>();
  if (t.assertion) return out;
  if (t.group) {
    for (const seq of t.group) for (const x of seq) for (const ch of matchSet(x, flags)) out.add(ch);
    return out;
  }
  let re: RegExp;
  try { re = new RegExp(`^(?:${t.src})$`, flags.replace(/[gy]/g, '')); } catch { return out; }
  for (const ch of PROBES) if (re.test(ch)) out.add(ch);
  return out;
}

function overlaps(a: Term, b: Term, flags: string): boolean {
  const sa = matchSet(a, flags);
  for (const ch of matchSet(b, flags)) if (sa.has(ch)) return true;
  return false;
}

/** Inlines groups that are neither repeated, optional nor alternations (their terms run in sequence). */
function flatten(seq: readonly Term[]): Term[] {
  const out: Term[] = [];
  for (const t of seq) {
    if (t.group && !t.assertion && t.group.length === 1 && t.min === 1 && t.max === 1) out.push(...flatten(t.group[0]!));
    else out.push(t);
  }
  return out;
}

export interface Finding { readonly rule: 'nested' | 'leading' | 'adjacent'; readonly detail: string }

export function auditPattern(source: string, flags = ''): Finding[] {
  const findings: Finding[] = [];
  const root = new Parser(source).alternatives();
  const visit = (alts: readonly Term[][]) => {
    for (const seq of alts) {
      for (const t of seq) {
        if (t.group) {
          if (unbounded(t) && containsUnbounded(t.group)) findings.push({ rule: 'nested', detail: `${t.text} repeats an unbounded quantifier` });
          visit(t.group);
        }
      }
      const flat = flatten(seq);
      for (let k = 0; k < flat.length; k++) {
        const a = flat[k]!;
        if (!unbounded(a)) continue;
        for (let j = k + 1; j < flat.length; j++) {
          const b = flat[j]!;
          if (b.assertion) continue;
          const shared = overlaps(a, b, flags);
          if (unbounded(b) && shared) { findings.push({ rule: 'adjacent', detail: `${a.text} then ${b.text} can split one run` }); break; }
          if (b.min > 0 && !shared) break;
        }
      }
    }
  };
  visit(root);
  if (!flags.includes('y')) {
    for (const seq of root) {
      const flat = flatten(seq);
      const first = flat[0];
      if (first && !(first.assertion && first.src === '^') && unbounded(first) && flat.length > 1) {
        findings.push({ rule: 'leading', detail: `unanchored ${first.text} followed by more: O(n²) when the rest fails` });
      }
    }
  }
  return findings;
}

export interface SourceRegex {
  readonly file: string;
  readonly line: number;
  readonly source: string;
  readonly flags: string;
  /** A `new RegExp(...)`/`RegExp(...)` whose pattern is not a literal string. */
  readonly dynamic: boolean;
}

/** Every regex literal and RegExp construction in the .ts files under `dirs`. */
export function regexesIn(root: string, dirs: readonly string[]): SourceRegex[] {
  const out: SourceRegex[] = [];
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.push(p);
    }
  };
  for (const d of dirs) walk(path.join(root, d));
  for (const file of files.sort()) {
    const text = fs.readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const rel = path.relative(root, file).split(path.sep).join('/');
    const visit = (n: ts.Node) => {
      const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
      if (n.kind === ts.SyntaxKind.RegularExpressionLiteral) {
        const lit = n.getText(sf);
        const end = lit.lastIndexOf('/');
        out.push({ file: rel, line, source: lit.slice(1, end), flags: lit.slice(end + 1), dynamic: false });
      } else if ((ts.isNewExpression(n) || ts.isCallExpression(n)) && ts.isIdentifier(n.expression) && n.expression.text === 'RegExp') {
        const [pat, fl] = n.arguments ?? [];
        const literal = pat !== undefined && ts.isStringLiteralLike(pat) && (fl === undefined || ts.isStringLiteralLike(fl));
        out.push({ file: rel, line, source: literal ? (pat as ts.StringLiteralLike).text : n.getText(sf), flags: literal && fl ? (fl as ts.StringLiteralLike).text : '', dynamic: !literal });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}
