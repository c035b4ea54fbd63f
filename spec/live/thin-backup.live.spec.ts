// Changed-block tracking on a real pool (kernel 6.1): an origin written, snapshotted,
// written again and snapshotted again; the delta between the snapshots read from the pool's
// metadata (a metadata snapshot reserved and released) must be exactly the blocks the test
// wrote; thin_ls and thin_delta on the same metadata device print what dmctl prints; the
// changed blocks copied to a file and restored into a new thin from the first snapshot give
// the second snapshot's bytes (sha256); the next free thin id is one no thin holds.
import { expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, ThinPool, thinDelta, listThinDevices } from '../../lib/index.js';
import { runThinLs } from '../../cli/thin-ls.js';
import { runThinDelta } from '../../cli/thin-delta.js';
import { backupChanged, restoreBackup, sha256Of } from '../../examples/thin-backup.js';
import { describeLiveOn } from './live-env.js';

const BLOCK_BYTES = 64 * 1024;
const SIZE_SECTORS = 32n * 1024n * 2n; // 32 MiB

function writeBlocks(dev: string, blocks: readonly number[], tag: number): void {
  const fd = fs.openSync(dev, 'r+');
  try {
    for (const b of blocks) {
      const buf = Buffer.alloc(BLOCK_BYTES, (b * 7 + tag) & 0xff);
      buf.writeUInt32LE(b, 0);
      buf.writeUInt32LE(tag, 4);
      fs.writeSync(fd, buf, 0, buf.length, b * BLOCK_BYTES);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function dmctl(run: typeof runThinLs, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await run(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { status, stdout, stderr };
}

describeLiveOn(['6.1', 'newest'], 'thin backup: changed-block tracking from the pool\'s metadata', () => {
  test('deltas equal the blocks written; thin_ls/thin_delta agree with dmctl; a restore from the delta matches by sha256', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-backup-'));
    const dm = await DeviceMapper.open();
    const tag = `dmts-bk${process.pid}`;
    let pool: ThinPool | undefined;
    try {
      pool = await ThinPool.create(dm, {
        name: tag, data: { file: path.join(dir, 'data.img'), sizeBytes: 128n << 20n }, metadata: { file: path.join(dir, 'meta.img'), sizeBytes: 4n << 20n },
        blockSizeSectors: BLOCK_BYTES / 512, skipBlockZeroing: true, lowWaterMarkBlocks: 0,
      });
      const originId = await pool.nextFreeThinId();
      expect(originId).toBe(0);
      await pool.createThin(originId);
      const origin = await pool.activate(originId, { name: `${tag}-o`, sizeSectors: SIZE_SECTORS });
      const first = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 300];
      writeBlocks(origin.path, first, 1);
      await pool.snapshot(1, originId, { activeOrigin: origin.name });
      const second = [3, 4, 50, 200, 201, 202, 300];
      writeBlocks(origin.path, second, 2);
      await pool.snapshot(2, originId, { activeOrigin: origin.name });
      // Deactivated thins hold their ids too: 3 is next whatever is active.
      expect(await pool.nextFreeThinId()).toBe(3);
      expect(await pool.nextFreeThinId({ policy: 'aboveHighest', from: 10 })).toBe(10);

      {
        await using md = await pool.openMetadata();
        const changed: number[] = [];
        for await (const r of thinDelta(md, 1, 2, { includeSame: false })) {
          for (let k = 0n; k < r.lengthBlocks; k++) changed.push(Number(r.thinBlock + k));
        }
        expect(changed).toEqual([...second].sort((a, b) => a - b));
        const rows = await listThinDevices(md);
        expect(rows.map((r) => [r.thinId, r.mappedBlocks])).toEqual([[0, 16n], [1, 12n], [2, 16n]]);
      }

      // The host's tools on the metadata device, beside dmctl, on one held metadata snapshot.
      const table = await dm.table(tag);
      const metaDev = /^(\d+):(\d+)/.exec(String((table.targets[0] as { params: string }).params))!;
      const metaPath = `/dev/loop${metaDev[2]}`;
      expect(metaDev[1]).toBe('7');
      await pool.reserveMetadataSnap();
      try {
        const cases: [typeof runThinLs, string, string[]][] = [
          [runThinLs, 'thin_ls', ['-m', '-o', 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED,EXCLUSIVE,SHARED,TRANSACTION,CREATE_TIME,SNAP_TIME', metaPath]],
          [runThinDelta, 'thin_delta', ['-m', '--snap1', '1', '--snap2', '2', metaPath]],
          [runThinDelta, 'thin_delta', ['-m', '--verbose', '--snap1', '0', '--snap2', '1', metaPath]],
        ];
        for (const [run, name, args] of cases) {
          const want = spawnSync(name, args, { encoding: 'utf8' });
          expect(want.status).toBe(0);
          expect(await dmctl(run, args)).toEqual({ status: 0, stdout: want.stdout, stderr: want.stderr });
        }
      } finally {
        await pool.releaseMetadataSnap();
      }

      // Backup: the blocks of snapshot 2 that differ from snapshot 1, into a file.
      const snap2 = await pool.activate(2, { name: `${tag}-s2`, sizeSectors: SIZE_SECTORS, readOnly: true });
      const file = path.join(dir, 'backup.bin');
      const { ranges, dataBytes } = await backupChanged(dm, pool, 1, 2, snap2.path, file);
      expect(dataBytes).toBe(BigInt(second.length * BLOCK_BYTES));
      expect(fs.statSync(file).size).toBe(ranges * 16 + second.length * BLOCK_BYTES);
      // Restore: a new thin from snapshot 1, the backup written over it.
      const restoredId = await pool.nextFreeThinId();
      await pool.snapshot(restoredId, 1);
      const restored = await pool.activate(restoredId, { name: `${tag}-r`, sizeSectors: SIZE_SECTORS });
      expect(await restoreBackup(dm, file, restored.path)).toBe(dataBytes);
      const sizeBytes = SIZE_SECTORS * 512n;
      expect(await sha256Of(dm, restored.path, sizeBytes)).toBe(await sha256Of(dm, snap2.path, sizeBytes));
      await pool.deactivate(restored);
      await pool.deactivate(snap2);
      await pool.deactivate(origin);
    } finally {
      await pool?.[Symbol.asyncDispose]();
      dm.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
