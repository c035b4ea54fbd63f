/**
 * dm-verity format benchmark: `npm run bench:verity` (builds, then runs
 * dist/bench/verity-format.bench.js). Formats one data file (1 GiB by default,
 * `BENCH_VERITY_MIB`; random bytes with `BENCH_VERITY_RANDOM=1`, else a sparse file of zeros:
 * the hashing costs the same) with the system's veritysetup and with formatVerity, in the
 * same run, alternating (`BENCH_ROUNDS`, default 3), with the same salt and UUID; checks
 * that the two hash images are equal (cmp) before reporting the best time of each and the
 * ratio ours / veritysetup (the goal: at most 1.0).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatVerity } from '../lib/index.js';

const VERITYSETUP = ['/usr/sbin/veritysetup', '/sbin/veritysetup', '/usr/bin/veritysetup'].find((p) => existsSync(p));
if (!VERITYSETUP) {
  console.log('no veritysetup on this machine: nothing to compare with');
  process.exit(0);
}
const mib = Number(process.env['BENCH_VERITY_MIB'] ?? 1024);
const random = process.env['BENCH_VERITY_RANDOM'] === '1';
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const dir = mkdtempSync(path.join(os.tmpdir(), 'verity-bench-'));
const data = path.join(dir, 'data.img');
const UUID = '0b7a1d52-3c4e-4f60-8a9b-0c1d2e3f4a5b';
const SALT = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

async function main(): Promise<void> {
  const fd = openSync(data, 'w');
  if (random) {
    const chunk = Buffer.alloc(8 << 20);
    for (let i = 0; i < mib / 8; i++) writeSync(fd, randomFillSync(chunk));
  } else {
    ftruncateSync(fd, mib * 1024 * 1024);
  }
  closeSync(fd);
  const theirs: number[] = [];
  const ours: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const th = path.join(dir, 'theirs.img');
    const oh = path.join(dir, 'ours.img');
    rmSync(th, { force: true });
    rmSync(oh, { force: true });
    let t0 = process.hrtime.bigint();
    const res = spawnSync(VERITYSETUP!, ['format', data, th, '--uuid', UUID, '--salt', SALT], { encoding: 'utf8' });
    theirs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (res.status !== 0) throw new Error(`veritysetup failed: ${res.stderr}`);
    t0 = process.hrtime.bigint();
    await formatVerity(data, oh, { uuid: UUID, salt: SALT });
    ours.push(Number(process.hrtime.bigint() - t0) / 1e6);
    execFileSync('cmp', [th, oh]);
  }
  const best = (a: number[]) => Math.min(...a);
  console.log(`verity format of ${mib} MiB (${random ? 'random' : 'sparse, zeros'}), ${rounds} rounds, ${os.availableParallelism()} CPUs, Node ${process.version}, load ${os.loadavg()[0]!.toFixed(1)}`);
  console.log(`veritysetup: best ${best(theirs).toFixed(0)} ms  (${theirs.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`formatVerity: best ${best(ours).toFixed(0)} ms  (${ours.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`ours / veritysetup: ${(best(ours) / best(theirs)).toFixed(2)}x  (hash images equal: cmp)`);
}

main().finally(() => rmSync(dir, { recursive: true, force: true })).catch((e: unknown) => { console.error(e); process.exit(1); });
