/**
 * The simulator's file descriptors: the control transport a client's runner calls and the
 * watcher its event poller parks on. They hold the per-fd state (armed event number,
 * closed) and the sleeping of DEV_WAIT and poll(); the kernel itself (simulator.ts) only
 * processes ioctls and tells its listeners that something happened.
 */
import { ERRNO } from '../ffi/errors.js';
import { DmClosedError } from '../lib/index.js';
import type { ControlTransport, IoctlResult, Watcher } from '../lib/index.js';
import { blockFor, holdEventLoop, sleep } from './keep-alive.js';

/** One open control fd as the kernel sees it (DM_DEV_ARM_POLL state lives on the fd). */
export interface SimFd {
  /** The global event number DM_DEV_ARM_POLL last armed this fd at. */
  armedEventNr: number;
  /** Closed: calls on it fail. */
  closed: boolean;
}

/**
 * What the transport and the watcher need from the kernel. The kernel hands its own port
 * over (its private state stays private); `before`/`after` run its interceptors.
 */
export interface SimKernelPort {
  globalEventNr(): number;
  /** Processes one ioctl (never intercepted). */
  ioctl(request: number, buf: Uint8Array, fd: SimFd): IoctlResult;
  /**
   * Whether the call would sleep in the kernel now, and on what: `event` (DM_DEV_WAIT for an
   * event that has not happened yet) or `io` (a DM_DEV_REMOVE whose target must write to a
   * device that cannot take I/O: it, or a device below it, is suspended).
   */
  sleeps(request: number, buf: Uint8Array): 'event' | 'io' | undefined;
  before(label: string | undefined, request: number, buf: Uint8Array): unknown;
  /** A fault an interceptor injects into this call (simFaults()), decided after `before`. */
  fault(token: unknown): { readonly errno?: number; readonly delayMs?: number } | undefined;
  /** The reply of an injected failure (the version written back, as check_version() does). */
  injected(buf: Uint8Array, errno: number): IoctlResult;
  after(token: unknown, r: IoctlResult): void;
  /** Runs `l` on every change of kernel state that may end a wait, until removed. */
  addListener(l: () => void): void;
  removeListener(l: () => void): void;
  fdOpened(): void;
  fdClosed(): void;
}

/** A control fd: sync calls never sleep (DEV_WAIT on no event gives EAGAIN), async ones may. */
export function simTransport(kernel: SimKernelPort, label: string | undefined, alive: () => boolean = () => true): ControlTransport {
  const fd: SimFd = { armedEventNr: kernel.globalEventNr(), closed: false };
  kernel.fdOpened();
  // A killed process's calls never reach the kernel (testing/sim-processes.ts).
  const dead: IoctlResult = { ret: -1, errno: ERRNO.EIO };
  return {
    get fd() { return fd.closed ? -1 : 1000; },
    ioctl(request, buf) {
      if (fd.closed) throw new DmClosedError('simulated control transport');
      if (!alive()) return dead;
      const event = kernel.before(label, request, buf);
      const fault = kernel.fault(event);
      if (fault?.delayMs) blockFor(fault.delayMs);
      const r = fault?.errno !== undefined ? kernel.injected(buf, fault.errno)
        : callSync(kernel, request, buf, fd);
      kernel.after(event, r);
      return r;
    },
    async ioctlAsync(request, buf) {
      if (fd.closed) throw new DmClosedError('simulated control transport');
      await new Promise((r) => setImmediate(r)); // the pool hop
      if (!alive()) return dead;
      const event = kernel.before(label, request, buf);
      const fault = kernel.fault(event);
      if (fault?.delayMs) await sleep(fault.delayMs);
      const r = fault?.errno !== undefined ? kernel.injected(buf, fault.errno)
        : await callAsync(kernel, request, buf, fd);
      kernel.after(event, r);
      return r;
    },
    close() {
      if (!fd.closed) { fd.closed = true; kernel.fdClosed(); }
    },
  };
}

/**
 * A synchronous call cannot sleep: DEV_WAIT fails with EAGAIN instead; a remove that would
 * wait for I/O would hang the calling thread in the real kernel, so here it fails loudly
 * rather than pretend to have finished.
 */
function callSync(kernel: SimKernelPort, request: number, buf: Uint8Array, fd: SimFd): IoctlResult {
  const sleeps = kernel.sleeps(request, buf);
  if (sleeps === 'event') return { ret: -1, errno: ERRNO.EAGAIN };
  if (sleeps === 'io') throw new Error('simulated kernel: this synchronous DM_DEV_REMOVE would sleep in the kernel until a suspended device below is resumed');
  return kernel.ioctl(request, buf, fd);
}

/** An async call parks (holding a pool thread) until the kernel's state lets it go on, as the kernel's sleep would. */
async function callAsync(kernel: SimKernelPort, request: number, buf: Uint8Array, fd: SimFd): Promise<IoctlResult> {
  while (kernel.sleeps(request, buf)) {
    await new Promise<void>((resolve) => {
      const release = holdEventLoop(); // a parked call holds a pool thread (keep-alive.ts)
      const l = () => { kernel.removeListener(l); release(); resolve(); };
      kernel.addListener(l);
    });
  }
  return kernel.ioctl(request, buf, fd);
}

/** The event poller's fd: DM_DEV_ARM_POLL + poll() on the global event number. */
export function simWatcher(kernel: SimKernelPort): Watcher {
  const fd: SimFd = { armedEventNr: kernel.globalEventNr(), closed: false };
  kernel.fdOpened();
  let cancel: (() => void) | undefined;
  let cancelled = false;
  // As the real watcher: a closed one refuses use with DmClosedError (a wait already
  // pending when it closes resolves 'cancelled', which is how close() wakes it).
  const open = () => { if (fd.closed) throw new DmClosedError('simulated event watcher'); };
  return {
    arm: () => { open(); fd.armedEventNr = kernel.globalEventNr(); },
    check: () => { open(); return kernel.globalEventNr() !== fd.armedEventNr; },
    wait: () => new Promise((resolve) => {
      open();
      const check = () => {
        if (kernel.globalEventNr() !== fd.armedEventNr) { done(); resolve('event'); }
        else if (cancelled) { cancelled = false; done(); resolve('cancelled'); }
      };
      const release = holdEventLoop(); // a parked poll() holds a pool thread (keep-alive.ts)
      const done = () => { kernel.removeListener(check); cancel = undefined; release(); };
      cancel = check;
      kernel.addListener(check);
      // Like poll(), a wait returns at once for events that happened after the last arm.
      queueMicrotask(check);
    }),
    cancel: () => { cancelled = true; const c = cancel; if (c) queueMicrotask(c); },
    close: () => {
      if (fd.closed) return;
      fd.closed = true;
      kernel.fdClosed();
      cancelled = true;
      const c = cancel;
      if (c) queueMicrotask(c);
    },
  };
}
