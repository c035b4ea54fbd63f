/**
 * The handle `openBlockFile` returns: a backend's {@link BlockFile} whose every async call
 * takes its own `signal` and `timeoutMs` (docs/conventions.md, "Cancellation, time and
 * progress"), the same on the host's files and the simulator's, because the rule is applied
 * here, once, over whatever the backend opened.
 *
 * A call cut short (its signal, its timeout) rejects at once; the I/O
 * it started cannot be recalled from the thread pool and finishes there. So that it leaves
 * no half state behind:
 * - a bounded read reads into a buffer of its own and copies what it read into the caller's
 *   only when it finishes in time: bytes landing late never change a buffer the caller has
 *   taken back;
 * - a bounded write writes from a copy of the caller's bytes, taken as it starts: a caller
 *   that reuses its buffer once the call rejected does not change what lands late;
 * - a write cut short is ordered before every later call on the handle (they start once it
 *   has landed, each still bounded by its own options), so a read after it sees the write
 *   whole or, when it failed, not at all; a late failure is reported by the next call (once,
 *   as a deferred write error is reported by the next fsync), with its own code and errno;
 * - close() releases the fd only after every call cut short has landed, so a late pwrite
 *   never reaches a file that reused the fd's number.
 * A write cannot be undone as a late create or load is (runBlock's `onLate`): the bytes it
 * overwrote are gone. Ordering and reporting is what is left, and it is what a caller needs
 * to know where the file stands.
 *
 * An unbounded call (no signal, no timeoutMs) goes straight to the backend: no timer, no
 * buffer of its own. `readSync` is the backend's own function, unwrapped: the thin metadata
 * reader's per-block path (lib/thin-metadata/blocks.ts) gains no allocation or check here.
 */
import { optionsArg, valueArg } from '../client/args.js';
import { DmArgumentError, DmSyscallError, ERRNO } from '../errors.js';
import type { BlockFile, BlockFileCallOptions } from '../kernel/backend.js';
import { withCallerStack, type Operation } from '../operations/operation.js';
import { runBlock } from './block-io.js';

const CALL_OPTIONS = { signal: 'signal', timeoutMs: 'any' } as const;

/** Whether `options` asks for a bound (checked first: an options object of known keys). */
function boundsOf(options: BlockFileCallOptions | undefined): boolean {
  if (options === undefined) return false;
  optionsArg(options, 'options', CALL_OPTIONS);
  return options.signal !== undefined || options.timeoutMs !== undefined;
}

function checkOffset(offsetBytes: unknown): void {
  valueArg(offsetBytes, 'offsetBytes', 'u64');
}

function checkBuffer(bytes: unknown, argument: string): void {
  if (!(bytes instanceof Uint8Array)) throw new DmArgumentError(argument, 'a Uint8Array', typeof bytes);
}

/** `raw` with per-call bounds, ordering after writes cut short, and `await using`. */
export function boundBlockFile(raw: BlockFile): BlockFile & AsyncDisposable {
  const p = raw.path;
  /** Calls cut short and not landed yet: close() waits for them. */
  const late = new Set<Promise<void>>();
  /** Writes cut short and not landed yet: every later call starts after them. */
  const lateWrites = new Set<Promise<void>>();
  /** The failure of a write cut short, until the next call reports it. */
  let lateFailure: { readonly error: unknown } | undefined;
  let closing: Promise<void> | undefined;

  const takeLateFailure = (): void => {
    if (lateFailure === undefined) return;
    const { error } = lateFailure;
    lateFailure = undefined;
    throw error;
  };
  /** What comes before any call: the writes cut short have landed, and a late failure is reported. */
  const settle = async (op: Operation | undefined): Promise<void> => {
    if (lateWrites.size > 0) {
      const all = Promise.allSettled(lateWrites).then(() => undefined);
      await (op ? op.step(`waiting for a write to ${p} cut short earlier`, () => all) : all);
    }
    takeLateFailure();
  };
  const closed = (syscall: string): never => {
    throw new DmSyscallError(`${p} is closed`, { errno: ERRNO.EBADF, syscall, path: p });
  };

  /**
   * One call: straight to the backend when unbounded and nothing is pending; otherwise on the
   * operation core (runBlock: the abort check before any I/O, the timer, the caller's frames), tracked until it lands when it is cut short.
   */
  async function call<T>(name: string, what: () => string, syscall: string, options: BlockFileCallOptions | undefined, isWrite: boolean, start: () => Promise<T>): Promise<T> {
    const bounded = boundsOf(options);
    if (closing) closed(syscall);
    if (!bounded) {
      if (lateWrites.size > 0 || lateFailure !== undefined) {
        // A late failure is reported to this caller: with its frames, as the bounded path's (runOperation) are.
        const site = new Error();
        Error.captureStackTrace(site, call);
        try {
          await settle(undefined);
        } catch (e) {
          throw withCallerStack(e, site);
        }
      }
      return start();
    }
    // Not on the client's operations (no `dm`): the file is open on an fd of its own, which the
    // client's close() does not take away, bounded or not.
    return runBlock(undefined, name, options!, async (op) => {
      await settle(op);
      let landed = false;
      let cutShort = false;
      const running = start();
      // Registered before the step's race, so `landed` is true by the time a failure of the call itself arrives.
      const tracked = running.then(() => { landed = true; }, (e: unknown) => {
        landed = true;
        if (cutShort && isWrite) lateFailure ??= { error: e };
      });
      try {
        return await op.step(what(), () => running);
      } catch (e) {
        if (!landed) {
          cutShort = true;
          late.add(tracked);
          if (isWrite) lateWrites.add(tracked);
          void tracked.then(() => { late.delete(tracked); lateWrites.delete(tracked); });
        }
        throw e;
      }
    });
  }

  const file: BlockFile & AsyncDisposable = {
    path: p,
    sizeBytes(options?: BlockFileCallOptions) {
      return call('BlockFile.sizeBytes', () => `the size of ${p}`, 'fstat', options, false, () => raw.sizeBytes());
    },
    async read(offsetBytes: bigint | number, into: Uint8Array, options?: BlockFileCallOptions) {
      checkOffset(offsetBytes);
      checkBuffer(into, 'into');
      if (options === undefined) return call('BlockFile.read', () => `reading ${p}`, 'pread', options, false, () => raw.read(offsetBytes, into));
      // Bounded: into a buffer of this call's, copied only when the read finished in time.
      let own: Uint8Array | undefined;
      const n = await call('BlockFile.read', () => `reading ${p}`, 'pread', options, false, () => {
        own = options.signal === undefined && options.timeoutMs === undefined ? into : new Uint8Array(into.length);
        return raw.read(offsetBytes, own);
      });
      if (own !== into) into.set(own!.subarray(0, n));
      return n;
    },
    async write(offsetBytes: bigint | number, bytes: Uint8Array, options?: BlockFileCallOptions) {
      checkOffset(offsetBytes);
      checkBuffer(bytes, 'bytes');
      // Bounded: from a copy, so that a write cut short lands the bytes it was given, not what
      // the caller, its promise settled, has put in its buffer since (a copy loop reusing one).
      return call('BlockFile.write', () => `writing ${p}`, 'pwrite', options, true, () => {
        const copy = options !== undefined && (options.signal !== undefined || options.timeoutMs !== undefined);
        return raw.write(offsetBytes, copy ? bytes.slice() : bytes);
      });
    },
    close() {
      closing ??= (async () => {
        if (late.size > 0) await Promise.allSettled(late);
        await raw.close();
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return file.close();
    },
  };
  // The backend's own function: no wrapper on the per-block path of the metadata reader.
  if (raw.readSync) file.readSync = raw.readSync.bind(raw);
  if (raw.dropCachedPages) {
    const drop = raw.dropCachedPages.bind(raw);
    file.dropCachedPages = (options?: BlockFileCallOptions) => call('BlockFile.dropCachedPages', () => `dropping cached pages of ${p}`, 'ioctl', options, false, drop);
  }
  return file;
}
