// README.md is read where the package is installed (node_modules, an npm page): every relative
// link in it and in the guides it links (the shipped docs/*.md) must point at a file the tarball
// holds, and every anchor at a heading that exists. Checked from package.json's `files`, without
// packing. Links to what the tarball leaves out (CONTRIBUTING.md, bench/) go to the repository's
// URL, and must name a file the repository has.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, shipped, shippedUnder } from '../api/shipped-files.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { repository: { url: string } };
/** https://github.com/<owner>/<repo>: links under /blob/<branch>/ or /tree/<branch>/ name repository files. */
const REPO_URL = pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');

/** The Markdown a user of the installed package reads: README.md and the shipped docs. */
const DOCUMENTS = ['README.md', ...shippedUnder('docs').filter((f) => f.endsWith('.md'))];

/** The text without fenced code blocks and inline code spans (a link there is not a link). */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '').replace(/`+[^`\n]*`+/g, '');
}

/** Every link target: [text](target), ![alt](target), and HTML href/src. */
function links(text: string): string[] {
  const body = prose(text);
  return [
    ...[...body.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...body.matchAll(/\b(?:href|src)="([^"]+)"/g)].map((m) => m[1]!),
  ];
}

/** GitHub's heading anchors: lower case, punctuation and symbols dropped, spaces to hyphens. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = m[1]!.replace(/`/g, '').toLowerCase().replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
    let unique = slug;
    for (let i = 1; out.has(unique); i++) unique = `${slug}-${i}`;
    out.add(unique);
  }
  return out;
}

/** What is wrong with one link of `doc`, or undefined. */
function problem(doc: string, target: string): string | undefined {
  const [file, fragment] = target.split('#', 2) as [string, string | undefined];
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
    const inRepo = new RegExp(`^${REPO_URL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(?:blob|tree)/[^/]+/(.+)$`).exec(file);
    if (inRepo && !fs.existsSync(path.join(ROOT, decodeURIComponent(inRepo[1]!)))) return 'names a repository file that does not exist';
    return undefined;
  }
  const rel = file === '' ? doc : path.posix.normalize(path.posix.join(path.posix.dirname(doc), decodeURIComponent(file)));
  if (rel.startsWith('..')) return 'points outside the package';
  if (!fs.existsSync(path.join(ROOT, rel))) return 'no such file';
  if (!fs.statSync(path.join(ROOT, rel)).isFile()) return 'is a folder (link a file)';
  if (!shipped(rel)) return `${rel} is not in the tarball (package.json "files"); link its repository URL instead`;
  if (fragment !== undefined && rel.endsWith('.md') && !anchors(fs.readFileSync(path.join(ROOT, rel), 'utf8')).has(fragment)) return `no heading #${fragment} in ${rel}`;
  return undefined;
}

describe('links in what the package ships', () => {
  test('README.md and docs/*.md ship, with the images they show', () => {
    expect(DOCUMENTS).toEqual(expect.arrayContaining(['README.md', 'docs/client.md', 'docs/testing.md', 'docs/dmctl.md']));
    expect(shippedUnder('docs')).toEqual(expect.arrayContaining(['docs/images/thin-pool.svg', 'docs/images/device-stack.svg']));
  });

  test.each(DOCUMENTS)('every link of %s resolves inside the tarball (or to a repository file by URL)', (doc) => {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
    const found = links(text);
    if (doc === 'README.md') expect(found.length).toBeGreaterThan(10);
    expect(found.map((l) => [l, problem(doc, l)]).filter(([, p]) => p !== undefined)).toEqual([]);
  });

  test('the checks themselves catch a bad link', () => {
    expect(problem('README.md', 'spec/lib/readme-snippets.spec.ts')).toMatch(/not in the tarball/);
    expect(problem('README.md', 'docs/nope.md')).toBe('no such file');
    expect(problem('README.md', 'docs/client.md#no-such-heading')).toMatch(/no heading/);
    expect(problem('README.md', '#install')).toBeUndefined();
    expect(problem('docs/client.md', '../README.md#errors')).toBeUndefined();
    expect(problem('README.md', `${REPO_URL}/blob/main/NOPE.md`)).toMatch(/does not exist/);
    expect(links('see [a](x.md) and `[b](y.md)`\n```\n[c](z.md)\n```\n![d](i.svg)')).toEqual(['x.md', 'i.svg']);
  });
});

describe('README.md, the first page', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

  test('names no repository path the tarball leaves out (specs, the VM, benchmarks: CONTRIBUTING.md has them)', () => {
    const text = prose(readme).replace(/\[[^\]]*\]\(https?:[^)]*\)/g, '');   // a link to the repository may name its file
    const paths = [...text.matchAll(/(?<![\w/.@-])((?:spec|vm|bench|fixtures|examples|lib|ffi|codec|cli|testing|base|consumer-test)\/[\w./-]*)/g)].map((m) => m[1]);
    const code = [...readme.matchAll(/`([^`\n]+)`/g)].flatMap((m) => [...m[1]!.matchAll(/(?<![\w/.@-])((?:spec|vm|bench|fixtures|examples|consumer-test)\/[\w./-]*)/g)].map((p) => p[1]));
    expect([...paths, ...code]).toEqual([]);
  });

  test('stays a short read: the details belong in docs/', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(380);
  });

  test('names no package registry host (built from parts so this file does not match itself)', () => {
    const host = new RegExp(['registry', 'npmjs'].join('\\.') + '|' + ['npmjs', 'com'].join('\\.') + '|' + ['registry', 'yarnpkg'].join('\\.'));
    for (const f of [...DOCUMENTS, 'CONTRIBUTING.md']) expect([f, host.test(fs.readFileSync(path.join(ROOT, f), 'utf8'))]).toEqual([f, false]);
  });
});
