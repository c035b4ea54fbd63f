/**
 * Where the benches find thin-provisioning-tools 1.x (the Rust rewrite): `BENCH_THIN_RUST`, a
 * directory holding thin_ls, thin_delta and thin_dump, or the cache
 * bench/fetch-rust-thin-tools.sh fills. And the first line where two outputs differ, for
 * reporting a format difference between 0.9 and 1.x instead of hiding it.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** 1.x's directory, or undefined; exits when BENCH_THIN_RUST names a directory without the tools. */
export function rustThinTools(): string | undefined {
  const given = process.env['BENCH_THIN_RUST'];
  const found = [given, path.join(os.homedir(), '.cache/devicemapper-bench/rust-thin-tools/bin'), path.resolve('.cache/devicemapper-bench/rust-thin-tools/bin')]
    .find((d) => d !== undefined && d !== '' && ['thin_ls', 'thin_delta', 'thin_dump'].every((t) => existsSync(path.join(d, t))));
  if (given && found !== given) {
    console.log(`BENCH_THIN_RUST=${given} holds no thin_ls, thin_delta and thin_dump`);
    process.exit(1);
  }
  return found;
}

/** The first line where two outputs differ, both sides. */
export function firstDifference(a: Buffer, b: Buffer): string {
  const al = a.toString('utf8').split('\n');
  const bl = b.toString('utf8').split('\n');
  const i = al.findIndex((l, k) => l !== bl[k]);
  const at = i === -1 ? al.length : i;
  return `  line ${at + 1}, 0.9: ${JSON.stringify(al[at] ?? '(end)')}\n  line ${at + 1}, 1.x: ${JSON.stringify(bl[at] ?? '(end)')}`;
}
