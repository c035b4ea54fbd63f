/**
 * Where dmctl's own package is, read at run time: its version (from its own package.json,
 * so `dmctl --version` never drifts from what is installed) and whether it runs from this
 * repository's checkout (then a hint may mention the repository's test VM, `npm run vm`,
 * which an installed package does not have).
 *
 * The package locates itself from the path of this very module, found in a V8 call site:
 * `import.meta.url` would say the same in ESM, but the tests run this source as CommonJS
 * (@swc/jest), where `import.meta` does not compile (ARCHITECTURE.md, "Modules and tests").
 * A call site's file name is `file:///…/dist/cli/package-info.js` when the package runs
 * as ESM and `/…/cli/package-info.ts` under jest; both lead to the same package.json by
 * walking up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's name in package.json: the walk up stops at the first package.json that has it. */
export const PACKAGE_NAME = 'devicemapper';

/** What dmctl knows about the package it runs from. */
export interface PackageInfo {
  /** The package's directory (holding its package.json), or undefined when it was not found. */
  readonly root: string | undefined;
  /** package.json's `version`, or undefined when it could not be read. */
  readonly version: string | undefined;
  /** True when running from this repository's checkout (see {@link isRepositoryCheckout}). */
  readonly checkout: boolean;
}

/** The file this function is defined in, from V8's structured stack trace (a path or a file: URL). */
function ownFile(): string | undefined {
  const previous = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, sites) => sites;
    const sites = new Error().stack as unknown as NodeJS.CallSite[] | undefined;
    return Array.isArray(sites) ? sites[0]?.getFileName() ?? undefined : undefined;
  } catch {
    return undefined;
  } finally {
    Error.prepareStackTrace = previous;
  }
}

/**
 * The directory of the nearest package.json named {@link PACKAGE_NAME} at or above `file`
 * (a path or a `file:` URL), or undefined. A package.json of another name (a consumer's
 * project, a workspace) is walked past, not taken.
 */
export function packageRootFrom(file: string): string | undefined {
  let dir = path.dirname(file.startsWith('file:') ? fileURLToPath(file) : path.resolve(file));
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch {
      // no package.json here, or not JSON: keep walking up
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * Whether `root` is this repository's checkout rather than an installed copy: the
 * repository's VM scripts (`vm/run-in-vm.sh`, which `npm run vm` runs) sit next to
 * package.json (the tarball does not ship `vm/`), and the package is not inside a
 * `node_modules` directory (an install, even of a git dependency).
 */
export function isRepositoryCheckout(root: string): boolean {
  if (path.resolve(root).split(path.sep).includes('node_modules')) return false;
  return fs.existsSync(path.join(root, 'vm', 'run-in-vm.sh'));
}

/** The package's version from a package root's package.json, or undefined. */
export function versionAt(root: string): string | undefined {
  try {
    const v = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

let cached: PackageInfo | undefined;

/** The package dmctl runs from (looked up once per process). */
export function packageInfo(): PackageInfo {
  if (cached) return cached;
  const file = ownFile();
  const root = file !== undefined ? packageRootFrom(file) : undefined;
  cached = { root, version: root !== undefined ? versionAt(root) : undefined, checkout: root !== undefined && isRepositoryCheckout(root) };
  return cached;
}

/** dmctl's "Library version" text: `devicemapper <version> (dmctl)`. */
export function libraryVersion(info: PackageInfo = packageInfo()): string {
  return `${PACKAGE_NAME} ${info.version ?? '(version unknown: package.json not found)'} (dmctl)`;
}
