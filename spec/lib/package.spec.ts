// The package's entry points: every export and the bin point at something the build produces.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { shippedUnder } from '../api/shipped-files.js';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  type: string; exports: Record<string, string | { types: string; default: string }>; bin: Record<string, string>;
  files: string[]; main: string; types: string; typesVersions: Record<string, Record<string, string[]>>;
  repository: { url: string }; homepage: string; bugs: { url: string };
};
const typedoc = JSON.parse(fs.readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };

/** dist/<x>.js and dist/<x>.d.ts come from <x>.ts (tsconfig.build.json, rootDir "."). */
const sourceOf = (distFile: string) => path.join(ROOT, distFile.replace(/^\.\/dist\//, '').replace(/\.d\.ts$|\.js$/, '.ts'));

describe('package.json', () => {
  test('ESM only, with ., ./codec and ./testing', () => {
    expect(pkg.type).toBe('module');
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './codec', './testing']));
  });
  for (const [name, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue;
    test(`export ${name} has types and code built from an existing source`, () => {
      expect(fs.existsSync(sourceOf(target.default))).toBe(true);
      expect(sourceOf(target.types)).toBe(sourceOf(target.default));
    });
  }
  test('the dmctl bin exists and is a node script', () => {
    const bin = path.join(ROOT, pkg.bin.dmctl!);
    expect(fs.readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });
  test('the codec entry imports no Node API (it runs in any JavaScript runtime)', () => {
    for (const f of fs.readdirSync(path.join(ROOT, 'codec')).filter((n) => n.endsWith('.ts'))) {
      expect([f, /from 'node:|require\(|\bprocess\.|\bBuffer\b/.test(fs.readFileSync(path.join(ROOT, 'codec', f), 'utf8'))]).toEqual([f, false]);
    }
  });
  test('ships only what runs and what README links: no benchmarks, examples, specs or sources; LICENSE and the guides included', () => {
    // dist/bench and dist/examples need fixtures and devDependencies a user does not have.
    // dist/base: DmBaseError, which every layer's errors extend.
    expect(pkg.files.filter((f) => f.startsWith('dist')).sort()).toEqual(['dist/base', 'dist/cli', 'dist/codec', 'dist/ffi', 'dist/lib', 'dist/testing']);
    expect(pkg.files).toContain('LICENSE');
    for (const f of pkg.files.filter((e) => !e.includes('*'))) expect([f, fs.existsSync(path.join(ROOT, f.startsWith('dist/') ? f.slice(5) : f))]).toEqual([f, true]);
    // The guides: docs/*.md and their images, not docs/api-report.txt (a review artefact).
    const docs = shippedUnder('docs');
    expect(docs).toEqual(expect.arrayContaining(['docs/client.md', 'docs/images/thin-pool.svg']));
    expect(docs.filter((f) => !/\.(md|svg)$/.test(f))).toEqual([]);
    for (const [, target] of Object.entries(pkg.bin)) expect(pkg.files.some((f) => target.startsWith(f))).toBe(true);
  });
  test('no script npm counts as an install script: the build runs on pack (prepack), never on a user\'s install', () => {
    // npm 11 lists a dependency's preinstall, install and postinstall, and its prepare when it
    // comes from a tarball, a folder or git (not from the registry), as install scripts, and
    // adds `node-gyp rebuild` for a binding.gyp. `prepack` runs on `npm pack`/`npm publish` only.
    const scripts = (pkg as unknown as { scripts: Record<string, string> }).scripts;
    expect(Object.keys(scripts).filter((k) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(k))).toEqual([]);
    expect(fs.existsSync(path.join(ROOT, 'binding.gyp'))).toBe(false);
    expect(scripts.prepack).toBe('npm run build');
  });
  test('dependencies are caret ranges (a user\'s tree can share one copy); the consumer test installs each range\'s lowest', () => {
    const deps = (pkg as unknown as { dependencies: Record<string, string> }).dependencies;
    expect(Object.entries(deps).filter(([, range]) => !/^\^\d+\.\d+\.\d+$/.test(range))).toEqual([]);
    expect(fs.readFileSync(path.join(ROOT, 'consumer-test', 'readme.sh'), 'utf8')).toMatch(/lowest/);
  });
  test('repository, homepage and bugs are set', () => {
    expect(pkg.repository.url).toMatch(/^git\+https:\/\//);
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.bugs.url).toMatch(/^https:\/\//);
  });
  test('main/types fall back to the root export; typesVersions maps every subpath for moduleResolution node10', () => {
    const rootExport = pkg.exports['.'] as { types: string; default: string };
    expect([pkg.main, pkg.types]).toEqual([rootExport.default, rootExport.types]);
    for (const [name, target] of Object.entries(pkg.exports)) {
      if (name === '.' || typeof target === 'string') continue;
      expect([name, pkg.typesVersions['*']?.[name.slice(2)]]).toEqual([name, [target.types]]);
    }
  });
  test('the API reference (typedoc.json) documents every entry point', () => {
    const entries = Object.values(pkg.exports).filter((t) => typeof t !== 'string').map((t) => sourceOf(t.default));
    expect(typedoc.entryPoints.map((e) => path.join(ROOT, e)).sort()).toEqual(entries.sort());
  });
  test('`tsc` on the PATH of npm scripts and npx is the project\'s TypeScript, not the typescript-min alias', () => {
    // Both packages have a `tsc` bin; npm links the first one it meets and never replaces it
    // (npm ci meets `typescript` first, an `npm install` may not). The build must not emit
    // with 5.5, nor `npx tsc --noEmit` check with it.
    const bin = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    const own = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'typescript', 'package.json'), 'utf8')) as { version: string };
    expect(fs.realpathSync(bin)).toBe(fs.realpathSync(path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')));
    expect(own.version).not.toBe((JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'typescript-min', 'package.json'), 'utf8')) as { version: string }).version);
  });
});
