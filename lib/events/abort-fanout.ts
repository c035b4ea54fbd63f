/**
 * One 'abort' listener per AbortSignal, however many calls share the signal.
 *
 * Node warns (MaxListenersExceededWarning) once more than ten listeners are on one
 * EventTarget, and addEventListener/removeEventListener are the largest per-waiter cost of
 * parking 1,000 waits (bench/wake-path.bench.ts). A caller passing one signal to many
 * calls, `wait()`s or `events()` streams is normal use, and the client's closing signal is
 * shared by every operation in flight, so whatever waits on a signal the package does not
 * own for this call alone registers in a Set here, and the one listener calls each of them
 * when the signal aborts. The listener is removed when the last registration goes, so a
 * long-lived signal keeps nothing.
 *
 * `AbortSignal.any()` is no substitute on a long-lived signal: Node keeps a weak reference
 * to every signal made from it in the source signal, for as long as the source lives, so a
 * client's closing signal (or a user's, shared by many calls) would gather one per call.
 * {@link linkedSignal} joins signals through this fan-out and lets go when the call ends.
 */

import { DmAbortError } from '../errors.js';

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

/** A signal of one call that follows others; {@link LinkedSignal.release} unregisters it from them. */
export interface LinkedSignal {
  /** Aborted, with the source's reason, when the first of the sources aborts (at once if one already has). */
  readonly signal: AbortSignal;
  /** Ends the link: nothing of this call stays on the sources. Idempotent. */
  release(): void;
}

/**
 * A signal that aborts when any of `sources` does, registered on each through
 * {@link onAbort} (one listener per source however many calls link to it), and let go by
 * `release()` when the call ends. `own`, when given, is the call's own controller: the
 * returned signal is its signal (a timer of the call aborts it too).
 */
export function linkedSignal(sources: readonly (AbortSignal | undefined)[], own: AbortController = new AbortController()): LinkedSignal {
  const offs: (() => void)[] = [];
  const release = (): void => { for (const off of offs.splice(0)) off(); };
  for (const s of sources) {
    if (!s) continue;
    if (s.aborted) {
      release();
      if (!own.signal.aborted) own.abort(s.reason);
      break;
    }
    offs.push(onAbort(s, () => { release(); if (!own.signal.aborted) own.abort(s.reason); }));
  }
  return { signal: own.signal, release };
}

/**
 * `p`, or a rejection with `DmAbortError` once `signal` aborts, whichever comes first. `p`
 * itself goes on (a kernel call under way finishes in the kernel); its outcome is then
 * dropped.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new DmAbortError(signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(signal, () => reject(new DmAbortError(signal.reason)));
    p.then((v) => { off(); resolve(v); }, (e: unknown) => { off(); reject(e); });
  });
}
