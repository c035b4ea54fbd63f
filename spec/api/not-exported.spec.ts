// typedoc.json's intentionallyNotExported (types a public signature mentions but no entry
// point exports) is exactly the table of docs/api-reference.md, each with its reason, and
// none of them is exported after all (docs/api-report.txt lists every export).
import { expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const typedoc = JSON.parse(fs.readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8')) as { intentionallyNotExported: string[] };
const doc = fs.readFileSync(path.join(ROOT, 'docs', 'api-reference.md'), 'utf8');
const report = fs.readFileSync(path.join(ROOT, 'docs', 'api-report.txt'), 'utf8');

test('every intentionally unexported type has a row with its reason in docs/api-reference.md, and no row is stale', () => {
  const rows = [...doc.matchAll(/^\| `(\w+)` \| ([\w/.-]+\.ts) \| (.+) \|$/gm)].map((m) => ({ name: m[1]!, file: m[2]!, why: m[3]! }));
  expect(rows.map((r) => r.name).sort()).toEqual([...typedoc.intentionallyNotExported].sort());
  for (const r of rows) {
    expect(r.why.length).toBeGreaterThan(20);
    // The type is declared, unexported or exported from a module only, in the file the row names.
    expect(fs.readFileSync(path.join(ROOT, r.file), 'utf8')).toMatch(new RegExp(`^(export )?(type|interface) ${r.name}\\b`, 'm'));
  }
});

test('no entry point exports a type listed as not exported (else the list hides nothing and should drop it)', () => {
  const exported = new Set(report.split('\n').filter((l) => !l.startsWith('#') && l !== '').map((l) => l.split(' ').pop()!));
  expect(typedoc.intentionallyNotExported.filter((n) => exported.has(n))).toEqual([]);
});
