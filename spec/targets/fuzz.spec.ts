/**
 * Hostile table and status lines for every target: random token soups and mutations of the
 * kernel's real lines (tokens dropped, duplicated, swapped, replaced by numbers, huge numbers,
 * `-`, devices, words of other targets; truncation). The contract: parseTarget / parseStatus
 * return a value or throw DmTargetParseError — never another error, never a hang.
 * FUZZ_RUNS scales the number of cases (default 40 000 in total).
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { DmTargetParseError, TARGET_UNITS, parseStatus, parseTarget, type TargetType } from '../../lib/index.js';
import { STATUS_CASES, TABLE_CASES } from './cases.js';

const TOTAL = Number(process.env.FUZZ_RUNS ?? 40_000);
const TYPES = Object.keys(TARGET_UNITS) as TargetType[];
const PER = Math.max(50, Math.ceil(TOTAL / TYPES.length / 4));

const corpusTable = new Map<string, string[]>();
for (const c of TABLE_CASES) corpusTable.set(c.input.type, [...(corpusTable.get(c.input.type) ?? []), c.kernel]);
const corpusStatus = new Map<string, string[]>();
for (const c of STATUS_CASES) corpusStatus.set(c.type, [...(corpusStatus.get(c.type) ?? []), c.line]);
const ALL_WORDS = [...new Set([...TABLE_CASES.map((c) => c.kernel), ...STATUS_CASES.map((c) => c.line)].flatMap((l) => l.split(/\s+/)).filter(Boolean))];

const token = fc.oneof(
  fc.constantFrom(...ALL_WORDS),
  fc.constantFrom('-', '0', '1', '2', '3', '64', '4294967296', '18446744073709551616', '99999999999999999999999', '7:0', '254:0', '1/2', '/', ':', 'A', 'D', 'E', 'Fail', 'Error', 'Merge', 'failed'),
  fc.nat({ max: 70 }).map(String),
  fc.string({ maxLength: 12 }).filter((s) => !/\s/.test(s) && s.length > 0),
);

const randomLine = fc.array(token, { maxLength: 40 }).map((t) => t.join(' '));

function mutate(line: string, ops: readonly [number, number, string][]): string {
  const t = line.split(/\s+/).filter(Boolean);
  for (const [op, i, w] of ops) {
    const k = t.length ? i % t.length : 0;
    switch (op) {
      case 0: t.splice(k, 1); break;
      case 1: t.splice(k, 0, w); break;
      case 2: t[k] = w; break;
      case 3: t.splice(k); break;
      case 4: if (t.length > 1) { const j = (k + 1) % t.length; [t[k], t[j]] = [t[j]!, t[k]!]; } break;
      default: t.splice(k, 0, t[k] ?? w); break;
    }
  }
  return t.join(' ');
}
const ops = fc.array(fc.tuple(fc.nat({ max: 5 }), fc.nat({ max: 1000 }), token), { minLength: 1, maxLength: 6 });

function once(fn: () => unknown): number {
  const t0 = performance.now();
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DmTargetParseError)) throw e;
  }
  return performance.now() - t0;
}

/** Value or typed error; and no pathological slowness (the best of three tries, so a GC pause or a busy host is not a failure). */
function check(fn: () => unknown): boolean {
  let best = once(fn);
  for (let i = 0; i < 2 && best >= 250; i++) best = Math.min(best, once(fn));
  expect(best).toBeLessThan(250);
  return true;
}

describe.each(TYPES.map((t) => [t]))('%s', (type) => {
  test('random table and status lines: value or DmTargetParseError', () => {
    fc.assert(fc.property(randomLine, fc.boolean(), (line, keys) => check(() => parseTarget({ start: 0n, length: 8n, type, params: line }, { showKeys: keys }))), { numRuns: PER, seed: 0x7a6e });
    fc.assert(fc.property(randomLine, (line) => check(() => parseStatus({ start: 0n, length: 8n, type, params: line }))), { numRuns: PER, seed: 0x57a7 });
  });

  test('mutated kernel lines: value or DmTargetParseError', () => {
    const tables = corpusTable.get(type) ?? [''];
    const statuses = corpusStatus.get(type) ?? [''];
    fc.assert(fc.property(fc.constantFrom(...tables), ops, (line, o) => check(() => parseTarget({ start: 0n, length: 8n, type, params: mutate(line, o) }))), { numRuns: PER, seed: 0xbad });
    fc.assert(fc.property(fc.constantFrom(...statuses), ops, (line, o) => check(() => parseStatus({ start: 0n, length: 8n, type, params: mutate(line, o) }))), { numRuns: PER, seed: 0xbeef });
  });
});

test('a parsed value always carries the line head', () => {
  for (const c of TABLE_CASES) {
    const p = parseTarget({ start: 8n, length: 16n, type: c.input.type, params: c.kernel });
    expect([p.start, p.length, p.type]).toEqual([8n, 16n, c.input.type]);
  }
});
