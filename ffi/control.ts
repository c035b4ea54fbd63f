/**
 * The device-mapper control node as a transport, plus the poll and self-pipe
 * primitives the event poller is built on.
 *
 * @module
 */
import * as fs from 'node:fs';
import { loadLibc, type Libc } from './libc.js';
import { DmClosedError, DmEngineError, DmSyscallError, ERRNO, mapOpenError } from './errors.js';
import { engineSupported, IoctlEngine, type EngineOptions } from './engine.js';
import type { AsyncCallKind, CancelPipe, ChainStep, ChainStepResult, ChainTransport, ControlTransport, EngineStarter, IoctlResult, RawPoller } from './types.js';

/** Where every Linux distribution puts the control node (`DM_DIR "/" DM_CONTROL_NODE`). */
export const DM_CONTROL_PATH = '/dev/mapper/control';

// Linux (asm-generic) open flag; fs.constants does not export it. libuv adds it to
// every open anyway, but saying it keeps the fd out of child processes even if
// that ever changes.
const O_CLOEXEC = 0o2000000;

function openFd(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

/** The node's mode, only to make a permission error more helpful. */
function statMode(path: string): number | undefined {
  try {
    return fs.statSync(path).mode;
  } catch {
    return undefined;
  }
}

/**
 * Which thread runs a transport's `ioctlAsync`. `'engine'`: the ioctl engine's worker
 * (ffi/engine.ts) for every call but waits; `'pool'`: koffi's async call on a libuv pool
 * thread for every call; `'auto'` (the default): the engine for batches, the pool for single
 * calls and waits. Why the split (measured in bench/README.md): one call at a time the pool's
 * round trip is the shorter (both pay two cross-thread wake-ups, and the pool's are cheaper),
 * while a batch on the engine shares its wake-ups among many ioctls and is several times
 * faster per ioctl than on the pool.
 * Waits (`kind` `'wait'`: DM_DEV_WAIT) always take the pool: the engine runs its calls in
 * order on one thread, and a wait may sleep in the kernel indefinitely (the device at that
 * number replaced by one whose event number is the caller's), which would stall every batch
 * of the process behind it. On the pool it holds one thread of its own until it returns, and
 * other waits run beside it. The client issues DM_DEV_WAIT only once a check saw the event
 * number move (docs/events.md), so a wait that sleeps is the rare race, not the rule.
 * Under `'auto'` a batch's first call starts the engine, and batch calls take the pool until
 * its worker is ready (loading koffi in a fresh worker is slow under emulation: a small batch
 * would otherwise wait for that startup).
 */
export type AsyncPath = 'auto' | 'engine' | 'pool';

/** Options of {@link openControl}. */
export interface OpenControlOptions {
  /**
   * Which thread runs async ioctls (see {@link AsyncPath}; default `'auto'`). Wherever the
   * engine is chosen, buffers larger than its slots, and every call once its worker died or
   * where worker threads are missing, take the pool path.
   */
  readonly asyncPath?: AsyncPath;
  /**
   * Called once, with the ioctl engine, when this transport first routes a call to one.
   * Internal (not reachable from the package's entry points): how tests and benchmarks see
   * which path calls took and what the engine counted.
   */
  readonly onEngine?: (engine: IoctlEngine) => void;
  /**
   * Test hook (internal, like `onEngine`): the engine this transport starts runs this fake
   * ioctl in its worker (`EngineOptions.fakeIoctl`); the pool path stays the real one.
   */
  readonly engineFake?: string;
  /**
   * The identity check the engines this transport starts run between a chain's steps
   * (`EngineOptions.chainCheck`; lib/kernel/chain-check.ts builds it from the codec's rule).
   * Without it the transport runs no chain with checks.
   */
  readonly chainCheck?: string;
  /**
   * Passed to the engine this transport starts (`EngineOptions.replyBytes`): how much of a
   * reply to copy back. The backend gives device-mapper's rule (lib/kernel/reply-bytes.ts);
   * ffi knows no offsets. One engine serves every transport of a path: the first one to
   * start it decides.
   */
  readonly replyBytes?: (reply: Uint8Array, ret: number) => number;
}

/** Whether a call of `kind` may go to the engine under `path` (the policy of {@link AsyncPath}). */
function routesToEngine(path: AsyncPath, kind: AsyncCallKind = 'single'): boolean {
  if (kind === 'wait' || path === 'pool') return false; // a wait may sleep: never in the engine's in-order worker
  if (path === 'engine') return true;
  return kind === 'batch';
}

/**
 * Engines for the lanes of parallel operations (removeMany, createMany) per control-node path,
 * besides the batch engine: a single call given a `lane` runs on engine `lane % LANE_ENGINES`.
 * Why engines and not the pool: a removal sleeps in the kernel for a grace period while it
 * holds its thread, and libuv's pool has four threads unless the process was started with a
 * larger UV_THREADPOOL_SIZE (and shares them with fs, dns and crypto), so at most four such
 * sleeps would overlap; each lane engine is a thread of its own. Why this many: enough for
 * the grace periods of a batch's default concurrency to overlap several times over, few
 * enough that the threads (and koffi loaded in each) stay a small cost; a lane carries one
 * device's calls at a time, so its engine needs few slots (LANE_SLOTS).
 */
export const LANE_ENGINES = 16;
const LANE_SLOTS = 8;

/** One engine per control-node path (and lane) per process, started on first use; undefined = unavailable. */
const engines = new Map<string, IoctlEngine | undefined>();

/** Whether the main engine of this control node was started (alive or not). */
function engineStarted(path: string): boolean {
  return engines.has(path);
}

function engineFor(path: string, libc: Libc, fakeIoctl: string | undefined, replyBytes: EngineOptions['replyBytes'], lane?: number, chainCheck?: string): IoctlEngine | undefined {
  const key = lane === undefined ? path : `${path}\0lane ${lane % LANE_ENGINES}`;
  if (engines.has(key)) {
    // Tried before: the engine while it lives; once it could not start (undefined) or died
    // (docs: DmEngineError), the pool path from now on.
    const e = engines.get(key);
    return e?.alive ? e : undefined;
  }
  let e: IoctlEngine | undefined;
  try {
    const fd = fs.openSync(path, fs.constants.O_RDWR | O_CLOEXEC);
    try {
      e = IoctlEngine.start({
        fd, libc: libc.name, ...(lane === undefined ? {} : { slots: LANE_SLOTS }), ...(fakeIoctl === undefined ? {} : { fakeIoctl }),
        ...(chainCheck === undefined ? {} : { chainCheck }), ...(replyBytes === undefined ? {} : { replyBytes }),
      });
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  } catch {
    e = undefined;
  }
  engines.set(key, e);
  return e;
}

/**
 * Opens the control node read-write and returns a {@link ControlTransport}.
 *
 * Rejects with `DmUnavailableError` (node missing or no dm in the kernel),
 * `DmPermissionError` (node mode), `DmPlatformError` (not Linux), `DmLibcError`
 * (koffi/libc missing), or the original Node error for anything else.
 */
export async function openControl(path: string = DM_CONTROL_PATH, options: OpenControlOptions = {}): Promise<ControlTransport> {
  // Load libc first: on a non-Linux platform the platform error is the useful one.
  const libc = await loadLibc();
  let fd: number;
  try {
    fd = await openFd(path, fs.constants.O_RDWR | O_CLOEXEC);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw mapOpenError(err, path, code === 'EACCES' || code === 'EPERM' ? statMode(path) : undefined);
  }
  const asyncPath = options.asyncPath ?? 'auto';
  return new Transport(libc, fd, path, engineSupported() ? asyncPath : 'pool', options.onEngine, options.engineFake, options.chainCheck, options.replyBytes);
}

class Transport implements ControlTransport, ChainTransport, EngineStarter {
  #fd: number;
  #closed = false;
  // Async ioctls in flight. close() must not free the fd number while a pool
  // thread may still pass it to the kernel: the number could be reused by an
  // unrelated open() and the ioctl would hit that file instead.
  #inflight = 0;

  constructor(
    private readonly libc: Libc,
    fd: number,
    readonly path: string,
    private readonly asyncPath: AsyncPath,
    private onEngine: ((engine: IoctlEngine) => void) | undefined,
    private readonly engineFake: string | undefined,
    private readonly chainCheck: string | undefined,
    private readonly replyBytes: EngineOptions['replyBytes'],
  ) {
    this.#fd = fd;
  }

  get fd(): number {
    return this.#closed ? -1 : this.#fd;
  }

  ioctl(request: number, buf: Uint8Array): IoctlResult {
    this.#check();
    return this.libc.ioctl(this.#fd, request, buf);
  }

  async ioctlAsync(request: number, buf: Uint8Array, kind?: AsyncCallKind, lane?: number): Promise<IoctlResult> {
    this.#check();
    this.#inflight++;
    try {
      // A single call of a parallel operation's lane: that lane's engine unless every call is
      // the pool's (see LANE_ENGINES); until it is ready, the pool carries the lane's calls.
      const laned = lane !== undefined && (kind ?? 'single') === 'single' && this.asyncPath !== 'pool';
      const engine = laned ? engineFor(this.path, this.libc, this.engineFake, this.replyBytes, lane, this.chainCheck)
        : routesToEngine(this.asyncPath, kind) ? engineFor(this.path, this.libc, this.engineFake, this.replyBytes, undefined, this.chainCheck) : undefined;
      if (engine && !laned && this.onEngine) {
        const report = this.onEngine;
        this.onEngine = undefined;
        report(engine);
      }
      // 'auto' does not hold a batch for the engine's startup: the pool carries it meanwhile.
      const startingUp = engine !== undefined && !engine.ready && (laned || (this.asyncPath === 'auto' && kind === 'batch'));
      // The engine's own fd: this transport's fd is only used by the pool path and sync calls.
      if (engine && !startingUp && buf.byteLength <= engine.slotSize) {
        try {
          return await engine.ioctl(request, buf);
        } catch (e) {
          // The worker died before taking this call: it never reached the kernel, so the pool
          // path may send it. A call the worker had taken is not sent twice.
          if (!(e instanceof DmEngineError) || e.sent) throw e;
        }
      }
      return await this.libc.ioctlAsync(this.#fd, request, buf);
    } finally {
      if (--this.#inflight === 0 && this.#closed) this.#release();
    }
  }

  /**
   * A compound operation's steps as one chain on the engine (ChainTransport): the lane's
   * engine when `lane` is given, else the process's engine — under every path but `'pool'`,
   * and only once its worker is ready (as a batch under `'auto'`: the chain does not wait for
   * the engine's startup; the caller issues its steps one by one meanwhile). Undefined, with
   * nothing sent, when it cannot go there now.
   */
  ioctlChain(steps: readonly ChainStep[], lane?: number, reference?: Uint8Array): Promise<ChainStepResult[]> | undefined {
    this.#check();
    const engine = this.#chainEngine(steps.length + (reference ? 1 : 0), lane);
    if (!engine || steps.some((st) => st.buf.byteLength > engine.slotSize) || (reference && reference.byteLength > engine.slotSize)) return undefined;
    this.#inflight++;
    return engine.ioctlChain(steps, reference).finally(() => {
      if (--this.#inflight === 0 && this.#closed) this.#release();
    });
  }

  chainReady(steps: number, lane?: number): boolean {
    return !this.#closed && this.#chainEngine(steps, lane) !== undefined;
  }

  /**
   * The engine a chain of `steps` steps would run on now, or undefined. Under 'auto' a chain
   * uses the main engine only once something else started it (a batch): a process that only
   * creates devices keeps the pool path and starts no worker thread for it, as before chains
   * (an engine start loads koffi in a second thread; a koffi fatal error during that load was
   * seen once in a live run of many processes, and one createDevice does not repay a start).
   * 'engine' starts it on first use; lanes are started by the parallel operations that use them.
   */
  #chainEngine(steps: number, lane: number | undefined): IoctlEngine | undefined {
    if (this.asyncPath === 'pool' || this.chainCheck === undefined) return undefined;
    if (lane === undefined && this.asyncPath === 'auto' && !engineStarted(this.path)) return undefined;
    const engine = engineFor(this.path, this.libc, this.engineFake, this.replyBytes, lane, this.chainCheck);
    if (engine && lane === undefined && this.onEngine) {
      const report = this.onEngine;
      this.onEngine = undefined;
      report(engine);
    }
    // The engine is the first opener's: one started without the check cannot run checked chains.
    return engine?.ready && engine.checksChains && steps <= engine.slots ? engine : undefined;
  }

  /**
   * Starts the engine now (EngineStarter): `engineFor` spawns its worker and returns without
   * waiting for it to load koffi. The engine is the process's, as when a first batch starts
   * it: closing this transport does not stop it, and its worker, unreferenced while no call
   * is in it, holds no process open.
   */
  startEngine(): void {
    if (this.#closed || this.asyncPath === 'pool') return;
    const engine = engineFor(this.path, this.libc, this.engineFake, this.replyBytes, undefined, this.chainCheck);
    if (engine && this.onEngine) {
      const report = this.onEngine;
      this.onEngine = undefined;
      report(engine);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inflight === 0) this.#release();
  }

  #release(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    try {
      fs.closeSync(fd);
    } catch {
      // close(2) errors (EINTR/EIO) leave nothing to retry: the fd is gone either way.
    }
  }

  #check(): void {
    if (this.#closed) throw new DmClosedError('device-mapper control transport', this.path);
  }
}

// ---------------------------------------------------------------- poll -----

function makePoller(libc: Libc): RawPoller {
  return {
    poll: (pollfds, nfds, timeoutMs) => libc.poll(pollfds, nfds, timeoutMs),
    pollAsync: (pollfds, nfds, timeoutMs) => libc.pollAsync(pollfds, nfds, timeoutMs),
  };
}

/**
 * A {@link RawPoller} bound to libc. `poll()` blocks the JS thread; use it with
 * timeout 0 for a non-blocking readiness check.
 */
export async function createPoller(): Promise<RawPoller> {
  return makePoller(await loadLibc());
}

/**
 * `poll(2)` on a libuv pool thread; resolves when an fd is ready, the timeout
 * (ms; -1 = forever) expires, or the call fails (`ret` -1, e.g. EINTR).
 *
 * ONE WAITER PER CLIENT, AT MOST. Each pending call parks one thread of libuv's
 * pool (4 threads by default, shared with fs, dns, crypto and zlib of the whole
 * process) for as long as it waits. A client must therefore keep at most one
 * such poll parked — one shared poller that watches the control node and a
 * {@link CancelPipe}, and is woken through the pipe to change its set or stop —
 * never one per waiter, or a few waiters would starve every `fs` call.
 */
export async function pollAsync(pollfds: Uint8Array, nfds: number, timeoutMs: number): Promise<IoctlResult> {
  return (await createPoller()).pollAsync(pollfds, nfds, timeoutMs);
}

// ----------------------------------------------------------- cancel pipe ---

const PIPE_FLAGS = O_CLOEXEC | fs.constants.O_NONBLOCK;

/**
 * Creates the self-pipe a parked `pollAsync` is woken with: include `readFd`
 * (POLLIN) in the poll set, call `signal()` from JS to make the poll return,
 * then `drain()` before polling again. Both ends are non-blocking, so neither
 * `signal()` nor `drain()` can ever block the JS thread.
 */
export async function createCancelPipe(): Promise<CancelPipe> {
  const libc = await loadLibc();
  const r = libc.pipe2(PIPE_FLAGS);
  if (r.ret < 0) {
    throw new DmSyscallError('pipe2 failed', { errno: r.errno, syscall: 'pipe2' });
  }
  return new Pipe(libc, r.fds[0], r.fds[1]);
}

class Pipe implements CancelPipe {
  #r: number;
  #w: number;
  readonly #one = new Uint8Array([1]);
  readonly #scratch = new Uint8Array(64);

  constructor(
    private readonly libc: Libc,
    r: number,
    w: number,
  ) {
    this.#r = r;
    this.#w = w;
  }

  get readFd(): number {
    return this.#r;
  }
  get writeFd(): number {
    return this.#w;
  }

  signal(): void {
    if (this.#w < 0) throw new DmClosedError('cancel pipe');
    for (;;) {
      const r = this.libc.write(this.#w, this.#one);
      // EAGAIN: the pipe is full, so the reader is already woken; EINTR: retry.
      if (r.ret >= 0 || r.errno === ERRNO.EAGAIN) return;
      if (r.errno !== ERRNO.EINTR) throw new DmSyscallError('cancel pipe write failed', { errno: r.errno, syscall: 'write' });
    }
  }

  drain(): number {
    if (this.#r < 0) throw new DmClosedError('cancel pipe');
    let total = 0;
    for (;;) {
      const r = this.libc.read(this.#r, this.#scratch);
      if (r.ret > 0) {
        total += r.ret;
        continue;
      }
      if (r.ret < 0 && r.errno === ERRNO.EINTR) continue;
      return total; // 0 = no writer left; EAGAIN = empty
    }
  }

  close(): void {
    // The pipe's fds come from libc, not from Node, so libc closes them.
    if (this.#r >= 0) this.libc.close(this.#r);
    if (this.#w >= 0) this.libc.close(this.#w);
    this.#r = this.#w = -1;
  }
}
