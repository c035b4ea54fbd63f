// The metadata reader on a live pool (6.1 and the newest kernel): a pool on loop files, a
// thin and its snapshot, a writer writing random blocks of the thin with O_DIRECT. While it
// writes, ThinPool.openMetadata reserves the metadata snapshot, reads it, and releases it on
// close; thin_dump -m of the same metadata device prints what thinDumpText prints (both read
// the held snapshot). Failed and aborted opens leave nothing reserved.
import { expect, test } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, DmAbortError, ThinPool, thinDumpText, type ThinDevice } from '../../lib/index.js';
import { describeLiveOn, kernelLabel } from './live-env.js';

const MiB = 1024 * 1024;
const THIN_BLOCKS = 256; // 16 MiB of 64 KiB blocks

/** A writer of random 64 KiB blocks of `dev` (O_DIRECT), in its own process group, until killed. */
function startWriter(dev: string): ChildProcess {
  return spawn('sh', ['-c', `while :; do dd if=/dev/urandom of=${dev} bs=65536 count=1 seek=$(( $(od -An -N2 -tu2 /dev/urandom) % ${THIN_BLOCKS} )) oflag=direct conv=notrunc status=none; done`], { stdio: 'ignore', detached: true });
}

async function stopWriter(w: ChildProcess): Promise<void> {
  if (w.exitCode !== null || w.signalCode !== null) return;
  const done = new Promise((r) => w.once('exit', r));
  try { process.kill(-w.pid!, 'SIGKILL'); } catch { /* already gone */ }
  await done;
}

async function dumpOf(pool: ThinPool): Promise<{ text: string; held: bigint; mapped: Map<number, bigint>; runs: Map<number, bigint> }> {
  await using md = await pool.openMetadata({ timeoutMs: 60_000 });
  let text = '';
  for await (const c of thinDumpText(md)) text += c;
  const mapped = new Map((await md.devices()).map((d) => [d.thinId, d.mappedBlocks]));
  const runs = new Map<number, bigint>();
  for (const id of mapped.keys()) {
    let n = 0n;
    for await (const r of md.mappings(id)) n += r.lengthBlocks;
    runs.set(id, n);
  }
  // thin_dump reads the same held snapshot while we hold it.
  const theirs = spawnSync('thin_dump', ['-m', pool.params.metadataDevice], { encoding: 'utf8', timeout: 120_000 });
  expect(theirs.status).toBe(0);
  expect(text).toBe(theirs.stdout);
  return { text, held: md.superblock.blockNumber, mapped, runs };
}

describeLiveOn(['6.1', 'newest'], `thin metadata: a live pool's metadata snapshot [kernel ${kernelLabel}]`, () => {
  test('reserve, read and release under a writer; thin_dump -m agrees; nothing left reserved', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-thinmd-'));
    const tag = `dmts-tm${process.pid}`;
    const dm = await DeviceMapper.open();
    let pool: ThinPool | undefined;
    let writer: ChildProcess | undefined;
    let thin: ThinDevice | undefined;
    try {
      pool = await ThinPool.create(dm, {
        name: tag, data: { file: path.join(dir, 'data.img'), sizeBytes: BigInt(64 * MiB) }, metadata: { file: path.join(dir, 'meta.img'), sizeBytes: BigInt(4 * MiB) },
        blockSizeSectors: 128, skipBlockZeroing: true, lowWaterMarkBlocks: 0,
      });
      const p = pool;
      await p.createThin(1);
      thin = await p.activate(1, { name: `${tag}-1`, sizeSectors: THIN_BLOCKS * 128 });
      const fill = spawnSync('dd', ['if=/dev/urandom', `of=${thin.path}`, 'bs=65536', 'count=64', 'oflag=direct', 'status=none']);
      expect(fill.status).toBe(0);
      await p.snapshot(2, 1);

      writer = startWriter(thin.path);
      await new Promise((r) => setTimeout(r, 500));
      const seen: bigint[] = [];
      for (let round = 0; round < 3; round++) {
        const r = await dumpOf(p);
        seen.push(r.held);
        expect([...r.mapped.keys()]).toEqual([1, 2]);
        // The snapshot holds the 64 blocks written before it; each device's runs add up to its mapped_blocks.
        expect(r.mapped.get(2)).toBe(64n);
        for (const [id, n] of r.mapped) expect(r.runs.get(id)).toBe(n);
        expect(r.mapped.get(1)!).toBeGreaterThanOrEqual(64n);
        // Released on close: the pool holds no metadata root.
        expect((await p.healthyStatus()).heldMetadataRoot).toBeNull();
      }
      expect(seen.every((b) => b > 0n)).toBe(true);

      // An open that fails after the reservation releases it; so does one aborted before it.
      await expect(p.openMetadata({ metadataPath: path.join(dir, 'no-such-device') })).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await p.healthyStatus()).heldMetadataRoot).toBeNull();
      const ac = new AbortController();
      ac.abort();
      await expect(p.openMetadata({ signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
      expect((await p.healthyStatus()).heldMetadataRoot).toBeNull();

      await stopWriter(writer);
      writer = undefined;
      // Quiet now: two reads in a row see the same metadata (thin_dump without -m would need
      // the device exclusively, which the pool holds).
      const quiet = await dumpOf(p);
      expect((await dumpOf(p)).text).toBe(quiet.text);
    } finally {
      if (writer) await stopWriter(writer);
      if (pool) {
        if (thin) await pool.deactivate(thin).catch(() => {});
        await pool.destroy().catch(() => {});
      }
      await dm.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
