// The simulator's thin-pool metadata image (testing/thin-metadata-image.ts) against
// thin-provisioning-tools 0.9 (the oracle) and against the simulator's own model: seeded
// random pools driven through ThinPool (thins, snapshots of snapshots, shared blocks,
// discards, deletes) have their metadata device's bytes written to a host file, where
// thin_check passes, thin_dump (and thin_dump -m for a held snapshot) prints what the
// library's dump prints through the simulated device, and thin_ls prints what dmctl thin ls
// prints. The held snapshot stays as it was while the pool keeps changing; released during
// a read, the reader fails with a typed error; hostile bytes give typed errors.
import { afterAll, afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DeviceMapper, DmThinMetadataError, ThinPool, listThinDevices, openThinMetadata, thinDelta, thinDumpText, type ThinMetadata, type ThinMetadataReader,
} from '../../lib/index.js';
import { SimulatedKernel, imageBytes, simBlockIo, thinSim, type SimPool } from '../../testing/index.js';
import { runThinLs, THIN_LS_FIELDS, type ThinMetadataOpener } from '../../cli/thin-ls.js';
import { runThinDelta } from '../../cli/thin-delta.js';

const probe = spawnSync('thin_check', ['-V'], { encoding: 'utf8' });
const HAVE = probe.error === undefined && probe.status === 0 && spawnSync('thin_dump', ['-V']).status === 0 && spawnSync('thin_ls', ['-V']).status === 0;
if (!HAVE) console.warn('spec/thin-tools/sim-metadata.spec.ts: the thin-provisioning-tools oracle is skipped: thin_check/thin_dump/thin_ls are not installed');
const oracle = HAVE ? describe : describe.skip;

const BLOCK_SECTORS = 128;
const THIN_SECTORS = 1n << 17n; // 1024 blocks of 64 KiB

let kernel: SimulatedKernel;
let dm: DeviceMapper;
let pool: ThinPool;
let dir = '';

beforeEach(async () => {
  kernel = new SimulatedKernel();
  dm = await DeviceMapper.open({ backend: kernel.backend() });
  pool = await ThinPool.create(dm, {
    name: 'pool', data: { file: '/img/data', sizeBytes: 256n << 20n }, metadata: { file: '/img/meta', sizeBytes: 8n << 20n },
    blockSizeSectors: BLOCK_SECTORS, skipBlockZeroing: true, lowWaterMarkBlocks: 0,
  });
});
afterEach(() => dm.close());
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

function tmp(name: string): string {
  if (!dir) dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-thin-meta-'));
  return path.join(dir, name);
}

/** A small deterministic generator (xorshift32). */
function rng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

const model = (): SimPool => thinSim(kernel).pool('pool');
const nameOf = (id: number) => `t${id}`;

/** Writes the pool's metadata device as the simulator serves it to a host file. */
async function imageFile(name: string): Promise<string> {
  const f = await simBlockIo(kernel).openFile('/dev/loop0', 'read');
  const bytes = new Uint8Array(Number(await f.sizeBytes()));
  await f.read(0n, bytes);
  await f.close();
  // The bytes read through the device are the image the model gives.
  expect(Buffer.from(bytes).equals(Buffer.from(imageBytes(thinSim(kernel).metadataImage(model()))))).toBe(true);
  const file = tmp(name);
  fs.writeFileSync(file, bytes);
  return file;
}

function tool(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function dumpOf(md: ThinMetadataReader): Promise<string> {
  let s = '';
  for await (const c of thinDumpText(md)) s += c;
  return s;
}

/** dmctl's thin_ls/thin_delta on the simulator: the library's reader on the simulated metadata device. */
const simOpener: ThinMetadataOpener = (p, o) => openThinMetadata(p, { dm, metadataSnap: o.metadataSnapBlock });

async function dmctl(run: typeof runThinLs, args: string[], open: ThinMetadataOpener): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await run(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, open);
  return { status, stdout, stderr };
}

/**
 * A seeded random pool: thins created and written, snapshots (of snapshots) taken, blocks
 * rewritten (breaking sharing), discarded, thins deleted. Returns the ids alive.
 */
async function randomPool(seed: number, steps: number): Promise<number[]> {
  const r = rng(seed);
  const sim = thinSim(kernel);
  const alive: number[] = [];
  let next = 0;
  for (let s = 0; s < steps; s++) {
    const op = r();
    if (alive.length === 0 || op < 0.15) {
      const id = next++;
      await pool.createThin(id);
      await pool.activate(id, { name: nameOf(id), sizeSectors: THIN_SECTORS });
      alive.push(id);
    } else if (op < 0.35) {
      const origin = alive[Math.floor(r() * alive.length)]!;
      const id = next++;
      await pool.snapshot(id, origin, { activeOrigin: nameOf(origin) });
      await pool.activate(id, { name: nameOf(id), sizeSectors: THIN_SECTORS });
      alive.push(id);
    } else if (op < 0.8) {
      const id = alive[Math.floor(r() * alive.length)]!;
      const start = Math.floor(r() * 1000);
      const len = 1 + Math.floor(r() * 24);
      expect(sim.write(nameOf(id), start * BLOCK_SECTORS, len * BLOCK_SECTORS)).toBe(true);
    } else if (op < 0.92) {
      const id = alive[Math.floor(r() * alive.length)]!;
      const start = Math.floor(r() * 1000);
      sim.discard(nameOf(id), start * BLOCK_SECTORS, (1 + Math.floor(r() * 40)) * BLOCK_SECTORS);
    } else if (alive.length > 1) {
      const at = Math.floor(r() * alive.length);
      const id = alive[at]!;
      await pool.deactivate(nameOf(id));
      await pool.delete(id);
      alive.splice(at, 1);
    }
  }
  return alive;
}

/** What the model says each thin maps: sorted [thinBlock, dataBlock, time]. */
function modelMappings(p: SimPool, id: number): [number, number, number][] {
  const t = p.thins.get(id)!;
  return [...t.map].sort((a, b) => a[0] - b[0]).map(([v, d]) => [v, d, t.times.get(v)!]);
}

async function readerMappings(md: ThinMetadata, id: number): Promise<[number, number, number][]> {
  const out: [number, number, number][] = [];
  for await (const run of md.mappings(id)) for (let k = 0n; k < run.lengthBlocks; k++) out.push([Number(run.thinBlock + k), Number(run.dataBlock + k), run.time]);
  return out;
}

describe('the simulated metadata device read by the library', () => {
  test('devices, times and mappings equal the model; create_snap bumps the pool time as __create_snap does', async () => {
    await randomPool(7, 120);
    const p = model();
    await using md = await pool.openMetadata();
    expect(md.superblock.time).toBe(p.time);
    // Every snapshot bumped the time once; the newest snapshot was created at the pool's time.
    expect(p.time).toBeGreaterThan(0);
    const devs = await md.devices();
    expect(devs.map((d) => d.thinId)).toEqual([...p.thins.keys()].sort((a, b) => a - b));
    for (const d of devs) {
      const t = p.thins.get(d.thinId)!;
      expect([d.mappedBlocks, d.creationTime, d.snapshottedTime, d.transactionId]).toEqual([BigInt(t.map.size), t.creationTime, t.snapshottedTime, t.transactionId]);
      expect(await readerMappings(md, d.thinId)).toEqual(modelMappings(p, d.thinId));
    }
    // Reference counts live in the live superblock's space map (a snapshot's copy has none).
    await using live = await openThinMetadata('/dev/loop0', { dm });
    for (const [b, n] of [...p.refs].slice(0, 50)) expect(await live.dataBlockReferenceCount(BigInt(b))).toBe(n);
  });

  test('a snapshot: the pool time goes up by one, the snapshot and its origin get it as their times', async () => {
    await pool.createThin(0);
    await pool.activate(0, { name: 't0', sizeSectors: THIN_SECTORS });
    thinSim(kernel).write('t0', 0, 4 * BLOCK_SECTORS);
    await pool.snapshot(1, 0, { activeOrigin: 't0' });
    thinSim(kernel).write('t0', 0, BLOCK_SECTORS);
    {
      await using md = await pool.openMetadata();
      expect(md.superblock.time).toBe(1);
      const [o, s] = await md.devices();
      expect([o!.creationTime, o!.snapshottedTime, s!.creationTime, s!.snapshottedTime]).toEqual([0, 1, 1, 1]);
      expect((await readerMappings(md, 0)).map((m) => m[2])).toEqual([1, 0, 0, 0]);
    }
    expect(await pool.nextFreeThinId()).toBe(2);
  });

  test('nextFreeThinId reads the ids of inactive thins too', async () => {
    for (const id of [0, 1, 3]) await pool.createThin(id);
    expect(await pool.nextFreeThinId()).toBe(2);
    expect(await pool.nextFreeThinId({ policy: 'aboveHighest' })).toBe(4);
  });
});

oracle('the simulated metadata image against thin-provisioning-tools 0.9', () => {
  test.each([1, 2, 3, 4, 5, 6])('random pool seed %i: thin_check passes; thin_dump and thin_ls (every field) print what the library and dmctl print', async (seed) => {
    await randomPool(seed, 150);
    const file = await imageFile(`seed-${seed}.bin`);
    const check = tool('thin_check', [file]);
    expect(check).toMatchObject({ status: 0 });
    {
      await using md = await openThinMetadata('/dev/loop0', { dm });
      expect(await dumpOf(md)).toBe(tool('thin_dump', [file]).stdout);
    }
    for (const args of [['-o', THIN_LS_FIELDS.join(',')], []]) {
      const want = tool('thin_ls', [...args, file]);
      expect(want.status).toBe(0);
      expect(await dmctl(runThinLs, [...args, '/dev/loop0'], simOpener)).toEqual(want);
    }
    const ids = [...model().thins.keys()];
    const [a, b] = [ids[0]!, ids[ids.length - 1]!];
    const args = ['--snap1', String(a), '--snap2', String(b), '--verbose'];
    expect(await dmctl(runThinDelta, [...args, '/dev/loop0'], simOpener)).toEqual(tool('thin_delta', [...args, file]));
  }, 60_000);

  test('a held metadata snapshot stays as it was while the pool keeps writing; thin_dump -m prints it; released, it is gone', async () => {
    await randomPool(11, 80);
    const held = await pool.reserveMetadataSnap();
    expect(held).toBe(2047n); // the top block of the 8 MiB metadata device
    const before = tool('thin_dump', [await imageFile('held-0.bin')]).stdout;
    const r = rng(99);
    for (let i = 0; i < 60; i++) {
      const ids = [...model().thins.keys()];
      thinSim(kernel).write(nameOf(ids[Math.floor(r() * ids.length)]!), Math.floor(r() * 1000) * BLOCK_SECTORS, BLOCK_SECTORS * 3);
    }
    await pool.createThin(500);
    const after = await imageFile('held-1.bin');
    expect(tool('thin_check', [after]).status).toBe(0);
    const snapDump = tool('thin_dump', ['-m', after]);
    expect(snapDump.status).toBe(0);
    // The snapshot's superblock has its space map roots zeroed (__reserve_metadata_snap): nr_data_blocks="0".
    expect(snapDump.stdout).toBe(before.replace(/nr_data_blocks="\d+"/, 'nr_data_blocks="0"'));
    expect(tool('thin_dump', [after]).stdout).not.toBe(before);
    {
      await using md = await openThinMetadata('/dev/loop0', { dm, metadataSnap: true });
      expect(await dumpOf(md)).toBe(snapDump.stdout);
    }
    expect(await dmctl(runThinLs, ['-m', '/dev/loop0'], simOpener)).toEqual(tool('thin_ls', ['-m', after]));
    await pool.releaseMetadataSnap();
    const released = await imageFile('held-2.bin');
    expect(tool('thin_check', [released]).status).toBe(0);
    expect(tool('thin_dump', ['-m', released]).status).not.toBe(0);
    await expect(openThinMetadata('/dev/loop0', { dm, metadataSnap: true })).rejects.toMatchObject({ code: 'THIN_METADATA_NO_SNAPSHOT' });
  }, 60_000);
});

describe('adversarial', () => {
  test('released during a read: the reader fails with a typed error naming a block, never returns stale or foreign data', async () => {
    await randomPool(21, 150);
    const md = await pool.openMetadata();
    const ids = (await md.devices()).map((d) => d.thinId);
    // Another process releases the snapshot mid-read (the kernel frees its blocks).
    await pool.releaseMetadataSnap();
    let error: unknown;
    try {
      for (const id of ids) await readerMappings(md, id);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DmThinMetadataError);
    expect(error).toMatchObject({ code: 'THIN_METADATA_CORRUPT' });
    expect((error as DmThinMetadataError).message).toMatch(/^metadata block \d+: /);
    // close() still releases: the pool holds none now, so the kernel answers EINVAL.
    await expect(md.close()).rejects.toMatchObject({ code: 'EINVAL' });
    expect(model().heldRoot).toBeNull();
  });

  test('the metadata snapshot held while writing: every read of it gives the reserved state, whatever the writes', async () => {
    await randomPool(31, 60);
    const frozen = new Map([...model().thins].map(([id]) => [id, modelMappings(model(), id)]));
    await using md = await pool.openMetadata();
    const r = rng(5);
    for (const [id] of frozen) {
      for (let i = 0; i < 20; i++) thinSim(kernel).write(nameOf(id), Math.floor(r() * 1000) * BLOCK_SECTORS, BLOCK_SECTORS);
      thinSim(kernel).discard(nameOf(id), 0, 200 * BLOCK_SECTORS);
      expect(await readerMappings(md, id)).toEqual(frozen.get(id));
    }
    // The delta between two thins of the snapshot: what the frozen maps say.
    const [a, b] = [...frozen.keys()];
    const differ = new Set<number>();
    const fa = new Map(frozen.get(a!)!.map(([v, d]) => [v, d]));
    const fb = new Map(frozen.get(b!)!.map(([v, d]) => [v, d]));
    for (const v of new Set([...fa.keys(), ...fb.keys()])) if (fa.get(v) !== fb.get(v)) differ.add(v);
    const changed = new Set<number>();
    for await (const d of thinDelta(md, a!, b!, { includeSame: false })) for (let k = 0n; k < d.lengthBlocks; k++) changed.add(Number(d.thinBlock + k));
    expect([...changed].sort((x, y) => x - y)).toEqual([...differ].sort((x, y) => x - y));
    expect((await listThinDevices(md)).map((d) => d.thinId)).toEqual([...frozen.keys()].sort((x, y) => x - y));
  });

  test('a data block only the held snapshot still maps is not given to a new write until the release', async () => {
    await pool.createThin(0);
    await pool.activate(0, { name: 't0', sizeSectors: THIN_SECTORS });
    thinSim(kernel).write('t0', 0, BLOCK_SECTORS);
    const first = model().thins.get(0)!.map.get(0)!;
    await pool.reserveMetadataSnap();
    thinSim(kernel).discard('t0', 0, BLOCK_SECTORS);       // the pool no longer maps it; the snapshot does
    thinSim(kernel).write('t0', BLOCK_SECTORS, BLOCK_SECTORS);
    expect(model().thins.get(0)!.map.get(1)).not.toBe(first);
    const file = HAVE ? await imageFile('held-only.bin') : undefined;
    if (file) expect(tool('thin_check', [file]).status).toBe(0);
    await pool.releaseMetadataSnap();
    thinSim(kernel).write('t0', 2 * BLOCK_SECTORS, BLOCK_SECTORS);
    expect(model().thins.get(0)!.map.get(2)).toBe(first);
  });

  test('hostile bytes in a simulated metadata file give typed errors, never a hang or a crash', async () => {
    await randomPool(41, 100);
    const io = simBlockIo(kernel);
    const image = imageBytes(thinSim(kernel).metadataImage(model()));
    const used = [...thinSim(kernel).metadataImage(model()).blocks.keys()];
    const r = rng(77);
    let typed = 0;
    for (let i = 0; i < 40; i++) {
      const bad = Uint8Array.from(image);
      const block = used[Math.floor(r() * used.length)]!;
      const at = block * 4096 + Math.floor(r() * 4096);
      bad[at] = bad[at]! ^ (1 << Math.floor(r() * 8));
      const f = await io.openFile(`/bad/${i}`, 'create');
      await f.write(0n, bad);
      await f.close();
      try {
        await using md = await openThinMetadata(`/bad/${i}`, { dm });
        for (const d of await md.devices()) await readerMappings(md, d.thinId);
        await listThinDevices(md);
      } catch (e) {
        expect(e).toBeInstanceOf(DmThinMetadataError);
        typed++;
      }
    }
    // A flipped bit anywhere in a used block breaks its checksum: the walks that read it fail.
    expect(typed).toBeGreaterThan(0);
  });
});
