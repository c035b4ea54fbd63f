// Which repository files the published tarball holds, read from package.json's `files` without
// packing: an entry is a file, a folder (everything under it) or a pattern whose `*` matches
// within one path segment. npm adds package.json, README and LICENSE whatever `files` says.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

export const packageFiles = (): string[] =>
  (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;

/** An entry of `files` as a test on a repository-relative path (forward slashes). */
function entryMatcher(entry: string): (rel: string) => boolean {
  const clean = entry.replace(/^\.\//, '').replace(/\/$/, '');
  if (!clean.includes('*')) return (rel) => rel === clean || rel.startsWith(`${clean}/`);
  if (/[?[\]{}!]|\*\*/.test(clean)) throw new Error(`package.json files: "${entry}" uses a pattern this check does not read; use a folder or a single-segment *`);
  const re = new RegExp(`^${clean.split('*').map((p) => p.replace(/[.+^$()|\\]/g, '\\$&')).join('[^/]*')}(/.*)?$`);
  return (rel) => re.test(rel);
}

const ALWAYS = /^(package\.json|README(\.[^/]*)?|LICEN[CS]E(\.[^/]*)?)$/i;

/** Whether the tarball holds this repository-relative path (a file in the repository, not dist/). */
export function shipped(rel: string, files: readonly string[] = packageFiles()): boolean {
  const norm = path.posix.normalize(rel.split(path.sep).join('/'));
  return ALWAYS.test(norm) || files.some((f) => entryMatcher(f)(norm));
}

/** The files under a repository folder (e.g. `docs`) that `files` ships. */
export function shippedUnder(folder: string, files: readonly string[] = packageFiles()): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else if (shipped(child, files)) out.push(child);
    }
  };
  walk(folder);
  return out.sort();
}
