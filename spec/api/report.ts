// The public API report: every export of every package entry point with its kind, from
// the TypeScript checker (so a re-export through `export *` counts, and an export that
// moves between entry points shows up). docs/api-report.txt is this, checked in;
// spec/api/api-report.spec.ts fails when it drifts, `npm run api:report` rewrites it.
import * as path from 'node:path';
import ts from 'typescript';

function kindOf(checker: ts.TypeChecker, symbol: ts.Symbol): string {
  const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const f = s.flags;
  const kinds: string[] = [];
  if (f & ts.SymbolFlags.Class) kinds.push('class');
  else if (f & ts.SymbolFlags.Function) kinds.push('function');
  else if (f & ts.SymbolFlags.Enum) kinds.push('enum');
  else if (f & ts.SymbolFlags.Variable) {
    const decl = s.valueDeclaration;
    const isConst = decl !== undefined && ts.isVariableDeclaration(decl) && (ts.getCombinedNodeFlags(decl) & ts.NodeFlags.Const) !== 0;
    kinds.push(isConst ? 'const' : 'let');
  }
  if (f & ts.SymbolFlags.Interface) kinds.push('interface');
  else if (f & ts.SymbolFlags.TypeAlias) kinds.push('type');
  if (f & ts.SymbolFlags.Namespace && kinds.length === 0) kinds.push('namespace');
  return kinds.join(' + ') || 'unknown';
}

/** `{ entry: "./cli", source: "cli/index.ts" }` per package export, and the report text. */
export function apiReport(root: string, entries: readonly { readonly entry: string; readonly source: string }[]): string {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const files = entries.map((e) => path.join(root, e.source));
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  let out = '# The public API of each package entry point (generated: npm run api:report; checked by spec/api/api-report.spec.ts)\n';
  for (const { entry, source } of entries) {
    const sf = program.getSourceFile(path.join(root, source))!;
    const mod = checker.getSymbolAtLocation(sf)!;
    const rows = checker.getExportsOfModule(mod).map((s) => `${kindOf(checker, s)} ${s.getName()}`);
    rows.sort((a, b) => (a.split(' ').pop()! < b.split(' ').pop()! ? -1 : 1));
    out += `\n## devicemapper${entry === '.' ? '' : entry.slice(1)} (${source}): ${rows.length} exports\n${rows.join('\n')}\n`;
  }
  return out;
}

/**
 * Every export of every entry point with what it is: the declaration it resolves to through
 * re-exports (`file:offset` of each declaration). Two entry points export a name with one
 * meaning exactly when the two resolve to the same declarations.
 */
export function exportMeanings(root: string, entries: readonly { readonly entry: string; readonly source: string }[]): Map<string, Map<string, string>> {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram(entries.map((e) => path.join(root, e.source)), { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const out = new Map<string, Map<string, string>>();
  for (const { entry, source } of entries) {
    const mod = checker.getSymbolAtLocation(program.getSourceFile(path.join(root, source))!)!;
    const names = new Map<string, string>();
    for (const s of checker.getExportsOfModule(mod)) {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      const where = (target.declarations ?? []).map((d) => `${path.relative(root, d.getSourceFile().fileName)}:${d.pos}`).sort().join(' ');
      names.set(s.getName(), where);
    }
    out.set(entry, names);
  }
  return out;
}
