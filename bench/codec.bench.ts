/**
 * Codec benchmark: `npm run bench` (builds, then runs dist/bench/codec.bench.js).
 *
 * Each row is measured three ways in the same run: our codec, a hand-written straight
 * DataView baseline doing the same work, and `restructure` (a generic struct library).
 * Every implementation is warmed up, then measured in interleaved rounds; the median
 * ns/op is reported. Results go to stdout (a table) and bench/results/<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import * as r from 'restructure';
import { createCodec, viewOf, type TargetSpecInput } from '../codec/index.js';
import { charBytes, charString, oracle } from './restructure-records.js';

const endian = os.endianness() === 'LE' ? 'little' : 'big';
const le = endian === 'little';
const codec = createCodec({ endian });
const rs = oracle(endian);
const enc = new TextEncoder();
const dec = new TextDecoder();

// ---------------------------------------------------------------- shared input ---

const headerValue = {
  version: [4, 0, 0] as [number, number, number], data_size: 16384, data_start: 312, target_count: 0, open_count: 0,
  flags: 0x4000, event_nr: 0, padding: 0, dev: 0xfd00n,
  name: 'vg0-lv_root', uuid: 'LVM-Kq2dY0GQtYk2sYJmG7fJ8cQvZp8p4xkS3m0Zh8xY2a1cQ7nK9dF4gH5jL6kM7nB8',
};
const headerBytes = new Uint8Array(312);
codec.header.encode(viewOf(headerBytes), headerBytes, 0, headerValue);

const N_TARGETS = 10_000;
const targets: TargetSpecInput[] = Array.from({ length: N_TARGETS }, (_, i) => ({
  start: i * 2048, length: 2048, type: 'linear', params: `253:${i % 16} ${i * 4096}`,
}));

const N_DEVICES = 10_000;
/** A LIST_DEVICES reply as a 4.48 kernel writes it with DM_UUID_FLAG. */
const listReply = (() => {
  const recs = Array.from({ length: N_DEVICES }, (_, i) => ({
    dev: BigInt((i & 0xff) | (253 << 8) | ((i & ~0xff) << 12)),
    name: `vg${i % 7}-lv_data_${i}`,
    uuid: `LVM-${String(i).padStart(8, '0')}Kq2dY0GQtYk2sYJmG7fJ8cQvZp8p4xkS3m0Zh8x`,
  }));
  const a8 = (n: number) => (n + 7) & ~7;
  let size = 312;
  for (const d of recs) size = a8(a8(size + 12 + d.name.length + 1) + 8 + d.uuid.length + 1);
  const b = new Uint8Array(size + 64);
  const v = viewOf(b);
  let off = 312;
  let prev = -1;
  for (const d of recs) {
    if (prev >= 0) v.setUint32(prev + 8, off - prev, le);
    v.setBigUint64(off, d.dev, le);
    v.setUint32(off + 8, 0, le);
    enc.encodeInto(d.name, b.subarray(off + 12));
    let p = a8(off + 12 + d.name.length + 1);
    v.setUint32(p, 7, le); v.setUint32(p + 4, 1, le);
    p += 8;
    enc.encodeInto(d.uuid, b.subarray(p));
    prev = off;
    off = a8(p + d.uuid.length + 1);
  }
  codec.header.encode(v, b, 0, { ...headerValue, version: [4, 48, 0], data_size: off, name: '', uuid: '' });
  return b;
})();

// ----------------------------------------------------------- hand-written baselines ---

function writeStr(b: Uint8Array, off: number, s: string, n: number): void {
  let i = 0;
  for (; i < s.length; i++) b[off + i] = s.charCodeAt(i); // ASCII inputs
  b.fill(0, off + i, off + n);
}
function readStr(b: Uint8Array, off: number, n: number): string {
  let e = off;
  const lim = off + n;
  while (e < lim && b[e] !== 0) e++;
  let s = '';
  for (let i = off; i < e; i++) s += String.fromCharCode(b[i]!);
  return s;
}
function baseHeaderEncode(v: DataView, b: Uint8Array, h: typeof headerValue): void {
  v.setUint32(0, h.version[0], le); v.setUint32(4, h.version[1], le); v.setUint32(8, h.version[2], le);
  v.setUint32(12, h.data_size, le); v.setUint32(16, h.data_start, le); v.setUint32(20, h.target_count, le);
  v.setInt32(24, h.open_count, le); v.setUint32(28, h.flags, le); v.setUint32(32, h.event_nr, le);
  v.setUint32(36, 0, le); v.setBigUint64(40, h.dev, le);
  writeStr(b, 48, h.name, 128); writeStr(b, 176, h.uuid, 129); b.fill(0, 305, 312);
}
function baseHeaderDecode(v: DataView, b: Uint8Array) {
  return {
    version: [v.getUint32(0, le), v.getUint32(4, le), v.getUint32(8, le)],
    data_size: v.getUint32(12, le), data_start: v.getUint32(16, le), target_count: v.getUint32(20, le),
    open_count: v.getInt32(24, le), flags: v.getUint32(28, le), event_nr: v.getUint32(32, le), padding: v.getUint32(36, le),
    dev: v.getBigUint64(40, le), name: readStr(b, 48, 128), uuid: readStr(b, 176, 129),
  };
}
function baseTableEncode(ts: readonly TargetSpecInput[]): Uint8Array {
  const params = ts.map((t) => enc.encode(t.params as string));
  let size = 312;
  for (const p of params) size += (40 + p.length + 1 + 7) & ~7;
  const b = new Uint8Array(size);
  const v = viewOf(b);
  baseHeaderEncode(v, b, { ...headerValue, data_size: size, target_count: ts.length, flags: 0, dev: 0n, name: 'vol', uuid: '' });
  let off = 312;
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    const p = params[i]!;
    const next = (40 + p.length + 1 + 7) & ~7;
    v.setBigUint64(off, BigInt(t.start), le); v.setBigUint64(off + 8, BigInt(t.length), le);
    v.setInt32(off + 16, 0, le); v.setUint32(off + 20, next, le);
    writeStr(b, off + 24, t.type, 16);
    b.set(p, off + 40);
    off += next;
  }
  return b;
}
function baseListDecode(b: Uint8Array) {
  const v = viewOf(b);
  const end = v.getUint32(12, le);
  const out: { name: string; dev: { major: number; minor: number; raw: bigint }; eventNr: number; uuid: string | null }[] = [];
  let off = v.getUint32(16, le);
  for (;;) {
    const raw = v.getBigUint64(off, le);
    const next = v.getUint32(off + 8, le);
    let e = off + 12;
    while (b[e] !== 0) e++;
    const name = dec.decode(b.subarray(off + 12, e));
    const t = (e + 1 + 7) & ~7;
    const flags = v.getUint32(t + 4, le);
    let uuid: string | null = null;
    if (flags & 1) { let u = t + 8; while (b[u] !== 0 && u < end) u++; uuid = dec.decode(b.subarray(t + 8, u)); }
    const lo = Number(raw & 0xffffffffn);
    out.push({ name, dev: { major: (lo & 0xfff00) >>> 8, minor: (lo & 0xff) | ((lo >>> 12) & 0xfff00), raw }, eventNr: v.getUint32(t, le), uuid });
    if (next === 0) return out;
    off += next;
  }
}

// ------------------------------------------------------------------ restructure ---

const rsSpec = new r.Struct({
  sector_start: (rs.dm_target_spec as unknown as { fields: Record<string, r.RType> }).fields.sector_start!,
  length: (rs.dm_target_spec as unknown as { fields: Record<string, r.RType> }).fields.length!,
  status: le ? r.int32le : r.int32be,
  next: le ? r.uint32le : r.uint32be,
  target_type: new r.Buffer(16),
  params: new r.Buffer(0), // length taken from the value on encode
});
const rsNameHead = rs.dm_name_list;
const rsTrailer = new r.Struct({ event_nr: le ? r.uint32le : r.uint32be, flags: le ? r.uint32le : r.uint32be });
const rsCString = new r.String(null, 'utf8');

function rsHeaderEncode(b: Uint8Array): void {
  const s = new r.EncodeStream(b);
  rs.dm_ioctl.encode(s, { ...headerValue, name: charBytes(headerValue.name, 128), uuid: charBytes(headerValue.uuid, 129) });
}
function rsHeaderDecode(b: Uint8Array) {
  const h = rs.dm_ioctl.fromBuffer(b);
  h.name = charString(h.name); h.uuid = charString(h.uuid);
  return h;
}
function rsTableEncode(ts: readonly TargetSpecInput[]): Uint8Array {
  const specs = ts.map((t) => {
    const p = enc.encode(t.params as string);
    const size = (40 + p.length + 1 + 7) & ~7;
    const padded = new Uint8Array(size - 40);
    padded.set(p);
    return { sector_start: BigInt(t.start), length: BigInt(t.length), status: 0, next: size, target_type: charBytes(t.type, 16), params: padded };
  });
  const req = new r.Struct({ header: rs.dm_ioctl, specs: new r.Array(rsSpec, specs.length) });
  const size = 312 + specs.reduce((a, s) => a + 40 + s.params.length, 0);
  return req.toBuffer({
    header: { ...headerValue, data_size: size, target_count: specs.length, flags: 0, dev: 0n, name: charBytes('vol', 128), uuid: charBytes('', 129) },
    specs,
  });
}
function rsListDecode(b: Uint8Array) {
  const s = new r.DecodeStream(b);
  const h = rs.dm_ioctl.decode(s);
  const out: unknown[] = [];
  let off = h.data_start as number;
  for (;;) {
    s.pos = off;
    const head = rsNameHead.decode(s);
    s.pos = off + 12;
    const name = rsCString.decode(s);
    s.pos = (s.pos + 7) & ~7;
    const t = rsTrailer.decode(s);
    const uuid = t.flags & 1 ? rsCString.decode(s) : null;
    const lo = Number((head.dev as bigint) & 0xffffffffn);
    out.push({ name, dev: { major: (lo & 0xfff00) >>> 8, minor: (lo & 0xff) | ((lo >>> 12) & 0xfff00), raw: head.dev }, eventNr: t.event_nr, uuid });
    if (head.next === 0) return out;
    off += head.next as number;
  }
}

// -------------------------------------------------------------------- harness ---

interface Impl { name: 'ours' | 'baseline' | 'restructure'; fn: () => unknown }
interface Row { name: string; opsPerRound: number; impls: Impl[] }

const hb = new Uint8Array(312);
const hv = viewOf(hb);
let sink: unknown;

const ROWS: Row[] = [
  {
    name: 'header encode (dm_ioctl, 312 B)', opsPerRound: 20_000, impls: [
      { name: 'ours', fn: () => codec.header.encode(hv, hb, 0, headerValue) },
      { name: 'baseline', fn: () => baseHeaderEncode(hv, hb, headerValue) },
      { name: 'restructure', fn: () => rsHeaderEncode(hb) },
    ],
  },
  {
    name: 'header decode (dm_ioctl, 312 B)', opsPerRound: 20_000, impls: [
      { name: 'ours', fn: () => codec.header.decode(viewOf(headerBytes), headerBytes, 0) },
      { name: 'baseline', fn: () => baseHeaderDecode(viewOf(headerBytes), headerBytes) },
      { name: 'restructure', fn: () => rsHeaderDecode(headerBytes) },
    ],
  },
  {
    name: `table encode (load, ${N_TARGETS} targets)`, opsPerRound: 10, impls: [
      { name: 'ours', fn: () => codec.encodeRequest('load', { id: { name: 'vol' }, targets }) },
      { name: 'baseline', fn: () => baseTableEncode(targets) },
      { name: 'restructure', fn: () => rsTableEncode(targets) },
    ],
  },
  {
    name: `name-list decode (listDevices, ${N_DEVICES} devices)`, opsPerRound: 10, impls: [
      { name: 'ours', fn: () => codec.decodeReply('listDevices', listReply) },
      { name: 'baseline', fn: () => baseListDecode(listReply) },
      { name: 'restructure', fn: () => rsListDecode(listReply) },
    ],
  },
];

function round(fn: () => unknown, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink = fn();
  return Number(process.hrtime.bigint() - t0) / n;
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };

function sanity(): void {
  // The three implementations must do the same work: compare their outputs once.
  const a = new Uint8Array(312); codec.header.encode(viewOf(a), a, 0, headerValue);
  const b = new Uint8Array(312); baseHeaderEncode(viewOf(b), b, headerValue);
  const c = new Uint8Array(312); rsHeaderEncode(c);
  if (!Buffer.from(a).equals(Buffer.from(b)) || !Buffer.from(a).equals(Buffer.from(c))) throw new Error('header encoders disagree');
  const ours = codec.encodeRequest('load', { id: { name: 'vol' }, targets });
  const base = baseTableEncode(targets);
  const rst = rsTableEncode(targets);
  const body = (x: Uint8Array) => Buffer.from(x.subarray(312));
  if (!body(ours).equals(body(base)) || !body(ours).equals(body(rst))) throw new Error('table encoders disagree');
  const l1 = JSON.stringify(codec.decodeReply('listDevices', listReply).devices, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  const l2 = JSON.stringify(baseListDecode(listReply), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  const l3 = JSON.stringify(rsListDecode(listReply), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  if (l1 !== l2 || l1 !== l3) throw new Error('name-list decoders disagree');
}

function main(): void {
  sanity();
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
  const results = ROWS.map((row) => {
    const samples = new Map<string, number[]>(row.impls.map((i) => [i.name, []]));
    for (const impl of row.impls) round(impl.fn, row.opsPerRound * 3); // warm-up
    for (let k = 0; k < ROUNDS; k++) {
      // interleaved, rotating the order each round
      for (let j = 0; j < row.impls.length; j++) {
        const impl = row.impls[(j + k) % row.impls.length]!;
        samples.get(impl.name)!.push(round(impl.fn, row.opsPerRound));
      }
    }
    const ns = Object.fromEntries([...samples].map(([k, v]) => [k, median(v)])) as Record<Impl['name'], number>;
    return {
      row: row.name, ns,
      oursOverBaseline: ns.ours / ns.baseline,
      restructureOverOurs: ns.restructure / ns.ours,
    };
  });
  const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} ms` : n >= 1e3 ? `${(n / 1e3).toFixed(2)} µs` : `${n.toFixed(0)} ns`);
  const lines = [
    '| operation | ours | hand-written DataView | restructure | ours / baseline | restructure / ours |',
    '|---|---:|---:|---:|---:|---:|',
    ...results.map((x) => `| ${x.row} | ${fmt(x.ns.ours)} | ${fmt(x.ns.baseline)} | ${fmt(x.ns.restructure)} | ${x.oursOverBaseline.toFixed(2)}× | ${x.restructureOverOurs.toFixed(1)}× |`),
  ];
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), ${os.platform()} ${os.arch()}, Node ${process.version}, ${endian}-endian; median of ${ROUNDS} rounds`;
  console.log(lines.join('\n'));
  console.log(`\n${machine}`);
  const misses = results.filter((x) => x.oursOverBaseline > 1.5 || x.restructureOverOurs < 5);
  console.log(misses.length === 0 ? 'targets met: every row ≤ 1.5× baseline and ≥ 5× faster than restructure' : `targets MISSED: ${misses.map((m) => m.row).join('; ')}`);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/codec-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, node: process.version, rounds: ROUNDS, results }, null, 2));
  console.log(`wrote ${file}`);
  void sink;
}

main();
