// The units rule of docs/conventions.md over the public API: every property, method
// parameter and function parameter reachable from an export of an entry point, walked with
// the TypeScript checker over the sources (as spec/api/report.ts does), and every name that
// denotes a quantity without saying its unit. Pure over a program, so the spec can plant
// offenders in a made-up file as well as check the real entry points.
import * as path from 'node:path';
import ts from 'typescript';

/**
 * The unit tokens a name may carry (`sizeSectors`, `dataBytes`, `lowWaterMarkBlocks`, `timeoutMs`,
 * `upSeconds`), and `Percent` for the kernel's fill thresholds (`highWatermarkPercent`).
 */
export const UNIT_WORDS = new Set(['sectors', 'bytes', 'blocks', 'ms', 'seconds', 'percent']);

/**
 * Words that make a name a quantity: a size, an offset or position, a length, or a duration.
 * A name with one of them and no unit word is an offender (`size`, `dataOffset`, `timeout`,
 * `lowWaterMark`, `chunkSize`).
 */
export const QUANTITY_WORDS = new Set([
  'size', 'length', 'len', 'offset', 'start', 'end', 'capacity',
  'timeout', 'delay', 'interval', 'period', 'duration', 'elapsed', 'age', 'time', 'sleep',
  'lowwatermark', 'watermark',
]);

/** The words of a camelCase or snake_case name, lowercased (`lowWaterMark` → low, water, mark, and the joined `lowwatermark`). */
export function wordsOf(name: string): string[] {
  const parts = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
  const out = [...parts];
  // Multi-word quantities (`waterMark`, `lowWaterMark`) count as one word too.
  for (let i = 0; i < parts.length; i++) for (let j = i + 2; j <= parts.length; j++) out.push(parts.slice(i, j).join(''));
  return out;
}

/**
 * Why `name` breaks the rule, or `undefined`: it names a quantity and carries no unit, or it
 * is a unit alone (`sectors`, `bytes`), which says the unit but not which quantity.
 */
export function unitProblem(name: string): string | undefined {
  const words = wordsOf(name);
  const lower = name.toLowerCase();
  if (UNIT_WORDS.has(lower)) return 'a unit alone: which quantity?';
  if (words.some((w) => UNIT_WORDS.has(w))) return undefined;
  const q = words.find((w) => QUANTITY_WORDS.has(w));
  return q === undefined ? undefined : `a quantity (${q}) without a unit`;
}

/** One offending name: `Owner.field` and why. */
export interface UnitOffender {
  readonly where: string;
  readonly why: string;
}

/** A name is a kernel wire-struct field of linux/dm-ioctl.h (or loop.h, poll.h), mirrored by the raw codec. */
export const isKernelStructField = (name: string): boolean => /^[a-z0-9]+(_[a-z0-9]+)+$/.test(name) || /^(lo|dm)_/.test(name);

/** Walks the public types of `files` (entry points) and lists names without units. */
export function unitOffenders(program: ts.Program, files: readonly string[]): UnitOffender[] {
  const checker = program.getTypeChecker();
  const seen = new Set<ts.Type>();
  const found = new Map<string, string>();
  const ours = (decl: ts.Declaration): boolean => !decl.getSourceFile().fileName.includes('/node_modules/');
  const isOurs = (sym: ts.Symbol | undefined): boolean => (sym?.declarations ?? []).some(ours);

  // Only numbers carry units: a `bytes: Uint8Array` is a buffer, a `length` of a tuple is the language's.
  const numeric = (t: ts.Type): boolean => {
    const parts = (t.isUnion() ? t.types : [t]).filter((u) => !(u.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
    return parts.length > 0 && parts.every((u) => (u.flags & (ts.TypeFlags.NumberLike | ts.TypeFlags.BigIntLike)) !== 0);
  };
  const report = (owner: string, name: string, type: ts.Type) => {
    if (!numeric(type) || isKernelStructField(name)) return;
    const why = unitProblem(name);
    if (why !== undefined) found.set(`${owner}.${name}`, why);
  };

  const nameOf = (t: ts.Type, fallback: string): string => {
    const s = t.aliasSymbol ?? t.getSymbol();
    const n = s?.getName();
    return n !== undefined && !n.startsWith('__') && isOurs(s) ? n : fallback;
  };

  const visitSignature = (sig: ts.Signature, owner: string) => {
    for (const p of sig.getParameters()) {
      const decl = p.valueDeclaration ?? p.declarations?.[0];
      if (decl !== undefined && !ours(decl)) continue;
      if (!decl) continue;
      const pt = checker.getTypeOfSymbolAtLocation(p, decl);
      report(owner, p.getName(), pt);
      visit(pt, `${owner}(${p.getName()})`);
    }
    visit(sig.getReturnType(), `${owner}()`);
  };

  function visit(t: ts.Type, owner: string): void {
    if (seen.has(t)) return;
    seen.add(t);
    if (t.isUnionOrIntersection()) {
      for (const u of t.types) visit(u, owner);
      return;
    }
    if (!(t.flags & ts.TypeFlags.Object)) return;
    if (checker.isArrayType(t) || checker.isTupleType(t)) {
      for (const a of checker.getTypeArguments(t as ts.TypeReference)) visit(a, owner);
      return;
    }
    const sym = t.getSymbol();
    const args = checker.getTypeArguments(t as ts.TypeReference) ?? [];
    for (const a of (t as ts.TypeReference).target ? args : []) visit(a, owner);
    for (const a of t.aliasTypeArguments ?? []) visit(a, owner);
    // A library type (Promise, Map, Uint8Array, zod's schemas): only its type arguments are ours.
    if (sym !== undefined && (sym.declarations ?? []).length > 0 && !isOurs(sym)) return;
    const here = nameOf(t, owner);
    for (const p of checker.getPropertiesOfType(t)) {
      const decls = p.declarations ?? [];
      if (decls.length > 0 && !decls.some(ours)) continue;
      if (p.getName().startsWith('__@') || p.getName().startsWith('#')) continue;
      const decl = p.valueDeclaration ?? decls[0];
      const pt = decl ? checker.getTypeOfSymbolAtLocation(p, decl) : checker.getTypeOfSymbol(p);
      report(here, p.getName(), pt);
      visit(pt, `${here}.${p.getName()}`);
    }
    for (const sig of t.getCallSignatures()) visitSignature(sig, here);
    for (const sig of t.getConstructSignatures()) visitSignature(sig, here);
    const str = t.getStringIndexType();
    if (str) visit(str, `${here}[]`);
    const num = t.getNumberIndexType();
    if (num) visit(num, `${here}[]`);
  }

  for (const file of files) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`not in the program: ${file}`);
    const mod = checker.getSymbolAtLocation(sf)!;
    for (const exp of checker.getExportsOfModule(mod)) {
      const s = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const name = exp.getName();
      if (s.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class)) visit(checker.getDeclaredTypeOfSymbol(s), name);
      if (s.flags & ts.SymbolFlags.Value) {
        const decl = s.valueDeclaration ?? s.declarations?.[0];
        if (decl) visit(checker.getTypeOfSymbolAtLocation(s, decl), name);
      }
    }
  }
  return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([where, why]) => ({ where, why }));
}

/** A program over the repository's tsconfig with `files` as roots. */
export function programOf(root: string, files: readonly string[]): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  return ts.createProgram(files, { ...config.options, noEmit: true });
}
