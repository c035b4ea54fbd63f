/**
 * Scale-path benchmark (the "scale" goals): `npm run build && node dist/bench/scale-path.bench.js`.
 *
 * The JavaScript a LIST of many devices and a status of every device cost on the host, with
 * the kernel replaced by canned replies, so only our code is timed. Every row has a baseline
 * measured in the same run, interleaved with it (rotating order), median of the rounds:
 *
 * 1. `decodeReply('listDevices')` of a 4.48-style reply (10,000 records, uuid trailers)
 *    against a loop that only walks the `next` offsets (the raw C LIST's work).
 *    Also against a hand-written decode to the same objects and strings, without checks.
 * 2. `dm.listSync()` through a fake transport that copies the same reply into the request
 *    buffer (as the kernel does), against that copy plus the same walk.
 * 3. `dm.statusMany()` of N tableless devices through a fake transport whose `ioctlAsync`
 *    runs a fake DM_TABLE_STATUS synchronously, per device, against a loop that writes
 *    each name into one reused buffer, runs the same fake ioctl and reads dev/flags back.
 * 4. The same `statusMany()` with the calls routed to a real ioctl engine (ffi/engine.ts)
 *    whose worker runs the fake ioctl: the engine's copies and wipes are in the time.
 * 5. (row 6) That engine copying each reply back only as far as its `data_size`
 *    (`replyBytes`, lib/kernel/reply-bytes.ts, as the real backend does) against the same
 *    engine copying the whole 16 KiB slot back.
 *
 * Prints ratios; no assertion on time. BENCH_ROUNDS (default 11), BENCH_DEVICES (10000),
 * BENCH_ROWS (e.g. `1,3`: only those rows, for a profile).
 */
import os from 'node:os';
import { createCodec, requestCode, viewOf } from '../codec/index.js';
import { DeviceMapper, type Backend, type ControlTransport, type IoctlResult } from '../lib/index.js';
import { IoctlEngine } from '../ffi/engine.js';
import { dmReplyBytes } from '../lib/kernel/reply-bytes.js';
import { dmIoctl, dmNameList } from '../codec/records.js';

const endian = os.endianness() === 'LE' ? 'little' : 'big';
const le = endian === 'little';
const codec = createCodec({ endian });
const enc = new TextEncoder();
const N = Number(process.env.BENCH_DEVICES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const H = dmIoctl.offsetOf;
const NL = dmNameList.offsetOf;
const HEADER = dmIoctl.size;
const DM_BUFFER_FULL_FLAG = 1 << 8;
const DM_EXISTS_FLAG = 1 << 2;

const names = Array.from({ length: N }, (_, i) => `vg${i % 7}-lv_data_${i}`);

/** A LIST_DEVICES reply as a 4.48 kernel writes it with DM_UUID_FLAG. */
const listReply = (() => {
  const recs = names.map((name, i) => ({
    dev: BigInt((i & 0xff) | (253 << 8) | ((i & ~0xff) << 12)),
    name,
    uuid: `LVM-${String(i).padStart(8, '0')}Kq2dY0GQtYk2sYJmG7fJ8cQvZp8p4xkS3m0Zh8x`,
  }));
  const a8 = (n: number) => (n + 7) & ~7;
  let size = HEADER;
  for (const d of recs) size = a8(a8(size + NL.name + d.name.length + 1) + 8 + d.uuid.length + 1);
  const b = new Uint8Array(size);
  const v = viewOf(b);
  let off = HEADER;
  let prev = -1;
  for (const d of recs) {
    if (prev >= 0) v.setUint32(prev + NL.next, off - prev, le);
    v.setBigUint64(off + NL.dev, d.dev, le);
    v.setUint32(off + NL.next, 0, le);
    enc.encodeInto(d.name, b.subarray(off + NL.name));
    let p = a8(off + NL.name + d.name.length + 1);
    v.setUint32(p, 7, le); v.setUint32(p + 4, 1, le);
    p += 8;
    enc.encodeInto(d.uuid, b.subarray(p));
    prev = off;
    off = a8(p + d.uuid.length + 1);
  }
  codec.header.encode(v, b, 0, {
    version: [4, 48, 0], data_size: off, data_start: HEADER, target_count: 0, open_count: 0,
    flags: 0, event_nr: 0, padding: 0, dev: 0n, name: '', uuid: '',
  });
  return b;
})();
const listSize = listReply.length;

/** The fake kernel's LIST: the reply when it fits, else BUFFER_FULL (as dm-ioctl.c does). */
function fakeList(buf: Uint8Array): IoctlResult {
  const v = viewOf(buf);
  if (buf.length < listSize) {
    v.setUint32(H.version, 4, le); v.setUint32(H.version + 4, 48, le); v.setUint32(H.version + 8, 0, le);
    v.setUint32(H.flags, v.getUint32(H.flags, le) | DM_BUFFER_FULL_FLAG, le);
    v.setUint32(H.data_size, HEADER, le);
    return { ret: 0, errno: 0 };
  }
  // The kernel writes the header it keeps (flags, sizes) and the records: copy the whole reply.
  const flags = v.getUint32(H.flags, le);
  buf.set(listReply, 0);
  v.setUint32(H.flags, flags, le);
  return { ret: 0, errno: 0 };
}

/** The fake kernel's DM_TABLE_STATUS of a tableless device found by name (the body also runs in the engine's worker). */
const FAKE_STATUS_BODY = `
  const le = ${le};
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  v.setUint32(0, 4, le); v.setUint32(4, 48, le); v.setUint32(8, 0, le);
  v.setUint32(${H.data_size}, ${HEADER}, le);
  v.setUint32(${H.target_count}, 0, le);
  v.setInt32(${H.open_count}, 0, le);
  v.setUint32(${H.flags}, (v.getUint32(${H.flags}, le) | ${DM_EXISTS_FLAG}) >>> 0, le);
  v.setUint32(${H.event_nr}, 0, le);
  v.setBigUint64(${H.dev}, BigInt((253 << 8) | (buf[${H.name} + 3] & 0xff)), le);
  return [0, 0];
`;
const fakeStatusFn = new Function('request', 'buf', 'fd', FAKE_STATUS_BODY) as (r: number, b: Uint8Array, fd: number) => [number, number];

const VERSION = requestCode('version');
const LIST = requestCode('listDevices');
const STATUS = requestCode('status');

function fakeVersion(buf: Uint8Array): IoctlResult {
  const v = viewOf(buf);
  v.setUint32(0, 4, le); v.setUint32(4, 48, le); v.setUint32(8, 0, le);
  v.setUint32(H.data_size, HEADER, le);
  return { ret: 0, errno: 0 };
}

function fakeIoctl(request: number, buf: Uint8Array): IoctlResult {
  if (request === VERSION) return fakeVersion(buf);
  if (request === LIST) return fakeList(buf);
  if (request === STATUS) { const [ret, errno] = fakeStatusFn(request, buf, -1); return { ret, errno }; }
  return { ret: -1, errno: 25 };
}

/** ioctls per request code, counted by the fake transports. */
const counts = new Map<number, number>();
const count = (r: number) => counts.set(r, (counts.get(r) ?? 0) + 1);

function backendOf(async: (request: number, buf: Uint8Array) => Promise<IoctlResult>): Backend {
  return {
    description: 'scale-path bench fake',
    async openControl(): Promise<ControlTransport> {
      return {
        fd: 3,
        ioctl: (r, b) => { count(r); return fakeIoctl(r, b); },
        ioctlAsync: (r, b) => { count(r); return async(r, b); },
        close() {},
      };
    },
    openWatcher: () => Promise.reject(new Error('no events in this bench')),
  };
}

// ------------------------------------------------------------------- baselines ---

/** The raw C LIST's JS equivalent: follow `next` from data_start, touch each dev. */
function walkNext(b: Uint8Array): number {
  const v = viewOf(b);
  let off = v.getUint32(H.data_start, le);
  let n = 0;
  for (;;) {
    n += Number(v.getUint32(off + NL.dev, le) & 1);
    const next = v.getUint32(off + NL.next, le);
    if (next === 0) return n;
    off += next;
  }
}

/**
 * A second, stricter baseline for the decode: the same objects with the same strings, built
 * by hand without a bound check or a lossless-name check (codec.bench.ts's name-list row).
 */
const dec = new TextDecoder();
function handDecode(b: Uint8Array): unknown[] {
  const v = viewOf(b);
  const out: unknown[] = [];
  let off = v.getUint32(H.data_start, le);
  for (;;) {
    const raw = v.getBigUint64(off + NL.dev, le);
    const next = v.getUint32(off + NL.next, le);
    let e = off + NL.name;
    while (b[e] !== 0) e++;
    const name = dec.decode(b.subarray(off + NL.name, e));
    const t = (e + 1 + 7) & ~7;
    let u = t + 8;
    while (b[u] !== 0) u++;
    const lo = Number(raw & 0xffffffffn);
    out.push({ name, dev: { major: (lo & 0xfff00) >>> 8, minor: (lo & 0xff) | ((lo >>> 12) & 0xfff00), raw }, eventNr: v.getUint32(t, le), uuid: dec.decode(b.subarray(t + 8, u)) });
    if (next === 0) return out;
    off += next;
  }
}

const baseListBuf = new Uint8Array(listSize + 4096);
function baseList(): number {
  fakeList(baseListBuf);
  return walkNext(baseListBuf);
}

/** The C status loop's JS equivalent: one reused buffer, name written in, same fake ioctl, dev and flags read back. */
const baseStatusBuf = new Uint8Array(16 * 1024);
const baseStatusView = viewOf(baseStatusBuf);
function baseStatusAll(): number {
  let acc = 0;
  for (let i = 0; i < N; i++) {
    const name = names[i]!;
    baseStatusBuf.fill(0, 0, HEADER);
    baseStatusView.setUint32(H.data_size, baseStatusBuf.length, le);
    baseStatusView.setUint32(H.data_start, HEADER, le);
    enc.encodeInto(name, baseStatusBuf.subarray(H.name, H.name + 128));
    fakeStatusFn(STATUS, baseStatusBuf, -1);
    acc += Number(baseStatusView.getBigUint64(H.dev, le) & 0xffn) + baseStatusView.getUint32(H.flags, le);
  }
  return acc;
}

// --------------------------------------------------------------------- harness ---

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };
const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
let sink: unknown;

async function time(fn: () => unknown, reps: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) sink = await fn();
  return Number(process.hrtime.bigint() - t0) / reps;
}

interface Row { name: string; reps: number; ours: () => unknown; baseline: () => unknown; perDevice?: boolean }

async function measure(row: Row): Promise<{ ours: number; baseline: number }> {
  await time(row.ours, row.reps * 2); // warm-up
  await time(row.baseline, row.reps * 2);
  const a: number[] = [], b: number[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    if (k % 2 === 0) { a.push(await time(row.ours, row.reps)); b.push(await time(row.baseline, row.reps)); }
    else { b.push(await time(row.baseline, row.reps)); a.push(await time(row.ours, row.reps)); }
  }
  return { ours: median(a), baseline: median(b) };
}

async function main(): Promise<void> {
  const dm = await DeviceMapper.open({ backend: backendOf(async (r, b) => fakeIoctl(r, b)) });
  // Sanity: the lib sees every device the baseline walks.
  const listed = dm.listSync();
  if (listed.length !== N || walkNext(listReply) !== listed.filter((d) => d.dev.minor & 1).length) {
    throw new Error(`listSync saw ${listed.length} devices, expected ${N}`);
  }
  const ids = listed.map((d) => ({ name: d.name }));
  const st = await dm.statusMany(ids);
  if (st.length !== N || !st.every((s) => s.ok)) throw new Error('statusMany failed in the bench');

  // The engine's worker runs the fake status ioctl: copies into / out of shared memory and wipes are real.
  const engine = IoctlEngine.start({ fd: -1, libc: '', fakeIoctl: FAKE_STATUS_BODY });
  const dmEngine = await DeviceMapper.open({ backend: backendOf((r, b) => (r === STATUS ? engine.ioctl(r, b) : Promise.resolve(fakeIoctl(r, b)))) });
  await dmEngine.statusMany(ids.slice(0, 100));
  // The same, with the reply copied back only as far as the kernel writes (the real backend's
  // `replyBytes`, lib/kernel/reply-bytes.ts): row 6 is the A/B of that copy-out.
  const engineCut = IoctlEngine.start({ fd: -1, libc: '', fakeIoctl: FAKE_STATUS_BODY, replyBytes: dmReplyBytes });
  const dmEngineCut = await DeviceMapper.open({ backend: backendOf((r, b) => (r === STATUS ? engineCut.ioctl(r, b) : Promise.resolve(fakeIoctl(r, b)))) });
  await dmEngineCut.statusMany(ids.slice(0, 100));

  const rows: Row[] = [
    { name: `decodeReply('listDevices'), ${N} devices / walk next offsets`, reps: 5, ours: () => codec.decodeReply('listDevices', listReply), baseline: () => walkNext(listReply) },
    { name: `decodeReply('listDevices'), ${N} devices / hand-written decode to the same objects, no checks`, reps: 5, ours: () => codec.decodeReply('listDevices', listReply), baseline: () => handDecode(listReply) },
    { name: `dm.listSync(), ${N} devices / reply copy + walk next offsets`, reps: 5, ours: () => dm.listSync(), baseline: baseList },
    { name: `dm.statusMany(), ${N} tableless devices, fake ioctl (per device) / reused-buffer loop`, reps: 1, ours: () => dm.statusMany(ids), baseline: baseStatusAll, perDevice: true },
    { name: `dm.statusMany() on the engine (fake ioctl in its worker), ${N} devices (per device) / reused-buffer loop`, reps: 1, ours: () => dmEngine.statusMany(ids), baseline: baseStatusAll, perDevice: true },
    { name: `dm.statusMany() on the engine, reply copied back to data_size only (replyBytes), ${N} devices (per device) / the same copying the whole 16 KiB slot back`, reps: 1, ours: () => dmEngineCut.statusMany(ids), baseline: () => dmEngine.statusMany(ids), perDevice: true },
  ];
  console.log(`| row | ours | baseline | ours / baseline |`);
  console.log(`|---|---:|---:|---:|`);
  const only = process.env.BENCH_ROWS?.split(',').map(Number);
  for (const [i, row] of rows.entries()) {
    if (only && !only.includes(i + 1)) continue;
    const m = await measure(row);
    const d = row.perDevice ? N : 1;
    console.log(`| ${row.name} | ${fmt(m.ours / d)} | ${fmt(m.baseline / d)} | ${(m.ours / m.baseline).toFixed(2)}× |`);
  }
  counts.clear();
  dm.listSync();
  await dm.statusMany(ids);
  console.log(`\nioctls for one listSync() and one statusMany() of ${N} (after warm-up): LIST ${counts.get(LIST) ?? 0}, STATUS ${counts.get(STATUS) ?? 0}`);
  console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), Node ${process.version}; median of ${ROUNDS} interleaved rounds`);
  dm.close();
  dmEngine.close();
  engine.close();
  dmEngineCut.close();
  engineCut.close();
  void sink;
}

void main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
