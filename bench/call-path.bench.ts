/**
 * Per-call JavaScript cost of one synchronous call: `npm run bench:calls`
 * (builds, then runs dist/bench/call-path.bench.js). `BENCH_ROUNDS=n` sets the rounds
 * (default 15), `BENCH_CALLS=n` the calls per round (default 20000).
 *
 * No kernel: a `DeviceMapper` is opened over a backend whose transport's `ioctl()` copies
 * a canned reply (built once with the codec: a 4.48 kernel's DM_VERSION, or a DM_DEV_STATUS
 * of an active device with name and uuid) into the request buffer and returns success. The
 * baseline, "bare", is what the VM's bare koffi loop does in JS: restore the 312-byte
 * request from a prebuilt copy and call the same fake ioctl. Every row minus the bare row
 * is the library's own JS per call, which TCG multiplies (bench/README.md, section 1).
 *
 * Rows interleave, their order rotates each round, each cell is the median; ratios are to
 * the bare row of the same run. Before timing, each row's reply is checked once.
 */
import os from 'node:os';
import {
  codec, DM_ACTIVE_PRESENT_FLAG, DM_IOCTL_SIZE, encodeDev, requestCode, viewOf,
} from '../codec/index.js';
import { DeviceMapper, type Backend, type ControlTransport, type IoctlResult, type Watcher } from '../lib/index.js';
import { IoctlRunner } from '../lib/client/runner.js';

const NAME = 'vg0-lv_root';
const UUID = 'LVM-Kq2dY0GQtYk2sYJmG7fJ8cQvZp8p4xkS3m0Zh8xY2a1cQ7nK9dF4gH5jL6kM7nB8';
const KERNEL: [number, number, number] = [4, 48, 0];

/** A reply header as the kernel writes it back (data_size: the header only, as dm-ioctl.c's for these commands). */
function cannedReply(fields: { name: string; uuid: string; dev: bigint; flags: number; open_count: number; event_nr: number; target_count: number }): Uint8Array {
  const b = new Uint8Array(DM_IOCTL_SIZE);
  codec.header.encode(viewOf(b), b, 0, {
    version: KERNEL, data_size: DM_IOCTL_SIZE, data_start: DM_IOCTL_SIZE, padding: 0, ...fields,
  });
  return b;
}

const VERSION_REPLY = cannedReply({ name: '', uuid: '', dev: 0n, flags: 0, open_count: 0, event_nr: 0, target_count: 0 });
const STATUS_REPLY = cannedReply({
  name: NAME, uuid: UUID, dev: encodeDev(253, 3), flags: DM_ACTIVE_PRESENT_FLAG, open_count: 2, event_nr: 7, target_count: 1,
});
const VERSION_CODE = requestCode('version');
const STATUS_CODE = requestCode('info');

// A second device, for the row where each call's reply names another device than the last
// (the header's char fields remember their last string: codec/layout.ts, readChar).
const OTHER_REPLY = cannedReply({
  name: 'vg1-lv_home', uuid: UUID.replace('LVM-K', 'LVM-Q'), dev: encodeDev(253, 4), flags: DM_ACTIVE_PRESENT_FLAG, open_count: 0, event_nr: 1, target_count: 1,
});
let alternate = false;
let flip = false;

/** The fake kernel: the reply for the request's command, written into the caller's buffer. */
function fakeIoctl(request: number, buf: Uint8Array): IoctlResult {
  if (request === VERSION_CODE) buf.set(VERSION_REPLY);
  else buf.set(alternate && (flip = !flip) ? OTHER_REPLY : STATUS_REPLY);
  return { ret: 0, errno: 0 };
}

const transport: ControlTransport = {
  fd: 3,
  ioctl: fakeIoctl,
  ioctlAsync: async (r, b) => fakeIoctl(r, b),
  close: () => {},
};
const noWatcher: Watcher = {
  arm() {}, check: () => false, wait: async () => 'cancelled', cancel() {}, close() {},
};
const backend: Backend = {
  description: 'canned replies (bench/call-path.bench.ts)',
  openControl: async () => transport,
  openWatcher: async () => noWatcher,
};

// The bare loop's prebuilt requests: the library's own bytes, encoded once.
const VERSION_REQ = codec.encodeRequest('version').slice(0, DM_IOCTL_SIZE);
const STATUS_REQ = codec.encodeRequest('info', { id: { name: NAME } }).slice(0, DM_IOCTL_SIZE);
const bareBuf = new Uint8Array(DM_IOCTL_SIZE);

interface Row { name: string; fn: () => unknown }

let sink: unknown;

function round(fn: () => unknown, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink = fn();
  return Number(process.hrtime.bigint() - t0) / n;
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };
const fmt = (n: number) => (n >= 1e3 ? `${(n / 1e3).toFixed(2)} µs` : `${n.toFixed(0)} ns`);

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`call-path bench: ${what}`);
}

async function main(): Promise<void> {
  const dm = await DeviceMapper.open({ backend });
  const runner = new IoctlRunner(transport, undefined);

  // Each row must do the work it claims: its reply, once.
  check(JSON.stringify(dm.versionSync()) === JSON.stringify(KERNEL), 'versionSync');
  const info = dm.infoSync(NAME);
  check(info.exists && info.name === NAME && info.uuid === UUID && info.dev.major === 253 && info.dev.minor === 3
    && info.flags.activePresent && !info.flags.suspended && info.openCount === 2 && info.eventNr === 7, 'infoSync(name)');
  const byUuid = dm.infoSync({ uuid: UUID });
  check(byUuid.exists && byUuid.name === NAME, 'infoSync({ uuid })');
  check(runner.runSync('info', { id: { name: NAME } }).device.uuid === UUID, "runSync('info')");

  const rows: Row[] = [
    { name: 'bare: restore 312 B + ioctl (DM_VERSION)', fn: () => { bareBuf.set(VERSION_REQ); return fakeIoctl(VERSION_CODE, bareBuf); } },
    { name: 'bare: restore 312 B + ioctl (DM_DEV_STATUS)', fn: () => { bareBuf.set(STATUS_REQ); return fakeIoctl(STATUS_CODE, bareBuf); } },
    { name: 'dm.versionSync()', fn: () => dm.versionSync() },
    { name: "runner.runSync('version')", fn: () => runner.runSync('version', {}) },
    { name: 'dm.infoSync(name)', fn: () => dm.infoSync(NAME) },
    { name: 'dm.infoSync({ uuid })', fn: () => dm.infoSync({ uuid: UUID }) },
    { name: "runner.runSync('info', { id: { name } })", fn: () => runner.runSync('info', { id: { name: NAME } }) },
    {
      name: 'dm.infoSync(name), replies alternate between two devices', fn: () => {
        alternate = true;
        try { return dm.infoSync(NAME); } finally { alternate = false; }
      },
    },
  ];
  /** The bare row each row is compared with (same ioctl). */
  const baseOf = (r: Row) => (r.name.includes('ersion') || r.name.includes('VERSION') ? rows[0]! : rows[1]!);

  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
  const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
  const samples = new Map<Row, number[]>(rows.map((r) => [r, []]));
  for (const r of rows) round(r.fn, CALLS); // warm-up
  for (let k = 0; k < ROUNDS; k++) {
    for (let j = 0; j < rows.length; j++) {
      const r = rows[(j + k) % rows.length]!;
      samples.get(r)!.push(round(r.fn, CALLS));
    }
  }
  const ns = new Map(rows.map((r) => [r, median(samples.get(r)!)]));
  console.log('| call | ns per call | / bare (same ioctl) | JS above bare |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    const b = ns.get(baseOf(r))!;
    const v = ns.get(r)!;
    console.log(`| ${r.name} | ${fmt(v)} | ${(v / b).toFixed(2)}× | ${r === baseOf(r) ? '' : fmt(v - b)} |`);
  }
  console.log(`\n${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}; median of ${ROUNDS} rounds of ${CALLS} calls`);
  dm.close();
  void sink;
}

void main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
