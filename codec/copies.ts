/**
 * The buffers the package makes that may hold table params or message text (escaped and
 * UTF-8 copies, request buffers, built key bytes) pass through `madeCopy`, so a test can
 * observe every one of them and prove it is zero-filled once the call is over
 * (spec/lib/secrets-canary.spec.ts). Not part of the public API; with no observer it
 * costs one size check per buffer.
 */
type Observer = (buffer: Uint8Array) => void;
const observers = new Set<Observer>();

/** Registers `fn` for every buffer made from now on; returns the function that unregisters it. */
export function observeCopies(fn: Observer): () => void {
  observers.add(fn);
  return () => { observers.delete(fn); };
}

/** Reports a buffer the package just made; returns it. */
export function madeCopy<T extends Uint8Array>(buffer: T): T {
  if (observers.size) for (const fn of observers) fn(buffer);
  return buffer;
}
