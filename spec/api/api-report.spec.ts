// The checked-in API report (docs/api-report.txt) matches the code: an export added,
// removed or moved between entry points (e.g. the CLI's schemas back into the root)
// fails here until the report is regenerated with `npm run api:report` and reviewed.
import { expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { publicEntries } from '../boundaries/imports.js';
import { apiReport } from './report.js';

const ROOT = path.join(__dirname, '..', '..');
const FILE = path.join(ROOT, 'docs', 'api-report.txt');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { default: string }> };
const sources = publicEntries(ROOT);
const entries = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((entry, i) => ({ entry, source: sources[i]! }));

let report = '';
const section = (name: string) => report.split('\n## ').find((s) => s.startsWith(`${name} (`)) ?? '';

test('docs/api-report.txt is the API of every entry point (npm run api:report regenerates it)', () => {
  report = apiReport(ROOT, entries);
  if (process.env.UPDATE_API_REPORT === '1') fs.writeFileSync(FILE, report);
  expect(report).toBe(fs.readFileSync(FILE, 'utf8'));
}, 120_000);

test('the root exports the library only: nothing of dmctl (its schemas, runDmctl) is there', () => {
  report ||= apiReport(ROOT, entries);
  const root = section('devicemapper');
  expect(root).toMatch(/class DeviceMapper\n/);
  const cli = section('devicemapper/cli');
  const names = (text: string) => text.split('\n').slice(1).map((l) => l.split(' ').pop()!).filter(Boolean);
  // dmctl's table-text parser is parseTableText; parseTable is the targets' (root) only.
  expect(names(root).filter((n) => names(cli).includes(n))).toEqual([]);
  expect(root).not.toMatch(/OutputSchema|runDmctl|Dmctl/);
  expect(cli).toMatch(/function runDmctl\n/);
  expect(cli).toMatch(/const DmctlDeviceInfoSchema/);
}, 120_000);
