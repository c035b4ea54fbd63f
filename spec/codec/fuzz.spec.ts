/**
 * Hostile replies. For every command, decodeReply is fed (a) random byte strings of random
 * lengths and (b) valid kernel-style replies with mutations (bit flips, random next/count/
 * data_size/data_start/target_count/flags/version values, truncation). The contract:
 *   - it returns a value or throws DmCodecError — never another error type;
 *   - it never hangs (each case is timed);
 *   - it never reads beyond data_size: the same reply with poison bytes after data_size
 *     decodes to exactly the same result (or the same error code).
 *
 * FUZZ_RUNS sets the total number of cases (default 120 000; `npm run fuzz` uses 1 000 000).
 * FUZZ_SEED makes a run reproducible (default: fixed). A failure prints the seed, the
 * command and the reply bytes.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import {
  COMMANDS, createCodec, DmCodecError,
  type CommandName, type CommandReplies, type DeviceInfo, type DmCodec, type Version,
} from '../../codec/index.js';
import { versionOnly } from './command-kinds.js';
import { buildReply, flagsOf, mkdev } from './reply-builder.js';

const TOTAL = Number(process.env.FUZZ_RUNS ?? 120_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1234);
const PER_TEST = Math.ceil(TOTAL / COMMANDS.length / 2); // two kinds per command
/** Generous per-case bound: a decode of a ≤ 64 KiB reply takes microseconds. */
const CASE_LIMIT_MS = 250;

let cases = 0;
let poisonChecks = 0;
const started = Date.now();

/** xorshift32: fast, seedable, good enough for fuzzing. */
class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) || 1; }
  u32(): number { let x = this.s; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.s = x >>> 0; return this.s; }
  int(n: number): number { return this.u32() % n; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  chance(p: number): boolean { return this.u32() / 0x100000000 < p; }
  bytes(n: number): Uint8Array { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff; return b; }
  str(max: number): string {
    const alphabet = ['a', 'b', 'z', '0', '-', '_', '.', ' ', 'é', '€', '😀', '\\'];
    let s = '';
    const n = this.int(max + 1);
    for (let i = 0; i < n; i++) s += this.pick(alphabet);
    while (new TextEncoder().encode(s).length > max) s = [...s].slice(0, -1).join('');
    return s;
  }
}

// ------------------------------------------------------------ valid reply pool ---

function device(r: Rng, targetCount = r.int(5)): DeviceInfo {
  const rawFlags = r.u32() & ~0x100 >>> 0;
  const major = 1 + r.int(0xfff);
  const minor = r.int(0x100000);
  return {
    name: r.str(40), uuid: r.str(60), dev: { major, minor, raw: mkdev(major, minor) },
    openCount: r.u32() | 0, eventNr: r.u32(), targetCount, rawFlags: rawFlags >>> 0, flags: flagsOf(rawFlags >>> 0),
  };
}
const ver = (r: Rng): Version => [4, r.pick([0, 30, 36, 37, 44, 45, 47, 48, 50]), r.int(10)];

function validReply(c: DmCodec, cmd: CommandName, r: Rng): Uint8Array {
  const version = ver(r);
  const bufferBytes = 312 + r.int(2048);
  const build = <C extends CommandName>(reply: CommandReplies[C], extra: { written?: number } = {}) => buildReply(c, cmd as C, reply, { bufferBytes, ...extra });
  switch (cmd) {
    case 'version': case 'armPoll': case 'removeAll': case 'setGeometry':
      return build({ version });
    case 'remove':
      return build<'remove'>({ version, name: r.str(20), uuid: r.str(20), deferred: r.chance(0.5), ueventGenerated: r.chance(0.5) });
    case 'listDevices': {
      const trailer = version[1] >= 37;
      const devices = Array.from({ length: r.int(8) }, () => {
        const major = 1 + r.int(0xfff);
        const minor = r.int(0x100000);
        return {
          name: r.str(30), dev: { major, minor, raw: mkdev(major, minor) },
          eventNr: trailer ? r.u32() : undefined,
          uuid: trailer ? r.pick([undefined, null, r.str(40)]) : undefined,
        };
      });
      return build<'listDevices'>({ version, bufferFull: r.chance(0.05), devices });
    }
    case 'listVersions': case 'getTargetVersion':
      return build<'listVersions'>({ version, bufferFull: r.chance(0.05), targets: Array.from({ length: r.int(8) }, () => ({ name: r.str(16), version: [r.int(5), r.int(30), r.int(9)] as Version })) });
    case 'message': {
      const dataOut = r.chance(0.7);
      return build<'message'>({ version, bufferFull: false, dataOut, output: dataOut ? r.str(100) : undefined });
    }
    case 'status': case 'wait': {
      const targets = Array.from({ length: r.int(6) }, (_, i) => ({ start: BigInt(i * 8), length: 8n, type: r.str(15), params: r.str(80) }));
      const full = r.chance(0.2);
      const d = device(r, targets.length);
      const rawFlags = full ? (d.rawFlags | 0x100) >>> 0 : d.rawFlags;
      return build<'status'>({ version, device: { ...d, rawFlags, flags: flagsOf(rawFlags) }, bufferFull: full, targets }, full ? { written: r.int(targets.length + 1) } : {});
    }
    case 'deps': {
      const deps = Array.from({ length: r.int(10) }, () => { const ma = r.int(0x1000), mi = r.int(0x100000); return { major: ma, minor: mi, raw: mkdev(ma, mi) }; });
      return build<'deps'>({ version, device: device(r), bufferFull: false, deps });
    }
    default:
      return build<'info'>({ version, device: device(r) });
  }
}

// ------------------------------------------------------------------ mutations ---

const INTERESTING = [0, 1, 7, 8, 12, 13, 16, 17, 24, 40, 41, 304, 305, 311, 312, 313, 320, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff8];

function mutate(c: DmCodec, b0: Uint8Array, r: Rng): Uint8Array {
  let b = b0;
  const le = c.endian === 'little';
  const dv = () => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataSize = () => (b.length >= 16 ? dv().getUint32(12, le) : 0);
  const val = () => (r.chance(0.6) ? r.pick(INTERESTING) : r.chance(0.5) ? r.int(Math.max(1, b.length + 64)) : r.u32());
  const n = 1 + r.int(3);
  for (let k = 0; k < n; k++) {
    switch (r.int(10)) {
      case 0: { // bit flips anywhere inside data_size
        const lim = Math.max(1, Math.min(b.length, dataSize() || b.length));
        for (let i = 1 + r.int(8); i > 0; i--) { const at = r.int(lim); b[at]! ^= 1 << r.int(8); }
        break;
      }
      case 1: // a random u32 at a 4-aligned payload offset: hits next, count, padding, version, sector halves
        if (b.length >= 316) dv().setUint32(312 + 4 * r.int((b.length - 312) >> 2), val(), le);
        break;
      case 2: if (b.length >= 16) dv().setUint32(12, val(), le); break; // data_size
      case 3: if (b.length >= 20) dv().setUint32(16, val(), le); break; // data_start
      case 4: if (b.length >= 24) dv().setUint32(20, val(), le); break; // target_count
      case 5: if (b.length >= 32) dv().setUint32(28, dv().getUint32(28, le) ^ r.pick([0x100, 0x10000, 0x110000, 1 << r.int(32)]), le); break; // flags
      case 6: if (b.length >= 12) dv().setUint32(4, r.pick([0, 36, 37, 45, 0xffffffff]), le); break; // version minor (name-list trailer)
      case 7: b = b.slice(0, r.int(b.length + 1)); break; // truncation
      case 9: { // the buffer ends exactly at data_size (a full kernel buffer), possibly after moving data_size
        if (b.length < 16) break;
        if (r.chance(0.5)) dv().setUint32(12, 305 + r.int(Math.max(1, b.length - 304)), le);
        b = b.slice(0, Math.max(16, Math.min(b.length, dataSize())));
        break;
      }
      case 8: { // a random byte run (e.g. removes NUL terminators)
        const at = r.int(Math.max(1, b.length));
        for (let i = r.int(32); i > 0 && at + i < b.length; i--) b[at + i] = r.chance(0.5) ? 0x41 : r.u32() & 0xff;
        break;
      }
    }
  }
  return b;
}

// ------------------------------------------------------------------- contract ---

type Outcome = { ok: true; value: string } | { ok: false; code: string };

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x === undefined ? '<undefined>' : x));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, 512)).toString('hex') + (b.length > 512 ? `…(${b.length} bytes)` : '');
}

function run(c: DmCodec, cmd: CommandName, bytes: Uint8Array, what: string): Outcome {
  const t0 = performance.now();
  let out: Outcome;
  try {
    out = { ok: true, value: stable(c.decodeReply(cmd, bytes)) };
  } catch (e) {
    if (!(e instanceof DmCodecError)) {
      throw new Error(`${cmd} (${c.endian}, ${what}, seed ${SEED}): threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\nreply: ${hex(bytes)}`);
    }
    out = { ok: false, code: e.code };
  }
  let ms = performance.now() - t0;
  // A slow case is re-timed: a GC pause or a busy machine passes, a real hang does not.
  for (let k = 0; k < 3 && ms > CASE_LIMIT_MS; k++) {
    const t1 = performance.now();
    try { c.decodeReply(cmd, bytes); } catch { /* outcome already checked */ }
    ms = Math.min(ms, performance.now() - t1);
  }
  if (ms > CASE_LIMIT_MS) throw new Error(`${cmd} (${c.endian}, ${what}, seed ${SEED}): one decode took ${ms.toFixed(0)} ms\nreply: ${hex(bytes)}`);
  return out;
}

/** Decodes, then decodes again with poison after data_size: the outcomes must be identical. */
function check(c: DmCodec, cmd: CommandName, bytes: Uint8Array, r: Rng, what: string): void {
  cases++;
  const first = run(c, cmd, bytes, what);
  if (bytes.length < 12) return;
  const ds = bytes.length >= 16 ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(12, c.endian === 'little') : 0;
  // Where reading must stop: after the version for version-only commands, else after data_size
  // (the header fields below offset 305 are read by every header command whatever data_size says).
  const limit = versionOnly(cmd) ? 12 : Math.max(ds, 305);
  if (limit >= bytes.length) return;
  // Overwrite (never append: the buffer length is part of the input) everything after the limit.
  const poisoned = bytes.slice();
  const pattern = r.int(3);
  for (let i = limit; i < poisoned.length; i++) poisoned[i] = pattern === 0 ? 0xff : pattern === 1 ? 0 : r.u32() & 0xff;
  poisonChecks++;
  const second = run(c, cmd, poisoned, `${what}, poisoned from ${limit}`);
  if (stable(first) !== stable(second)) {
    throw new Error(`${cmd} (${c.endian}, ${what}, seed ${SEED}): the result changed when bytes after data_size (${limit}) changed\n` +
      `before: ${stable(first).slice(0, 400)}\nafter:  ${stable(second).slice(0, 400)}\nreply: ${hex(bytes)}`);
  }
}

const codecs = [createCodec({ endian: 'little' }), createCodec({ endian: 'big' })];
const timeout = Math.max(60_000, PER_TEST * 2); // far more headroom per case than a case takes

describe.each([...COMMANDS])('%s', (cmd) => {
  const cmdSeed = SEED ^ (COMMANDS.indexOf(cmd) * 0x9e3779b1);

  test(`random byte strings (${PER_TEST} cases)`, () => {
    const r = new Rng(cmdSeed);
    for (let i = 0; i < PER_TEST; i++) {
      const c = codecs[i & 1]!;
      const len = r.chance(0.3) ? r.int(320) : r.int(2048);
      const b = r.bytes(len);
      // Half the time, make the header plausible so the payload decoders are reached.
      if (len >= 20 && r.chance(0.5)) {
        const dv = new DataView(b.buffer);
        dv.setUint32(12, r.chance(0.8) ? 305 + r.int(Math.max(1, len - 304)) : r.u32(), c.endian === 'little');
        dv.setUint32(16, r.chance(0.8) ? 312 : r.u32() % 400, c.endian === 'little');
        if (len >= 24) dv.setUint32(20, r.int(6), c.endian === 'little');
      }
      check(c, cmd, b, r, 'random');
    }
  }, timeout);

  test(`mutated valid replies (${PER_TEST} cases)`, () => {
    const r = new Rng(cmdSeed ^ 0xabcdef);
    const pools = codecs.map((c) => Array.from({ length: 32 }, () => validReply(c, cmd, r)));
    // The unmutated pool decodes (the builder and decoder agree), so mutations start from valid input.
    pools.forEach((pool, k) => pool.forEach((b) => { expect(() => codecs[k]!.decodeReply(cmd, b)).not.toThrow(); }));
    for (let i = 0; i < PER_TEST; i++) {
      const k = i & 1;
      const c = codecs[k]!;
      const base = pools[k]![r.int(32)]!;
      check(c, cmd, mutate(c, base.slice(), r), r, 'mutated');
    }
  }, timeout);
});

afterAll(() => {
  expect(cases).toBeGreaterThanOrEqual(TOTAL);
  expect(poisonChecks).toBeGreaterThan(TOTAL / 4);
  // One line for the log: how many cases, how long.
  process.stdout.write(`fuzz: ${cases} cases (${poisonChecks} poison checks) in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${SEED}\n`);
});
