/**
 * The report of one `npm run bench:live` run, rendered from its results JSON
 * (bench/results/live-<kernel>-<time>.json), so that README.md's summary table and the run's
 * section in bench/README.md carry that run's numbers and no hand-copied ones:
 *
 *   node dist/bench/live-report.js <results.json>            prints both
 *   node dist/bench/live-report.js <results.json> --write    replaces them in README.md and
 *                                                          bench/README.md (run from the
 *                                                          repository root), between the
 *                                                          markers `<!-- bench:live NAME: begin -->`
 *                                                          and `<!-- bench:live NAME: end -->`
 *                                                          (NAME `summary` and `full-run`)
 *
 * `--write` takes only a run of every section (`--partial` to write another anyway). In
 * README.md's table, a row whose measure says `(host` is another benchmark's (not the live
 * bench's) and is kept as it is, after the rows written here.
 */
import * as fs from 'node:fs';
import { fmtNs, FULL_RUN, goalTables, metCount, ratioText, SCALE_GOALS, type GoalResult } from './live-goals.js';

/** The parts of a results JSON the report reads (bench/live.bench.ts writes them); a section that did not run is absent. */
export interface LiveResults {
  date: string; kernel: string; dm: string; label: string; node: string; cpu: string; guestMemMiB: number;
  hostLoad: string; guestLoadAtStart: string; guestLoadAtEnd?: string;
  jsProbeNs: { host: number; guest: number };
  knobs?: Record<string, string | number>;
  sectionSeconds?: Record<string, number>;
  goals?: GoalResult[];
  sections?: { title: string; body: string; notes: string[] }[];
  perCall?: { rows: { command: string; ns: Record<string, number> }[] };
  lifeCycle?: { medianNs: Record<string, Record<string, number>>; chains?: number; cycles?: Record<string, number> };
  scale?: { rows: { devices: number; lib: { statusAllNs: number; statusAllWarmNs: number }; c: { statusAllNs: number }; dmsetup: { statusNs: number } }[] };
  events?: { idle: { waits: number; threadsBefore: number; threadsDuring: number; before: { cpuUs: number }; during: { cpuUs: number }; wakeAllNs: number; laterWakeNs: number[] } };
  parallel?: { devices: number; ns: Record<string, number[]> };
}

export const SECTION_IDS = ['1', '5', '2', '4', '6', '3'] as const;
const REPO_BENCH_README = 'https://github.com/devicemapper-ts/devicemapper/blob/main/bench/README.md';

/** A ratio as README's table writes it: two digits below 1, one below 10, none above. */
export function shortRatio(r: number): string {
  if (!Number.isFinite(r)) return '—';
  const digits = (v: number) => (v < 1 ? 2 : v < 10 ? 1 : 0);
  // By the rounded value: 9.96 is written 10×, not 10.0×.
  return `${r.toFixed(digits(Number(r.toFixed(digits(r)))))}×`;
}
const median = (xs: readonly number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[s.length >> 1]! : NaN; };
const count = (n: number) => n.toLocaleString('en-US');
const day = (iso: string) => iso.slice(0, 10);
const sectionsRun = (r: LiveResults) => Object.keys(r.sectionSeconds ?? {});
const goalById = (r: LiveResults, id: string) => r.goals?.find((g) => g.id === id);
const inflation = (r: LiveResults) => r.jsProbeNs.guest / r.jsProbeNs.host;

/** Knobs a run set away from a full run's, as `NAME=value`. */
export function reducedKnobs(r: LiveResults): string[] {
  const k = r.knobs ?? {};
  return Object.entries(FULL_RUN).filter(([name, v]) => name in k && String(k[name]) !== String(v)).map(([name]) => `${name}=${k[name]}`);
}

/** README.md's summary rows of the live bench, one per section that ran (measure | library against the baseline). */
export function summaryRows(r: LiveResults): string[] {
  const rows: string[] = [];
  const row = (measure: string, text: string) => rows.push(`| ${measure} | ${text} |`);
  if (r.perCall) {
    const over = (cmd: string) => { const row = r.perCall!.rows.find((x) => x.command === cmd); return row ? row.ns['lib sync']! / row.ns['bare koffi']! : NaN; };
    row('one sync ioctl (DM_VERSION / DM_DEV_STATUS)', `${shortRatio(over('DM_VERSION'))} / ${shortRatio(over('DM_DEV_STATUS'))} a bare koffi ioctl`);
  }
  if (r.lifeCycle) {
    const whole = r.lifeCycle.medianNs['whole cycle']!;
    const vs = (impl: string) => whole.libdevmapper! / whole[impl]!;
    const chained = (r.lifeCycle.chains ?? 0) > 0 ? 'createDevice one engine chain' : 'createDevice not chained';
    row('createDevice → info → removeDevice', `${shortRatio(vs('library'))} libdevmapper's speed (${chained}; ${shortRatio(vs('library, pool'))} in a process that started no engine, ${shortRatio(vs('library, blocking'))} with \`blocking: true\`); ${shortRatio(whole['dmsetup per step']! / whole.library!)} faster than \`dmsetup\` per step`);
  }
  const top = r.scale?.rows.length ? r.scale.rows.reduce((a, b) => (b.devices > a.devices ? b : a)) : undefined;
  if (top) {
    row(`status of ${count(top.devices)} devices`, `${shortRatio(top.lib.statusAllNs / top.c.statusAllNs)} the C loop in a fresh process's first batch, ${shortRatio(top.lib.statusAllWarmNs / top.c.statusAllNs)} in a running process; ${shortRatio(top.dmsetup.statusNs / top.lib.statusAllWarmNs)} faster than \`dmsetup status\``);
  }
  if (r.events) {
    const i = r.events.idle;
    const threads = i.threadsDuring - i.threadsBefore;
    row(`${count(i.waits)} parked \`wait()\`s`, `${threads === 0 ? 'no extra threads' : `${threads} more thread${threads === 1 ? '' : 's'}`}, CPU while idle ${shortRatio(i.during.cpuUs / i.before.cpuUs)} of none; one event wakes all in ${fmtNs(i.wakeAllNs)} the first time, ${fmtNs(median(i.laterWakeNs))} later`);
  }
  if (r.parallel) {
    const m = (k: string) => median(r.parallel!.ns[k] ?? []);
    row(`removing / creating ${count(r.parallel.devices)} devices (\`removeMany\` / \`createMany\`)`,
      `${shortRatio(m('remove: libdevmapper loop') / m('remove: dm.removeMany'))} / ${shortRatio(m('create: libdevmapper loop') / m('create: dm.createMany'))} a sequential libdevmapper loop; ${shortRatio(m('remove: dmsetup remove_all') / m('remove: dm.removeMany'))} faster than \`dmsetup remove_all\``);
  }
  return rows;
}

/** The rows of README's current table that another benchmark wrote (their measure says `(host`): kept as they are. */
export function keptRows(oldRegion: string): string[] {
  return oldRegion.split('\n').filter((l) => l.startsWith('|') && (l.split('|')[1] ?? '').includes('(host'));
}

/** README.md's `summary` region: two lines on the run, then the table (the live rows, then `kept`). */
export function readmeSummary(r: LiveResults, kept: readonly string[] = []): string {
  const reduced = reducedKnobs(r);
  return [
    `One run of \`npm run bench:live\` on kernel ${r.label || r.kernel} (${day(r.date)}, host load ${r.hostLoad.split(' ')[0] ?? '?'}${reduced.length ? `; ${reduced.join(', ')}` : ''}) in a VM under QEMU TCG, which inflated`,
    `JavaScript ${shortRatio(inflation(r))} and C far less: ratios from one run, not speeds on real hardware. Method, goals and every run: [bench/README.md](${REPO_BENCH_README}).`,
    '',
    '| measure | library against the baseline |',
    '|---|---|',
    ...summaryRows(r),
    ...kept,
  ].join('\n');
}

/** bench/README.md's `full-run` region: the run, its goals (met, missed, not run) and every section's table as the bench printed it. */
export function benchReadmeSection(r: LiveResults): string {
  const ran = sectionsRun(r);
  const secs = SECTION_IDS.filter((id) => r.sectionSeconds?.[id] !== undefined).map((id) => `(${id}) ${r.sectionSeconds![id]!.toFixed(0)} s`);
  const total = Object.values(r.sectionSeconds ?? {}).reduce((a, b) => a + b, 0);
  const reduced = reducedKnobs(r);
  const met = metCount(r.goals ?? []);
  const out = [
    `## Latest full run (${r.label || r.kernel}, ${day(r.date)})`,
    '',
    `Written by \`node dist/bench/live-report.js --write\` from the run's JSON (\`bench/results/\`), not by hand. \`npm run bench:live\` on ${r.kernel} (dm ${r.dm}), Node ${r.node}, ${r.cpu}, ${r.guestMemMiB} MiB guest; ` +
      `host load ${r.hostLoad} at the start, guest load ${r.guestLoadAtStart} → ${r.guestLoadAtEnd ?? '?'}; the JS probe put TCG's inflation of JavaScript at ${ratioText(inflation(r), 0)} (host ${fmtNs(r.jsProbeNs.host)}, guest ${fmtNs(r.jsProbeNs.guest)}). ` +
      `Sections run: ${ran.join(', ') || 'none'}; ${total.toFixed(0)} s in the VM${secs.length ? ` (${secs.join(', ')})` : ''}. ${reduced.length ? `Knobs off a full run's: ${reduced.join(', ')}.` : 'Knobs: a full run\'s defaults.'}`,
    '',
    `### Goals: ${met} of ${SCALE_GOALS.length} met`,
    '',
    goalTables(r.goals ?? [], ran),
  ];
  for (const s of r.sections ?? []) {
    out.push('', `### ${s.title}`, '', s.body);
    if (s.notes.length) out.push('', ...s.notes.map((n) => `* ${n}`));
  }
  return out.join('\n');
}

const marker = (name: string, which: 'begin' | 'end') => `<!-- bench:live ${name}: ${which} -->`;

/** The text between a document's markers for `name` (exactly one pair, begin before end). */
export function region(doc: string, name: string): string {
  const [i, j] = bounds(doc, name);
  return doc.slice(i, j);
}

/**
 * The document with the text between `name`'s markers replaced by `content`, a blank line
 * before the end marker (so that no Markdown parser reads the marker as a last table row).
 */
export function replaceRegion(doc: string, name: string, content: string): string {
  const [i, j] = bounds(doc, name);
  return `${doc.slice(0, i)}\n${content.trim()}\n\n${doc.slice(j)}`;
}

function bounds(doc: string, name: string): [number, number] {
  const b = marker(name, 'begin');
  const e = marker(name, 'end');
  const i = doc.indexOf(b);
  const j = doc.indexOf(e);
  if (i < 0 || j < 0) throw new Error(`no ${b} … ${e} markers`);
  if (doc.indexOf(b, i + 1) >= 0 || doc.indexOf(e, j + 1) >= 0) throw new Error(`the ${name} markers appear more than once`);
  if (j < i) throw new Error(`${e} comes before ${b}`);
  return [i + b.length, j];
}

/**
 * Refuses what --write must not publish as "one full run": a results file written before this
 * renderer, one missing a section, or one that measured a goal at another scale than the goal's.
 */
export function checkFullRun(r: LiveResults): void {
  if (!r.goals || !r.sections) throw new Error('this results file has no goals/sections (written before bench/live-report.ts): run the bench again');
  const missing = SECTION_IDS.filter((id) => r.sectionSeconds?.[id] === undefined);
  if (missing.length) throw new Error(`not a full run: section(s) ${missing.join(', ')} did not run (--partial writes it anyway)`);
  const off = r.goals.filter((g) => g.at !== undefined).map((g) => `${g.id} at ${g.at}`);
  if (off.length) throw new Error(`not a full run: goals measured at another scale than theirs: ${off.join(', ')} (--partial writes it anyway)`);
}

function main(argv: readonly string[]): void {
  const file = argv.find((a) => !a.startsWith('--'));
  if (!file) throw new Error('usage: node dist/bench/live-report.js <bench/results/live-….json> [--write [--partial]]');
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as LiveResults;
  if (!argv.includes('--write')) {
    console.log(`README.md (## Benchmarks):\n\n${readmeSummary(r)}\n\nbench/README.md:\n\n${benchReadmeSection(r)}`);
    return;
  }
  if (!argv.includes('--partial')) checkFullRun(r);
  const readme = fs.readFileSync('README.md', 'utf8');
  fs.writeFileSync('README.md', replaceRegion(readme, 'summary', readmeSummary(r, keptRows(region(readme, 'summary')))));
  const bench = fs.readFileSync('bench/README.md', 'utf8');
  fs.writeFileSync('bench/README.md', replaceRegion(bench, 'full-run', benchReadmeSection(r)));
  console.log(`wrote README.md (summary) and bench/README.md (full-run) from ${file}`);
}

if (/live-report\.js$/.test(process.argv[1] ?? '')) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`live-report: ${(e as Error).message}`);
    process.exit(1);
  }
}
