/**
 * dm-verity FEC encoding against veritysetup: `npm run build && node dist/bench/verity-fec.js`.
 *
 * Makes a data file (FEC_MIB, default 256 MiB, of pseudo-random bytes) and, per roots count,
 * times `veritysetup format` with and without `--fec-device` (fixed salt and uuid, so both
 * write the same hash image): their difference is veritysetup's FEC time. Then it times
 * computeFec over the same data and that hash image, reading and writing through file
 * handles, and checks that its parity is the bytes veritysetup wrote. Rounds interleave;
 * medians are printed with the ratio ours / veritysetup's FEC. Needs veritysetup; prints
 * why and exits 0 without it. Environment: FEC_MIB, FEC_ROUNDS (default 3), FEC_ROOTS
 * (default "2,8,24"), FEC_DIR (default the OS temp dir).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { computeFec, veritysetupFecCoverage, type FecReader, type FecWriter } from '../lib/verity/index-fec.js';

const MIB = Number(process.env.FEC_MIB ?? 256);
const ROUNDS = Number(process.env.FEC_ROUNDS ?? 3);
const ROOTS = (process.env.FEC_ROOTS ?? '2,8,24').split(',').map(Number);
const BLOCK = 4096;
const SALT = '5a'.repeat(32);
const UUID = '3c1b7c6e-8f5e-4d8e-9b7a-0e6f1d2c3b4a';

const VERITYSETUP = ['/usr/sbin/veritysetup', '/sbin/veritysetup', '/usr/bin/veritysetup'].find((p) => fs.existsSync(p));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };

function makeData(file: string, mib: number): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20);
  let x = 0x9e3779b9;
  for (let m = 0; m < mib; m++) {
    for (let i = 0; i < chunk.length; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      chunk.writeUInt32LE(x, i);
    }
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
}

function veritysetup(data: string, hash: string, fec: string | undefined, roots: number): number {
  for (const f of [hash, fec]) if (f) fs.rmSync(f, { force: true });
  const args = ['format', data, hash, '--salt', SALT, '--uuid', UUID];
  if (fec) args.push('--fec-device', fec, '--fec-roots', String(roots));
  const t0 = performance.now();
  execFileSync(VERITYSETUP!, args, { stdio: 'ignore' });
  return performance.now() - t0;
}

async function ours(data: string, hash: string, out: string, roots: number): Promise<number> {
  fs.rmSync(out, { force: true });
  const t0 = performance.now();
  const dh = await fs.promises.open(data, 'r');
  const hh = await fs.promises.open(hash, 'r');
  const oh = await fs.promises.open(out, 'w');
  try {
    const reader = (fh: fs.promises.FileHandle): FecReader => async (offsetBytes, length) => {
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, Number(offsetBytes));
      return bytesRead === length ? buf : buf.subarray(0, bytesRead);
    };
    const writer: FecWriter = async (offsetBytes, bytes) => { await oh.write(bytes, 0, bytes.length, Number(offsetBytes)); };
    const cover = veritysetupFecCoverage({ blockSizeBytes: BLOCK, dataBlocks: (MIB << 20) / BLOCK, superblock: true, hashAreaEndBytes: (await hh.stat()).size });
    await computeFec({ blockSizeBytes: BLOCK, roots, dataBlocks: (MIB << 20) / BLOCK, ...cover, dataReader: reader(dh), hashReader: reader(hh), writer });
  } finally {
    await Promise.all([dh.close(), hh.close(), oh.close()]);
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  if (!VERITYSETUP) { console.log('verity-fec bench skipped: veritysetup is not installed'); return; }
  const dir = fs.mkdtempSync(path.join(process.env.FEC_DIR ?? os.tmpdir(), 'verity-fec-bench-'));
  try {
    const data = path.join(dir, 'data.img');
    makeData(data, MIB);
    const version = execFileSync(VERITYSETUP, ['--version'], { encoding: 'utf8' }).trim();
    console.log(`${MIB} MiB data, ${BLOCK}-byte blocks, ${ROUNDS} rounds, ${version}, Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`);
    console.log('| roots | veritysetup format | format + FEC | veritysetup FEC | computeFec | ours / veritysetup FEC |');
    console.log('|---:|---:|---:|---:|---:|---:|');
    for (const roots of ROOTS) {
      const plain: number[] = [];
      const withFec: number[] = [];
      const mine: number[] = [];
      const hash = path.join(dir, 'hash.img');
      const fec = path.join(dir, 'fec.img');
      const ourFec = path.join(dir, 'ours.fec');
      for (let r = 0; r < ROUNDS; r++) {
        plain.push(veritysetup(data, path.join(dir, 'hash0.img'), undefined, roots));
        withFec.push(veritysetup(data, hash, fec, roots));
        mine.push(await ours(data, hash, ourFec, roots));
        if (r === 0 && !fs.readFileSync(ourFec).equals(fs.readFileSync(fec))) throw new Error(`roots ${roots}: computeFec's parity differs from veritysetup's`);
      }
      const theirs = median(withFec) - median(plain);
      const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
      console.log(`| ${roots} | ${s(median(plain))} | ${s(median(withFec))} | ${s(theirs)} | ${s(median(mine))} | ${(median(mine) / theirs).toFixed(2)}× |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
