/**
 * An async iterator read ahead of its consumer by up to `depth` items: the delta walks two
 * mapping streams, and reading each one's next block while the other's is awaited overlaps
 * their waits on the file. Memory is `depth` items; an error is delivered in order; `return()`
 * stops the pump and closes the source.
 */
export function readAhead<T>(source: AsyncIterable<T>, depth: number): AsyncIterableIterator<T> & { close(): Promise<void> } {
  const it = source[Symbol.asyncIterator]();
  const queue: IteratorResult<T>[] = [];
  let failure: { error: unknown } | undefined;
  let pumping: Promise<void> | undefined;
  let stopped = false;
  let ended = false;
  let wake: (() => void) | undefined;
  let space: (() => void) | undefined;

  const pump = async () => {
    try {
      while (!stopped && !ended) {
        if (queue.length >= depth) {
          await new Promise<void>((r) => (space = r));
          continue;
        }
        const r = await it.next();
        if (r.done) ended = true;
        queue.push(r);
        wake?.();
      }
    } catch (e) {
      failure = { error: e };
      ended = true;
      wake?.();
    }
  };

  const self = {
    async next(): Promise<IteratorResult<T>> {
      pumping ??= pump();
      while (queue.length === 0) {
        if (failure) throw failure.error;
        if (stopped) return { done: true, value: undefined };
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      const r = queue.shift()!;
      space?.();
      space = undefined;
      return r;
    },
    async return(): Promise<IteratorResult<T>> {
      await self.close();
      return { done: true, value: undefined };
    },
    async close(): Promise<void> {
      if (stopped) return;
      stopped = true;
      space?.();
      await pumping?.catch(() => undefined);
      if (!ended) await it.return?.();
    },
    [Symbol.asyncIterator]() {
      return self;
    },
  };
  return self;
}
