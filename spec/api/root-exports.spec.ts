// The package root is curated: what a user of the library names. The device-mapper wire
// (kernel constants, record layouts, reply-header facts, the dev_t and cookie encodings) is
// devicemapper/codec's; dmctl's helpers are devicemapper/cli's. A name exported by two entry
// points means one thing (the same declaration) in both.
import { expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { publicEntries } from '../boundaries/imports.js';
import { exportMeanings } from './report.js';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const sources = publicEntries(ROOT);
const entries = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((entry, i) => ({ entry, source: sources[i]! }));

/**
 * The codec's names the root shares, each with why a library user names it: the types the
 * client takes and returns, and the helpers that read them. Anything else of the codec stays
 * in devicemapper/codec.
 */
const SHARED_WITH_CODEC: ReadonlyMap<string, string> = new Map([
  ...['DeviceId', 'DeviceInfo', 'DevNo', 'KernelString', 'ListedDevice', 'RawNames', 'ReplyFlags', 'Sectors', 'TargetLine', 'TargetSpecInput', 'TargetVersion', 'Version']
    .map((n) => [n, 'a type the client takes or returns'] as const),
  ['devToString', "prints a DevNo as major:minor, as the client's results carry it"],
  ['redactTableParams', 'masks key material in table params the client returned'],
  ['DmCodecError', 'every error class is importable from the root (ARCHITECTURE.md)'],
]);

/** Wire-level names that once were in the root (CHANGELOG): they must not come back. */
const WIRE_LEVEL = ['TRUSTED_REPLY_FIELDS', 'DM_COOKIE_MAGIC', 'DM_UDEV_FLAGS_MASK', 'DM_UDEV_FLAGS_SHIFT', 'encodeDev', 'decodeDev'];

const meanings = exportMeanings(ROOT, entries);
const root = meanings.get('.')!;

test('the root exports no wire-level name: no kernel constant, record layout or reply-header fact', () => {
  const names = [...root.keys()];
  expect(names.filter((n) => WIRE_LEVEL.includes(n))).toEqual([]);
  // Kernel constants are DM_* (linux/dm-ioctl.h, libdevmapper.h); DM_DIR is the /dev/mapper
  // directory the node functions use, not a wire value.
  expect(names.filter((n) => /^DM_[A-Z0-9_]+$/.test(n) && n !== 'DM_DIR')).toEqual([]);
  const codec = meanings.get('./codec')!;
  expect(names.filter((n) => codec.has(n) && !SHARED_WITH_CODEC.has(n)).sort()).toEqual([]);
  // An entry of the list that the root no longer shares is stale.
  expect([...SHARED_WITH_CODEC.keys()].filter((n) => !(root.has(n) && codec.has(n)))).toEqual([]);
}, 120_000);

test('a name two entry points export means the same thing in both (the same declaration)', () => {
  const differing: string[] = [];
  const all = [...meanings.entries()];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const [a, an] = all[i]!;
      const [b, bn] = all[j]!;
      for (const [name, where] of an) if (bn.has(name) && bn.get(name) !== where) differing.push(`${name}: ${a} ${where} ≠ ${b} ${bn.get(name)}`);
    }
  }
  expect(differing).toEqual([]);
}, 120_000);

test('the check can fail: a planted second meaning and a wire-level name are found', () => {
  const planted = new Map([['parseTable', 'lib/targets/table.ts:1'], ['DM_COOKIE_MAGIC', 'codec/constants.ts:1']]);
  const other = new Map([['parseTable', 'cli/context.ts:1']]);
  expect([...planted].filter(([n, w]) => other.has(n) && other.get(n) !== w).map(([n]) => n)).toEqual(['parseTable']);
  expect([...planted.keys()].filter((n) => WIRE_LEVEL.includes(n))).toEqual(['DM_COOKIE_MAGIC']);
});
