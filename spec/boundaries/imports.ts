// The layer rules of ARCHITECTURE.md as code: every import of every source file, checked
// against the layer it starts in. Pure over a map of files, so the spec can plant
// violations in made-up trees as well as check the real one.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One module reference found in a source file. */
export interface ImportRef {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
}

export interface Violation extends ImportRef {
  readonly rule: string;
}

/** Layer rules over repository-relative paths with forward slashes (`cli/index.ts`). */
export interface BoundaryRules {
  /**
   * The files `cli` may import from outside itself: the sources of the package's
   * public entry points (package.json `exports`).
   */
  readonly publicEntries: readonly string[];
}

// `import … from '…'`, `export … from '…'`, `import '…'`, `import('…')`, `require('…')`,
// and `typeof import('…')` in types. Comments are removed first so an example in prose
// does not count; strings are not, since a specifier is one.
const PATTERNS = [
  /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
];

function stripComments(src: string): string {
  // Keeps line numbers: block comments become the same number of newlines.
  return src
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"\\])\/\/.*$/gm, '$1');
}

export function importsOf(file: string, src: string): ImportRef[] {
  const text = stripComments(src);
  const found = new Map<number, ImportRef>();
  for (const re of PATTERNS) {
    for (const m of text.matchAll(re)) {
      const at = m.index + m[0].lastIndexOf(m[1]!);
      if (found.has(at)) continue;
      found.set(at, { file, line: text.slice(0, at).split('\n').length, specifier: m[1]! });
    }
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
}

/** Where a relative specifier points, as a repository path to a `.ts` file (`undefined` for packages). */
export function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  return joined.replace(/\.js$/, '.ts');
}

const layerOf = (file: string): 'cli' | 'testing' | 'lib' | 'codec' | 'ffi' | 'base' | 'other' =>
  file.startsWith('cli/') ? 'cli' : file.startsWith('testing/') ? 'testing' : file.startsWith('lib/') ? 'lib' : file.startsWith('codec/') ? 'codec' : file.startsWith('ffi/') ? 'ffi'
    : file.startsWith('base/') ? 'base' : 'other';

/**
 * Beyond the public entry points, the simulator may read the kernel facts it shares with the
 * real backend: errno numbers and the open-error mapping, and the SysV semaphore constants
 * its udevd models.
 */
export const SIMULATOR_KERNEL_FACTS: readonly string[] = ['ffi/errors.ts', 'ffi/sem.ts'];

/** The rule a reference breaks, or undefined. */
export function breaks(ref: ImportRef, rules: BoundaryRules): string | undefined {
  const from = layerOf(ref.file);
  const target = resolveSpecifier(ref.file, ref.specifier);
  const to = target === undefined ? 'package' : layerOf(target);
  switch (from) {
    case 'lib':
      if (to === 'cli') return 'lib/ never imports cli/';
      if (to === 'testing') return 'lib/ never imports testing/ (the simulator is a product of its own)';
      return undefined;
    case 'testing':
      if (to === 'package' || to === 'testing') return undefined;
      if (to === 'cli') return 'testing/ never imports cli/';
      if (target !== undefined && (rules.publicEntries.includes(target) || SIMULATOR_KERNEL_FACTS.includes(target))) return undefined;
      return `testing uses only the package's public entry points (${rules.publicEntries.join(', ')}) and ${SIMULATOR_KERNEL_FACTS.join(', ')}`;
    case 'cli':
      if (to === 'package' || to === 'cli') return undefined;
      if (target !== undefined && rules.publicEntries.includes(target)) return undefined;
      return `cli uses only the package's public entry points (${rules.publicEntries.join(', ')})`;
    case 'codec':
      // base/ is the import-free leaf every layer shares (the errors' base class).
      if (to === 'codec' || to === 'base') return undefined;
      return to === 'package' ? 'codec/ imports no package and no Node API' : 'codec/ imports nothing outside itself (and base/)';
    case 'base':
      return to === 'base' ? undefined : 'base/ imports nothing';
    case 'ffi':
      if (to === 'lib' || to === 'cli' || to === 'codec') return 'ffi/ imports neither lib/ nor codec/';
      return undefined;
    default:
      return undefined;
  }
}

export function checkBoundaries(files: ReadonlyMap<string, string>, rules: BoundaryRules): Violation[] {
  const out: Violation[] = [];
  for (const [file, src] of files) {
    for (const ref of importsOf(file, src)) {
      const rule = breaks(ref, rules);
      if (rule) out.push({ ...ref, rule });
    }
  }
  return out;
}

/** Every `.ts` source of the layers under `root`, keyed by repository path. */
export function readSources(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) files.set(rel, fs.readFileSync(path.join(root, rel), 'utf8'));
    }
  };
  for (const top of ['base', 'lib', 'codec', 'ffi', 'testing', 'cli']) walk(top);
  return files;
}

/** The sources behind package.json's `exports` (dist/x.js comes from x.ts). */
export function publicEntries(root: string): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | { default: string }> };
  return Object.values(pkg.exports)
    .map((t) => (typeof t === 'string' ? t : t.default))
    .filter((t) => t.startsWith('./dist/') && t.endsWith('.js'))
    .map((t) => t.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
}
