/**
 * thin_ls / thin_delta benchmark: `npm run bench:thin-tools` (builds, then runs
 * dist/bench/thin-tools.bench.js). Makes one pool's metadata with thin_restore: an origin
 * of `BENCH_THIN_BLOCKS` mapped blocks (1,000,000 by default) in runs, a snapshot of it with
 * 5% of its blocks written again, and a snapshot of that with 5% more. Then, in the same run,
 * alternating (`BENCH_ROUNDS`, default 3), the system's thin_ls (every field) and
 * thin_delta (origin against the last snapshot, with and without --verbose) and `dmctl thin
 * ls` / `dmctl thin delta` with the same arguments, each as a process of its own; checks
 * the outputs are byte-identical and prints the best time of each, the ratio dmctl / tool
 * (the goal: at most 1.0) and each one's peak resident memory; and the same dmctl run
 * functions in this process (no Node start-up, no module loading), output compared too.
 * thin-provisioning-tools 1.x (the Rust rewrite) is timed beside 0.9 when its tools are in
 * `BENCH_THIN_RUST` (a directory with thin_ls and thin_delta) or in the cache that
 * bench/fetch-rust-thin-tools.sh fills; its output is compared with 0.9's byte for byte and
 * the difference, if any, printed. Two start-up rows time `node -e 0` and `dmctl thin delta
 * --help` as processes in the same run: what a dmctl process costs before it reads a block.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runThinLs } from '../cli/thin-ls.js';
import { runThinDelta } from '../cli/thin-delta.js';
import { firstDifference, rustThinTools } from './rust-thin-tools.js';

const tool = (name: string) => ['/usr/sbin', '/sbin', '/usr/bin'].map((d) => path.join(d, name)).find((p) => existsSync(p));
const THIN_LS = tool('thin_ls');
const THIN_DELTA = tool('thin_delta');
const THIN_RESTORE = tool('thin_restore');
const RUST = rustThinTools();
if (!THIN_LS || !THIN_DELTA || !THIN_RESTORE) {
  console.log('no thin_ls/thin_delta/thin_restore on this machine: nothing to compare with');
  process.exit(0);
}
const blocks = Number(process.env['BENCH_THIN_BLOCKS'] ?? 1_000_000);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
// This script runs as dist/bench/thin-tools.bench.js; dmctl's bin sits at the package root.
const dmctl = path.resolve(path.dirname(process.argv[1]!), '../../bin/dmctl.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'thin-bench-'));

/** A deterministic PRNG, so every run measures the same pool. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makePool(): { file: string; mapped: number } {
  const rnd = prng(28);
  const origin = new Uint32Array(blocks);
  let data = 0;
  for (let b = 0; b < blocks;) {
    const len = 1 + Math.floor(rnd() * 64);
    if (rnd() < 0.2) data += 1 + Math.floor(rnd() * 8);
    for (let k = 0; k < len && b < blocks; k++) origin[b++] = data++;
  }
  const snap1 = origin.slice();
  const snap2 = origin.slice();
  for (const s of [snap1, snap2]) {
    if (s === snap2) snap2.set(snap1);
    for (let n = 0; n < blocks * 0.05;) {
      const at = Math.floor(rnd() * blocks);
      const len = 1 + Math.floor(rnd() * 16);
      for (let k = 0; k < len && at + k < blocks; k++, n++) s[at + k] = data++;
    }
  }
  const nrData = data + 1000;
  const out: string[] = [`<superblock uuid="" time="2" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="${nrData}">`];
  const device = (id: number, map: Uint32Array, created: number, snapped: number) => {
    out.push(`  <device dev_id="${id}" mapped_blocks="${map.length}" transaction="0" creation_time="${created}" snap_time="${snapped}">`);
    for (let b = 0; b < map.length;) {
      let len = 1;
      while (b + len < map.length && map[b + len] === map[b]! + len) len++;
      out.push(len === 1 ? `    <single_mapping origin_block="${b}" data_block="${map[b]}" time="0"/>` : `    <range_mapping origin_begin="${b}" data_begin="${map[b]}" length="${len}" time="0"/>`);
      b += len;
    }
    out.push('  </device>');
  };
  device(1, origin, 0, 1);
  device(2, snap1, 1, 2);
  device(3, snap2, 2, 2);
  out.push('</superblock>');
  const xml = path.join(dir, 'pool.xml');
  writeFileSync(xml, `${out.join('\n')}\n`);
  const file = path.join(dir, 'meta.bin');
  writeFileSync(file, '');
  truncateSync(file, 512 << 20);
  const r = spawnSync(THIN_RESTORE!, ['-i', xml, '-o', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`thin_restore: ${r.stderr}`);
  return { file, mapped: blocks * 3 };
}

/** One timed process: wall time, stdout, and peak RSS from GNU time (-f %M, KiB). */
function timed(cmd: string, args: string[]): { ms: number; stdout: Buffer; rssKiB: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  const rss = Number(r.stderr.toString().trim().split('\n').pop());
  return { ms, stdout: r.stdout, rssKiB: rss };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const { file, mapped } = makePool();
  console.log(`pool: 3 thins, ${mapped} mapped blocks (${blocks} per thin), restored in ${Date.now() - t0} ms`);
  const FIELDS = 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_SECTORS,EXCLUSIVE_SECTORS,SHARED_SECTORS,MAPPED_BYTES,EXCLUSIVE_BYTES,SHARED_BYTES,MAPPED,EXCLUSIVE,SHARED,TRANSACTION,CREATE_TIME,SNAP_TIME';
  const cases: { name: string; tool: string; args: string[]; verb: string }[] = [
    { name: 'thin ls (every field)', tool: THIN_LS!, verb: 'ls', args: ['-o', FIELDS, file] },
    { name: 'thin delta 1 3', tool: THIN_DELTA!, verb: 'delta', args: ['--snap1', '1', '--snap2', '3', file] },
    { name: 'thin delta --verbose 1 3', tool: THIN_DELTA!, verb: 'delta', args: ['--verbose', '--snap1', '1', '--snap2', '3', file] },
  ];
  const version = (t: string) => spawnSync(t, ['-V'], { encoding: 'utf8' }).stdout.trim();
  console.log(`tools: ${THIN_DELTA} ${version(THIN_DELTA!)}${RUST ? `, ${RUST} ${version(path.join(RUST, 'thin_delta'))}` : ' (no 1.x tools: bash bench/fetch-rust-thin-tools.sh)'}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? (a / b).toFixed(2) : '–');
  const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
  console.log('| command | 0.9 best ms | 1.x best ms | dmctl best ms | dmctl/0.9 | dmctl/1.x | in-process best ms (first round) | in-process/0.9 | in-process/1.x | 0.9 / 1.x / dmctl peak RSS MiB | output |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const differences: string[] = [];
  for (const c of cases) {
    const rustTool = RUST ? path.join(RUST, c.tool === THIN_LS ? 'thin_ls' : 'thin_delta') : undefined;
    let best = { tool: Infinity, rust: Infinity, ours: Infinity, inProcess: Infinity, toolRss: 0, rustRss: 0, oursRss: 0 };
    // The first in-process round runs the reader before the JIT has warmed it, as a dmctl process does.
    let firstInProcess = NaN;
    let same = true;
    let rustSame = true;
    for (let r = 0; r < rounds; r++) {
      const a = timed(c.tool, c.args);
      const z = rustTool ? timed(rustTool, c.args) : undefined;
      const b = timed(process.execPath, [dmctl, 'thin', c.verb, ...c.args]);
      same &&= a.stdout.equals(b.stdout);
      if (z && !z.stdout.equals(a.stdout)) {
        if (rustSame) differences.push(`${c.name}: 1.x prints ${z.stdout.length} bytes, 0.9 ${a.stdout.length}; first differing line:\n${firstDifference(a.stdout, z.stdout)}`);
        rustSame = false;
      }
      const chunks: string[] = [];
      const t0 = process.hrtime.bigint();
      await (c.verb === 'ls' ? runThinLs : runThinDelta)(c.args, { stdout: (t) => chunks.push(t), stderr: (t) => chunks.push(t) });
      const inMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r === 0) firstInProcess = inMs;
      same &&= Buffer.from(chunks.join('')).equals(a.stdout);
      best = {
        tool: Math.min(best.tool, a.ms), rust: Math.min(best.rust, z?.ms ?? Infinity), ours: Math.min(best.ours, b.ms), inProcess: Math.min(best.inProcess, inMs),
        toolRss: Math.max(best.toolRss, a.rssKiB), rustRss: Math.max(best.rustRss, z?.rssKiB ?? 0), oursRss: Math.max(best.oursRss, b.rssKiB),
      };
    }
    const mib = (k: number) => (k === 0 ? '–' : (k / 1024).toFixed(0));
    const output = `${same ? 'dmctl = 0.9' : 'dmctl ≠ 0.9 (DIFFERENT)'}${rustTool ? (rustSame ? ', 1.x = 0.9' : ', 1.x ≠ 0.9 (below)') : ''}`;
    console.log(`| ${c.name} | ${ms(best.tool)} | ${ms(best.rust)} | ${ms(best.ours)} | ${ratio(best.ours, best.tool)} | ${ratio(best.ours, best.rust)} | ${ms(best.inProcess)} (${ms(firstInProcess)}) | ${ratio(best.inProcess, best.tool)} | ${ratio(best.inProcess, best.rust)} | ${mib(best.toolRss)} / ${mib(best.rustRss)} / ${mib(best.oursRss)} | ${output} |`);
  }
  // What a process costs before it reads a block: Node itself, and dmctl's start-up for a thin verb.
  for (const [name, args] of [['start-up: node -e 0', ['-e', '0']], ['start-up: dmctl thin delta --help', [dmctl, 'thin', 'delta', '--help']]] as const) {
    let best = { ms: Infinity, rss: 0 };
    for (let r = 0; r < Math.max(rounds, 5); r++) {
      const t = timed(process.execPath, [...args]);
      best = { ms: Math.min(best.ms, t.ms), rss: Math.max(best.rss, t.rssKiB) };
    }
    console.log(`| ${name} | | | ${ms(best.ms)} | | | | | | – / – / ${(best.rss / 1024).toFixed(0)} | |`);
  }
  for (const d of differences) console.log(`\n${d}`);
  if (process.env["BENCH_KEEP"]) console.log(`kept ${file}`); else rmSync(dir, { recursive: true, force: true });
}

await main();
