/**
 * One 'abort' listener per AbortSignal, however many waits share the signal.
 *
 * Node warns (MaxListenersExceededWarning) once more than 10 listeners are on one
 * EventTarget, and addEventListener/removeEventListener are the largest per-waiter cost of
 * parking 1,000 waits (bench/wake-path.bench.ts). A caller passing one signal to many
 * `wait()`s or `events()` streams is normal use, so the waits of a signal register in a Set
 * here, and the one listener calls each of them when the signal aborts. The listener is
 * removed when the last registration goes, so a long-lived signal keeps nothing.
 */

type Group = { readonly fns: Set<() => void>; readonly listener: () => void };
const groups = new WeakMap<AbortSignal, Group>();

/**
 * Calls `fn` once when `signal` aborts; the returned function unregisters it. The signal
 * must not be aborted yet (its 'abort' event will not fire again): callers check first.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let g = groups.get(signal);
  if (!g) {
    const fns = new Set<() => void>();
    const listener = (): void => {
      groups.delete(signal);
      for (const f of fns) f(); // each waiter's own rejection; deleting while iterating is safe
      fns.clear();
    };
    g = { fns, listener };
    groups.set(signal, g);
    signal.addEventListener('abort', listener, { once: true });
  }
  const group = g;
  // Each call is a registration of its own: the same function again gets a wrapper, else
  // the Set would hold it once (one call on abort, and either unregister removes both).
  const entry = group.fns.has(fn) ? (): void => fn() : fn;
  group.fns.add(entry);
  return () => {
    if (!group.fns.delete(entry) || group.fns.size > 0 || groups.get(signal) !== group) return;
    groups.delete(signal);
    signal.removeEventListener('abort', group.listener);
  };
}
