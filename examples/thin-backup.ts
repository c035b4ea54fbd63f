/**
 * Incremental backup from thin snapshots (changed-block tracking, docs/thin-tools.md): copy
 * only the blocks of a snapshot that changed since the previous one to a file, restore them
 * into a new thin made from the previous snapshot, and verify by checksum. Every byte goes
 * through the client's backend (openBlockFile), so the same code runs on a real pool
 * (spec/live/thin-backup.live.spec.ts) and on the simulator, whose pools serve their
 * metadata and their thins' bytes (spec/lib/thin-backup-example.spec.ts, README).
 *
 * The file: for each changed range, its byte offset and size (two little-endian u64) and
 * then its bytes, read from the new snapshot (a range the new snapshot no longer maps reads
 * as zeros there, and is restored as zeros).
 */
import { createHash } from 'node:crypto';
import { changedByteRanges, openBlockFile, type DeviceMapper, type ThinPool } from '../lib/index.js';

/** Writes the ranges of `snapId` that differ from `baseId` (read from the active snapshot at `snapPath`) to `backupFile` (made anew). */
export async function backupChanged(dm: DeviceMapper, pool: ThinPool, baseId: number, snapId: number, snapPath: string, backupFile: string): Promise<{ ranges: number; dataBytes: bigint }> {
  // A metadata snapshot is reserved for the read and released when `md` closes.
  await using md = await pool.openMetadata({ timeoutMs: 60_000 });
  const source = await openBlockFile(snapPath, { dm });
  const out = await openBlockFile(backupFile, { dm, mode: 'create' });
  let ranges = 0;
  let dataBytes = 0n;
  let pos = 0n;
  try {
    if ((await out.sizeBytes()) !== 0n) throw new Error(`${backupFile} exists and is not empty`);
    for await (const batch of changedByteRanges(md, baseId, snapId, { maxResults: 256 })) {
      for (const r of batch.ranges) {
        const head = Buffer.alloc(16);
        head.writeBigUInt64LE(r.offsetBytes, 0);
        head.writeBigUInt64LE(r.sizeBytes, 8);
        await out.write(pos, head);
        pos += 16n;
        // One block at a time: memory stays one block whatever the range's size.
        for (let at = 0n; at < r.sizeBytes; at += batch.blockSizeBytes) {
          const block = Buffer.alloc(Number(batch.blockSizeBytes));
          await source.read(r.offsetBytes + at, block);
          await out.write(pos, block);
          pos += batch.blockSizeBytes;
        }
        ranges++;
        dataBytes += r.sizeBytes;
      }
    }
  } finally {
    await source.close();
    await out.close();
  }
  return { ranges, dataBytes };
}

/** Writes a backup file's ranges into the device at `targetPath`; returns the bytes written. */
export async function restoreBackup(dm: DeviceMapper, backupFile: string, targetPath: string): Promise<bigint> {
  const input = await openBlockFile(backupFile, { dm });
  const target = await openBlockFile(targetPath, { dm, mode: 'write' });
  let written = 0n;
  try {
    const head = Buffer.alloc(16);
    const end = await input.sizeBytes();
    const targetBytes = await target.sizeBytes();
    for (let pos = 0n; pos < end;) {
      if ((await input.read(pos, head)) !== 16) throw new Error(`${backupFile}: a range header cut short at byte ${pos}`);
      const offsetBytes = head.readBigUInt64LE(0);
      const sizeBytes = head.readBigUInt64LE(8);
      // A hostile or damaged file must not make us allocate or write past the device.
      if (offsetBytes + sizeBytes > targetBytes || pos + 16n + sizeBytes > end) throw new Error(`${backupFile}: the range at byte ${pos} lies past the end of ${targetPath} or of the file`);
      const data = Buffer.alloc(Number(sizeBytes));
      if ((await input.read(pos + 16n, data)) !== data.length) throw new Error(`${backupFile}: a range cut short at byte ${pos + 16n}`);
      await target.write(offsetBytes, data);
      written += sizeBytes;
      pos += 16n + sizeBytes;
    }
  } finally {
    await input.close();
    await target.close();
  }
  return written;
}

/** SHA-256 of the first `sizeBytes` of a device or file. */
export async function sha256Of(dm: DeviceMapper, path: string, sizeBytes: bigint): Promise<string> {
  const f = await openBlockFile(path, { dm });
  const hash = createHash('sha256');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let at = 0n; at < sizeBytes;) {
      const n = Number(sizeBytes - at < BigInt(chunk.length) ? sizeBytes - at : BigInt(chunk.length));
      const bytesRead = await f.read(at, chunk.subarray(0, n));
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
      at += BigInt(bytesRead);
    }
  } finally {
    await f.close();
  }
  return hash.digest('hex');
}
