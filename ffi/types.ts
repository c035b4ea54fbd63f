/**
 * Pure types shared by the FFI layer and its callers. Nothing here loads koffi,
 * so higher layers (and their tests) can depend on these shapes without touching
 * native code.
 *
 * @module
 */

/**
 * The raw outcome of one system call.
 *
 * `ret` is the C return value. `errno` is the thread's errno captured right after
 * the call when `ret` is negative, and 0 otherwise: errno is not reset by
 * successful calls, so a value read after success would be stale noise.
 */
export interface IoctlResult {
  ret: number;
  errno: number;
}

/**
 * What an async ioctl is, as its caller knows it; the transport picks its thread by it
 * (`asyncPath`, ffi/control.ts). `'single'` (the default): one call on its own;
 * `'batch'`: one of many submitted together (infoMany, statusMany); `'wait'`: DM_DEV_WAIT,
 * which the kernel may park until the device's next event (never on the ioctl engine).
 */
export type AsyncCallKind = 'single' | 'batch' | 'wait';

/**
 * An open handle on the device-mapper control node (or any node that takes
 * ioctls, e.g. `/dev/null` in tests).
 *
 * The buffer passed to {@link ControlTransport.ioctl} is handed to the kernel in
 * place: the kernel reads the request from it and writes the reply into it.
 */
export interface ControlTransport {
  /** The file descriptor, or -1 once closed. */
  readonly fd: number;
  /** Synchronous `ioctl(fd, request, buf)`; blocks the JS thread for the call. */
  ioctl(request: number, buf: Uint8Array): IoctlResult;
  /**
   * `ioctl(fd, request, buf)` off the JS thread: on the ioctl engine's worker or a libuv
   * pool thread, chosen by the transport's `asyncPath` and the call's `kind`. Neither read
   * nor write `buf` until the promise settles: the kernel may be writing into it. `lane`
   * (a non-negative integer; removeMany and createMany give each device in flight its own):
   * single calls of different lanes may run on different kernel-facing threads at once, so
   * that calls which sleep in the kernel (a removal's grace period) overlap; a transport may
   * ignore it.
   */
  ioctlAsync(request: number, buf: Uint8Array, kind?: AsyncCallKind, lane?: number): Promise<IoctlResult>;
  /** Closes the descriptor. Idempotent; later ioctls throw `DmClosedError`. */
  close(): void;
}

/** One step of a chain (ffi/engine.ts `ioctlChain`): an ioctl, and whether and how its reply is checked against the first step's. */
export interface ChainStep {
  readonly request: number;
  readonly buf: Uint8Array;
  /** Trusted-field bits of this step's reply (1 name, 2 uuid, 4 dev); 0 or absent: not checked. */
  readonly check?: number;
}

/** What became of one step of a chain. */
export interface ChainStepResult extends IoctlResult {
  /** Whether the worker issued this step (a step after a failure or a mismatch is not issued). */
  readonly ran: boolean;
  /** The identity check's verdict on this step's reply: 0 the same device, else the field that differs (1 uuid, 2 dev, 3 name). */
  readonly mismatch: number;
}

/**
 * Package-internal (not part of {@link ControlTransport}'s public shape): a transport that can
 * run a compound operation's ioctls as one chain on the ioctl engine's thread, so the main
 * thread hops once per operation instead of once per ioctl.
 */
export interface ChainTransport {
  /**
   * Submits `steps` as one chain, or returns undefined (nothing sent) when this transport
   * cannot run it on the engine now (the pool path, the engine not started or dead, a buffer
   * larger than a slot): the caller then issues the steps one by one. Rejects with
   * `DmEngineError` when the worker dies (`sent: false`: no step reached the kernel).
   * `reference`: the expected device's header, every checked step (the first too) compared
   * with it instead of with the first step's reply (ffi/engine.ts `ioctlChain`).
   */
  ioctlChain(steps: readonly ChainStep[], lane?: number, reference?: Uint8Array): Promise<ChainStepResult[]> | undefined;
  /**
   * Whether a chain of `steps` steps (on `lane`'s engine, when given) would go to the engine
   * now; with `asyncPath: 'engine'` (or a lane) it starts the engine when it is not yet
   * running, under 'auto' only an engine a batch started serves. The caller asks before it begins a
   * chained operation, so one that cannot chain goes step by step from its start.
   */
  chainReady(steps: number, lane?: number): boolean;
}

/**
 * Package-internal, like {@link ChainTransport}: a transport whose ioctl engine can be started
 * before its first call (`DeviceMapper.open({ engine: 'eager' })`).
 */
export interface EngineStarter {
  /**
   * Starts the worker of the engine this transport's calls would use (not a lane's), without
   * waiting for it: the call returns at once and the worker loads koffi in the background.
   * Does nothing under `asyncPath: 'pool'`, where the engine cannot run, or when it was started
   * (or failed to start) before.
   */
  startEngine(): void;
}

/**
 * `poll(2)` bound through the FFI, on an array of `struct pollfd` the caller encoded
 * (lib/kernel/syscall-structs.ts, from the layout in codec/syscall-records.ts); the kernel writes
 * `revents` into it. The sync form blocks the JS thread; the async form parks a libuv pool
 * thread for up to `timeoutMs` (see `pollAsync` in control.ts for the one-waiter rule).
 */
export interface RawPoller {
  poll(pollfds: Uint8Array, nfds: number, timeoutMs: number): IoctlResult;
  pollAsync(pollfds: Uint8Array, nfds: number, timeoutMs: number): Promise<IoctlResult>;
}

/**
 * A self-pipe used to wake a thread parked in `poll(2)`: the poller includes
 * `readFd` in its set, and anyone may call `signal()` to make it return.
 */
export interface CancelPipe {
  /** Non-blocking, close-on-exec read end (-1 once closed). Poll this for POLLIN. */
  readonly readFd: number;
  /** Non-blocking, close-on-exec write end (-1 once closed). */
  readonly writeFd: number;
  /** Writes one byte. A full pipe is fine: it is already signalled. */
  signal(): void;
  /** Reads until the pipe is empty; returns the number of bytes consumed. */
  drain(): number;
  /** Closes both ends. Idempotent. */
  close(): void;
}

/** `poll(2)` event bits (identical on every Linux architecture). */
export const POLLIN = 0x001;
export const POLLPRI = 0x002;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;
