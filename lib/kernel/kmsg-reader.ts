/**
 * Reads what device-mapper logged to the kernel log during a failed call — the
 * diagnostic users need most ("device-mapper: table: 254:0: linear: Device lookup
 * failed"). Which of them a failed call keeps is decided in call-log.ts. Records are
 * followed by sequence number from a cursor set when the client
 * opened: timestamps cannot be compared with process.hrtime (the kernel's local_clock and
 * CLOCK_MONOTONIC drift apart by tens of ms under a VM). Best effort: an unreadable
 * /dev/kmsg (non-root, container) means no lines, never an error.
 */
import * as fs from 'node:fs';
import type { KernelLog } from './backend.js';

/**
 * Opens /dev/kmsg and skips what is already there; undefined when it is not readable.
 * `limit` bounds one take(); it is generous because other clients' and processes' lines
 * come in the same stream and are sorted out afterwards (call-log.ts), so a burst of
 * theirs must not push this call's line out.
 */
export function openKernelLog(path = '/dev/kmsg', limit = 256): KernelLog | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const buf = Buffer.alloc(8192);
  let open = true;
  const drain = (keep: boolean): string[] => {
    const out: string[] = [];
    if (!open) return out;
    for (let i = 0; i < 100000; i++) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') continue; // overwritten while reading: go on
        break; // EAGAIN: nothing more
      }
      if (n <= 0) break;
      if (!keep) continue;
      const rec = parseRecord(buf.toString('utf8', 0, n));
      if (rec && rec.text.startsWith('device-mapper')) out.push(rec.text);
    }
    return out.slice(-limit);
  };
  drain(false);
  return {
    take: () => drain(true),
    close: () => {
      if (!open) return;
      open = false;
      try { fs.closeSync(fd); } catch { /* already gone */ }
    },
  };
}

/** "prio,seq,ts_usec,flags;message\n continuation…" → sequence, timestamp and message. */
export function parseRecord(rec: string): { seq: bigint; ts: bigint; text: string } | undefined {
  const semi = rec.indexOf(';');
  if (semi < 0) return undefined;
  const fields = rec.slice(0, semi).split(',');
  if (fields.length < 3) return undefined;
  let seq: bigint;
  let ts: bigint;
  try { seq = BigInt(fields[1]!); ts = BigInt(fields[2]!); } catch { return undefined; }
  const nl = rec.indexOf('\n', semi);
  return { seq, ts, text: rec.slice(semi + 1, nl < 0 ? undefined : nl) };
}
