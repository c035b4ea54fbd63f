/**
 * Incremental backup from thin snapshots (changed-block tracking, docs/thin-tools.md): copy
 * only the blocks of a snapshot that changed since the previous one to a file, restore them
 * into a new thin made from the previous snapshot, and verify by checksum. Needs a real
 * pool: the simulated kernel's pools keep no on-disk metadata to read (its metadata files
 * stay empty), so this runs live, in spec/live/thin-backup.live.spec.ts.
 *
 * The file: for each changed range, its byte offset and size (two little-endian u64) and
 * then its bytes, read from the new snapshot (a range the new snapshot no longer maps reads
 * as zeros there, and is restored as zeros).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { changedByteRanges, type ThinPool } from '../lib/index.js';

/** Writes the ranges of `snapId` that differ from `baseId` (read from the active snapshot at `snapPath`) to `backupFile`. */
export async function backupChanged(pool: ThinPool, baseId: number, snapId: number, snapPath: string, backupFile: string): Promise<{ ranges: number; dataBytes: bigint }> {
  // A metadata snapshot is reserved for the read and released when `md` closes.
  await using md = await pool.openMetadata({ timeoutMs: 60_000 });
  const source = await open(snapPath, 'r');
  const out = await open(backupFile, 'w');
  let ranges = 0;
  let dataBytes = 0n;
  try {
    for await (const batch of changedByteRanges(md, baseId, snapId, { maxResults: 256 })) {
      for (const r of batch.ranges) {
        const head = Buffer.alloc(16);
        head.writeBigUInt64LE(r.offsetBytes, 0);
        head.writeBigUInt64LE(r.sizeBytes, 8);
        await out.write(head);
        // One block at a time: memory stays one block whatever the range's size.
        for (let at = 0n; at < r.sizeBytes; at += batch.blockSizeBytes) {
          const block = Buffer.alloc(Number(batch.blockSizeBytes));
          await source.read(block, 0, block.length, Number(r.offsetBytes + at));
          await out.write(block);
        }
        ranges++;
        dataBytes += r.sizeBytes;
      }
    }
    await out.sync();
  } finally {
    await source.close();
    await out.close();
  }
  return { ranges, dataBytes };
}

/** Writes a backup file's ranges into the device at `targetPath`; returns the bytes written. */
export async function restoreBackup(backupFile: string, targetPath: string): Promise<bigint> {
  const input = await open(backupFile, 'r');
  const target = await open(targetPath, 'r+');
  let written = 0n;
  try {
    const head = Buffer.alloc(16);
    for (let pos = 0; ;) {
      const got = await input.read(head, 0, 16, pos);
      if (got.bytesRead === 0) break;
      if (got.bytesRead !== 16) throw new Error(`${backupFile}: a range header cut short at byte ${pos}`);
      const offsetBytes = head.readBigUInt64LE(0);
      const sizeBytes = Number(head.readBigUInt64LE(8));
      const data = Buffer.alloc(sizeBytes);
      if ((await input.read(data, 0, sizeBytes, pos + 16)).bytesRead !== sizeBytes) throw new Error(`${backupFile}: a range cut short at byte ${pos + 16}`);
      await target.write(data, 0, sizeBytes, Number(offsetBytes));
      written += BigInt(sizeBytes);
      pos += 16 + sizeBytes;
    }
    await target.sync();
  } finally {
    await input.close();
    await target.close();
  }
  return written;
}

/** SHA-256 of the first `sizeBytes` of a device or file. */
export async function sha256Of(path: string, sizeBytes: bigint): Promise<string> {
  const f = await open(path, 'r');
  const hash = createHash('sha256');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let at = 0n; at < sizeBytes;) {
      const n = Number(sizeBytes - at < BigInt(chunk.length) ? sizeBytes - at : BigInt(chunk.length));
      const { bytesRead } = await f.read(chunk, 0, n, Number(at));
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
      at += BigInt(bytesRead);
    }
  } finally {
    await f.close();
  }
  return hash.digest('hex');
}
