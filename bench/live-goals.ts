/**
 * The performance goals `npm run bench:live` checks, and the goal table it prints: one
 * definition per goal (its wording and threshold, which section measures it), shared by the
 * bench (bench/live.bench.ts, which evaluates them) and the report renderer
 * (bench/live-report.ts, which writes the tables from a run's JSON). Pure: no Node APIs.
 */

/** How a goal's ratio is read: `faster` = baseline time / library time, met when ≥ the threshold; `cost` = library / baseline, met when ≤. */
export type GoalKind = 'faster' | 'cost';

export interface GoalDef {
  readonly id: string;
  /** The live bench section that measures it (BENCH_SECTIONS). */
  readonly section: string;
  readonly kind: GoalKind;
  readonly threshold: number;
  /** The goal as the issue states it, with its threshold. */
  readonly text: string;
  /** What the ratio divides. */
  readonly ratio: string;
  /** The scale the goal is stated at (devices or waits); a run at another scale says so. */
  readonly at?: number;
}

/** The goals of the speed-at-scale issue, in its order, with its thresholds. */
export const SCALE_GOALS: readonly GoalDef[] = [
  { id: 'cycle', section: '2', kind: 'faster', threshold: 1.2, text: 'life cycle: createDevice → info → removeDevice, whole cycle, default async path, ≥ 1.2× libdevmapper', ratio: 'libdevmapper / library' },
  { id: 'create-load-resume', section: '2', kind: 'faster', threshold: 1, text: 'life cycle: create → load → resume as createDevice runs them (one engine chain when it chains), ≥ 1.0× libdevmapper\'s three calls', ratio: 'libdevmapper / library' },
  { id: 'create', section: '2', kind: 'faster', threshold: 1, text: 'life cycle: create ≥ 1.0× libdevmapper (per-step split: dm.create, one call)', ratio: 'libdevmapper / library' },
  { id: 'load', section: '2', kind: 'faster', threshold: 1, text: 'life cycle: load ≥ 1.0× libdevmapper (per-step split: dm.load, one call)', ratio: 'libdevmapper / library' },
  { id: 'resume', section: '2', kind: 'faster', threshold: 1, text: 'life cycle: resume ≥ 1.0× libdevmapper (per-step split: dm.resume, one call)', ratio: 'libdevmapper / library' },
  { id: 'remove', section: '2', kind: 'faster', threshold: 1, text: 'life cycle: remove (removeDevice, default async path) ≥ 1.0× libdevmapper', ratio: 'libdevmapper / library' },
  { id: 'remove-many-remove-all', section: '6', kind: 'faster', threshold: 10, at: 1000, text: 'removing 1,000 devices (removeMany) ≥ 10× faster than `dmsetup remove_all`', ratio: 'remove_all / removeMany' },
  { id: 'remove-many-loop', section: '6', kind: 'faster', threshold: 5, at: 1000, text: 'removing 1,000 devices (removeMany) ≥ 5× faster than a sequential libdevmapper loop', ratio: 'loop / removeMany' },
  { id: 'create-many-loop', section: '6', kind: 'faster', threshold: 3, at: 1000, text: 'creating 1,000 devices (createMany) ≥ 3× faster than a sequential libdevmapper loop', ratio: 'loop / createMany' },
  { id: 'sync-version', section: '1', kind: 'cost', threshold: 2, text: 'per call (sync): DM_VERSION (versionSync) ≤ 2× a bare koffi ioctl', ratio: 'sync / bare koffi' },
  { id: 'sync-status', section: '1', kind: 'cost', threshold: 2, text: 'per call (sync): DM_DEV_STATUS (infoSync) ≤ 2× a bare koffi ioctl', ratio: 'sync / bare koffi' },
  { id: 'waits-first', section: '4', kind: 'cost', threshold: 1, at: 1000, text: '1,000 waits woken by one event ≤ 50 ms, the first wake-up in the process', ratio: 'time / 50 ms' },
  { id: 'status-first-batch', section: '3', kind: 'cost', threshold: 2, at: 10000, text: 'status of every device at 10,000 ≤ 2× a C loop, first batch of a fresh process', ratio: 'library / C' },
];

/** One goal as a run measured it. Goals with an `id` are {@link SCALE_GOALS}; the others are earlier issues' goals the bench still prints. */
export interface GoalResult {
  readonly id?: string;
  readonly goal: string;
  readonly ratio: number;
  readonly met: boolean;
  /** The scale measured when it differs from the goal's (a reduced run). */
  readonly at?: number;
  /** The measured value when the ratio is against a fixed budget (e.g. a time). */
  readonly value?: string;
  /** How it was measured, when the goal's wording alone does not say (e.g. whether createDevice chained). */
  readonly note?: string;
}

export function scaleGoal(id: string): GoalDef {
  const d = SCALE_GOALS.find((g) => g.id === id);
  if (!d) throw new Error(`no such goal: ${id}`);
  return d;
}

/**
 * Evaluates a measured ratio against a goal's threshold. `at`: the scale measured (recorded
 * only when it is not the goal's); `ok: false`: the measurement itself failed a condition of
 * the goal (e.g. not every wait resolved), so it is missed whatever the ratio.
 */
export function evaluate(id: string, ratio: number, extra: { at?: number; value?: string; note?: string; ok?: boolean } = {}): GoalResult {
  const d = scaleGoal(id);
  const met = extra.ok !== false && Number.isFinite(ratio) && (d.kind === 'faster' ? ratio >= d.threshold : ratio <= d.threshold);
  const at = extra.at !== undefined && extra.at !== d.at ? extra.at : undefined;
  return { id, goal: d.text, ratio, met, ...(at !== undefined ? { at } : {}), ...(extra.value ? { value: extra.value } : {}), ...(extra.note ? { note: extra.note } : {}) };
}

/** How many of {@link SCALE_GOALS} a run met at the goal's own scale (a goal met at a reduced scale does not count). */
export function metCount(goals: readonly GoalResult[]): number {
  return SCALE_GOALS.filter((d) => goals.some((g) => g.id === d.id && g.met && g.at === undefined)).length;
}

export const ratioText = (r: number, d = 2): string => (Number.isFinite(r) ? `${r.toFixed(d)}×` : '—');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** met / missed / not run, and a run at another scale than the goal's says so (its verdict is not the goal's). */
function verdict(r: GoalResult | undefined, d: GoalDef, sectionsRun: ReadonlySet<string>): string {
  if (!r) return !sectionsRun.has(d.section) ? `not run (section ${d.section})` : d.at !== undefined ? `not measured (the section did not reach ${d.at.toLocaleString('en-US')})` : 'not measured';
  const v = r.met ? 'met' : 'MISSED';
  return r.at !== undefined ? `${v} at ${r.at.toLocaleString('en-US')}, not the goal's ${(d.at ?? 0).toLocaleString('en-US')}` : v;
}

/**
 * The goal tables of one run: every goal of {@link SCALE_GOALS} in its order (met, MISSED, or
 * not run when its section did not run), then the other goals the run printed.
 */
export function goalTables(goals: readonly GoalResult[], sectionsRun: Iterable<string>): string {
  const ran = new Set(sectionsRun);
  const rows = SCALE_GOALS.map((d) => {
    const r = goals.find((g) => g.id === d.id);
    const ratio = r ? `${ratioText(r.ratio)}${r.value ? ` (${r.value})` : ''}` : '—';
    return `| ${cell(d.text)} | ${d.ratio} | ${ratio} | ${verdict(r, d, ran)} |${r?.note ? ` ${cell(r.note)} |` : ' |'}`;
  });
  const out = ['| goal | ratio | this run | | how measured |', '|---|---|---:|---|---|', ...rows];
  const others = goals.filter((g) => g.id === undefined);
  if (others.length) {
    out.push('', 'Earlier goals the bench still checks:', '', '| goal | ratio | |', '|---|---:|---|', ...others.map((g) => `| ${cell(g.goal)} | ${ratioText(g.ratio)} | ${g.met ? 'met' : 'MISSED'} |`));
  }
  return out.join('\n');
}

/** The knobs of a full run (bench/live.sh's defaults): a run with others says so in its report. */
export const FULL_RUN = {
  BENCH_ROUNDS: 7, BENCH_CALLS: 10_000, BENCH_CYCLES: 1000, BENCH_DMSETUP_CYCLES: 100, BENCH_LC_ROUNDS: 5,
  BENCH_SCALE: '10 1000 10000', BENCH_SCALE_ROUNDS: 3, BENCH_EVENTS: 50, BENCH_WAITS: 1000, BENCH_IDLE_MS: 5000,
  BENCH_BATCHES: '1 10 100 1000', BENCH_SECTIONS: '1 5 2 3 4 6', BENCH_PARALLEL: 1000, BENCH_PARALLEL_ROUNDS: 1,
  BENCH_PARALLEL_CONCURRENCY: 'default',
} as const;

/** A duration in ns, with its unit. */
export const fmtNs = (ns: number): string => (!Number.isFinite(ns) ? '—' : ns >= 1e9 ? `${(ns / 1e9).toFixed(2)} s` : ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
