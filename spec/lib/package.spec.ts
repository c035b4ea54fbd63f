// The package's entry points: every export and the bin point at something the build produces.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  type: string; exports: Record<string, string | { types: string; default: string }>; bin: Record<string, string>;
};

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
});
