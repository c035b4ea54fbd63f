/**
 * The simulator's stand-in for the libuv pool thread that a real parked wait holds.
 *
 * On the real backend a shared poller's `poll()` and a `DM_DEV_WAIT` run on koffi's async
 * path, which keeps Node's event loop alive until they return: a lone `dm.wait()` or a
 * `for await (… of dm.events())` keeps the process running. The simulator parks those
 * waits on promises, which hold nothing, so Node would exit (code 13, "unsettled top-level
 * await") with the wait still pending. Each parked simulated wait therefore holds one ref'd
 * timer until it settles. `events({ ref: false })` never parks a wait (it checks on an
 * unref'd timer), so it still lets the process exit, as on the real backend.
 */

/** The longest delay a Node timer takes without clamping to one millisecond (2^31 - 1). */
const FOREVER_MS = 0x7fffffff;

/** Holds the event loop open until the returned function is called (idempotent). */
export function holdEventLoop(): () => void {
  const timer = setInterval(() => {}, FOREVER_MS);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    clearInterval(timer);
  };
}

/** An injected delay of an async call: a ref'd timer, as the call's pool thread would hold the loop. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An injected delay of a sync call: the thread blocks, as a sleeping ioctl would block it. */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
