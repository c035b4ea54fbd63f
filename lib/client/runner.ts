/**
 * The one private ioctl loop (devicemapper-rs `dm.rs` style): it owns buffers, versions
 * and errors, so each command method is a few lines. Per call:
 *   1. gate the command on the kernel version already learnt: a kernel known to be older than
 *      the command-table row's minVersion gets no ioctl (typed "unsupported" error);
 *   2. encode (validation errors are thrown here, before any syscall);
 *   3. ioctl — sync, or async for commands that may sleep: the transport picks the thread by
 *      the call's kind (batch calls to the ioctl engine, DM_DEV_WAIT and single calls to
 *      libuv's pool: ffi/control.ts);
 *   4. non-zero return → DmError with the request's header (the kernel writes back only its
 *      version on failure: docs/kernel-facts.md) and the kernel's log lines;
 *   5. DM_BUFFER_FULL_FLAG (the ioctl returned 0) → double the buffer and repeat, and
 *      remember the size that worked for the next call of that command (cap 1 GiB).
 */
import {
  codec as hostCodec, commandSpec, decodeDev, DEFAULT_BUFFER_SIZE, DmCodecError, DM_IOCTL_SIZE, DM_MAX_DATA_SIZE, DM_SKIP_BDGET_FLAG, dmIoctl, requestCode,
  type CommandName, type CommandReplies, type CommandRequests, type DecodeOptions, type DeviceId, type DmCodec, type EncodeOptions, type Version,
} from '../../codec/index.js';
import { madeCopy } from '../../codec/copies.js';
import { viewOf } from '../../codec/layout.js';
import { DmClosedError, DmEngineError, ERRNO } from '../../ffi/errors.js';
import type { ChainTransport } from '../../ffi/types.js';
import { CALLS_IN_FLIGHT } from '../../ffi/engine.js';
import type { ControlTransport, IoctlResult, KernelLog } from '../kernel/backend.js';
import { attributeLines, deviceMentions, KernelLogWindow, type CallDevice } from '../kernel/log-attribution.js';
import { DmAbortError, DmError, DmUnsupportedError, type HeaderSnapshot } from '../errors.js';
import { onAbort } from '../events/abort-fanout.js';
import { ioctlChannel, ioctlStart, publishIoctl } from '../trace/channels.js';

/** What a failed call's hint is built from. */
export interface CallFailure {
  readonly errno: number;
  /** The kernel lines attributed to the call (before `scrubLog`). */
  readonly kernelLog: readonly string[];
}

export interface CallContext {
  readonly device?: DeviceId | undefined;
  /** The lane of a parallel operation (removeMany, createMany) this call belongs to: passed to the transport, which may run it on that lane's thread. */
  readonly lane?: number | undefined;
  /** Extra text for the error message, built only when the call fails. */
  readonly hint?: string | ((failure: CallFailure) => string) | undefined;
  /**
   * The request or reply may hold key material: every buffer of the call (each request
   * buffer, the grown ones of DM_BUFFER_FULL retries, the reused scratch buffer) is
   * zero-filled when the call ends, whether it succeeded, failed, or threw.
   */
  readonly wipe?: boolean | undefined;
  /** A DM_TARGET_MSG's text: the target's lines that repeat its arguments are the call's (lib/kernel/log-attribution.ts). */
  readonly message?: string | undefined;
  /** Rewrites the kernel log lines attached to a DmError (secrets a target logged). */
  readonly scrubLog?: ((lines: string[]) => string[]) | undefined;
  /** Issued by an operation that must finish after close() (a rollback): not refused. */
  readonly afterClose?: boolean | undefined;
  /** One of many calls submitted together (infoMany, statusMany): the transport may route it to the ioctl engine. */
  readonly batch?: boolean | undefined;
  /**
   * The request already encoded by {@link IoctlRunner.encode} from the same command and
   * params: sent as it is (a DM_BUFFER_FULL retry encodes params again, into a bigger
   * buffer). From the call on it is the runner's: wiped with the call's buffers under `wipe`,
   * also when the call is refused before its ioctl.
   */
  readonly encoded?: Uint8Array | undefined;
  /**
   * Aborted when the caller gave up (boundedCall's signal or timeout): a call still waiting
   * for an async slot leaves the queue and rejects with DmAbortError without being sent, so
   * nothing the caller was told is abandoned reaches the kernel later.
   */
  readonly stop?: AbortSignal | undefined;
}

/** One step of {@link IoctlRunner.runChain}. */
export interface ChainCall<C extends CommandName = CommandName> {
  readonly command: C;
  readonly params: CommandRequests[C];
  readonly ctx: CallContext;
  /** Trusted-field bits (lib/kernel/chain-check.ts `trustedBits`) this step's reply is checked with against the first step's, in the engine; 0/absent: not checked. */
  readonly check?: number;
}

/** What became of one step of a chain: not issued, or issued with its reply (and the check's verdict) or its error. */
export type ChainOutcome =
  | { readonly ran: false }
  | { readonly ran: true; readonly reply: unknown; readonly mismatch: number }
  | { readonly ran: true; readonly error: unknown };

/** The context of a call that gives none (shared: a context is never written to). */
const NO_CONTEXT: CallContext = Object.freeze({});

/** Size of the request buffer sync calls reuse (the default payload buffer). */
const SCRATCH_SIZE = DEFAULT_BUFFER_SIZE;

/**
 * Async ioctls take a slot first, process-wide (koffi's limit on async calls is), FIFO: beyond
 * koffi's `max_async_calls` it throws instead of queueing (ffi/engine.ts, CALLS_IN_FLIGHT).
 */
class AsyncSlots {
  #inFlight = 0;
  readonly #queue: (() => void)[] = [];
  constructor(private readonly max: number) {}

  /**
   * Takes a slot at once (undefined) or returns a promise that resolves with one. A waiter whose
   * `stop` aborts leaves the queue and rejects with DmAbortError: it never held a slot.
   */
  take(stop?: AbortSignal): Promise<void> | undefined {
    if (this.#inFlight < this.max) {
      this.#inFlight++;
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      if (!stop) { this.#queue.push(resolve); return; }
      const off = onAbort(stop, () => {
        const i = this.#queue.indexOf(take);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(new DmAbortError(stop.reason));
      });
      const take = (): void => { off(); resolve(); };
      this.#queue.push(take);
    });
  }

  release(): void {
    const next = this.#queue.shift();
    if (next) next(); // the slot passes to the next caller
    else this.#inFlight--;
  }
}

/** Every async ioctl but DM_DEV_WAIT: the batch pipeline's limit (CALLS_IN_FLIGHT). */
const callSlots = new AsyncSlots(CALLS_IN_FLIGHT);
/**
 * DM_DEV_WAIT's own slots: a wait may sleep in the kernel indefinitely (docs/events.md), and
 * one that holds a slot must not take it from a batch, which would then queue behind it. Both
 * limits together stay below koffi's 256 with room for the event pollers' async poll() calls.
 */
const waitSlots = new AsyncSlots(CALLS_IN_FLIGHT / 2);

/**
 * Request buffers a runner keeps for batch calls: one per batch call in flight. A fresh
 * zeroed 16 KiB buffer per call was a third of statusMany's JS per device on the host
 * (bench/scale-path.bench.ts).
 */
const BATCH_POOL = CALLS_IN_FLIGHT;

/** At most this many kernel lines of each kind on an error. */
const KERNEL_LINES = 20;

/** Errors after which the kernel has not written its version back. */
const NO_VERSION_WRITTEN: ReadonlySet<number> = new Set([ERRNO.EACCES, ERRNO.EFAULT, ERRNO.EBADF, ERRNO.EPERM]);

export class IoctlRunner {
  /** The kernel's device-mapper version, learnt from the first reply that carries it. */
  kernel: Version | undefined;
  /** Buffer size that last worked, per payload command. */
  readonly sizes = new Map<CommandName, number>();
  /** ioctls issued, per command (observability: buffer growth, tests, benchmarks). */
  readonly calls = new Map<CommandName, number>();
  readonly codec: DmCodec = hostCodec;
  /**
   * Set by the client's close(): new calls fail with DmClosedError (rollbacks still run),
   * and the batch buffers (up to CALLS_IN_FLIGHT × 16 KiB) are let go rather than kept for a client
   * that will issue no more batches.
   */
  get closed(): boolean { return this.#closed; }
  set closed(value: boolean) {
    this.#closed = value;
    if (value) this.#batchBuffers.length = 0;
  }
  #closed = false;

  readonly #initial: number;
  /**
   * The request buffer of sync calls, reused: allocating a zeroed 16 KiB buffer per call was
   * most of a sync TABLE_STATUS's cost (bench:live). Replies never alias it (decoders copy
   * out), calls with `wipe` zero-fill all of it when they end, and async calls never use it
   * (the kernel may still be writing into their buffer while JS runs).
   */
  #scratch: Uint8Array | undefined;
  /**
   * Kept with the scratch buffer: its first DM_IOCTL_SIZE bytes (every header-only request is
   * exactly that long) and a DataView over each, handed to the codec in options objects made
   * once: making a DataView and a subarray per call was most of a DM_VERSION's JavaScript
   * (bench/README.md, bench/call-path.bench.ts).
   */
  #scratchView: DataView | undefined;
  #head: Uint8Array | undefined;
  /** encodeRequest's options for a header-only request: into the head, with its view. */
  #headEncode: EncodeOptions | undefined;
  /** decodeReply's options for a reply in the head or in the whole scratch buffer. */
  #headDecode: DecodeOptions | undefined;
  #scratchDecode: DecodeOptions | undefined;
  /**
   * Request buffers of batch calls without `wipe` (infoMany, statusMany: names only, no key
   * material), each back here only once its call has settled, so no two calls in flight
   * share one. Encoding zeroes everything after the payload, as for the scratch buffer.
   */
  readonly #batchBuffers: Uint8Array[] = [];
  /** The kernel log, seen through a window per call (undefined when /dev/kmsg is unreadable). */
  readonly #log: KernelLogWindow | undefined;

  constructor(
    private readonly transport: ControlTransport,
    kmsg: KernelLog | undefined,
    initialBufferSize = DEFAULT_BUFFER_SIZE,
    /** Run every command on the calling thread (see OpenOptions.blocking). */
    readonly blocking = false,
    /** DM_SKIP_BDGET_FLAG on every request but DM_VERSION (see OpenOptions.skipOpenCount). */
    readonly skipOpenCount = false,
  ) {
    this.#initial = initialBufferSize;
    this.#log = kmsg && new KernelLogWindow(kmsg);
  }

  /** Throws DmUnsupportedError when the known kernel version is below `required`. */
  require(feature: string, required: Version): void {
    const k = this.kernel;
    if (k && compareVersions(k, required) < 0) throw new DmUnsupportedError(feature, required, k);
  }

  runSync<C extends CommandName>(command: C, params: CommandRequests[C], ctx: CallContext = NO_CONTEXT): CommandReplies[C] {
    this.#gate(command, ctx);
    const mark = this.#log?.mark() ?? 0;
    const used: Uint8Array[] = [];
    try {
      for (let encoded = ctx.encoded, attempt = 1; ; encoded = undefined, attempt++) {
        if (encoded) used.push(encoded);
        const req = encoded ?? this.#encode(command, params, used, 'scratch');
        if (this.skipOpenCount) this.#skipBdget(command, req);
        this.#bump(command);
        // devicemapper:ioctl (lib/trace/channels.ts): nothing is read or timed without a subscriber.
        const traced = ioctlChannel.hasSubscribers ? ioctlStart(this.codec, command, req, params, attempt, 'sync') : undefined;
        const r = this.transport.ioctl(requestCode(command), req);
        if (traced) publishIoctl(this.codec, traced, r.ret, r.errno, req);
        const out = this.#finish(command, req, r, ctx, mark, this.#decodeOptions(req));
        if (out !== undefined) return out;
      }
    } finally {
      if (ctx.wipe) for (const b of used) b.fill(0);
    }
  }

  async runAsync<C extends CommandName>(command: C, params: CommandRequests[C], ctx: CallContext = {}): Promise<CommandReplies[C]> {
    // `blocking` clients (CLI tools, scripts) skip the thread-pool hop: bench:live measured it
    // costing more than create/resume/info cost in the kernel (bench/README.md).
    if (this.blocking) return this.runSync(command, params, ctx);
    this.#gate(command, ctx);
    const mark = this.#log?.mark() ?? 0;
    const used: Uint8Array[] = [];
    const pooled = ctx.batch === true && !ctx.wipe;
    try {
      for (let encoded = ctx.encoded, attempt = 1; ; encoded = undefined, attempt++) {
        if (encoded) used.push(encoded);
        const req = encoded ?? this.#encode(command, params, used, pooled ? 'pool' : undefined);
        if (this.skipOpenCount) this.#skipBdget(command, req);
        // A caller that gave up before its call was sent: nothing is sent (the finally wipes).
        if (ctx.stop?.aborted) throw new DmAbortError(ctx.stop.reason);
        const slots = command === 'wait' ? waitSlots : callSlots;
        const queued = slots.take(ctx.stop);
        if (queued) {
          await queued;
          // Handed a slot in the same turn as the caller gave up: pass it on, send nothing.
          if (ctx.stop?.aborted) { slots.release(); throw new DmAbortError(ctx.stop.reason); }
        }
        let r: IoctlResult;
        const path = ctx.batch ? 'batch' : command === 'wait' ? 'wait' : 'single';
        const traced = ioctlChannel.hasSubscribers ? ioctlStart(this.codec, command, req, params, attempt, path) : undefined;
        try {
          this.#bump(command);
          r = await (ctx.lane === undefined ? this.transport.ioctlAsync(requestCode(command), req, path) : this.transport.ioctlAsync(requestCode(command), req, path, ctx.lane));
        } finally {
          slots.release();
        }
        if (traced) publishIoctl(this.codec, traced, r.ret, r.errno, req);
        const out = this.#finish(command, req, r, ctx, mark);
        if (out !== undefined) return out;
      }
    } finally {
      // Only after the ioctl has settled: the kernel may write into an async call's buffer.
      if (ctx.wipe) for (const b of used) b.fill(0);
      if (pooled && !this.#closed) {
        for (const b of used) if (b.length === SCRATCH_SIZE && this.#batchBuffers.length < BATCH_POOL) this.#batchBuffers.push(b);
      }
    }
  }

  /** Whether a chain of `steps` steps would go to the engine now (see {@link runChain}); starts the engine when it is not running yet. */
  canChain(steps: number, lane?: number): boolean {
    const t = this.transport as Partial<ChainTransport>;
    return !this.blocking && typeof t.chainReady === 'function' && t.chainReady(steps, lane);
  }

  /**
   * Runs `steps` as one chain on the transport's ioctl engine (ChainTransport): the worker
   * issues them back to back and stops at the first failure or identity mismatch, and this
   * thread wakes once for the whole chain. Each step is gated, encoded (or sent as its
   * `ctx.encoded`), traced, counted and decoded as a runAsync call is; a failed step's error is
   * its DmError. Resolves with undefined, nothing sent and no buffer wiped, when the chain
   * cannot run there now (a `blocking` runner, a transport without chains, the pool path, an
   * engine not ready or dead before it took the chain): the caller then issues the steps one
   * by one. Rejects with DmEngineError (`sent: true`) when the worker died with the chain in it.
   * `reference`: the header of the device the chain must act on (lib/kernel/chain-check.ts
   * `referenceHeader`): every checked step, the first too, is compared with it (a chain then
   * takes one more engine slot: ask {@link canChain} for steps + 1).
   */
  async runChain(steps: readonly ChainCall[], reference?: Uint8Array): Promise<ChainOutcome[] | undefined> {
    const t = this.transport as Partial<ChainTransport>;
    if (this.blocking || typeof t.ioctlChain !== 'function') return undefined;
    for (const st of steps) this.#gate(st.command, st.ctx);
    const mark = this.#log?.mark() ?? 0;
    const reqs: Uint8Array[] = [];
    const own: Uint8Array[] = []; // encoded here: the caller's `encoded` buffers stay its own until sent
    let sent = false;
    let slotTaken = false;
    try {
      for (const st of steps) {
        const req = st.ctx.encoded ?? this.#encode(st.command, st.params as never, own);
        if (this.skipOpenCount) this.#skipBdget(st.command, req);
        reqs.push(req);
      }
      const stop = steps[0]?.ctx.stop;
      if (stop?.aborted) throw new DmAbortError(stop.reason);
      const queued = callSlots.take(stop);
      if (queued) await queued;
      slotTaken = true;
      if (stop?.aborted) throw new DmAbortError(stop.reason);
      const lane = steps[0]?.ctx.lane;
      const calls = steps.map((st, i) => ({ request: requestCode(st.command), buf: reqs[i]!, check: st.check ?? 0 }));
      const chain = reference ? t.ioctlChain(calls, lane, reference) : t.ioctlChain(calls, lane);
      if (!chain) return undefined;
      const traced = ioctlChannel.hasSubscribers ? steps.map((st, i) => ioctlStart(this.codec, st.command, reqs[i]!, st.params, 1, 'single')) : undefined;
      let results;
      try {
        results = await chain;
      } catch (e) {
        if (e instanceof DmEngineError && !e.sent) return undefined; // no step left the ring: the caller sends them one by one
        sent = true;
        throw e;
      }
      sent = true;
      return steps.map((st, i): ChainOutcome => {
        const r = results[i]!;
        if (!r.ran) return { ran: false };
        this.#bump(st.command);
        if (traced) publishIoctl(this.codec, traced[i]!, r.ret, r.errno, reqs[i]!);
        try {
          const reply = this.#finish(st.command, reqs[i]!, r, st.ctx, mark);
          if (reply === undefined) throw new DmError({ command: st.command, errno: ERRNO.ENOMEM, device: st.ctx.device, hint: 'the reply does not fit in a chain step\'s buffer' });
          return { ran: true, reply, mismatch: r.mismatch };
        } catch (error) {
          return { ran: true, error };
        }
      });
    } catch (e) {
      sent = true; // refused or failed before or after the ioctls: the buffers are done with
      throw e;
    } finally {
      if (slotTaken) callSlots.release();
      // Only once the chain has settled; a step not issued is wiped too (its request may hold keys).
      if (sent) steps.forEach((st, i) => { if (st.ctx.wipe && reqs[i]) reqs[i].fill(0); });
      for (const b of own) b.fill(0);
    }
  }

  /**
   * Encodes a request without sending it, so a multi-step operation can refuse bad input
   * before its first ioctl. Every buffer it made is wiped (it may hold key material).
   */
  check<C extends CommandName>(command: C, params: CommandRequests[C]): void {
    const used: Uint8Array[] = [];
    try {
      this.#encode(command, params, used);
    } finally {
      for (const b of used) b.fill(0);
    }
  }

  /**
   * Encodes a request into a buffer of its own, to be sent later by runAsync or runSync with
   * the same command and params as `ctx.encoded`: a multi-step operation refuses bad input
   * before its first ioctl and then sends the bytes it checked, so a keyed table is escaped,
   * copied and wiped once. The buffer is the caller's until it hands it to a call: wipe it
   * (`fill(0)`) if it never does.
   */
  encode<C extends CommandName>(command: C, params: CommandRequests[C]): Uint8Array {
    const used: Uint8Array[] = [];
    let req: Uint8Array | undefined;
    try {
      req = this.#encode(command, params, used);
      return req;
    } finally {
      for (const b of used) if (b !== req) b.fill(0);
    }
  }

  /**
   * Refuses a call before its ioctl: after close(), and when the kernel is known to be older
   * than the command's row in the command table says it needs (the only list of minimum
   * versions). Before the first reply the version is unknown and the kernel decides.
   */
  #gate(command: CommandName, ctx: CallContext): void {
    if (this.closed && !ctx.afterClose) {
      if (ctx.wipe) ctx.encoded?.fill(0);
      throw new DmClosedError('the device-mapper client');
    }
    const k = this.kernel;
    if (k) {
      const spec = commandSpec(command);
      if (compareVersions(k, spec.minVersion) < 0) {
        if (ctx.wipe) ctx.encoded?.fill(0);
        throw new DmUnsupportedError(spec.kernelName, spec.minVersion, k);
      }
    }
  }

  /**
   * libdevmapper's `dm_task_no_open_count` (dmsetup `--noopencount`): the flag goes on the
   * request as libdm's `_flatten` puts it; libdm's own version check never carries it, so
   * DM_VERSION does not either (the -vv lines then match dmsetup's: cli/verbose.ts).
   */
  #skipBdget(command: CommandName, req: Uint8Array): void {
    if (command === 'version') return;
    const view = viewOf(req);
    const le = this.codec.endian === 'little';
    const at = dmIoctl.offsetOf.flags;
    view.setUint32(at, (view.getUint32(at, le) | DM_SKIP_BDGET_FLAG) >>> 0, le);
  }

  #bump(command: CommandName): void {
    this.calls.set(command, (this.calls.get(command) ?? 0) + 1);
  }

  /**
   * Encodes a request: into a kept buffer when `reuse` names one and the request fits it
   * (`'scratch'`: the sync calls' scratch buffer; `'pool'`: a buffer of the batch pool, for
   * batch calls without `wipe`: infoMany, statusMany, names only, each back in the pool only
   * once its call has settled), else into a buffer of its own. Every buffer it writes into
   * is pushed to `used` before the write, so the caller's `finally` wipes (or returns) it
   * even when encoding throws half-way; the codec wipes its own copies of params itself.
   */
  #encode<C extends CommandName>(command: C, params: CommandRequests[C], used: Uint8Array[], reuse?: 'scratch' | 'pool'): Uint8Array {
    const bufferBytes = commandSpec(command).payload ? this.sizes.get(command) ?? this.#initial : undefined;
    const encode = this.codec.encodeRequest as (c: C, p: CommandRequests[C], o: EncodeOptions) => Uint8Array;
    if (reuse && (bufferBytes === undefined || bufferBytes <= SCRATCH_SIZE)) {
      const scratch = reuse === 'scratch';
      const buf = scratch ? this.#scratch ?? this.#makeScratch() : this.#batchBuffers.pop() ?? madeCopy(new Uint8Array(SCRATCH_SIZE));
      if (!used.includes(buf)) used.push(buf);
      try {
        // The codec zeroes everything after the payload: no byte of an earlier call survives.
        if (!scratch) return encode(command, params, { bufferBytes, into: buf });
        // A request without payload (no buffer size to honour, nothing after the header) is
        // exactly DM_IOCTL_SIZE bytes: encoded into the head, the same bytes of the scratch.
        const spec = commandSpec(command);
        return spec.request === 'none' && !spec.payload
          ? encode(command, params, this.#headEncode!)
          : encode(command, params, { bufferBytes, into: buf, intoView: this.#scratchView! });
      } catch (e) {
        // A request bigger than the kept buffer gets a buffer of its own.
        if (!(e instanceof DmCodecError && e.code === 'BUFFER_TOO_SMALL')) throw e;
      }
    }
    const req = encode(command, params, { bufferBytes });
    used.push(req);
    return req;
  }

  #makeScratch(): Uint8Array {
    const scratch = madeCopy(new Uint8Array(SCRATCH_SIZE));
    this.#scratch = scratch;
    this.#scratchView = viewOf(scratch);
    const head = scratch.subarray(0, DM_IOCTL_SIZE);
    const headView = viewOf(head);
    this.#head = head;
    this.#headEncode = { into: head, intoView: headView };
    this.#headDecode = { view: headView };
    this.#scratchDecode = { view: this.#scratchView };
    return scratch;
  }

  /** The kept decode options (a DataView made once) when `req` is the scratch buffer or its head, else undefined (the codec makes a view). */
  #decodeOptions(req: Uint8Array): DecodeOptions | undefined {
    return req === this.#head ? this.#headDecode : req === this.#scratch ? this.#scratchDecode : undefined;
  }

  /**
   * The reply's outcome: a DmError, undefined for a retry with a bigger buffer, or the reply.
   * `decode`: options with a DataView over exactly `req`, when the caller keeps one.
   */
  #finish<C extends CommandName>(command: C, req: Uint8Array, r: IoctlResult, ctx: CallContext, mark: number, decode?: DecodeOptions): CommandReplies[C] | undefined {
    try {
      if (r.ret !== 0) {
        if (r.ret < 0 && !NO_VERSION_WRITTEN.has(r.errno)) this.#learn(req);
        const { own, other } = this.#kernelLines(command, req, ctx, mark);
        throw new DmError({
          command,
          errno: r.ret < 0 ? r.errno : 0,
          ret: r.ret > 0 ? r.ret : undefined,
          device: ctx.device,
          // On failure the kernel wrote back only its version: the rest is our request.
          request: { ...snapshot(this.codec.decodeHeader(req)), version: commandSpec(command).minVersion },
          kernelLog: own && ctx.scrubLog ? ctx.scrubLog(own) : own,
          unattributedKernelLog: other && ctx.scrubLog ? ctx.scrubLog(other) : other,
          hint: typeof ctx.hint === 'function' ? ctx.hint({ errno: r.ret < 0 ? r.errno : 0, kernelLog: own ?? [] }) : ctx.hint,
        });
      }
      this.#learnVersion(this.codec.readVersion(req, decode));
      const reply = this.codec.decodeReply(command, req, decode);
      if ((reply as { bufferFull?: boolean }).bufferFull) {
        const size = req.length;
        if (size >= DM_MAX_DATA_SIZE) {
          throw new DmError({ command, errno: ERRNO.ENOMEM, device: ctx.device, hint: 'the reply does not fit in 1 GiB' });
        }
        this.sizes.set(command, Math.min(size * 2, DM_MAX_DATA_SIZE));
        return undefined;
      }
      if (commandSpec(command).payload) this.sizes.set(command, req.length);
      return reply;
    } finally {
      // Wiped at once: a BUFFER_FULL retry allocates a new buffer and this one is done.
      if (ctx.wipe) req.fill(0);
    }
  }

  /**
   * The kernel lines of a failed call: those that name its device (docs/kernel-facts.md,
   * "Kernel log lines"), and the rest of its window. The kernel writes nothing but its
   * version back on failure, so a call addressed by name or uuid does not know its number:
   * when some line names a device by number (or by name, for a call by uuid or number),
   * one DM_DEV_STATUS by the same id learns it — only on failure, only when there are such
   * lines, never for create (a device found by that name is not the one the call made).
   * Best effort: if the lookup fails, lines by number stay unattributed.
   */
  #kernelLines(command: CommandName, req: Uint8Array, ctx: CallContext, mark: number): { own?: string[]; other?: string[] } {
    if (!this.#log) return {};
    const lines = this.#log.since(mark);
    const cap = (l: string[]) => l.slice(-KERNEL_LINES);
    if (lines.length === 0 || !ctx.device) return { own: [], other: cap(lines) };
    const h = this.codec.decodeHeader(req); // the request: what the kernel looked the device up by
    const device: CallDevice = { name: h.name || undefined, uuid: h.uuid || undefined, dev: h.dev ? decodeDev(h.dev) : undefined };
    const { byNumber, byName } = deviceMentions(lines);
    if (command !== 'create' && ((byNumber && !device.dev) || (byName && device.name === undefined))) {
      const id: DeviceId | undefined = device.uuid ? { uuid: device.uuid } : device.name ? { name: device.name } : device.dev ? { dev: device.dev } : undefined;
      const found = id && this.#lookup(id);
      if (found) {
        device.dev ??= found.dev;
        device.name ??= found.name;
      }
    }
    const { own, other } = attributeLines(lines, device, ctx.message);
    return { own: cap(own), other: cap(other) };
  }

  /** DM_DEV_STATUS outside the error path: undefined on any failure (never throws, never logs as a call). */
  #lookup(id: DeviceId): { name: string; dev: { major: number; minor: number } } | undefined {
    try {
      const req = this.codec.encodeRequest('info', { id });
      this.#bump('info');
      const traced = ioctlChannel.hasSubscribers ? ioctlStart(this.codec, 'info', req, { id }, 1, 'sync') : undefined;
      const r = this.transport.ioctl(requestCode('info'), req);
      if (traced) publishIoctl(this.codec, traced, r.ret, r.errno, req);
      if (r.ret !== 0) return undefined;
      const { name, dev } = this.codec.decodeReply('info', req).device;
      return { name, dev };
    } catch {
      return undefined;
    }
  }

  #learn(reply: Uint8Array): void {
    this.#learnVersion(this.codec.readVersion(reply));
  }

  #learnVersion(v: Version): void {
    if (v[0] === 4) this.kernel = v;
  }
}

export function snapshot(h: ReturnType<DmCodec['decodeHeader']>): HeaderSnapshot {
  return {
    version: h.version, data_size: h.data_size, data_start: h.data_start, target_count: h.target_count,
    open_count: h.open_count, flags: h.flags, event_nr: h.event_nr, dev: h.dev, name: h.name, uuid: h.uuid,
  };
}

export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}
