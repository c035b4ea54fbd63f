/**
 * One shared event poller per client: a dedicated control fd armed with DM_DEV_ARM_POLL
 * and polled (with a cancel pipe) on at most one libuv pool thread, however many waiters
 * there are. Waiters never block a thread of their own.
 *
 * Race-freedom: a waiter calls `ready()`, which resolves only while the fd is armed, then
 * checks the device, then awaits `next(gen)`. Any event after the arm makes poll()
 * return, which bumps `gen` and re-arms before waking waiters, so an event that lands
 * between a waiter's check and its sleep is never lost. The fd is re-armed only after an
 * event, never after a cancel: events that happened while poll was being cancelled are
 * still pending on the fd and make the next poll return at once.
 */
import type { Backend, Watcher } from '../kernel/backend.js';
import { onAbort } from './abort-fanout.js';
import { DmAbortError, DmClosedError } from '../errors.js';

interface EventWaiter { gen: number; resolve: (gen: number) => void; reject: (e: unknown) => void }
interface ArmWaiter { resolve: (gen: number) => void; reject: (e: unknown) => void }

export class SharedPoller {
  #watcher: Watcher | undefined;
  #opening: Promise<Watcher> | undefined;
  #interest = 0;
  #gen = 0;
  #armed = false;
  #running = false;
  #closed = false;
  #armWaiters: ArmWaiter[] = [];
  #eventWaiters = new Set<EventWaiter>();
  /** Number of poll() calls made so far (observability for tests and benchmarks). */
  polls = 0;

  constructor(private readonly backend: Backend) {}

  /** Registers interest; the poller runs while anyone is interested. Pair with release(). */
  acquire(): void {
    if (this.#closed) throw new DmClosedError('the device-mapper client');
    this.#interest++;
  }

  release(): void {
    if (--this.#interest === 0) this.#watcher?.cancel();
  }

  /** Whether a poll is currently parked (holding a pool thread). */
  get active(): boolean { return this.#running; }

  /** Resolves with the current generation once the fd is armed; rejects with DmAbortError once `signal` aborts. */
  ready(signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(new DmAbortError(signal.reason));
    if (this.#armed) return Promise.resolve(this.#gen);
    if (this.#closed) return Promise.reject(new DmClosedError('the device-mapper client'));
    const p = new Promise<number>((resolve, reject) => {
      const w: ArmWaiter = { resolve, reject };
      if (signal) {
        const off = onAbort(signal, () => {
          const i = this.#armWaiters.indexOf(w);
          if (i >= 0) this.#armWaiters.splice(i, 1);
          reject(new DmAbortError(signal.reason));
        });
        w.resolve = (g: number) => { off(); resolve(g); };
        w.reject = (e: unknown) => { off(); reject(e); };
      }
      this.#armWaiters.push(w);
    });
    this.#start();
    return p;
  }

  /**
   * Resolves once an event happened after the arm that produced generation `gen`, with the
   * generation of the re-arm that followed it: the fd is armed again when this resolves,
   * so the caller may check and call next() with it without a ready() in between.
   */
  next(gen: number, signal?: AbortSignal): Promise<number> {
    if (this.#gen > gen && this.#armed) return Promise.resolve(this.#gen);
    if (this.#closed) return Promise.reject(new DmClosedError('the device-mapper client'));
    if (this.#gen > gen) return this.ready(signal);
    if (signal?.aborted) return Promise.reject(new DmAbortError(signal.reason));
    return new Promise<number>((resolve, reject) => {
      const w: EventWaiter = { gen, resolve, reject };
      if (signal) {
        const off = onAbort(signal, () => {
          this.#eventWaiters.delete(w);
          reject(new DmAbortError(signal.reason));
        });
        w.resolve = (g: number) => { off(); resolve(g); };
        w.reject = (e: unknown) => { off(); reject(e); };
      }
      this.#eventWaiters.add(w);
      this.#start();
    });
  }

  #start(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#loop().catch((e) => this.#fail(e));
  }

  async #loop(): Promise<void> {
    try {
      const watcher = await this.#open();
      this.#arm(watcher);
      while (!this.#closed && (this.#interest > 0 || this.#armWaiters.length > 0)) {
        this.polls++;
        const r = await watcher.wait();
        if (r === 'event') {
          this.#arm(watcher); // re-arm first: waiters woken below check after this arm
          this.#gen++;
          // Every parked waiter's gen is below the new one (next() parks only gen ≥ the
          // current one, which was the current one until now): all wake.
          const ws = this.#eventWaiters;
          this.#eventWaiters = new Set();
          for (const w of ws) w.resolve(this.#gen);
        }
      }
    } finally {
      this.#armed = false;
      this.#running = false;
    }
    // Interest may have come back while the loop was winding down.
    if (!this.#closed && (this.#interest > 0 || this.#armWaiters.length > 0)) this.#start();
  }

  #arm(watcher: Watcher): void {
    watcher.arm();
    this.#armed = true;
    const ws = this.#armWaiters.splice(0);
    for (const w of ws) w.resolve(this.#gen);
  }

  async #open(): Promise<Watcher> {
    if (this.#watcher) return this.#watcher;
    this.#opening ??= this.backend.openWatcher();
    try {
      this.#watcher = await this.#opening;
    } finally {
      this.#opening = undefined;
    }
    if (this.#closed) { this.#watcher.close(); throw new DmClosedError('the device-mapper client'); }
    return this.#watcher;
  }

  #fail(e: unknown): void {
    for (const w of this.#armWaiters.splice(0)) w.reject(e);
    for (const w of this.#eventWaiters) w.reject(e);
    this.#eventWaiters.clear();
  }

  /** Stops the poller and releases its fd, pipe and pool thread. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = new DmClosedError('the device-mapper client');
    this.#fail(err);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
