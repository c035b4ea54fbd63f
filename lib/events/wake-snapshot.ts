/**
 * One snapshot per device per wake-up for `wait()`: when one event wakes many waiters of a
 * device, they share one DM_DEV_STATUS (the event-number check) and one status/table ioctl
 * (the reply), instead of one of each per waiter. bench:live measured 1,000 waits woken by
 * one rename at 3.0 s with an ioctl pair per waiter.
 *
 * Sharing must not change what a waiter sees. A waiter may use a check only if it was made
 * after the waiter started (its `ticket`) and after the poller's arm of the same generation:
 * then it is exactly the check the waiter would have made itself. Checks are dropped at the
 * next macrotask, so a snapshot never outlives the wake-up that made it. A reply is shared
 * only while its ioctl is in flight (it may carry table text with keys: nothing keeps it).
 */
import type { DeviceInfo } from '../../codec/index.js';

interface Check { readonly gen: number; readonly ticket: number; readonly result: DeviceInfo | { error: unknown } }

export class WakeSnapshots {
  #ticket = 0;
  readonly #checks = new Map<number, Check>();
  readonly #replies = new Map<number, Promise<unknown>>();
  #list: { gen: number; value: unknown } | undefined;
  #clearing = false;

  /** A waiter's start: checks made before this are not its own. */
  ticket(): number {
    return ++this.#ticket;
  }

  /** The device check for `gen`, shared by waiters that started before it was made. */
  check(key: number, gen: number, since: number, run: () => DeviceInfo): DeviceInfo {
    const c = this.#checks.get(key);
    if (c && c.gen === gen && c.ticket > since) {
      if ('error' in c.result) throw c.result.error;
      return c.result;
    }
    const ticket = ++this.#ticket;
    let result: Check['result'];
    try {
      result = run();
    } catch (error) {
      result = { error };
    }
    this.#checks.set(key, { gen, ticket, result });
    this.#clearSoon();
    if ('error' in result) throw result.error;
    return result;
  }

  /**
   * The LIST snapshot of `events()` streams woken by the same event (poller generation
   * `gen`): one DM_LIST_DEVICES for all of them. Made after that generation's arm, and
   * dropped at the next macrotask like the checks.
   */
  list<T>(gen: number, run: () => T): T {
    const c = this.#list;
    if (c && c.gen === gen) return c.value as T;
    const value = run();
    this.#list = { gen, value };
    this.#clearSoon();
    return value;
  }

  /** One ioctl for every waiter asking for the same reply while it is in flight. */
  reply<T>(key: number, run: () => Promise<T>): Promise<T> {
    const p = this.#replies.get(key);
    if (p) return p as Promise<T>;
    const q = run().finally(() => this.#replies.delete(key));
    this.#replies.set(key, q);
    return q;
  }

  #clearSoon(): void {
    if (this.#clearing) return;
    this.#clearing = true;
    setImmediate(() => {
      this.#clearing = false;
      this.#checks.clear();
      this.#list = undefined;
    }).unref();
  }
}
