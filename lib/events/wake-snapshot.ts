/**
 * One snapshot per device per wake-up for `wait()`: when one event wakes many waiters of a
 * device, they share one DM_DEV_STATUS (the event-number check) and one status/table ioctl
 * (the reply), instead of one of each per waiter. bench:live measured 1,000 waits woken by
 * one rename at 3.0 s with an ioctl pair per waiter.
 *
 * Sharing must not change what a waiter sees (docs/events.md, "Which DEV_WAIT reply a waiter
 * may take"). A waiter may use a check only if it was made after the waiter started (its
 * `ticket`) and after the poller's arm of the same generation: then it is exactly the check
 * the waiter would have made itself. It may take a reply only if that reply's ioctl was
 * issued after the check it acted on: then the reply describes the device at or after the
 * moment the waiter saw its event number move, as its own DEV_WAIT would. A reply issued
 * earlier (for a waiter woken by an older event) can predate the event that woke this one,
 * and carry the very event number this waiter is waiting to see change. Checks are dropped at
 * the next macrotask, so a snapshot never outlives the wake-up that made it. A reply is shared
 * only while its ioctl is in flight (it may carry table text with keys: nothing keeps it).
 */
import type { DeviceInfo } from '../../codec/index.js';

/** A device check: the device (or the error the lookup threw), and when it was made. */
export interface Check {
  readonly gen: number;
  /** Its place in this client's order of checks, replies and waiter starts. */
  readonly ticket: number;
  readonly result: DeviceInfo | { error: unknown };
}

interface Reply { readonly ticket: number; readonly promise: Promise<unknown> }

export class WakeSnapshots {
  #ticket = 0;
  readonly #checks = new Map<number, Check>();
  readonly #replies = new Map<number, Reply>();
  #list: { gen: number; value: unknown } | undefined;
  #clearing = false;

  /** A waiter's start: checks made before this are not its own. */
  ticket(): number {
    return ++this.#ticket;
  }

  /**
   * The device check for `gen`, shared by waiters that started before it was made; throws
   * what the lookup threw. Its `ticket` is what {@link WakeSnapshots.reply} needs.
   */
  check(key: number, gen: number, since: number, run: () => DeviceInfo): Check & { readonly result: DeviceInfo } {
    let c = this.#checks.get(key);
    // A failed check is not shared: each waiter throws an error of its own (its own stack,
    // and nothing one caller sets on it is seen by another); failing again costs as little.
    if (!c || c.gen !== gen || c.ticket <= since || 'error' in c.result) {
      const ticket = ++this.#ticket;
      let result: Check['result'];
      try {
        result = run();
      } catch (error) {
        result = { error };
      }
      c = { gen, ticket, result };
      this.#checks.set(key, c);
      this.#clearSoon();
    }
    if ('error' in c.result) throw c.result.error;
    return c as Check & { readonly result: DeviceInfo };
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

  /**
   * One ioctl for every waiter asking for the same reply while it is in flight, among those
   * whose check (ticket `after`) came before that ioctl was issued; a waiter whose check is
   * newer issues its own, which later waiters then join. Only a success is shared: when the
   * shared ioctl fails, each sharer issues its own.
   */
  reply<T>(key: number, after: number, run: () => Promise<T>): Promise<T> {
    const r = this.#replies.get(key);
    // A sharer whose shared call failed makes its own, for an error of its own (see check()).
    if (r && r.ticket > after) return (r.promise as Promise<T>).catch(() => run());
    // Taken before run(): its ioctl goes out after this point, never before.
    const ticket = ++this.#ticket;
    const entry: { ticket: number; promise: Promise<T> } = { ticket, promise: undefined as unknown as Promise<T> };
    entry.promise = run().finally(() => {
      if (this.#replies.get(key) === entry) this.#replies.delete(key);
    });
    this.#replies.set(key, entry);
    return entry.promise;
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
