// The cancellation rule of docs/conventions.md over the public API's handles: every async
// method of every object the public API hands out (what an exported function or method
// returns, a class's instances, their properties and what their methods return, followed
// transitively) takes `signal` and `timeoutMs` in its last parameter. Walked with the
// TypeScript checker over the sources (as spec/api/units.ts does); pure over a program, so
// the spec can plant offenders in a made-up file as well as check the real entry points.
// Only what the library hands out is walked: a parameter's type is what the caller gives
// (a callback, a backend it implements), not a handle of the package's.
import ts from 'typescript';

/** What an async method returns: a promise, or an iterable whose every step is one. */
const ASYNC_TYPES = new Set(['Promise', 'AsyncGenerator', 'AsyncIterable', 'AsyncIterableIterator']);

/** One async method of a handle and what its options lack. */
export interface AsyncMethod {
  /** `Type.method` (`BlockFile.read`, `DeviceMapper.status`). */
  readonly where: string;
  /** Undefined when the last parameter has `signal` and `timeoutMs`; otherwise what is missing. */
  readonly problem: string | undefined;
}

/** A handle type that releases something (a `close`, `release`, `destroy`, `remove` or `detach` method). */
export interface Releasing {
  /** The type's name. */
  readonly type: string;
  /** The releasing methods it has. */
  readonly methods: readonly string[];
  /** Whether it has `[Symbol.asyncDispose]` (`await using`). */
  readonly disposable: boolean;
}

/** The names of methods that release what a handle owns. */
export const RELEASING = new Set(['close', 'release', 'destroy', 'remove', 'detach']);

/** What {@link handleSurface} finds. */
export interface HandleSurface {
  readonly methods: readonly AsyncMethod[];
  readonly releasing: readonly Releasing[];
}

/**
 * Every async method reachable from the exports of `files`, each with its problem, and every
 * handle type with a releasing method. `skip` names types not walked at all (interfaces the
 * package calls, not hands out: a backend's service interface reached through the
 * simulator's `backend()`).
 */
export function handleSurface(program: ts.Program, files: readonly string[], skip: ReadonlySet<string> = new Set()): HandleSurface {
  const checker = program.getTypeChecker();
  const seen = new Set<ts.Type>();
  const found = new Map<string, string | undefined>();
  const releasing = new Map<string, Releasing>();
  const ours = (decl: ts.Declaration): boolean => !decl.getSourceFile().fileName.includes('/node_modules/');
  const isOurs = (sym: ts.Symbol | undefined): boolean => (sym?.declarations ?? []).some(ours);
  const nameOf = (t: ts.Type, fallback: string): string => {
    const s = t.aliasSymbol ?? t.getSymbol();
    const n = s?.getName();
    return n !== undefined && !n.startsWith('__') && isOurs(s) ? n : fallback;
  };
  /**
   * The T of `Promise<T>` or of an async iterable of T (an async generator's: each `next()`
   * waits), or undefined when `t` is neither.
   */
  const promised = (t: ts.Type): ts.Type | undefined => {
    const parts = t.isUnion() ? t.types : [t];
    const p = parts.find((u) => ASYNC_TYPES.has(u.getSymbol()?.getName() ?? ''));
    return p === undefined ? undefined : checker.getTypeArguments(p as ts.TypeReference)[0];
  };
  const hasOption = (t: ts.Type, name: string): boolean => {
    const parts = (t.isUnion() ? t.types : [t]).filter((u) => !(u.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
    return parts.length > 0 && parts.every((u) => checker.getPropertyOfType(u, name) !== undefined);
  };
  const optionsProblem = (sig: ts.Signature): string | undefined => {
    const params = sig.getParameters();
    const last = params[params.length - 1];
    const decl = last?.valueDeclaration ?? last?.declarations?.[0];
    if (last === undefined || decl === undefined) return 'no options parameter';
    const t = checker.getTypeOfSymbolAtLocation(last, decl);
    const missing = ['signal', 'timeoutMs'].filter((n) => !hasOption(t, n));
    return missing.length === 0 ? undefined : `its last parameter (${last.getName()}) has no ${missing.join(' and no ')}`;
  };
  const visitSignature = (sig: ts.Signature, where: string, owner: string) => {
    const ret = sig.getReturnType();
    const inner = promised(ret);
    if (inner !== undefined) {
      const problem = optionsProblem(sig);
      // Overloads: one signature with the options is enough.
      if (!found.has(where) || problem === undefined) found.set(where, problem);
      visit(inner, `${owner}()`);
    } else {
      visit(ret, `${owner}()`);
    }
  };
  function visit(t: ts.Type, owner: string): void {
    if (seen.has(t)) return;
    seen.add(t);
    if (t.isUnion()) {
      for (const u of t.types) visit(u, owner);
      return;
    }
    // An intersection (`BlockFile & AsyncDisposable`) is one handle: its members' properties together, named by its first member of ours.
    if (!(t.flags & ts.TypeFlags.Object) && !t.isIntersection()) return;
    if (checker.isArrayType(t) || checker.isTupleType(t)) {
      for (const a of checker.getTypeArguments(t as ts.TypeReference)) visit(a, owner);
      return;
    }
    const sym = t.isIntersection() ? t.types.map((u) => u.getSymbol()).find((x) => isOurs(x)) : t.getSymbol();
    for (const a of !t.isIntersection() && (t as ts.TypeReference).target ? checker.getTypeArguments(t as ts.TypeReference) : []) visit(a, owner);
    for (const a of t.aliasTypeArguments ?? []) visit(a, owner);
    if (sym !== undefined && (sym.declarations ?? []).length > 0 && !isOurs(sym)) return;
    const here = t.isIntersection() ? (sym?.getName() ?? owner) : nameOf(t, owner);
    if (skip.has(here)) return;
    const releasers: string[] = [];
    let disposable = false;
    for (const p of checker.getPropertiesOfType(t)) {
      const decls = p.declarations ?? [];
      // AsyncDisposable's own member counts, though TypeScript's lib declares it.
      if (/^__@asyncDispose@\d+$/.test(p.getName())) disposable = true;
      if (decls.length > 0 && !decls.some(ours)) continue;
      // A symbol-keyed member: `[Symbol.asyncDispose]()` takes no arguments by its protocol, and
      // the package's own symbols (lib/client/internal-keys.ts) are not exported: no caller has them.
      if (p.getName().startsWith('__@') || p.getName().startsWith('#')) continue;
      const decl = p.valueDeclaration ?? decls[0];
      const pt = decl ? checker.getTypeOfSymbolAtLocation(p, decl) : checker.getTypeOfSymbol(p);
      const name = p.getName();
      const calls = (pt.isUnion() ? pt.types : [pt]).flatMap((u) => u.getCallSignatures());
      if (calls.length > 0 && RELEASING.has(name) && calls.some((c) => promised(c.getReturnType()) !== undefined)) releasers.push(name);
      for (const sig of calls) visitSignature(sig, `${here}.${name}`, `${here}.${name}`);
      if (calls.length === 0) visit(pt, `${here}.${name}`);
    }
    if (releasers.length > 0 && !releasing.has(here)) releasing.set(here, { type: here, methods: releasers, disposable });
    for (const sig of t.getCallSignatures()) visitSignature(sig, here, here);
    for (const sig of t.getConstructSignatures()) visit(sig.getReturnType(), here);
  }
  for (const file of files) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`not in the program: ${file}`);
    const mod = checker.getSymbolAtLocation(sf)!;
    for (const exp of checker.getExportsOfModule(mod)) {
      const s = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      if (!(s.flags & ts.SymbolFlags.Value)) continue;
      const decl = s.valueDeclaration ?? s.declarations?.[0];
      if (!decl) continue;
      const t = checker.getTypeOfSymbolAtLocation(s, decl);
      if (s.flags & ts.SymbolFlags.Class) visit(checker.getDeclaredTypeOfSymbol(s), exp.getName());
      const calls = t.getCallSignatures();
      for (const sig of calls) visitSignature(sig, exp.getName(), exp.getName());
      if (calls.length === 0) visit(t, exp.getName());
    }
  }
  const byName = <T>(a: [string, T], b: [string, T]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  return {
    methods: [...found.entries()].sort(byName).map(([where, problem]) => ({ where, problem })),
    releasing: [...releasing.entries()].sort(byName).map(([, r]) => r),
  };
}
