// Hostile input, part 1: no regular expression the package applies to text can backtrack
// super-linearly. A source audit (spec/lib/regex-audit.ts: every regex literal and RegExp
// in lib/, codec/, ffi/ against three documented shapes, with an allowlist that says why)
// and behaviour tests on 1 MB whitespace lines. The behaviour tests assert no timing: a
// synchronous regex cannot be interrupted by jest's timeout, so they run under `vm`'s
// watchdog, which can (a hang guard of 10 s; linear code needs milliseconds).
import { describe, expect, test } from '@jest/globals';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { auditPattern, regexesIn } from './regex-audit.js';
import { parseTableText as parseDmctlTable } from '../../cli/index.js';
import { parseHex } from '../../cli/hex.js';
import { hideKeys, report } from '../../cli/format.js';
import { mangle, unmangle } from '../../cli/mangle.js';
import { parseStatsPrint } from '../../lib/targets/stats.js';
import { parseStatus, parseTarget, redactTableParams } from '../../lib/index.js';

const ROOT = path.join(__dirname, '..', '..');

/**
 * Patterns the audit flags that are linear all the same. Key: `file: /source/flags`.
 * Every entry must still match a flagged regex (stale entries fail the test).
 */
const ALLOWED: Record<string, string> = {
  // `-S 'field=~<regex>'`: the pattern is the user's own, from their own command line (as grep's is),
  // matched against their own devices' names and uuids; a slow pattern costs only that command.
  'cli/report/select.ts: /new RegExp(s.slice(t.begin, t.end))/': 'dmsetup\'s -S regex, written by the user who runs dmctl',
};

describe('regex audit (heuristic self-test)', () => {
  test.each([
    ['\\s+$', 'leading'],
    ['x*y', 'leading'],
    ['(a+)+$', 'nested'],
    ['^(\\d{1,20})\\+(\\d{1,20})((?:\\s+\\d{1,20})+)\\s*$', 'nested'],
    ['^(\\S+)\\s+(\\S+)\\s+(\\S+)\\s*(.*)$', 'adjacent'],
    ['^\\d+1\\d+$', 'adjacent'],
    ['^a*a*$', 'adjacent'],
  ])('flags %s (%s)', (source, rule) => {
    expect(auditPattern(source).map((f) => f.rule)).toContain(rule);
  });

  test.each([
    '^\\s+', '\\s+', '^[0-9a-fA-F]*$', '^(\\d{1,20})\\+(\\d{1,20})$', '[ :]', '(^|\\s)(a|b):([^:\\s]+):(\\S+)', '^\\S+\\s+\\S+$', '\\s+$',
  ])('passes %s', (source) => {
    // '\s+$' passes only as sticky: anchored at lastIndex it is linear.
    expect(auditPattern(source, source === '\\s+$' ? 'y' : '')).toEqual([]);
  });
});

describe('regex audit of the package source', () => {
  const all = regexesIn(ROOT, ['lib', 'codec', 'ffi', 'testing', 'cli']);

  test('every regex in lib/, codec/, ffi/, testing/, cli/ is linear or allowlisted with a reason', () => {
    const flagged = all
      .map((r) => ({ key: `${r.file}: /${r.source}/${r.flags}`, at: `${r.file}:${r.line}`, findings: r.dynamic ? [{ rule: 'dynamic', detail: 'pattern not a literal' }] : auditPattern(r.source, r.flags) }))
      .filter((r) => r.findings.length > 0);
    const unexpected = flagged.filter((r) => !(r.key in ALLOWED)).map((r) => `${r.at} ${r.key}: ${r.findings.map((f) => `${f.rule}: ${f.detail}`).join('; ')}`);
    expect(unexpected).toEqual([]);
    const stale = Object.keys(ALLOWED).filter((k) => !flagged.some((r) => r.key === k));
    expect(stale).toEqual([]);
  });

  test('the audit sees the package\'s regexes (count reported in the closing note)', () => {
    // A walk that found nothing would pass vacuously.
    expect(all.length).toBeGreaterThan(40);
    expect(all.some((r) => r.file === 'cli/context.ts')).toBe(true);
    expect(all.some((r) => r.file.startsWith('lib/targets/'))).toBe(true);
  });
});

/** Runs `fn` under a watchdog that interrupts synchronous code (a catastrophic regex included). */
function withinSeconds<T>(seconds: number, fn: () => T): T {
  const box: { fn: () => T; out?: T } = { fn };
  vm.runInNewContext('box.out = box.fn()', { box }, { timeout: seconds * 1000 });
  return box.out as T;
}

const MB = 1 << 20;
const SPACES = ' '.repeat(MB);
const MIXED = ' \t\u00a0\u3000'.repeat(MB / 4);

describe('1 MB whitespace lines parse (hang guard: 10 s, no timing asserted)', () => {
  test('dmctl table text: a 1 MB whitespace line, trailing whitespace, whitespace between fields', () => {
    const specs = withinSeconds(10, () => parseDmctlTable(`${SPACES}\n0 8 zero${MIXED}\n${MIXED}8${MIXED}8${SPACES}error${SPACES}\n`));
    expect(specs).toEqual([
      { start: 0n, length: 8n, type: 'zero', params: '' },
      { start: 8n, length: 8n, type: 'error', params: '' },
    ]);
    expect(withinSeconds(10, () => parseDmctlTable(`0 8 linear /dev/x${SPACES}0${SPACES}`))).toEqual([
      { start: 0n, length: 8n, type: 'linear', params: `/dev/x${SPACES}0` },
    ]);
  });

  test('dmctl table text: a bad 1 MB line is rejected, not stuck on', () => {
    expect(() => withinSeconds(10, () => parseDmctlTable(`${SPACES}x`))).toThrow(/Invalid format on line 1/);
    expect(() => withinSeconds(10, () => parseDmctlTable(`0 ${'1'.repeat(MB)}x zero`))).toThrow(/Invalid format on line 1/);
    expect(() => withinSeconds(10, () => parseDmctlTable(`0 8 zero ${'z'.repeat(MB)}\r${SPACES}x`))).toThrow(/Invalid format on line 1/);
  });

  test('the old line-terminator rule holds: params cannot contain \\r, \\u2028 or \\u2029', () => {
    expect(() => parseDmctlTable('0 8 zero a\rb')).toThrow(/Invalid format/);
    expect(() => parseDmctlTable('0 8 zero a\u2028b')).toThrow(/Invalid format/);
    expect(parseDmctlTable('0 8 zero\r')).toEqual([{ start: 0n, length: 8n, type: 'zero', params: '' }]);
  });

  test('@stats_print text', () => {
    expect(withinSeconds(10, () => parseStatsPrint(`0+8${SPACES}1 2${SPACES}3\n${SPACES}x\n0+8 ${'1 '.repeat(MB / 2)}x`))).toEqual([
      { startSectors: 0n, lengthSectors: 8n, counters: [1n, 2n, 3n] },
    ]);
  });

  test('key redaction, key hiding, typed parsers', () => {
    expect(withinSeconds(10, () => redactTableParams('crypt', `aes ${SPACES}`))).toBe(`aes ${SPACES}`);
    expect(withinSeconds(10, () => redactTableParams('crypt', `${SPACES}aes${SPACES}00ff${SPACES}x`))).toBe(`${SPACES}aes${SPACES}0000${SPACES}x`);
    expect(withinSeconds(10, () => redactTableParams('integrity', `${SPACES}internal_hash:${SPACES}:x${SPACES}`)).length).toBe(3 * MB + 16);
    expect(withinSeconds(10, () => hideKeys({ start: 0n, length: 8n, type: 'integrity', params: `internal_hash:${SPACES}` })).params.length).toBe(MB + 14);
    expect(() => withinSeconds(10, () => parseTarget({ start: 0, length: 8, type: 'linear', params: `${SPACES}8:0${SPACES}` }))).toThrow(/offset/);
    expect(withinSeconds(10, () => parseStatus({ start: 0, length: 8, type: 'zero', params: SPACES }))).toMatchObject({ type: 'zero' });
  });

  test('dmctl helpers: hex input, report field lists, name mangling', () => {
    expect(withinSeconds(10, () => parseHex(`${SPACES}00 ff${SPACES}`))).toEqual(new Uint8Array([0, 0xff]));
    expect(() => withinSeconds(10, () => parseHex(`${SPACES}x`))).toThrow(/not hex/);
    expect(() => withinSeconds(10, () => report([], `+${SPACES},nosuchfield`, { headings: true }))).toThrow(/nosuchfield/);
    expect(withinSeconds(10, () => mangle(SPACES.slice(0, MB / 4), 'hex')).length).toBe(MB);
    expect(withinSeconds(10, () => unmangle('\\x20'.repeat(MB / 4), 'auto'))).toBe(' '.repeat(MB / 4));
  });
});
