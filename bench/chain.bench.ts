/**
 * Chain microbenchmark (host): `npm run build && node dist/bench/chain.bench.js`.
 *
 * createDevice's three ioctls (create → load → resume) on the ioctl engine, its worker running
 * a fake ioctl that writes a dev into the reply header, so only the hops and our code are
 * timed: three `await engine.ioctl()` in a row (one hop each, the step-by-step path) against
 * one `engine.ioctlChain()` of the same three steps with the identity check between them (the
 * chained path). Interleaved rounds, median per operation; the engine's counters give the
 * main-thread wake-ups and completions per operation. Prints ratios; no assertion on time.
 * Then, each against its own step-by-step baseline: a thin snapshot of an active origin
 * (suspend → create_snap → resume: three hops, or one chain with the origin's reference
 * header) and one verified removal attempt (status → remove: two hops, or one chain with the
 * reference; the step-by-step path today issues the status as a sync call on the main thread,
 * which this fake cannot time, so the baseline here is two hops and a single remove is shown too).
 * BENCH_ROUNDS (default 11), BENCH_OPS (operations per round, default 2000).
 */
import * as fs from 'node:fs';
import { IoctlEngine, type ChainStep } from '../ffi/engine.js';
import { HEADER_IDENTITY_FIELDS as F } from '../codec/identity-rule.js';
import { dmIoctl } from '../codec/records.js';
import { CHAIN_CHECK_SOURCE, trustedBits } from '../lib/kernel/chain-check.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const OPS = Number(process.env.BENCH_OPS ?? 2000);
const FAKE = `buf[${F.devOffset}] = 7; return [0, 0];`;

function request(): Uint8Array {
  const b = new Uint8Array(dmIoctl.size + 64);
  b.set(new TextEncoder().encode('vol'), F.nameOffset);
  b.set(new TextEncoder().encode('CRYPT-bench'), F.uuidOffset);
  return b;
}

async function main(): Promise<void> {
  const engine = IoctlEngine.start({ fd: fs.openSync('/dev/null', 'r'), libc: '', fakeIoctl: FAKE, chainCheck: CHAIN_CHECK_SOURCE });
  const bufs = [request(), request(), request()];
  const steps: ChainStep[] = [
    { request: 1, buf: bufs[0]! },
    { request: 2, buf: bufs[1]!, check: trustedBits('load') },
    { request: 3, buf: bufs[2]!, check: trustedBits('resume') },
  ];
  await engine.ioctl(0, bufs[0]!); // the worker started and bound
  const reference = request();
  reference[F.devOffset] = 7; // the expected device: the fake replies with dev 7
  const snapshot: ChainStep[] = [
    { request: 4, buf: bufs[0]!, check: trustedBits('suspend') },
    { request: 5, buf: bufs[1]! },
    { request: 4, buf: bufs[2]!, check: trustedBits('resume') },
  ];
  const removal: ChainStep[] = [
    { request: 6, buf: bufs[0]!, check: trustedBits('info') },
    { request: 7, buf: bufs[1]!, check: trustedBits('remove') },
  ];
  const groups: Record<string, Record<string, () => Promise<unknown>>> = {
    'create → load → resume': {
      'step by step: 3 × engine.ioctl': async () => { for (const b of bufs) await engine.ioctl(1, b); },
      'one chain: engine.ioctlChain(3 steps)': async () => { await engine.ioctlChain(steps); },
    },
    'snapshot: suspend → create_snap → resume': {
      'step by step: 3 × engine.ioctl': async () => { for (const b of bufs) await engine.ioctl(4, b); },
      'one chain, 3 steps + reference': async () => { await engine.ioctlChain(snapshot, reference); },
    },
    'verified removal attempt: status → remove': {
      'step by step: 2 × engine.ioctl': async () => { await engine.ioctl(6, bufs[0]!); await engine.ioctl(7, bufs[1]!); },
      'the remove alone: 1 × engine.ioctl': async () => { await engine.ioctl(7, bufs[1]!); },
      'one chain, 2 steps + reference': async () => { await engine.ioctlChain(removal, reference); },
    },
  };
  for (const [group, rows] of Object.entries(groups)) await measure(engine, group, rows);
  engine.close();
}

async function measure(engine: IoctlEngine, group: string, rows: Record<string, () => Promise<unknown>>): Promise<void> {
  const counters = () => ({ wakeups: engine.wakeups, completed: engine.completed });
  const times: Record<string, number[]> = {};
  const per: Record<string, { wakeups: number; completed: number }> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const order = Object.entries(rows);
    if (round % 2) order.reverse();
    for (const [name, fn] of order) {
      const before = counters();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < OPS; i++) await fn();
      const ns = Number(process.hrtime.bigint() - t0) / OPS;
      (times[name] ??= []).push(ns);
      const after = counters();
      per[name] = { wakeups: (after.wakeups - before.wakeups) / OPS, completed: (after.completed - before.completed) / OPS };
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(times[Object.keys(rows)[0]!]!);
  console.log(`chain bench, ${group}: ${ROUNDS} rounds × ${OPS} operations, median µs per operation`);
  for (const name of Object.keys(rows)) {
    const m = median(times[name]!);
    console.log(`  ${name.padEnd(40)} ${(m / 1000).toFixed(2).padStart(8)} µs  ${(base / m).toFixed(2)}× the step-by-step path  wake-ups/op ${per[name]!.wakeups.toFixed(2)}  completions/op ${per[name]!.completed.toFixed(2)}`);
  }
}

void main();
