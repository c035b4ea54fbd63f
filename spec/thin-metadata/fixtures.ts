// Metadata files for the thin-metadata specs, made by the oracle's own writer: generated
// thin_dump XML (devices, snapshots sharing blocks, runs and single mappings) restored with
// thin_restore into a sparse file. Deterministic (a seeded generator), so a failure repeats.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { THIN_METADATA_BLOCK_BYTES, thinBlockChecksum, thinSuperblock } from '../../codec/thin-metadata-records.js';

/** The thin-provisioning-tools binary `name`, or undefined where it is not installed. */
export function thinTool(name: string): string | undefined {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => path.join(d, name)).find((p) => fs.existsSync(p));
}

/** One mapping of the generated pool. */
export interface GenMapping { readonly origin: number; readonly data: number; readonly time: number }
/** One device of the generated pool. */
export interface GenDevice { readonly id: number; readonly transaction: number; readonly creation: number; readonly snap: number; readonly mappings: GenMapping[] }
/** A generated pool: the XML thin_restore takes and what it says. */
export interface GenPool { readonly xml: string; readonly devices: GenDevice[]; readonly nrDataBlocks: number; readonly time: number; readonly transaction: number; readonly blockSize: number }

/** A small deterministic generator (xorshift32). */
export function rng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

/** Options of {@link generatePool}. */
export interface GenOptions {
  readonly seed: number;
  /** Mappings of the origin device (about). */
  readonly originMappings: number;
  /** Snapshots of the origin, each sharing most of its blocks and overwriting some. */
  readonly snapshots: number;
  /** Further independent devices. */
  readonly others?: number;
  /** Longest run of consecutive mappings. */
  readonly maxRun?: number;
}

/** Generates a pool: an origin with runs and single mappings, snapshots sharing its blocks (time stamps after), other devices. */
export function generatePool(o: GenOptions): GenPool {
  const r = rng(o.seed);
  const maxRun = o.maxRun ?? 24;
  let nextData = 0;
  const alloc = (n: number) => { if (r() < 0.1) nextData += 1 + Math.floor(r() * 7); const d = nextData; nextData += n; return d; };
  const devices: GenDevice[] = [];
  const origin: GenMapping[] = [];
  let block = Math.floor(r() * 10);
  while (origin.length < o.originMappings) {
    const run = 1 + Math.floor(r() * maxRun);
    const d = alloc(run);
    for (let i = 0; i < run; i++) origin.push({ origin: block + i, data: d + i, time: 0 });
    block += run + (r() < 0.5 ? 0 : 1 + Math.floor(r() * 9));
  }
  devices.push({ id: 1, transaction: 0, creation: 0, snap: o.snapshots, mappings: origin });
  for (let s = 1; s <= o.snapshots; s++) {
    const m = origin.map((x) => (r() < 0.05 ? { origin: x.origin, data: alloc(1), time: s } : x));
    devices.push({ id: 10 + s, transaction: s, creation: s, snap: s, mappings: m });
  }
  for (let k = 0; k < (o.others ?? 0); k++) {
    const m: GenMapping[] = [];
    let b = Math.floor(r() * 1000);
    const n = Math.floor(r() * 40);
    for (let i = 0; i < n; i++) { m.push({ origin: b, data: alloc(1), time: o.snapshots }); b += 1 + Math.floor(r() * 3); }
    devices.push({ id: 1000 + k * 7, transaction: k, creation: o.snapshots, snap: o.snapshots, mappings: m });
  }
  const nrDataBlocks = nextData + 100;
  const time = o.snapshots + 1;
  const transaction = o.snapshots + (o.others ?? 0) + 3;
  const blockSize = 128;
  const lines: string[] = [`<superblock uuid="" time="${time}" transaction="${transaction}" flags="0" version="2" data_block_size="${blockSize}" nr_data_blocks="${nrDataBlocks}">`];
  for (const d of devices) {
    lines.push(`  <device dev_id="${d.id}" mapped_blocks="${d.mappings.length}" transaction="${d.transaction}" creation_time="${d.creation}" snap_time="${d.snap}">`);
    for (const m of d.mappings) lines.push(`    <single_mapping origin_block="${m.origin}" data_block="${m.data}" time="${m.time}"/>`);
    lines.push('  </device>');
  }
  lines.push('</superblock>');
  return { xml: lines.join('\n') + '\n', devices, nrDataBlocks, time, transaction, blockSize };
}

/** A fresh temporary directory. */
export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'thin-metadata-'));
}

/** Restores `xml` with thin_restore into a new sparse metadata file of `sizeBytes` in `dir`; returns its path. */
export function restore(dir: string, xml: string, name = 'meta.bin', sizeBytes = 64 << 20): string {
  const x = path.join(dir, `${name}.xml`);
  const out = path.join(dir, name);
  fs.writeFileSync(x, xml);
  fs.writeFileSync(out, '');
  fs.truncateSync(out, sizeBytes);
  const rr = spawnSync(thinTool('thin_restore')!, ['-i', x, '-o', out], { encoding: 'utf8' });
  if (rr.status !== 0) throw new Error(`thin_restore failed (${rr.status}): ${rr.stderr}`);
  fs.rmSync(x);
  return out;
}

/** Runs a thin tool; stdout as a Buffer (byte comparison), stderr as text. */
export function runTool(name: string, args: string[]): { stdout: Buffer; stderr: string; status: number } {
  const rr = spawnSync(thinTool(name)!, args, { maxBuffer: 1 << 30 });
  return { stdout: rr.stdout, stderr: rr.stderr.toString('utf8'), status: rr.status ?? -1 };
}

/**
 * Gives `file` a held metadata snapshot as reserve_metadata_snap leaves one: block 0 copied
 * to `at` with its block number set and its space map roots wiped (a snapshot records none),
 * block 0's held root pointing at it; both checksums recomputed. Returns `at`.
 */
export function addMetadataSnap(file: string, at: bigint): bigint {
  const fd = fs.openSync(file, 'r+');
  try {
    const sb = Buffer.alloc(THIN_METADATA_BLOCK_BYTES);
    fs.readSync(fd, sb, 0, sb.length, 0);
    const snap = Buffer.from(sb);
    const o = thinSuperblock.offsetOf;
    snap.writeBigUInt64LE(at, o.blocknr);
    snap.fill(0, o.data_space_map_root, o.data_mapping_root);
    snap.writeUInt32LE(thinBlockChecksum(snap, 4, snap.length, 'superblock'), o.csum);
    fs.writeSync(fd, snap, 0, snap.length, Number(at) * THIN_METADATA_BLOCK_BYTES);
    sb.writeBigUInt64LE(at, o.held_root);
    sb.writeUInt32LE(thinBlockChecksum(sb, 4, sb.length, 'superblock'), o.csum);
    fs.writeSync(fd, sb, 0, sb.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  return at;
}
