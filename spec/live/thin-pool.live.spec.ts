// The containerd devmapper snapshotter's cycle through ThinPool on a real kernel, without
// dmsetup or dmctl: a pool on loop devices over files in the guest's tmpfs, a base thin with
// an ext4 filesystem written through it, 20 snapshots of snapshots taken while the origin is
// mounted and a writer process is writing, the data checked in each snapshot, deletes with
// discard returning space to the disk under the pool, low-water and out-of-space conditions,
// a resize while thins are active, and the read-only mode surfaced as a condition.
// Times are printed and recorded (DM_LIVE_REPORT); nothing asserts on them.
import { expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, DmError, ThinPool, type PoolCondition, type ThinDevice } from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

const MiB = 1024 * 1024;
const SNAPSHOTS = 20;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function writeSynced(file: string, text: string): void {
  const fd = fs.openSync(file, 'w');
  try { fs.writeSync(fd, text); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** A writer process appending to a file on the filesystem (synchronously) until killed. */
function startWriter(dir: string): ChildProcess {
  // Its own process group, so the loop and the dd it is running stop together (umount needs both gone).
  return spawn('sh', ['-c', `n=0; while :; do n=$((n+1)); echo "$n" >> ${dir}/log; dd if=/dev/zero of=${dir}/w bs=4096 count=4 conv=notrunc,fsync status=none; done`], { stdio: 'ignore', detached: true });
}

async function stopWriter(w: ChildProcess): Promise<void> {
  if (w.exitCode !== null || w.signalCode !== null) return;
  const done = new Promise((r) => w.once('exit', r));
  try { process.kill(-w.pid!, 'SIGKILL'); } catch { /* already gone */ }
  await done;
  for (let i = 0; i < 100 && spawnSync('pgrep', ['-g', String(w.pid)]).status === 0; i++) await new Promise((r) => setTimeout(r, 20));
}

function allocatedBytes(file: string): number {
  return fs.statSync(file).blocks * 512;
}

const ms = (t0: number) => Math.round(performance.now() - t0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describeLive(`ThinPool: the snapshotter cycle [kernel ${kernelLabel}]`, () => {
  test(`pool on loop files, ext4 base, ${SNAPSHOTS} snapshots of snapshots under a writer, discard deletes, events, resize, read-only`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-thin-'));
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const tag = `dmts-tp${process.pid}`;
    const dm = await DeviceMapper.open();
    const times: Record<string, number> = {};
    let pool: ThinPool | undefined;
    let mounted = false;
    let writer: ChildProcess | undefined;
    const seen: PoolCondition[] = [];
    const stopWatch = new AbortController();
    let watching: Promise<void> | undefined;
    const waitFor = async (pred: (c: PoolCondition) => boolean, what: string) => {
      for (let i = 0; i < 200; i++) {
        if (seen.some(pred)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no ${what} condition; saw ${seen.map((c) => `${c.kind} ${c.state}`).join(', ')}`);
    };
    try {
      let t0 = performance.now();
      pool = await ThinPool.create(dm, {
        name: tag, data: { file: path.join(dir, 'data.img'), sizeBytes: BigInt(64 * MiB) }, metadata: { file: path.join(dir, 'meta.img'), sizeBytes: BigInt(4 * MiB) },
        blockSizeSectors: 128, skipBlockZeroing: true, lowWaterMarkBlocks: 0,
      });
      times.createPoolMs = ms(t0);
      const p = pool;
      expect(await p.status()).toMatchObject({ health: 'ok', transactionId: 0n, usedDataBlocks: 0n, totalDataBlocks: 1024n, mode: 'rw', needsCheck: false });
      watching = (async () => { for await (const c of p.conditions({ signal: stopWatch.signal })) seen.push(c); })().catch(() => {});

      // Base thin with an ext4 filesystem, written through the thin device.
      t0 = performance.now();
      await p.createThin(1);
      let head: ThinDevice = await p.activate(1, { name: `${tag}-1`, sizeSectors: 32 * MiB / 512 });
      sh('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-E', 'nodiscard', head.path]);
      times.mkfsMs = ms(t0);
      sh('mount', ['-t', 'ext4', head.path, mnt]);
      mounted = true;
      await p.setTransactionId(1);

      // Snapshots of snapshots: each taken from the mounted head while a writer writes to it.
      const snapMs: number[] = [];
      const cycle0 = performance.now();
      for (let i = 1; i <= SNAPSHOTS; i++) {
        writeSynced(path.join(mnt, `marker-${i}`), `generation ${i} of ${head.id}`);
        writer = startWriter(mnt);
        // The snapshot must be taken while the writer writes: wait for its first line (under
        // TCG spawning the shell alone can take longer than any fixed delay; a fixed short one
        // made the first snapshot miss 'log' once on 6.1). The freeze at suspend puts it on disk.
        for (let k = 0; k < 500 && !(fs.existsSync(path.join(mnt, 'log')) && fs.statSync(path.join(mnt, 'log')).size > 0); k++) await new Promise((r) => setTimeout(r, 20));
        expect(fs.statSync(path.join(mnt, 'log')).size).toBeGreaterThan(0);
        const t = performance.now();
        await p.snapshot(i + 1, head.id);
        snapMs.push(ms(t));
        await p.setTransactionId(i + 1, { current: i });
        writeSynced(path.join(mnt, `after-${i}`), 'written to the origin after the snapshot');
        await stopWriter(writer);
        writer = undefined;
        sh('umount', [mnt]);
        mounted = false;
        await p.deactivate(head);
        head = await p.activate(i + 1, { name: `${tag}-${i + 1}`, sizeSectors: 32 * MiB / 512 });
        sh('mount', ['-t', 'ext4', head.path, mnt]);
        mounted = true;
        // The snapshot has every marker up to its own, and nothing written after it was taken.
        for (let j = 1; j <= i; j++) expect(fs.readFileSync(path.join(mnt, `marker-${j}`), 'utf8')).toMatch(new RegExp(`^generation ${j} of `));
        expect(fs.existsSync(path.join(mnt, `after-${i}`))).toBe(false);
        expect(fs.existsSync(path.join(mnt, 'log'))).toBe(true);
      }
      times.cycleMs = ms(cycle0);
      Object.assign(times, { snapshotMinMs: Math.min(...snapMs), snapshotMedianMs: median(snapMs), snapshotMaxMs: Math.max(...snapMs) });
      expect(await p.transactionId()).toBe(BigInt(SNAPSHOTS + 1));
      expect((await p.activeThins()).map((t) => t.id)).toEqual([SNAPSHOTS + 1]);
      const thinsDone = await p.status();

      // Deletes with discard: the blocks the snapshots own go back to the pool and, through
      // discard passdown, to the data file (its allocated bytes shrink).
      const data = path.join(dir, 'data.img');
      const fileBefore = allocatedBytes(data);
      const usedBefore = thinsDone.health === 'ok' ? thinsDone.usedDataBlocks : 0n;
      t0 = performance.now();
      for (let id = 2; id <= SNAPSHOTS; id++) await p.delete(id, { discard: true });
      times.deleteWithDiscardMs = ms(t0);
      const afterDelete = await p.healthyStatus();
      expect(afterDelete.usedDataBlocks).toBeLessThan(usedBefore);
      expect(allocatedBytes(data)).toBeLessThan(fileBefore);
      await expect(p.delete(2)).rejects.toMatchObject({ name: 'DmError', code: 'ENODATA' });
      times.dataFileFreedKiB = Math.round((fileBefore - allocatedBytes(data)) / 1024);
      times.poolBlocksFreed = Number(usedBefore - afterDelete.usedDataBlocks);

      // Low water: a mark just below the free space, crossed by writing 2 MiB through the filesystem.
      const free = afterDelete.totalDataBlocks - afterDelete.usedDataBlocks;
      await p.reload({ lowWaterMarkBlocks: free - 8n, errorIfNoSpace: true });
      fs.writeFileSync(path.join(mnt, 'fill-2m'), Buffer.alloc(2 * MiB, 7));
      sh('sync', []);
      t0 = performance.now();
      await waitFor((c) => c.kind === 'low-water' && c.state === 'entered', 'low-water');
      times.lowWaterEventMs = ms(t0);

      // Out of data space: a raw thin bigger than the pool, written until the pool is full.
      await p.createThin(100);
      const raw = await p.activate(100, { name: `${tag}-raw`, sizeSectors: 128 * MiB / 512 });
      const dd = spawnSync('dd', ['if=/dev/zero', `of=${raw.path}`, 'bs=1M', 'count=128', 'oflag=direct', 'status=none'], { encoding: 'utf8' });
      expect(dd.status).not.toBe(0); // error_if_no_space: the write fails instead of queueing
      t0 = performance.now();
      await waitFor((c) => c.kind === 'out-of-data-space' && c.state === 'entered', 'out-of-data-space');
      times.outOfSpaceEventMs = ms(t0);
      expect(await p.status()).toMatchObject({ mode: 'out_of_data_space' });

      // Resize while thins are active (the head is mounted): the pool leaves out_of_data_space.
      t0 = performance.now();
      const grown = await p.resize({ dataBytes: BigInt(96 * MiB), metadataBytes: BigInt(8 * MiB) });
      times.resizeMs = ms(t0);
      expect(grown.totalDataBlocks).toBe(1536n);
      expect(grown.mode).toBe('rw');
      await waitFor((c) => c.kind === 'out-of-data-space' && c.state === 'cleared', 'out-of-data-space cleared');
      writeSynced(path.join(mnt, 'after-resize'), 'the head is still writable');
      await p.deactivate(raw);
      await p.delete(100, { discard: true });

      // Read-only mode as a condition; pool messages are then refused with the kernel's errno.
      await p.reload({ readOnly: true });
      await waitFor((c) => c.kind === 'read-only' && c.state === 'entered', 'read-only');
      const refused = await p.createThin(200).then(() => undefined, (e: unknown) => e);
      expect(refused).toBeInstanceOf(DmError);
      expect((refused as DmError).code).toBe('ENOTSUP'); // the kernel's EOPNOTSUPP (95), as Node names it
      await p.reload({ readOnly: false });
      await waitFor((c) => c.kind === 'read-only' && c.state === 'cleared', 'read-only cleared');

      recordLiveFact(`thinPool.${kernelLabel}`, times);
      process.stdout.write(`[thin-pool ${kernelLabel}] ${JSON.stringify(times)}\n`);
    } finally {
      stopWatch.abort();
      await watching;
      if (writer) await stopWriter(writer);
      if (mounted) spawnSync('umount', ['-l', mnt]);
      for (const d of await dm.list()) if (d.name.startsWith(tag) && d.name !== tag) await dm.removeDevice(d.name).catch(() => {});
      if (pool) await pool.destroy().catch(() => {});
      dm.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 175_000);
});
