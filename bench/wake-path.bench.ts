/**
 * Host microbenchmark of wait()'s wake-up path: `npm run build && node dist/bench/wake-path.bench.js`.
 *
 * On the simulator (no kernel, no VM) it parks N waits on one device, raises one event,
 * and times until all N resolve; it also times starting the N waits (until every one is
 * parked behind the poller's arm). The baseline, in the same run, is N bare promises
 * resolved by one event: the floor of N continuations. Rounds are interleaved and the
 * medians printed with their ratio to the baseline (no timed assertion anywhere: the
 * numbers vary with the host). The ioctl counts per wake-up are printed to show that the
 * simulator's own cost (one check and one DEV_WAIT per wake) is not per waiter.
 * Environment: WAKE_N (default 1000), WAKE_ROUNDS (default 15), WAKE_WARMUP (default 3 rounds;
 * 0 with WAKE_ROUNDS=1 measures cold code, as bench:live's one-shot wake-up does).
 */
import { DeviceMapper } from '../lib/index.js';
import { SimulatedKernel } from '../testing/index.js';

const N = Number(process.env.WAKE_N ?? 1000);
const ROUNDS = Number(process.env.WAKE_ROUNDS ?? 15);
const WARMUP = Number(process.env.WAKE_WARMUP ?? 3);
const zero = [{ start: 0, length: 8, type: 'zero', params: '' }];

const tick = () => new Promise<void>((r) => setImmediate(r));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };
const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`);

interface Sample { start: number; wake: number; infos: number; waits: number }

async function waitsRound(dm: DeviceMapper, kernel: SimulatedKernel, name: string, signal?: AbortSignal): Promise<Sample> {
  const c = (k: string) => dm.ioctlCounts.get(k) ?? 0;
  const t0 = performance.now();
  const waits: Promise<unknown>[] = new Array(N);
  for (let i = 0; i < N; i++) waits[i] = dm.wait(name, signal ? { signal } : {});
  // Started: every wait has made its first check and parked on the poller (its arm is
  // reached within a few turns of the loop on the simulator).
  await tick(); await tick();
  const start = performance.now() - t0;
  await tick();
  const i0 = c('info'); const w0 = c('wait');
  const t1 = performance.now();
  kernel.triggerEvent(name);
  await Promise.all(waits);
  const wake = performance.now() - t1;
  return { start, wake, infos: c('info') - i0, waits: c('wait') - w0 };
}

async function bareRound(): Promise<Sample> {
  // The floor: N promises, each parked on one shared event and resumed by it, as an
  // `await` per waiter would be. Started = creating them; wake = the event to all settled.
  let fire!: () => void;
  const event = new Promise<void>((r) => { fire = r; });
  const t0 = performance.now();
  const ps: Promise<unknown>[] = new Array(N);
  for (let i = 0; i < N; i++) ps[i] = (async () => { await event; return { i }; })();
  await tick(); await tick();
  const start = performance.now() - t0;
  await tick();
  const t1 = performance.now();
  setImmediate(fire); // from a macrotask, as the poller's wake-up is
  await Promise.all(ps);
  const wake = performance.now() - t1 - 0; // includes one setImmediate turn, as the poller's does
  return { start, wake, infos: 0, waits: 0 };
}

async function main(): Promise<void> {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.createDevice({ name: 'w', table: zero });
  const shared = new AbortController();
  const rows: Record<string, Sample[]> = { bare: [], waits: [], 'waits, one shared signal': [] };
  // Warm-up, then interleaved rounds.
  for (let i = 0; i < WARMUP; i++) { await waitsRound(dm, kernel, 'w'); await bareRound(); }
  const warn = process.listenerCount('warning');
  let warnings = 0;
  process.on('warning', () => { warnings++; });
  for (let r = 0; r < ROUNDS; r++) {
    rows.bare!.push(await bareRound());
    rows.waits!.push(await waitsRound(dm, kernel, 'w'));
    rows['waits, one shared signal']!.push(await waitsRound(dm, kernel, 'w', shared.signal));
  }
  dm.close();
  const base = rows.bare!;
  const bs = median(base.map((s) => s.start)); const bw = median(base.map((s) => s.wake));
  console.log(`wake path, N = ${N}, ${ROUNDS} interleaved rounds, medians (node ${process.version})`);
  console.log('| row | start N | / bare | wake N | / bare | per waiter (wake) | ioctls per wake (info, wait) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [k, ss] of Object.entries(rows)) {
    const s = median(ss.map((x) => x.start)); const w = median(ss.map((x) => x.wake));
    console.log(`| ${k} | ${fmt(s)} | ${(s / bs).toFixed(1)}× | ${fmt(w)} | ${(w / bw).toFixed(1)}× | ${fmt(w / N)} | ${k === 'bare' ? '-' : `${median(ss.map((x) => x.infos))}, ${median(ss.map((x) => x.waits))}`} |`);
  }
  console.log(`process warnings during the rounds: ${warnings} (listeners before: ${warn})`);
}

void main();
