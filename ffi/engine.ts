/**
 * The ioctl engine: one worker thread (node:worker_threads) that owns koffi calls on its own
 * control fd and takes requests through a SharedArrayBuffer ring, io_uring style.
 *
 * Why: koffi's `.async` path is one libuv thread-pool round trip per ioctl, which costs
 * a hundred times the same ioctl called sync (bench/README.md, per-call cost).
 * Here the main thread copies a request into a shared slot and rings a doorbell
 * (`Atomics.notify`, once per tick however many calls were submitted in it); the worker,
 * parked in `Atomics.wait`, drains the ring and issues the ioctls back to back; the main
 * thread waits for completions with `Atomics.waitAsync`, so it never blocks and one
 * wake-up carries every completion that is ready. A slow ioctl (a remove's RCU teardown)
 * holds the engine's own thread, never one of libuv's four pool threads.
 *
 * Completions are published one by one, as each call returns (a completion queue, like
 * io_uring's): the worker cannot know whether the next ioctl in its ring returns at once or
 * sleeps, so a completion held back to be reported with later ones could wait behind a call
 * that never returns. Coalescing is the main thread's: a notify that finds it busy (not
 * parked in `waitAsync`) wakes nobody, and its next reap takes every completion queued
 * meanwhile. The calls themselves run in order on one thread, so a call that may sleep in the
 * kernel indefinitely (DM_DEV_WAIT) does not belong here: the transport sends it elsewhere
 * (ffi/control.ts).
 *
 * Memory and secrets: each slot is a fixed-size region of one shared data buffer. The
 * caller's buffer is copied in, the reply copied back out (only as far as the kernel writes,
 * when the caller says where that is: `replyBytes`), and the slot's bytes are
 * zero-filled before the slot is reused — always, since a request may carry key material
 * (docs/secrets.md). Buffers larger than a slot are not the engine's: the transport sends
 * them on the fallback path.
 *
 * Failure: if the worker dies, every call in it rejects with `DmEngineError` (it may or may
 * not have reached the kernel) and the engine stays dead; the transport then uses the
 * fallback path. One engine per control-node path per process (like libuv's pool, it is a
 * process resource); it keeps the process alive only while calls are in it.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import { DmEngineError } from './errors.js';
import type { ChainStep, ChainStepResult, IoctlResult } from './types.js';

export type { ChainStep, ChainStepResult };

// Int32 indices of the control block.
const SUB_TAIL = 0; // written by the main thread: submissions published
const SUB_HEAD = 1; // advanced by the worker: submissions taken
const COMP_SEQ = 2; // written by the worker: completions published, one per call (main waits on it)
const STOP = 3; // set by the main thread: exit once the ring is empty
const READY = 4; // set by the worker once its ioctl is bound (koffi loaded): see `ready`
const RING = 5; // then `slots` submitted slot indices, `slots` completed slot indices, META_INTS per slot
const META_INTS = 9; // state, request, length, ret, errno, next (chain: the next step's slot, -1 none), check (chain: trusted-field bits), mismatch, ref (chain: the slot checks compare against, -1 the first step's)
const FREE = 0, SUBMITTED = 1, DONE = 2, TAKEN = 3;

/**
 * How many calls of one batch are in flight at once, end to end: the engine's slots (the
 * default below), the async ioctls the runner lets run at once (DM_DEV_WAIT has half as many
 * slots of its own there), the batch request buffers it keeps, and the client's batch window
 * are all this one number, so no stage admits more
 * calls than the next can take and none keeps buffers the others cannot use. Why this value:
 * koffi refuses async calls once more than its `max_async_calls` (256 by default) are running
 * or queued, and calls on the pool path count against it, so the runner's limit stays well
 * below it, leaving room for the pollers' async poll() calls; each slot also costs a 16 KiB
 * region of shared memory per control node.
 */
export const CALLS_IN_FLIGHT = 128;

/** `Atomics.waitAsync` (ES2024; in Node since 16), typed here since the project's lib is older. */
type WaitAsync = (a: Int32Array, i: number, v: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/** Options of {@link IoctlEngine.start}. */
export interface EngineOptions {
  /** The control fd the worker issues ioctls on (the engine owns it and closes it). */
  readonly fd: number;
  /** libc's file name (from `loadLibc().name`), loaded again in the worker. */
  readonly libc: string;
  /** Slots in flight at once (a power of two; default {@link CALLS_IN_FLIGHT}). More calls wait in a queue. */
  readonly slots?: number;
  /** Bytes per slot (default 16 KiB, the default dm buffer): larger buffers are not accepted. */
  readonly slotSize?: number;
  /**
   * Test hook: the body of a `function (request, buf, fd)` returning `[ret, errno]`, run in
   * the worker instead of koffi's ioctl (the unit tests' fake kernel: delays, errnos,
   * crashes). koffi is not loaded then.
   */
  readonly fakeIoctl?: string;
  /**
   * The identity check a chain runs between its steps (see {@link IoctlEngine.ioctlChain}):
   * the body of a function of no arguments returning `(trustedBits, data, firstOffset,
   * replyOffset) => mismatch` (0: the same device), where `trustedBits` is 1 name, 2 uuid,
   * 4 dev. The caller (lib/kernel/chain-check.ts) builds it from the codec's own rule, so the
   * worker runs the main thread's implementation; without it, chains with checks are refused.
   */
  readonly chainCheck?: string;
  /**
   * How many of a completed call's first bytes to copy back into the caller's buffer (clamped
   * to the buffer). The protocol on the fd knows where the kernel stops writing — for
   * device-mapper, the reply header's `data_size` (lib/kernel/reply-bytes.ts) — and every byte
   * past that point is the caller's own request byte in the slot and in the buffer alike, so
   * copying it back is 16 KiB of work that changes nothing. Default: the whole buffer.
   * `reply` is the slot's bytes (valid only during the call), `ret` the ioctl's return value.
   */
  readonly replyBytes?: (reply: Uint8Array, ret: number) => number;
}

interface Pending { slot: number; buf: Uint8Array; resolve: (r: IoctlResult) => void; reject: (e: unknown) => void; chain?: ChainPending }
interface Queued { request: number; buf: Uint8Array; resolve: (r: IoctlResult) => void; reject: (e: unknown) => void; chain?: ChainQueued }
/** A chain waiting for slots: every step but the first (which is the Queued's own request and buf). */
interface ChainQueued { readonly steps: readonly ChainStep[]; readonly done: (r: ChainStepResult[]) => void; readonly reference?: Uint8Array | undefined }
/** A chain in the ring: its slots in order (the first is the Pending's own). */
interface ChainPending { readonly slots: number[]; readonly steps: readonly ChainStep[]; readonly done: (r: ChainStepResult[]) => void; readonly reference: number }

/**
 * The worker's source, run with `eval: true` so that it needs no file of its own: it works
 * alike from dist/ (ESM) and under jest (CommonJS from TypeScript), and needs no
 * `import.meta`. Plain ES2020, CommonJS `require`.
 */
const WORKER_SOURCE = String.raw`
'use strict';
// process.getBuiltinModule, not require: an eval worker is ESM when the process was started
// with --input-type=module, CommonJS otherwise.
const { workerData } = process.getBuiltinModule('node:worker_threads');
const { ctl, data, slots, slotSize, fd, koffiPath, libc, fake, chainCheck } = workerData;
const I = new Int32Array(ctl);
const D = new Uint8Array(data);
const SUB_TAIL = 0, SUB_HEAD = 1, COMP_SEQ = 2, STOP = 3, READY = 4, RING = 5, CQ = RING + slots, META = CQ + slots, DONE = 2, TAKEN = 3;
let call;
// The caller's identity rule (EngineOptions.chainCheck): the codec's functions, as source.
const check = chainCheck ? new Function(chainCheck)() : undefined;
if (fake) {
  call = new Function('request', 'buf', 'fd', fake);
} else {
  const koffi = process.getBuiltinModule('node:module').createRequire(koffiPath)(koffiPath);
  const lib = koffi.load(libc);
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)');
  // errno read right after the call, on this thread (ffi/libc.ts does the same on the main one).
  call = (request, buf) => { const ret = ioctl(fd, request, buf); return [ret, ret < 0 ? koffi.errno() : 0]; };
}
Atomics.store(I, READY, 1);
const mask = slots - 1;
for (;;) {
  const head = Atomics.load(I, SUB_HEAD);
  const tail = Atomics.load(I, SUB_TAIL);
  if (head === tail) {
    if (Atomics.load(I, STOP) === 1) break;
    Atomics.wait(I, SUB_TAIL, tail);
    continue;
  }
  const slot = I[RING + (head & mask)];
  Atomics.store(I, SUB_HEAD, (head + 1) | 0);
  // A call, or a chain's first step: a chain's steps run back to back, each after the one
  // before succeeded (ret 0) and its reply named the chain's device (the first step's reply's,
  // or the reference's: a slot never issued), then publish once.
  for (let s = slot; ;) {
    const m = META + s * 9;
    const request = I[m + 1] >>> 0;
    const len = I[m + 2];
    Atomics.store(I, m, TAKEN); // from here the call may reach the kernel
    const r = call(request, D.subarray(s * slotSize, s * slotSize + len), fd);
    I[m + 3] = r[0];
    I[m + 4] = r[1];
    const bits = I[m + 6];
    const ref = I[m + 8];
    if (bits !== 0 && r[0] === 0) I[m + 7] = check(bits, D, (ref < 0 ? slot : ref) * slotSize, s * slotSize);
    Atomics.store(I, m, DONE);
    const next = I[m + 5];
    if (next < 0 || r[0] !== 0 || I[m + 7] !== 0) break;
    s = next;
  }
  // Published now, before the next call, which may sleep in the kernel (module comment). The
  // queue cannot overflow: a slot is reused only after the main thread reaped it.
  const seq = I[COMP_SEQ];
  Atomics.store(I, CQ + (seq & mask), slot);
  Atomics.store(I, COMP_SEQ, (seq + 1) | 0);
  Atomics.notify(I, COMP_SEQ);
}
`;

/** This module's file, to resolve koffi from (no `import.meta`: see ARCHITECTURE.md). */
function hereFile(): string {
  if (typeof __filename === 'string') return __filename;
  // ESM: the first stack frame (this function) names this module's file URL, as
  // `at hereFile (file:///…/engine.js:LINE:COL)`; cut the URL out and drop `:LINE:COL`.
  const stack = new Error().stack ?? '';
  const start = stack.indexOf('file://');
  if (start < 0) throw new DmEngineError('cannot locate the engine module to resolve koffi from', false);
  let end = start;
  while (end < stack.length && stack[end] !== ')' && stack[end] !== '\n' && stack[end] !== ' ') end++;
  let url = stack.slice(start, end);
  for (let i = 0; i < 2; i++) url = url.slice(0, url.lastIndexOf(':'));
  return url;
}

/** An ioctl engine: see the module comment. */
export class IoctlEngine {
  readonly #I: Int32Array;
  readonly #D: Uint8Array;
  readonly #slots: number;
  readonly slotSize: number;
  readonly #worker: Worker;
  readonly #fd: number;
  readonly #free: number[] = [];
  /** One slot's worth of zeros, the source of every wipe (see #wipe). */
  readonly #zeros: Uint8Array;
  readonly #replyBytes: ((reply: Uint8Array, ret: number) => number) | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #queue: Queued[] = [];
  #dead: DmEngineError | undefined;
  /** Whether the worker has an identity check for chains (EngineOptions.chainCheck). */
  readonly #checks: boolean;
  /** Completions reaped so far: the completion queue's head (COMP_SEQ is its tail). */
  #reaped = 0;
  #stopping = false;
  #waiting = false;
  #doorbell = false;
  /** Main-thread wake-ups that found completions (observability: bench, tests). */
  wakeups = 0;
  /** Calls completed through the ring (a chain counts once). */
  completed = 0;
  /** Chains completed through the ring (observability: which path createDevice took). */
  chains = 0;

  private constructor(opts: EngineOptions) {
    const slots = opts.slots ?? CALLS_IN_FLIGHT;
    if (slots < 1 || (slots & (slots - 1)) !== 0) throw new RangeError(`engine slots must be a power of two, got ${slots}`);
    this.#slots = slots;
    this.slotSize = opts.slotSize ?? 16 * 1024;
    this.#zeros = new Uint8Array(this.slotSize);
    this.#replyBytes = opts.replyBytes;
    this.#fd = opts.fd;
    this.#checks = opts.chainCheck !== undefined;
    this.#I = new Int32Array(new SharedArrayBuffer((RING + 2 * slots + slots * META_INTS) * 4));
    this.#D = new Uint8Array(new SharedArrayBuffer(slots * this.slotSize));
    for (let i = slots - 1; i >= 0; i--) this.#free.push(i);
    const koffiPath = opts.fakeIoctl === undefined ? createRequire(hereFile()).resolve('koffi') : '';
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ctl: this.#I.buffer, data: this.#D.buffer, slots, slotSize: this.slotSize, fd: opts.fd, koffiPath, libc: opts.libc, fake: opts.fakeIoctl, chainCheck: opts.chainCheck },
      // The worker needs none of the process's stdin; its stdout/stderr go to the parent's.
      stdin: false,
    });
    this.#worker.unref();
    this.#worker.on('error', (e) => this.#die(`the ioctl engine's worker failed: ${String(e)}`, e));
    this.#worker.on('exit', (code) => {
      if (!this.#stopping || this.#pending.size > 0) this.#die(`the ioctl engine's worker exited (code ${code})`);
    });
  }

  /** Starts an engine on `fd` (which it then owns). */
  static start(opts: EngineOptions): IoctlEngine {
    return new IoctlEngine(opts);
  }

  /** Whether calls can still be submitted (false once the worker died or close() was called). */
  get alive(): boolean { return this.#dead === undefined && !this.#stopping; }

  /**
   * Whether the worker has started and bound its ioctl (loading koffi in a fresh thread took
   * about 2 s under TCG, bench/README.md): calls submitted before wait in the ring until then.
   */
  get ready(): boolean { return Atomics.load(this.#I, READY) === 1; }

  /** Whether this engine runs chains with identity checks: it was started with a chain check (EngineOptions.chainCheck). */
  get checksChains(): boolean { return this.#checks; }

  /** Slots of the ring: a chain takes at most this many steps. */
  get slots(): number { return this.#slots; }

  /** Calls submitted and not yet completed, plus those queued for a slot. */
  get inFlight(): number { return this.#pending.size + this.#queue.length; }

  /** The shared data memory (test hook: proves slots are wiped). */
  get sharedBytes(): Uint8Array { return this.#D; }

  /**
   * `ioctl(fd, request, buf)` on the engine's thread. `buf` is copied into a slot and the
   * reply copied back into it before the promise resolves; do not touch `buf` meanwhile.
   * Rejects with `DmEngineError` when the worker is dead, or dies with the call in it.
   */
  ioctl(request: number, buf: Uint8Array): Promise<IoctlResult> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#stopping) return Promise.reject(new DmEngineError('the ioctl engine is closed', false));
    if (buf.byteLength > this.slotSize) return Promise.reject(new RangeError(`buffer of ${buf.byteLength} bytes exceeds the engine's slot size ${this.slotSize}`));
    return new Promise<IoctlResult>((resolve, reject) => {
      const q: Queued = { request: request >>> 0, buf, resolve, reject };
      // Behind a chain waiting for its slots, in order (FIFO): a stream of calls cannot starve it.
      if (this.#queue.length === 0 && this.#free.length > 0) this.#submit(q);
      else this.#queue.push(q);
    });
  }

  /**
   * Runs `steps` back to back on the engine's thread, as one submission and one completion
   * (one wake-up of the main thread for the whole chain): step i+1 is issued only when step i
   * returned 0 and, for a step with `check` bits, its reply names the device of the first
   * step's reply (the rule given as `EngineOptions.chainCheck`). Resolves with every step's
   * result, the reply bytes copied back into each step's `buf`; the slots are wiped. A chain
   * needs one slot per step (at most the engine's slots) and waits in the queue until it has
   * them all. Rejects with `DmEngineError` as {@link ioctl} does: `sent: true` once the
   * worker had taken the chain (any of its steps may have reached the kernel).
   *
   * `reference`: the header of the device the operation expects (an identity learnt before
   * this chain: a removal's `expect`, the origin a snapshot suspends), in a slot of its own
   * that is never issued. Every step with `check` bits, the first one too, is then checked
   * against it instead of against the first step's reply, so a first step that reached
   * another device stops the chain before the next is issued. The chain takes one more slot.
   */
  ioctlChain(steps: readonly ChainStep[], reference?: Uint8Array): Promise<ChainStepResult[]> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#stopping) return Promise.reject(new DmEngineError('the ioctl engine is closed', false));
    const slotsNeeded = steps.length + (reference ? 1 : 0);
    if (steps.length === 0 || slotsNeeded > this.#slots) return Promise.reject(new RangeError(`a chain takes 1…${this.#slots} slots (a reference takes one), got ${slotsNeeded}`));
    for (const st of [...steps, ...(reference ? [{ request: 0, buf: reference, check: 1 }] : [])]) {
      if (st.buf.byteLength > this.slotSize) return Promise.reject(new RangeError(`buffer of ${st.buf.byteLength} bytes exceeds the engine's slot size ${this.slotSize}`));
      if ((st.check ?? 0) !== 0 && !this.#checks) return Promise.reject(new RangeError('this engine has no identity check for chains (EngineOptions.chainCheck)'));
    }
    return new Promise<ChainStepResult[]>((done, reject) => {
      const q: Queued = { request: steps[0]!.request >>> 0, buf: steps[0]!.buf, resolve: () => {}, reject, chain: { steps, done, reference } };
      // FIFO: a chain does not overtake calls queued before it, nor they it.
      if (this.#queue.length === 0 && this.#free.length >= slotsNeeded) this.#submit(q);
      else this.#queue.push(q);
    });
  }

  /** Slots `q` needs at once. */
  static #needs(q: Queued): number { return q.chain ? q.chain.steps.length + (q.chain.reference ? 1 : 0) : 1; }

  #submit(q: Queued): void {
    const I = this.#I;
    const metaBase = RING + 2 * this.#slots;
    const steps = q.chain?.steps;
    const chainSlots: number[] = [];
    const n = steps ? steps.length : 1;
    for (let i = 0; i < n; i++) chainSlots.push(this.#free.pop()!);
    // The reference: header bytes in a slot the worker never issues (FREE, in no ring), read by the checks.
    const reference = q.chain?.reference;
    const refSlot = reference ? this.#free.pop()! : -1;
    if (reference) this.#D.set(reference, refSlot * this.slotSize);
    // Written last step first, so each step's `next` names a slot already filled in.
    for (let i = n - 1; i >= 0; i--) {
      const s = chainSlots[i]!;
      const buf = steps ? steps[i]!.buf : q.buf;
      this.#D.set(buf, s * this.slotSize);
      const m = metaBase + s * META_INTS;
      I[m + 1] = (steps ? steps[i]!.request >>> 0 : q.request) | 0;
      I[m + 2] = buf.byteLength;
      I[m + 3] = 0;
      I[m + 4] = 0;
      I[m + 5] = i + 1 < n ? chainSlots[i + 1]! : -1;
      I[m + 6] = steps && (i > 0 || refSlot >= 0) ? (steps[i]!.check ?? 0) : 0;
      I[m + 7] = 0;
      I[m + 8] = refSlot;
      Atomics.store(I, m, SUBMITTED);
    }
    const slot = chainSlots[0]!;
    const tail = Atomics.load(I, SUB_TAIL);
    I[RING + (tail & (this.#slots - 1))] = slot;
    Atomics.store(I, SUB_TAIL, (tail + 1) | 0);
    if (this.#pending.size === 0) this.#worker.ref(); // a call in flight keeps the process alive
    this.#pending.set(slot, { slot, buf: q.buf, resolve: q.resolve, reject: q.reject, ...(q.chain ? { chain: { slots: chainSlots, steps: q.chain.steps, done: q.chain.done, reference: refSlot } } : {}) });
    // One doorbell per tick, however many calls this tick submitted.
    if (!this.#doorbell) {
      this.#doorbell = true;
      queueMicrotask(() => {
        this.#doorbell = false;
        Atomics.notify(this.#I, SUB_TAIL, 1);
      });
    }
    this.#wait();
  }

  /** Keeps one `Atomics.waitAsync` pending while calls are in flight. */
  #wait(): void {
    if (this.#waiting) return;
    this.#waiting = true;
    for (;;) {
      // Read the sequence first, then reap up to it: a call completed after the read changes
      // the sequence, so the waitAsync below returns at once or is woken.
      const seen = Atomics.load(this.#I, COMP_SEQ);
      this.#reap(seen);
      if (this.#pending.size === 0 || this.#dead) break;
      const r = waitAsync!(this.#I, COMP_SEQ, seen);
      if (r.async) {
        void r.value.then(() => {
          this.#waiting = false;
          this.#wait();
        });
        return;
      }
    }
    this.#waiting = false;
  }

  /**
   * Settles the calls the worker published up to completion `seq` (in the order they
   * completed), wipes and frees their slots, and submits queued calls.
   */
  #reap(seq: number, resubmit = true): void {
    if (this.#dead) return;
    const I = this.#I;
    const cq = RING + this.#slots;
    const base = cq + this.#slots;
    const mask = this.#slots - 1;
    let found = 0;
    for (; this.#reaped !== seq; this.#reaped = (this.#reaped + 1) | 0) {
      const p = this.#pending.get(I[cq + (this.#reaped & mask)]!);
      if (!p) continue; // not possible while the worker follows the protocol; never settle twice
      const m = base + p.slot * META_INTS;
      found++;
      this.#pending.delete(p.slot);
      if (p.chain) {
        const results: ChainStepResult[] = [];
        p.chain.slots.forEach((s, i) => {
          const sm = base + s * META_INTS;
          const ran = Atomics.load(I, sm) === DONE;
          const buf = p.chain!.steps[i]!.buf;
          const off = s * this.slotSize;
          // A step not issued keeps its request; one issued gets its reply as a single call does.
          if (ran) buf.set(this.#D.subarray(off, off + this.#copyBack(off, buf.byteLength, I[sm + 3]!)));
          this.#wipe(off, buf.byteLength); // a slot never keeps a request's or reply's bytes (a load may hold keys)
          results.push({ ret: ran ? I[sm + 3]! : 0, errno: ran ? I[sm + 4]! : 0, ran, mismatch: ran ? I[sm + 7]! : 0 });
          Atomics.store(I, sm, FREE);
          this.#free.push(s);
        });
        this.#freeReference(p.chain);
        this.completed++;
        this.chains++;
        p.chain.done(results);
        continue;
      }
      const off = p.slot * this.slotSize;
      const len = p.buf.byteLength;
      const result: IoctlResult = { ret: I[m + 3]!, errno: I[m + 4]! };
      p.buf.set(this.#D.subarray(off, off + this.#copyBack(off, len, result.ret)));
      this.#wipe(off, len); // a slot never keeps a request's or reply's bytes
      Atomics.store(I, m, FREE);
      this.#free.push(p.slot);
      this.completed++;
      p.resolve(result);
    }
    if (found > 0) this.wakeups++;
    if (!resubmit) return;
    while (this.#queue.length > 0 && this.#free.length >= IoctlEngine.#needs(this.#queue[0]!)) this.#submit(this.#queue.shift()!);
    if (this.#pending.size === 0) {
      this.#worker.unref();
      if (this.#stopping) this.#finish();
    }
  }

  /** Wipes and frees a chain's reference slot (ioctlChain's `reference`), if it has one. */
  #freeReference(chain: ChainPending): void {
    if (chain.reference < 0) return;
    this.#wipe(chain.reference * this.slotSize, this.slotSize);
    this.#free.push(chain.reference);
  }

  /** How many bytes of the slot at `off` go back to the caller (EngineOptions.replyBytes). */
  #copyBack(off: number, len: number, ret: number): number {
    if (this.#replyBytes === undefined) return len;
    const n = this.#replyBytes(this.#D.subarray(off, off + len), ret);
    return n >= 0 && n < len ? n : len; // a NaN or out-of-range answer copies everything
  }

  /**
   * Zero-fills `len` bytes of the shared memory at `off`. A copy from a zeroed ordinary
   * buffer, not `fill(0)`: V8 fills shared memory byte by byte (relaxed atomics), several
   * times slower than this copy (bench/scale-path.bench.ts: the engine's statusMany row).
   */
  #wipe(off: number, len: number): void {
    this.#D.set(this.#zeros.subarray(0, len), off);
  }

  #die(message: string, cause?: unknown): void {
    if (this.#dead) return;
    // Calls the worker finished and published before it died have their results: those still count.
    this.#reap(Atomics.load(this.#I, COMP_SEQ), false);
    const notSent = new DmEngineError(message, false, cause);
    this.#dead = notSent;
    const base = RING + 2 * this.#slots;
    for (const p of this.#pending.values()) {
      this.#wipe(p.slot * this.slotSize, p.buf.byteLength);
      // A chain's other steps: wiped too; the chain was sent once its first step was taken.
      p.chain?.slots.forEach((s, i) => { if (i > 0) this.#wipe(s * this.slotSize, p.chain!.steps[i]!.buf.byteLength); });
      if (p.chain && p.chain.reference >= 0) this.#wipe(p.chain.reference * this.slotSize, this.slotSize);
      // Only a call the worker had taken may have reached the kernel (DONE: it did, and the
      // worker died before publishing it).
      const state = Atomics.load(this.#I, base + p.slot * META_INTS);
      const taken = state === TAKEN || state === DONE;
      p.reject(taken ? new DmEngineError(message, true, cause) : notSent);
    }
    this.#pending.clear();
    for (const q of this.#queue.splice(0)) q.reject(notSent);
    this.#worker.unref();
    this.#closeFd();
  }

  /**
   * Stops the engine once the calls in it (queued ones too) have completed, then closes its
   * fd; later calls reject. Idempotent.
   */
  close(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    if (this.#pending.size === 0 && this.#queue.length === 0) this.#finish();
  }

  /** Kills the worker at once (test hook: a crash with calls in it). */
  kill(): Promise<number> {
    return this.#worker.terminate();
  }

  #finish(): void {
    Atomics.store(this.#I, STOP, 1);
    Atomics.notify(this.#I, SUB_TAIL, 1);
    this.#D.fill(0);
    if (!this.#dead) this.#closeFd();
  }

  #fdClosed = false;
  #closeFd(): void {
    if (this.#fdClosed || this.#fd < 0) return;
    this.#fdClosed = true;
    // Only once no call is in the worker: the number could be reused by an unrelated open().
    try { fs.closeSync(this.#fd); } catch { /* EINTR/EIO: the fd is gone either way */ }
  }
}

/**
 * Whether the engine can run here: worker threads, SharedArrayBuffer and
 * `Atomics.waitAsync` (Node ≥ 16) are all present.
 */
export function engineSupported(): boolean {
  return typeof SharedArrayBuffer === 'function' && typeof waitAsync === 'function' && typeof Worker === 'function';
}
