// Chains on the ioctl engine (ffi/engine.ts ioctlChain): steps run back to back in the worker,
// stopping at the first failure or identity mismatch, judged by the codec's rule shipped as
// source (lib/kernel/chain-check.ts); one completion, one wake-up; slots wiped; a crash
// mid-chain; close mid-chain; a chain queued behind calls.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openControl } from '../../ffi/control.js';
import { prng } from '../thin-tools/memory-metadata.js';
import type { ChainTransport, ControlTransport } from '../../ffi/types.js';
import { describe, expect, test } from '@jest/globals';
import { IoctlEngine, type ChainStep } from '../../ffi/engine.js';
import { DmEngineError } from '../../ffi/errors.js';
import { HEADER_IDENTITY_FIELDS as F, headerIdentityMismatch, identityMismatch } from '../../codec/identity-rule.js';
import { CHAIN_CHECK_SOURCE, chainCheckSource, referenceHeader, trustedBits } from '../../lib/kernel/chain-check.js';
import { TRUSTED_REPLY_FIELDS } from '../../codec/reply-fields.js';
import { codec, decodeDev, dmIoctl, encodeDev, requestCode } from '../../codec/index.js';
import { repliedBy } from '../../lib/operations/identity.js';

const HDR = 312;
/**
 * The fake kernel in the worker. A request is a dm_ioctl header with a control area after it:
 * byte HDR = action (0 reply, 2 fail with errno HDR+1, 0xEE crash, 3 sleep HDR+1 ticks, then
 * reply); byte HDR+2 = the minor the reply's dev says; HDR+3 = 1: the reply's uuid's first byte
 * becomes 'Z'; HDR+4 = 1: the name's first byte becomes 'Z'. A reply also sets byte HDR+5 to 1
 * (the step ran).
 */
const FAKE = `
  const op = buf[${HDR}];
  if (op === 0xEE) process.exit(3);
  if (op === 2) return [-1, buf[${HDR + 1}]];
  if (op === 3) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, buf[${HDR + 1}] * 10);
  buf[${F.devOffset}] = buf[${HDR + 2}];
  if (buf[${HDR + 3}] === 1) buf[${F.uuidOffset}] = 90;
  if (buf[${HDR + 4}] === 1) buf[${F.nameOffset}] = 90;
  buf[${HDR + 5}] = 1;
  return [0, 0];
`;

function start(slots = 8, withCheck = true): IoctlEngine {
  return IoctlEngine.start({ fd: fs.openSync('/dev/null', 'r'), libc: '', slots, slotSize: 512, fakeIoctl: FAKE, ...(withCheck ? { chainCheck: CHAIN_CHECK_SOURCE } : {}) });
}

interface StepSpec { action?: number; arg?: number; minor?: number; otherUuid?: boolean; otherName?: boolean; key?: boolean }

function header(name: string, uuid: string, s: StepSpec): Uint8Array {
  const b = new Uint8Array(HDR + 16);
  b.set(new TextEncoder().encode(name), F.nameOffset);
  b.set(new TextEncoder().encode(uuid), F.uuidOffset);
  b[HDR] = s.action ?? 0;
  b[HDR + 1] = s.arg ?? 0;
  b[HDR + 2] = s.minor ?? 7;
  b[HDR + 3] = s.otherUuid ? 1 : 0;
  b[HDR + 4] = s.otherName ? 1 : 0;
  if (s.key) b.fill(0xAB, HDR + 6, HDR + 16); // stands for a table's key bytes
  return b;
}

/** create → load → resume with these per-step behaviours. */
function chain(specs: [StepSpec, StepSpec, StepSpec], uuid = 'CRYPT-1'): ChainStep[] {
  return [
    { request: 1, buf: header('vol', uuid, specs[0]) },
    { request: 2, buf: header('vol', uuid, specs[1]), check: trustedBits('load') },
    { request: 3, buf: header('vol', uuid, specs[2]), check: trustedBits('resume') },
  ];
}

const onLinux = process.platform === 'linux' ? describe : describe.skip;

onLinux('IoctlEngine chains', () => {
  test('every step runs back to back; one completion, one wake-up; the replies come back per step; the slots are wiped', async () => {
    const e = start();
    try {
      const steps = chain([{ key: true }, { key: true }, {}]);
      const r = await e.ioctlChain(steps);
      expect(r).toEqual([0, 1, 2].map(() => ({ ret: 0, errno: 0, ran: true, mismatch: 0 })));
      for (const s of steps) expect([s.buf[HDR + 5], s.buf[F.devOffset]]).toEqual([1, 7]);
      expect([e.completed, e.wakeups]).toEqual([1, 1]);
      expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
    } finally {
      e.close();
    }
  });

  test.each([0, 1, 2])('a failure at step %i stops the chain there; the steps after it are not issued', async (at) => {
    const e = start();
    try {
      const specs: [StepSpec, StepSpec, StepSpec] = [{}, {}, {}];
      specs[at] = { action: 2, arg: 16, key: true };
      const steps = chain(specs);
      const r = await e.ioctlChain(steps);
      r.forEach((x, i) => {
        expect(x.ran).toBe(i <= at);
        expect(x.ret).toBe(i === at ? -1 : 0);
        expect(x.errno).toBe(i === at ? 16 : 0);
        expect(steps[i]!.buf[HDR + 5]).toBe(i < at ? 1 : 0); // a step not issued keeps its request
      });
      expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
    } finally {
      e.close();
    }
  });

  test.each([
    ['another dev at the load', 1, { minor: 9 }, 2],
    ['another dev at the resume', 2, { minor: 9 }, 2],
    ['another uuid at the load', 1, { otherUuid: true }, 1],
    ['another uuid at the resume', 2, { otherUuid: true }, 1],
  ] as const)('%s: the mismatch is reported and nothing after it is issued', async (_label, at, spec, field) => {
    const e = start();
    try {
      const specs: [StepSpec, StepSpec, StepSpec] = [{}, {}, {}];
      specs[at] = spec;
      const r = await e.ioctlChain(chain(specs));
      expect(r.map((x) => [x.ran, x.mismatch])).toEqual([0, 1, 2].map((i) => [i <= at, i === at ? field : 0]));
    } finally {
      e.close();
    }
  });

  test('the name counts only for a device without a uuid (the same rule as checkReply)', async () => {
    const e = start();
    try {
      expect((await e.ioctlChain(chain([{}, { otherName: true }, {}]))).map((x) => x.mismatch)).toEqual([0, 0, 0]);
      expect((await e.ioctlChain(chain([{}, { otherName: true }, {}], ''))).map((x) => [x.ran, x.mismatch])).toEqual([[true, 0], [true, 3], [false, 0]]);
    } finally {
      e.close();
    }
  });

  test('a worker crash mid-chain rejects it as sent (any step may have reached the kernel) and leaves no byte in shared memory', async () => {
    const e = start();
    const err = await e.ioctlChain(chain([{ key: true }, { action: 0xEE, key: true }, { key: true }])).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(DmEngineError);
    expect((err as DmEngineError).sent).toBe(true);
    expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
    await expect(e.ioctlChain(chain([{}, {}, {}]))).rejects.toBeInstanceOf(DmEngineError);
  });

  test('close() mid-chain: the chain runs to its end, then the engine refuses new work', async () => {
    const e = start();
    const p = e.ioctlChain(chain([{}, { action: 3, arg: 5 }, {}]));
    await new Promise((r) => setTimeout(r, 10));
    e.close();
    const r = await p;
    expect(r.every((x) => x.ran && x.ret === 0)).toBe(true);
    await expect(e.ioctlChain(chain([{}, {}, {}]))).rejects.toBeInstanceOf(DmEngineError);
  });

  test('a chain waits for as many free slots as it has steps, in order with the calls queued before it', async () => {
    const e = start(4);
    try {
      const slow = [0, 1, 2].map(() => e.ioctl(9, header('x', '', { action: 3, arg: 3 })));
      const c = e.ioctlChain(chain([{}, {}, {}]));
      const after = e.ioctl(9, header('y', '', {}));
      const order: string[] = [];
      await Promise.all([...slow.map((p) => p.then(() => order.push('slow'))), c.then(() => order.push('chain')), after.then(() => order.push('after'))]);
      expect(order).toEqual(['slow', 'slow', 'slow', 'chain', 'after']);
      expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
    } finally {
      e.close();
    }
  });

  test.each([
    ['the first step names another dev', 0, { minor: 9 }, 2],
    ['the first step names another uuid', 0, { otherUuid: true }, 1],
    ['the second step names another dev', 1, { minor: 9 }, 2],
  ] as const)('with a reference header: %s → that step is the mismatch, nothing after it is issued; the reference slot is wiped', async (_label, at, spec, field) => {
    const e = start(4);
    try {
      // [status, remove] of a removal pinned to an identity: both checked against the reference.
      const reference = header('vol', 'CRYPT-1', {});
      reference[F.devOffset] = 7; // the expected device number (the fake replies with minor 7 unless told)
      const specs: [StepSpec, StepSpec] = [{}, {}];
      specs[at] = spec;
      const steps: ChainStep[] = [
        { request: 1, buf: header('vol', 'CRYPT-1', specs[0]), check: trustedBits('info') },
        { request: 2, buf: header('vol', 'CRYPT-1', specs[1]), check: trustedBits('info') },
      ];
      const r = await e.ioctlChain(steps, reference);
      expect(r.map((x) => [x.ran, x.mismatch])).toEqual([0, 1].map((i) => [i <= at, i === at ? field : 0]));
      expect(steps[1]!.buf[HDR + 5]).toBe(at === 0 ? 0 : 1); // not issued after a first-step mismatch
      expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
      // The same chain, all matching: both run. And the reference took a slot of its own: with
      // 4 slots, a chain of 4 steps and a reference is refused.
      const ok = await e.ioctlChain([{ request: 1, buf: header('vol', 'CRYPT-1', {}), check: trustedBits('info') }, { request: 2, buf: header('vol', 'CRYPT-1', {}), check: trustedBits('remove') }], reference);
      expect(ok.map((x) => [x.ran, x.mismatch])).toEqual([[true, 0], [true, 0]]);
      const four = [0, 1, 2, 3].map(() => ({ request: 1, buf: header('vol', 'CRYPT-1', {}) }));
      await expect(e.ioctlChain(four, reference)).rejects.toThrow(RangeError);
      expect(await e.ioctlChain(four)).toHaveLength(4);
    } finally {
      e.close();
    }
  });

  test('a chain with a reference waits for one slot more than its steps (the reference\'s)', async () => {
    const e = start(4);
    try {
      const slow = e.ioctl(9, header('x', '', { action: 3, arg: 5, minor: 9 })); // holds 1 of 4 slots (its reply says minor 9)
      // Only a header, as referenceHeader makes it: a reference written over a busy slot would
      // take that call's reply (minor 9) and the chain would see a mismatch.
      const reference = header('vol', 'CRYPT-1', {}).slice(0, HDR);
      reference[F.devOffset] = 7;
      const three = [0, 1, 2].map(() => ({ request: 1, buf: header('vol', 'CRYPT-1', {}), check: trustedBits('info') }));
      const order: string[] = [];
      await Promise.all([slow.then(() => order.push('slow')), e.ioctlChain(three, reference).then((r) => { order.push('chain'); expect(r.every((x) => x.ran && x.mismatch === 0)).toBe(true); })]);
      expect(order).toEqual(['slow', 'chain']);
      expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
    } finally {
      e.close();
    }
  });

  test('without a reference the first step is not checked (its reply is the reference)', async () => {
    const e = start();
    try {
      const r = await e.ioctlChain([{ request: 1, buf: header('vol', 'CRYPT-1', { minor: 9 }), check: trustedBits('info') }, { request: 2, buf: header('vol', 'CRYPT-1', { minor: 9 }), check: trustedBits('info') }]);
      expect(r.map((x) => [x.ran, x.mismatch])).toEqual([[true, 0], [true, 0]]);
    } finally {
      e.close();
    }
  });

  test('a worker crash in a chain with a reference: rejected as sent, the reference slot wiped too', async () => {
    const e = start();
    const reference = header('vol', 'CRYPT-1', { key: true });
    const err = await e.ioctlChain([{ request: 1, buf: header('vol', 'CRYPT-1', {}), check: 1 }, { request: 2, buf: header('vol', 'CRYPT-1', { action: 0xEE }), check: 1 }], reference).catch((x: unknown) => x);
    expect((err as DmEngineError).sent).toBe(true);
    expect(e.sharedBytes.every((b) => b === 0)).toBe(true);
  });

  test('a chain with checks is refused by an engine without the rule; too many steps are refused', async () => {
    const e = start(2, false);
    try {
      await expect(e.ioctlChain(chain([{}, {}, {}]).slice(0, 2))).rejects.toThrow(/identity check/);
      await expect(e.ioctlChain([{ request: 1, buf: new Uint8Array(8) }], new Uint8Array(8))).rejects.toThrow(/identity check/); // a reference needs the rule too
      await expect(e.ioctlChain([{ request: 1, buf: new Uint8Array(8) }, { request: 1, buf: new Uint8Array(8) }, { request: 1, buf: new Uint8Array(8) }])).rejects.toThrow(RangeError);
    } finally {
      e.close();
    }
  });
});

describe('the worker runs the main thread rule', () => {
  test('the source shipped to the worker is the codec functions themselves; its verdicts are checkReply\'s on the decoded replies', () => {
    const check = new Function(CHAIN_CHECK_SOURCE)() as (bits: number, d: Uint8Array, a: number, b: number) => number;
    const rnd = prng(29);
    for (let n = 0; n < 400; n++) {
      const d = new Uint8Array(2 * HDR);
      for (const base of [0, HDR]) {
        // Small alphabets so that equal and unequal fields both happen often; NULs cut strings.
        for (let i = 0; i < 8; i++) d[base + dmIoctl.offsetOf.dev + i] = rnd() < 0.8 ? 0 : 1;
        for (const [off, size] of [[F.nameOffset, F.nameSize], [F.uuidOffset, F.uuidSize]] as const) {
          const len = Math.floor(rnd() * 3);
          for (let i = 0; i < size; i++) d[base + off + i] = i < len ? 65 + Math.floor(rnd() * 2) : rnd() < 0.1 ? 66 : 0;
        }
      }
      // The main thread's checkReply on the same two headers, decoded as the runner decodes replies.
      const decoded = (at: number) => {
        const h = codec.decodeHeader(d.subarray(at, at + HDR));
        return { name: h.name, uuid: h.uuid || null, dev: decodeDev(h.dev) };
      };
      const [a, b] = [decoded(0), decoded(HDR)];
      for (const step of Object.keys(TRUSTED_REPLY_FIELDS) as (keyof typeof TRUSTED_REPLY_FIELDS)[]) {
        const verdict = check(trustedBits(step), d, 0, HDR);
        expect(verdict).toBe(headerIdentityMismatch(TRUSTED_REPLY_FIELDS[step], d, 0, d, HDR, F));
        expect(verdict !== 0).toBe(!repliedBy(step, a, b));
      }
    }
    expect(CHAIN_CHECK_SOURCE).toContain(headerIdentityMismatch.toString());
  });
});

describe('a reference header (referenceHeader) is judged as the identity it encodes', () => {
  test('the worker\'s verdict against the reference is checkReply\'s against the identity, for names, uuids (bytes too) and devs', () => {
    const check = new Function(CHAIN_CHECK_SOURCE)() as (bits: number, d: Uint8Array, a: number, b: number) => number;
    const rnd = prng(41);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const raw = new Uint8Array([0x61, 0xff, 0x62]); // not UTF-8
    let differing = 0;
    for (let n = 0; n < 300; n++) {
      const id = {
        name: pick(['a', 'b']), uuid: pick([null, 'U-1', 'U-2']),
        dev: { major: 254, minor: pick([0, 1, 256, 70000]) },
      } as { name: string; uuid: string | null; dev: { major: number; minor: number }; nameBytes?: Uint8Array };
      if (rnd() < 0.2) { id.name = new TextDecoder().decode(raw); id.nameBytes = raw; }
      const ref = referenceHeader(id);
      // A reply header as the kernel writes it, decoded as the runner decodes it.
      const reply = new Uint8Array(HDR);
      const rname = rnd() < 0.2 ? raw : new TextEncoder().encode(pick(['a', 'b']));
      reply.set(rname, F.nameOffset);
      const ruuid = pick(['', 'U-1', 'U-2']);
      reply.set(new TextEncoder().encode(ruuid), F.uuidOffset);
      const view = new DataView(reply.buffer);
      const minor = pick([0, 1, 256, 70000]);
      view.setBigUint64(dmIoctl.offsetOf.dev, encodeDev(254, minor), codec.endian === 'little');
      const h = codec.decodeHeader(reply);
      const decoded = { name: h.name, uuid: h.uuid || null, dev: decodeDev(h.dev), ...(rname === raw ? { nameBytes: raw } : {}) };
      const d = new Uint8Array(2 * HDR);
      d.set(ref, 0);
      d.set(reply, HDR);
      for (const step of Object.keys(TRUSTED_REPLY_FIELDS) as (keyof typeof TRUSTED_REPLY_FIELDS)[]) {
        const verdict = check(trustedBits(step), d, 0, HDR);
        expect(verdict !== 0).toBe(!repliedBy(step, id, decoded));
        if (verdict !== 0) differing++;
      }
    }
    expect(differing).toBeGreaterThan(0);
  });
});

describe("which engine a chain runs on ('auto' starts none for it)", () => {
  test("under 'auto' a chain waits for an engine a batch started; 'engine' starts one for it", async () => {
    // Each transport on a path of its own (the engines are per path and per process).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-chain-auto-'));
    const auto = path.join(dir, 'auto'), eng = path.join(dir, 'engine');
    fs.symlinkSync('/dev/null', auto);
    fs.symlinkSync('/dev/null', eng);
    const started: IoctlEngine[] = [];
    const fake = 'return [0, 0];';
    const a = (await openControl(auto, { asyncPath: 'auto', engineFake: fake, chainCheck: CHAIN_CHECK_SOURCE, onEngine: (e) => { started.push(e); } })) as ControlTransport & ChainTransport;
    const b = (await openControl(eng, { asyncPath: 'engine', engineFake: fake, chainCheck: CHAIN_CHECK_SOURCE, onEngine: (e) => { started.push(e); } })) as ControlTransport & ChainTransport;
    try {
      // 'auto': no engine is started for a chain (the old code started one here).
      for (let i = 0; i < 20; i++) expect(a.chainReady(3)).toBe(false);
      expect(started).toHaveLength(0);
      // A batch starts it; once ready, chains run on it.
      await a.ioctlAsync(requestCode('status'), new Uint8Array(312), 'batch');
      expect(started).toHaveLength(1);
      for (let i = 0; i < 1000 && !started[0]!.ready; i++) await new Promise((r) => setTimeout(r, 10));
      expect(a.chainReady(3)).toBe(true);
      // 'engine': the first chain asked for starts it.
      b.chainReady(3);
      expect(started).toHaveLength(2);
    } finally {
      a.close();
      b.close();
      for (const e of started) await e.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the check shipped to the worker survives a bundler renaming the rule', () => {
  test('renamed, anonymous copies of the two functions give the same verdicts as the rule', () => {
    // What a minifier does: new names, and functions that may no longer be declarations.
    const anon1 = identityMismatch.toString().replace(/\bidentityMismatch\b/g, 'q1').replace(/^function q1/, 'function ');
    const anon2 = headerIdentityMismatch.toString().replace(/\bheaderIdentityMismatch\b/g, 'q2').replace(/\bidentityMismatch\b/g, 'q1').replace(/^function q2/, 'function ');
    const q1 = new Function(`const q1 = (${anon1}); return q1;`)() as typeof identityMismatch;
    const q2 = new Function(`const q2 = (${anon2}); return q2;`)() as typeof headerIdentityMismatch;
    expect([q1.name, q2.name]).toEqual(['q1', 'q2']);
    const renamed = new Function(chainCheckSource(q1, q2))() as (bits: number, d: Uint8Array, first: number, at: number) => number;
    const original = new Function(CHAIN_CHECK_SOURCE)() as typeof renamed;
    const rnd = prng(7);
    let differing = 0;
    for (let i = 0; i < 300; i++) {
      const d = new Uint8Array(2 * 312);
      for (let j = 0; j < 312; j++) d[j] = Math.floor(rnd() * 256);
      d.copyWithin(312, 0, 312);
      const k = 312 + Math.floor(rnd() * 312);
      if (i % 2 === 1) d[k] = d[k]! ^ (1 + Math.floor(rnd() * 255)); // half of them differ somewhere
      for (let bits = 1; bits < 8; bits++) {
        const v = renamed(bits, d, 0, 312);
        expect(v).toBe(original(bits, d, 0, 312));
        if (v !== 0) differing++;
      }
    }
    expect(differing).toBeGreaterThan(0);
  });
});
