/**
 * Thin metadata benchmark: `npm run bench:thin` (builds, then runs
 * dist/bench/thin-metadata.bench.js). Makes a metadata file with thin_restore holding
 * `BENCH_THIN_MAPPINGS` mapped blocks (default 1,000,000: an origin with runs and single
 * mappings, and a snapshot sharing them with some blocks overwritten), then dumps it with
 * thin_dump 0.9 and with openThinMetadata + thinDumpText, alternating (`BENCH_ROUNDS`, default
 * 3). Checks that both print the same bytes (SHA-256) before reporting the best time of each,
 * the ratio ours / thin_dump, and this process's peak RSS (memory is bounded by the trees'
 * depth, not by the number of mappings). thin-provisioning-tools 1.x's thin_dump is timed in
 * the same rounds when bench/rust-thin-tools.ts finds it (`BENCH_THIN_RUST`, or the cache
 * bench/fetch-rust-thin-tools.sh fills); its output is compared with 0.9's and the first
 * difference printed, if any.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openThinMetadata, thinDumpText } from '../lib/index.js';
import { firstDifference, rustThinTools } from './rust-thin-tools.js';

const tool = (name: string) => ['/usr/sbin', '/sbin', '/usr/bin'].map((d) => path.join(d, name)).find((p) => existsSync(p));
const THIN_DUMP = tool('thin_dump');
const THIN_RESTORE = tool('thin_restore');
if (!THIN_DUMP || !THIN_RESTORE) {
  console.log('no thin_dump/thin_restore on this machine: nothing to compare with');
  process.exit(0);
}
const RUST = rustThinTools();
const target = Number(process.env['BENCH_THIN_MAPPINGS'] ?? 1_000_000);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const dir = mkdtempSync(path.join(os.tmpdir(), 'thin-bench-'));

/** The pool as thin_dump XML: origin (runs of 1 to 32, gaps), a snapshot sharing it with 1 block in 50 overwritten. */
function xml(): { text: string; mapped: number } {
  let x = 12345;
  const r = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
  const origin: string[] = [];
  const snap: string[] = [];
  let block = 0;
  let data = 0;
  let mapped = 0;
  let originCount = 0;
  const perDevice = Math.ceil(target / 2);
  while (originCount < perDevice) {
    const len = r() < 0.3 ? 1 : 2 + Math.floor(r() * 31);
    origin.push(len === 1
      ? `    <single_mapping origin_block="${block}" data_block="${data}" time="0"/>`
      : `    <range_mapping origin_begin="${block}" data_begin="${data}" length="${len}" time="0"/>`);
    // The snapshot shares the run, except one block in it rewritten now and then.
    if (len > 2 && r() < 0.5) {
      const k = Math.floor(r() * len);
      if (k > 0) snap.push(`    <range_mapping origin_begin="${block}" data_begin="${data}" length="${k}" time="0"/>`);
      snap.push(`    <single_mapping origin_block="${block + k}" data_block="__NEW__" time="1"/>`);
      if (k + 1 < len) snap.push(`    <range_mapping origin_begin="${block + k + 1}" data_begin="${data + k + 1}" length="${len - k - 1}" time="0"/>`);
    } else {
      snap.push(origin[origin.length - 1]!);
    }
    originCount += len;
    block += len + (r() < 0.5 ? 0 : 1 + Math.floor(r() * 4));
    data += len;
  }
  let next = data;
  const snapText = snap.join('\n').replace(/__NEW__/g, () => String(next++));
  mapped = originCount * 2;
  const lines = [
    `<superblock uuid="" time="2" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="${next + 1000}">`,
    `  <device dev_id="1" mapped_blocks="${originCount}" transaction="0" creation_time="0" snap_time="1">`, origin.join('\n'), '  </device>',
    `  <device dev_id="2" mapped_blocks="${originCount}" transaction="1" creation_time="1" snap_time="1">`, snapText, '  </device>',
    '</superblock>', '',
  ];
  // A range of length 1 is thin_restore's to accept; thin_dump prints it as a single mapping either way.
  return { text: lines.join('\n').replace(/<range_mapping origin_begin="(\d+)" data_begin="(\d+)" length="1" time="(\d+)"\/>/g, '<single_mapping origin_block="$1" data_block="$2" time="$3"/>'), mapped };
}

async function ours(file: string, out: string): Promise<void> {
  const fd = openSync(out, 'w');
  try {
    await using md = await openThinMetadata(file);
    for await (const chunk of thinDumpText(md)) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

function theirs(file: string, out: string, dump = THIN_DUMP!): void {
  const rr = spawnSync(dump, ['-o', out, file]);
  if (rr.status !== 0) throw new Error(`thin_dump failed: ${rr.stderr}`);
}

const bytes = (f: string) => spawnSync('cat', [f], { maxBuffer: 1 << 30 }).stdout;
const sha = (f: string) => createHash('sha256').update(bytes(f)).digest('hex');

async function main(): Promise<void> {
  const { text, mapped } = xml();
  const x = path.join(dir, 'pool.xml');
  const meta = path.join(dir, 'meta.bin');
  writeFileSync(x, text);
  writeFileSync(meta, '');
  truncateSync(meta, 512 * 1024 * 1024);
  let t = performance.now();
  const rr = spawnSync(THIN_RESTORE!, ['-i', x, '-o', meta]);
  if (rr.status !== 0) throw new Error(`thin_restore failed: ${rr.stderr}`);
  console.log(`thin_restore: ${mapped} mapped blocks in 2 devices, ${Math.round(performance.now() - t)} ms`);
  const a = path.join(dir, 'ours.xml');
  const b = path.join(dir, 'theirs.xml');
  const c = path.join(dir, 'rust.xml');
  const best = { ours: Infinity, theirs: Infinity, rust: Infinity };
  const order = ['ours', 'theirs', ...(RUST ? ['rust'] as const : [])] as const;
  console.log(`load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}${RUST ? `; 1.x: ${RUST}` : '; no 1.x tools (bash bench/fetch-rust-thin-tools.sh)'}`);
  for (let i = 0; i < rounds; i++) {
    for (const who of i % 2 ? [...order].reverse() : order) {
      t = performance.now();
      if (who === 'ours') await ours(meta, a); else if (who === 'theirs') theirs(meta, b); else theirs(meta, c, path.join(RUST!, 'thin_dump'));
      best[who] = Math.min(best[who], performance.now() - t);
    }
  }
  const same = sha(a) === sha(b);
  console.log(`outputs identical: ${same}`);
  if (!same) process.exitCode = 1;
  console.log(`thin_dump: ${Math.round(best.theirs)} ms; ours: ${Math.round(best.ours)} ms; ours / thin_dump = ${(best.ours / best.theirs).toFixed(2)} (best of ${rounds})`);
  if (RUST) {
    const rustSame = sha(c) === sha(b);
    console.log(`thin_dump 1.x: ${Math.round(best.rust)} ms; ours / 1.x = ${(best.ours / best.rust).toFixed(2)}; 1.x output ${rustSame ? 'identical to 0.9' : `differs from 0.9:\n${firstDifference(bytes(b), bytes(c))}`}`);
  }
  console.log(`peak RSS of this process: ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
}

main().finally(() => rmSync(dir, { recursive: true, force: true }));
