/**
 * Reads what device-mapper logged to the kernel log during a failed call — the
 * diagnostic users need most ("device-mapper: table: 254:0: linear: Device lookup
 * failed"). /dev/kmsg records carry a CLOCK_MONOTONIC timestamp in µs, the clock
 * process.hrtime uses on Linux, so records at or after the call's start are the call's.
 * Best effort: unreadable (non-root, container) means no lines, never an error.
 */
import * as fs from 'node:fs';

const KMSG = '/dev/kmsg';

export function monotonicMicros(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** The `device-mapper:` lines logged at or after `since` (µs, monotonic). */
export function readKernelLog(since: bigint, path = KMSG, limit = 20): string[] {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return [];
  }
  const out: string[] = [];
  const buf = Buffer.alloc(8192);
  try {
    for (let records = 0; records < 100000; records++) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records overwritten while reading: go on
        break; // EAGAIN: no more records
      }
      if (n <= 0) break;
      const line = parseRecord(buf.toString('utf8', 0, n));
      if (line && line.ts >= since && line.text.includes('device-mapper')) out.push(line.text);
    }
  } finally {
    fs.closeSync(fd);
  }
  return out.slice(-limit);
}

/** "prio,seq,ts_usec,flags;message\n continuation…" → timestamp and message. */
export function parseRecord(rec: string): { ts: bigint; text: string } | undefined {
  const semi = rec.indexOf(';');
  if (semi < 0) return undefined;
  const fields = rec.slice(0, semi).split(',');
  if (fields.length < 3) return undefined;
  let ts: bigint;
  try { ts = BigInt(fields[2]!); } catch { return undefined; }
  const nl = rec.indexOf('\n', semi);
  return { ts, text: rec.slice(semi + 1, nl < 0 ? undefined : nl) };
}
