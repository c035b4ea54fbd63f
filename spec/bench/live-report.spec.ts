// The live bench's goal lines and its report renderer (bench/live-goals.ts, bench/live-report.ts),
// on a small synthetic results object: what README.md and bench/README.md would receive.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { evaluate, goalTables, metCount, SCALE_GOALS, type GoalResult } from '../../bench/live-goals.js';
import {
  benchReadmeSection, checkFullRun, keptRows, readmeSummary, reducedKnobs, region, replaceRegion, shortRatio, summaryRows, type LiveResults,
} from '../../bench/live-report.js';

const ROOT = path.join(__dirname, '..', '..');
const ms = 1e6;

/** A run of every section whose numbers are chosen so each rendered ratio is known. */
function run(over: Partial<LiveResults> = {}): LiveResults {
  const goals: GoalResult[] = [
    evaluate('cycle', 1.25, { note: 'createDevice ran as one engine chain: 10 chains in 10 cycles' }),
    evaluate('create-load-resume', 0.9),
    evaluate('sync-version', 3),
    evaluate('sync-status', 1.5),
    evaluate('waits-first', 1.2, { at: 1000, value: '60.00 ms' }),
    evaluate('remove-many-loop', 8),
    { goal: 'scale: LIST at 10000 ≤ 2× raw C (lib / C)', ratio: 3.86, met: false },
  ];
  return {
    date: '2026-12-08T00:10:00.000Z', kernel: '6.1.0-57-amd64', dm: '4.47.0', label: '6.1', node: 'v20.20.2', cpu: 'QEMU TCG × 2', guestMemMiB: 3900,
    hostLoad: '13.80 12.00 10.00', guestLoadAtStart: '0.50 0.20 0.10', guestLoadAtEnd: '3.00 2.00 1.00',
    jsProbeNs: { host: 1000, guest: 88_000 },
    knobs: { BENCH_ROUNDS: 7, BENCH_CALLS: 10000, BENCH_CYCLES: 1000, BENCH_SECTIONS: '1 5 2 3 4 6' },
    sectionSeconds: { '1': 150, '5': 50, '2': 260, '4': 16, '6': 540, '3': 630 },
    goals,
    sections: [{ title: '2. Life cycle: createDevice → info → removeDevice (median per step)', body: '| step | library |\n|---|---:|\n| whole cycle | 4.00 ms |', notes: ['10 cycles'] }],
    perCall: { rows: [
      { command: 'DM_VERSION', ns: { 'lib sync': 300, 'bare koffi': 100 } },
      { command: 'DM_DEV_STATUS', ns: { 'lib sync': 150, 'bare koffi': 100 } },
    ] },
    lifeCycle: { chains: 10, medianNs: { 'whole cycle': { library: 4 * ms, 'library, pool': 8 * ms, 'library, blocking': 5 * ms, libdevmapper: 5 * ms, 'dmsetup per step': 100 * ms } } },
    scale: { rows: [
      { devices: 10, lib: { statusAllNs: 1, statusAllWarmNs: 1 }, c: { statusAllNs: 1 }, dmsetup: { statusNs: 1 } },
      { devices: 10000, lib: { statusAllNs: 3000 * ms, statusAllWarmNs: 1800 * ms }, c: { statusAllNs: 1000 * ms }, dmsetup: { statusNs: 25_200 * ms } },
    ] },
    events: { idle: { waits: 1000, threadsBefore: 12, threadsDuring: 12, before: { cpuUs: 1000 }, during: { cpuUs: 500 }, wakeAllNs: 60 * ms, laterWakeNs: [40 * ms, 30 * ms, 50 * ms] } },
    parallel: { devices: 1000, ns: {
      'create: libdevmapper loop': [30_000 * ms], 'remove: libdevmapper loop': [80_000 * ms], 'remove: dmsetup remove_all': [100_000 * ms],
      'create: dm.createMany': [10_000 * ms], 'remove: dm.removeMany': [10_000 * ms],
    } },
    ...over,
  };
}

describe('goal lines (bench/live-goals.ts)', () => {
  test("thresholds are the issue's, in both directions, at the boundary", () => {
    expect(evaluate('cycle', 1.2).met).toBe(true);
    expect(evaluate('cycle', 1.19).met).toBe(false);
    expect(evaluate('remove', 1).met).toBe(true);
    expect(evaluate('remove', 0.99).met).toBe(false);
    expect(evaluate('remove-many-remove-all', 9.9).met).toBe(false);
    expect(evaluate('remove-many-loop', 5).met).toBe(true);
    expect(evaluate('create-many-loop', 2.99).met).toBe(false);
    expect(evaluate('sync-version', 2).met).toBe(true);
    expect(evaluate('sync-status', 2.01).met).toBe(false);
    expect(evaluate('waits-first', 1).met).toBe(true);
    expect(evaluate('waits-first', 0.5, { ok: false }).met).toBe(false);
    expect(evaluate('status-first-batch', 2.5).met).toBe(false);
    expect(evaluate('cycle', NaN).met).toBe(false);
    expect(() => evaluate('nope', 1)).toThrow(/no such goal/);
  });

  test('every goal the issue names is there once, with its threshold in its wording', () => {
    const ids = SCALE_GOALS.map((g) => g.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(['cycle', 'create-load-resume', 'create', 'load', 'resume', 'remove', 'remove-many-remove-all', 'remove-many-loop', 'create-many-loop', 'sync-version', 'sync-status', 'waits-first', 'status-first-batch']);
    for (const g of SCALE_GOALS) {
      const t = g.threshold === 1 && g.kind === 'faster' ? '1.0×' : `${g.threshold}×`;
      expect([g.id, g.text.includes(g.id === 'waits-first' ? '≤ 50 ms' : `${g.kind === 'faster' ? '≥' : '≤'} ${t}`)]).toEqual([g.id, true]);
    }
  });

  test('a scale other than the goal\'s is recorded, and its met does not count', () => {
    expect(evaluate('remove-many-loop', 6, { at: 50 }).at).toBe(50);
    expect(evaluate('remove-many-loop', 6, { at: 1000 }).at).toBeUndefined();
    expect(metCount([evaluate('remove-many-loop', 6, { at: 50 }), evaluate('cycle', 2), evaluate('remove', 0.5), { goal: 'old', ratio: 9, met: true }])).toBe(1);
  });

  test('the table: every goal in order, met / MISSED / not run / not measured, then the earlier goals', () => {
    const goals = [evaluate('cycle', 1.3), evaluate('remove', 0.8), evaluate('remove-many-loop', 6, { at: 50 }), { goal: 'old goal', ratio: 0.5, met: false }];
    const lines = goalTables(goals, ['2', '6']).split('\n');
    const rowOf = (id: string) => lines.find((l) => l.startsWith(`| ${SCALE_GOALS.find((g) => g.id === id)!.text.replace(/\|/g, '\\|')} |`))!;
    expect(rowOf('cycle')).toMatch(/\| 1\.30× \| met \|/);
    expect(rowOf('remove')).toMatch(/\| 0\.80× \| MISSED \|/);
    expect(rowOf('remove-many-loop')).toMatch(/\| 6\.00× \| met at 50, not the goal's 1,000 \|/);
    expect(rowOf('create-many-loop')).toMatch(/\| — \| not measured \(the section did not reach 1,000\) \|/); // section 6 ran, the goal was not evaluated
    expect(rowOf('create-load-resume')).toMatch(/\| — \| not measured \|/);
    expect(rowOf('sync-version')).toMatch(/\| — \| not run \(section 1\) \|/);
    expect(lines.filter((l) => / (met|MISSED|not run|not measured)/.test(l) && l.startsWith('| ') && !l.includes('old goal'))).toHaveLength(SCALE_GOALS.length);
    expect(lines.indexOf('| old goal | 0.50× | MISSED |')).toBeGreaterThan(lines.indexOf(rowOf('status-first-batch')));
  });
});

describe('the report (bench/live-report.ts)', () => {
  test('README rows carry this run\'s ratios, one per section that ran', () => {
    expect(summaryRows(run())).toEqual([
      '| one sync ioctl (DM_VERSION / DM_DEV_STATUS) | 3.0× / 1.5× a bare koffi ioctl |',
      "| createDevice → info → removeDevice | 1.3× libdevmapper's speed (createDevice one engine chain; 0.63× in a process that started no engine, 1.0× with `blocking: true`); 25× faster than `dmsetup` per step |",
      "| status of 10,000 devices | 3.0× the C loop in a fresh process's first batch, 1.8× in a running process; 14× faster than `dmsetup status` |",
      '| 1,000 parked `wait()`s | no extra threads, CPU while idle 0.50× of none; one event wakes all in 60.00 ms the first time, 40.00 ms later |',
      '| removing / creating 1,000 devices (`removeMany` / `createMany`) | 8.0× / 3.0× a sequential libdevmapper loop; 10× faster than `dmsetup remove_all` |',
    ]);
    expect(summaryRows(run({ perCall: undefined, scale: undefined, events: undefined, parallel: undefined })).map((r) => r.split(' | ')[0])).toEqual(['| createDevice → info → removeDevice']);
  });

  test('shortRatio writes two digits below 1, one below 10, none from 10', () => {
    expect([0.256, 0.996, 1, 3.33, 9.96, 14.2, NaN].map(shortRatio)).toEqual(['0.26×', '1.0×', '1.0×', '3.3×', '10×', '14×', '—']);
  });

  test('a reduced run says which knobs it changed, in README and bench/README.md', () => {
    const r = run({ knobs: { BENCH_CYCLES: 50, BENCH_LC_ROUNDS: 2, BENCH_SECTIONS: '2', BENCH_CALLS: 10000 } });
    expect(reducedKnobs(r)).toEqual(['BENCH_CYCLES=50', 'BENCH_LC_ROUNDS=2', 'BENCH_SECTIONS=2']);
    expect(readmeSummary(r).split('\n')[0]).toContain('BENCH_CYCLES=50, BENCH_LC_ROUNDS=2, BENCH_SECTIONS=2');
    expect(benchReadmeSection(r)).toContain("Knobs off a full run's: BENCH_CYCLES=50");
    expect(benchReadmeSection(run())).toContain("Knobs: a full run's defaults.");
  });

  test('bench/README.md section: the run, the goals, every section\'s table with its notes', () => {
    const text = benchReadmeSection(run());
    expect(text.split('\n')[0]).toBe('## Latest full run (6.1, 2026-12-08)');
    expect(text).toContain('TCG\'s inflation of JavaScript at 88×');
    expect(text).toContain('(1) 150 s, (5) 50 s, (2) 260 s, (4) 16 s, (6) 540 s, (3) 630 s');
    expect(text).toContain('### Goals: 3 of 13 met'); // cycle, remove-many-loop and sync-status
    expect(text).toContain('| 1.20× (60.00 ms) | MISSED |');
    expect(text).toContain('### 2. Life cycle: createDevice → info → removeDevice (median per step)\n\n| step | library |\n|---|---:|\n| whole cycle | 4.00 ms |\n\n* 10 cycles');
  });

  test('--write takes only a run of every section written by this bench', () => {
    expect(() => checkFullRun(run())).not.toThrow();
    expect(() => checkFullRun(run({ sectionSeconds: { '2': 5 } }))).toThrow(/section\(s\) 1, 5, 4, 6, 3 did not run/);
    expect(() => checkFullRun(run({ sections: undefined }))).toThrow(/before bench\/live-report/);
    expect(() => checkFullRun(run({ goals: [evaluate('remove-many-loop', 8, { at: 20 })] }))).toThrow(/remove-many-loop at 20/);
  });

  test('regions: replaced between one pair of markers, refused when missing, doubled or reversed', () => {
    const doc = 'a\n<!-- bench:live x: begin -->\nold\n<!-- bench:live x: end -->\nb\n';
    const out = replaceRegion(doc, 'x', '\nnew\n');
    expect(out).toBe('a\n<!-- bench:live x: begin -->\nnew\n\n<!-- bench:live x: end -->\nb\n');
    expect(replaceRegion(out, 'x', 'new')).toBe(out); // idempotent
    expect(() => replaceRegion('a', 'x', 'n')).toThrow(/no <!-- bench:live x: begin -->/);
    expect(() => replaceRegion(doc + doc, 'x', 'n')).toThrow(/more than once/);
    expect(() => replaceRegion('<!-- bench:live x: end -->\n<!-- bench:live x: begin -->', 'x', 'n')).toThrow(/comes before/);
    expect(() => replaceRegion(doc, 'y', 'n')).toThrow(/no <!-- bench:live y/);
  });

  test('README.md: written from a run, its host rows kept, still one table under the cap, idempotent', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const kept = keptRows(region(readme, 'summary'));
    expect(kept.length).toBeGreaterThan(0);
    for (const row of kept) expect(row.split('|')[1]).toContain('(host');
    const written = replaceRegion(readme, 'summary', readmeSummary(run(), kept));
    expect(replaceRegion(written, 'summary', readmeSummary(run(), keptRows(region(written, 'summary'))))).toBe(written);
    expect(written.split('\n').length).toBeLessThanOrEqual(380);
    // One table, its rows the live ones then the kept ones, ended by a blank line: the end
    // marker is not read as a last row (GFM continues a table on any line until a blank one).
    const lines = written.slice(written.indexOf('## Benchmarks'), written.indexOf('## Developing')).split('\n');
    const head = lines.indexOf('| measure | library against the baseline |');
    const table = lines.slice(head, lines.indexOf('', head));
    expect(table).toEqual(['| measure | library against the baseline |', '|---|---|', ...summaryRows(run()), ...kept]);
    expect(lines.filter((l) => l.startsWith('|'))).toEqual(table);
    expect(lines[lines.indexOf('<!-- bench:live summary: end -->') - 1]).toBe('');
    // Outside the region nothing changed.
    const outside = (doc: string) => doc.slice(0, doc.indexOf('<!-- bench:live summary: begin -->')) + doc.slice(doc.indexOf('<!-- bench:live summary: end -->'));
    expect(outside(written)).toBe(outside(readme));
  });

  test('bench/README.md has its region once', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'bench', 'README.md'), 'utf8');
    const written = replaceRegion(doc, 'full-run', benchReadmeSection(run()));
    expect(region(written, 'full-run')).toContain('### Goals: 3 of 13 met');
  });
});
