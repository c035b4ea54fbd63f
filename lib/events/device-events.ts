/**
 * Device-mapper's event model as an async iterator. Every global event (create, remove,
 * rename, table swap, any device's table event) wakes the client's shared poller; the
 * stream then takes one DM_LIST_DEVICES snapshot (names, uuids, per-device event_nr) and
 * compares it with the previous one, device by device (by major:minor):
 *
 *   added    a device that was not there before
 *   removed  a device that is gone
 *   renamed  same device number, new name or uuid (`oldName`, `oldUuid`)
 *   changed  the device's event_nr moved; `delta` is by how much since last seen
 *
 * Everything between two polls is coalesced per device. A device removed and another created
 * at its number between two polls is told apart from a rename where the snapshot proves it: a
 * uuid, once set, never changes (rename only sets one on a device without), and a device's
 * event_nr never goes down — so two different uuids, or an event number lower than before,
 * give `removed` + `added`. Limits (documented): a device created and removed between two
 * polls is not seen; a replacement at the same number without either proof looks like a
 * rename.
 */
import type { DevNo, ListedDevice } from '../../codec/index.js';
import type { Watcher } from '../kernel/backend.js';
import { onAbort } from './abort-fanout.js';
import { DmAbortError, DmClosedError } from '../errors.js';
import { DmOperationError } from '../errors.js';
import type { SharedPoller } from './event-poller.js';

/** What happened to a device between two snapshots of the device list. */
export type DeviceEventKind = 'added' | 'removed' | 'renamed' | 'changed';

/** What every device event carries. */
interface DeviceEventBase {
  /** The device's name (after the change, for `renamed`). */
  readonly name: string;
  /** The uuid; null when the device has none, undefined when the kernel does not list uuids (before 4.45). */
  readonly uuid: string | null | undefined;
  /** The device's number. */
  readonly dev: DevNo;
  /** The device's event number as last seen. */
  readonly eventNr: number | undefined;
  /** How far event_nr moved since the previous snapshot (0 unless `changed`). */
  readonly delta: number;
}

/** A device appeared. */
export interface DeviceAddedEvent extends DeviceEventBase {
  /** Discriminant. */
  readonly kind: 'added';
}
/** A device went away. */
export interface DeviceRemovedEvent extends DeviceEventBase {
  /** Discriminant. */
  readonly kind: 'removed';
}
/** A device got a new name or a uuid: `oldName` and `oldUuid` are what it had. */
export interface DeviceRenamedEvent extends DeviceEventBase {
  /** Discriminant. */
  readonly kind: 'renamed';
  /** The name before. */
  readonly oldName: string;
  /** The uuid before (null: none; undefined: the kernel does not list uuids). */
  readonly oldUuid: string | null | undefined;
}
/** A device's event number moved (a table event, a table swap): by `delta`. */
export interface DeviceChangedEvent extends DeviceEventBase {
  /** Discriminant. */
  readonly kind: 'changed';
}

/** One device event of `events()`: narrow on `kind` (`oldName` exists on `renamed`). */
export type DeviceEvent = DeviceAddedEvent | DeviceRemovedEvent | DeviceRenamedEvent | DeviceChangedEvent;

/** Which devices an `events()` stream reports. */
export interface EventFilter {
  /** Only devices whose (new or old) name starts with this. */
  readonly namePrefix?: string;
  /** Only devices whose uuid starts with this. */
  readonly uuidPrefix?: string;
  /** Only these kinds. */
  readonly kinds?: readonly DeviceEventKind[];
  /** Any other test. */
  readonly test?: (e: DeviceEvent) => boolean;
}

/** Options of {@link DeviceMapper.events}. */
export interface EventsOptions {
  /** Ends the iteration (the iterator rejects with DmAbortError). */
  readonly signal?: AbortSignal;
  /** Which devices and kinds to report (default: all). */
  readonly filter?: EventFilter;
  /**
   * true (default): while the iterator is open it keeps the process alive (a poll is
   * parked on one libuv pool thread). false: it does not; it then checks for events on
   * an unref'd timer every `pollIntervalMs` with a non-blocking poll instead.
   */
  readonly ref?: boolean;
  /** With `ref: false`: how often to check, in ms (default 100). */
  readonly pollIntervalMs?: number;
  /**
   * Ends the iteration that long after `events()` was called: the pending next() (or the
   * next one) rejects with DmOperationError TIMEOUT, as every timeout of the package does.
   */
  readonly timeoutMs?: number | undefined;
}

/** Compares two LIST snapshots; the events, in name order. */
export function diffSnapshots(before: ReadonlyMap<string, ListedDevice>, after: readonly ListedDevice[]): DeviceEvent[] {
  const out: DeviceEvent[] = [];
  const seen = new Set<string>();
  for (const d of after) {
    const key = `${d.dev.major}:${d.dev.minor}`;
    seen.add(key);
    const old = before.get(key);
    // Each event its own `dev`: streams woken together share one LIST snapshot.
    const base = { name: d.name, uuid: d.uuid, dev: copyDev(d.dev), eventNr: d.eventNr };
    if (old && replaced(old, d)) {
      out.push(removedEvent(old));
      out.push({ kind: 'added', ...base, delta: 0 });
      continue;
    }
    if (!old) {
      out.push({ kind: 'added', ...base, delta: 0 });
      continue;
    }
    if (old.name !== d.name || (old.uuid !== d.uuid && d.uuid !== undefined)) {
      out.push({ kind: 'renamed', ...base, delta: 0, oldName: old.name, oldUuid: old.uuid });
    }
    if (d.eventNr !== undefined && old.eventNr !== undefined && d.eventNr !== old.eventNr) {
      out.push({ kind: 'changed', ...base, delta: (d.eventNr - old.eventNr) >>> 0 });
    }
  }
  for (const [key, old] of before) {
    if (!seen.has(key)) out.push(removedEvent(old));
  }
  return out;
}

function copyDev(d: DevNo): DevNo {
  return { major: d.major, minor: d.minor, raw: d.raw };
}

function removedEvent(old: ListedDevice): DeviceEvent {
  return { kind: 'removed', name: old.name, uuid: old.uuid, dev: copyDev(old.dev), eventNr: old.eventNr, delta: 0 };
}

/** Whether the entry at one device number is provably another device: a set uuid changed, or event_nr went down. */
function replaced(old: ListedDevice, d: ListedDevice): boolean {
  if (typeof old.uuid === 'string' && old.uuid !== '' && typeof d.uuid === 'string' && d.uuid !== '' && old.uuid !== d.uuid) return true;
  return d.eventNr !== undefined && old.eventNr !== undefined && d.eventNr < old.eventNr;
}

/** A stream's snapshot, keyed by device number; its entries are its own copies (the LIST may be shared). */
export function snapshotMap(list: readonly ListedDevice[]): Map<string, ListedDevice> {
  return new Map(list.map((d) => [`${d.dev.major}:${d.dev.minor}`, { ...d, dev: copyDev(d.dev) }]));
}

export function matches(e: DeviceEvent, f: EventFilter | undefined): boolean {
  if (!f) return true;
  if (f.kinds && !f.kinds.includes(e.kind)) return false;
  if (f.namePrefix !== undefined && !e.name.startsWith(f.namePrefix) && !(e.kind === 'renamed' && e.oldName.startsWith(f.namePrefix))) return false;
  if (f.uuidPrefix !== undefined && !(e.uuid ?? '').startsWith(f.uuidPrefix)) return false;
  return f.test ? f.test(e) : true;
}

/**
 * An abortable sleep whose timer does not keep the process alive. An already aborted
 * signal rejects at once: its 'abort' event has fired and will not fire again.
 */
export function unrefSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new DmAbortError(signal.reason));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { off?.(); resolve(); }, ms);
    t.unref?.();
    // Through the fan-out: a signal shared by many sleepers keeps one listener.
    const off = signal ? onAbort(signal, () => { clearTimeout(t); reject(new DmAbortError(signal.reason)); }) : undefined;
  });
}

// ------------------------------------------------------------------ the iterators ---

/** What the event iterators of one client need from it. */
export interface EventStreamDeps {
  /** The client's shared poller (ref: true). */
  readonly poller: SharedPoller;
  /** A watcher of its own (ref: false). */
  openWatcher(): Promise<Watcher>;
  /**
   * One DM_LIST_DEVICES snapshot. `generation`: the shared poller's arm it follows; streams
   * woken by the same event may then share one snapshot (lib/events/wake-snapshot.ts).
   */
  list(generation?: number): readonly ListedDevice[];
}

/**
 * Where an iterator learns that a global event may have happened. `open()` makes the
 * first arm (the first snapshot is taken after it, so nothing between the two is lost),
 * `wait()` resolves once an event happened after the last arm and re-arms; both reject
 * with DmAbortError once `signal` aborts. `close()` gives everything back, at once, and
 * may be called at any time (also while `open()` or `wait()` is pending).
 */
interface EventSource {
  /** The shared poller's generation the next wait is on (undefined: not shared). */
  readonly generation?: number | undefined;
  open(signal: AbortSignal): Promise<void>;
  wait(signal: AbortSignal): Promise<void>;
  close(): void;
}

/** ref: true — the client's shared poller: a parked poll on one pool thread. */
class PollerSource implements EventSource {
  #gen = 0;
  #acquired = false;
  constructor(private readonly poller: SharedPoller) {}

  get generation(): number { return this.#gen; }

  async open(signal: AbortSignal): Promise<void> {
    this.poller.acquire();
    this.#acquired = true;
    this.#gen = await this.poller.ready(signal);
  }

  async wait(signal: AbortSignal): Promise<void> {
    // next() resolves after the poller's re-arm, with its generation (as ready() would).
    this.#gen = await this.poller.next(this.#gen, signal);
  }

  close(): void {
    if (!this.#acquired) return;
    this.#acquired = false;
    this.poller.release();
  }
}

/** ref: false — a watcher of its own, checked without blocking on an unref'd timer. */
class TimerSource implements EventSource {
  #watcher: Watcher | undefined;
  #closed = false;
  constructor(private readonly openWatcher: () => Promise<Watcher>, private readonly intervalMs: number) {}

  async open(signal: AbortSignal): Promise<void> {
    const w = await this.openWatcher();
    // Ended while the watcher was being opened: nobody else will close it.
    if (this.#closed || signal.aborted) {
      w.close();
      throw new DmAbortError(signal.reason);
    }
    this.#watcher = w;
    w.arm();
  }

  async wait(signal: AbortSignal): Promise<void> {
    for (;;) {
      await unrefSleep(this.intervalMs, signal);
      const w = this.#watcher;
      if (!w) throw new DmAbortError(signal.reason);
      if (w.check()) {
        w.arm();
        return;
      }
    }
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/**
 * One `events()` iterator, written as a state machine rather than an async generator: a
 * generator cannot run its `finally` while a `next()` is pending, so its `return()` (or a
 * client's close) would wait for an event that may never come, holding its watcher.
 * Here every way of ending — `return()`, `throw()`, the signal, the client's close() —
 * releases the source at once and cuts any pending wait short:
 *
 *   return() / close()   the pending next() (if any) resolves `{ done: true }`
 *   the signal aborts    the pending next() — or the next one — rejects with DmAbortError
 *   afterwards           next() resolves `{ done: true }`
 *
 * A signal already aborted ends the iterator before anything is opened. Nothing is held
 * before the first next(): not the source, not a listener on the signal, not a place in
 * the client's list of live iterators (an iterator made and dropped unstarted costs nothing).
 */
class EventStream implements AsyncIterableIterator<DeviceEvent> {
  readonly #source: EventSource;
  readonly #deps: EventStreamDeps;
  readonly #filter: EventFilter | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #registry: StreamRegistry;
  /** Aborted when the iterator ends: cuts a pending open()/wait() short. */
  readonly #stop = new AbortController();
  #state: 'new' | 'open' | 'ended' = 'new';
  /** Delivered once by the next next() after the signal aborted. */
  #endError: unknown;
  #snap = new Map<string, ListedDevice>();
  #queue: DeviceEvent[] = [];
  /** next() calls run one after the other, like an async generator's. */
  #tail: Promise<unknown> = Promise.resolve();

  /** When `timeoutMs` ends the iterator (a clock reading), and the error it ends with. */
  readonly #deadline: number | undefined;
  readonly #timeout: DmOperationError | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: EventStreamDeps, options: EventsOptions, registry: StreamRegistry) {
    this.#deps = deps;
    this.#filter = options.filter;
    this.#signal = options.signal;
    if (options.timeoutMs !== undefined) {
      // Made now, while the caller of events() is on the stack: the timer is not.
      this.#timeout = new DmOperationError('TIMEOUT', `events() ended after ${options.timeoutMs} ms`);
      this.#deadline = Date.now() + options.timeoutMs;
    }
    this.#registry = registry;
    this.#source = options.ref === false
      ? new TimerSource(deps.openWatcher, options.pollIntervalMs ?? 100)
      : new PollerSource(deps.poller);
  }

  get ended(): boolean { return this.#state === 'ended'; }

  next(): Promise<IteratorResult<DeviceEvent, undefined>> {
    const p = this.#tail.then(() => this.#step());
    this.#tail = p.catch(() => undefined);
    return p;
  }

  async return(): Promise<IteratorResult<DeviceEvent, undefined>> {
    this.#end();
    await this.#tail; // the pending next() settles promptly: its wait was cut short
    return { done: true, value: undefined };
  }

  async throw(e?: unknown): Promise<IteratorResult<DeviceEvent, undefined>> {
    this.#end();
    await this.#tail;
    throw e;
  }

  [Symbol.asyncIterator](): this { return this; }

  /** Ends the iterator (idempotent): releases the source, cuts a pending wait short. */
  end(): void { this.#end(); }

  #offAbort: (() => void) | undefined;
  readonly #onAbort = (): void => this.#end(new DmAbortError(this.#signal?.reason));

  #end(error?: unknown): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#endError = error;
    this.#queue = [];
    this.#snap = new Map();
    this.#offAbort?.();
    this.#offAbort = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stop.abort();
    this.#source.close();
    this.#registry.leave(this);
  }

  async #step(): Promise<IteratorResult<DeviceEvent, undefined>> {
    for (;;) {
      const queued = this.#queue.shift();
      if (queued) return { done: false, value: queued };
      if (this.#state === 'ended') {
        const e = this.#endError;
        if (e === undefined) return { done: true, value: undefined };
        this.#endError = undefined;
        throw e;
      }
      try {
        if (this.#state === 'new') {
          if (this.#signal?.aborted) {
            this.#end(new DmAbortError(this.#signal.reason));
            continue;
          }
          if (!this.#registry.enter(this)) { // the client was closed before this iterator started
            this.#end();
            continue;
          }
          if (this.#deadline !== undefined) {
            const left = this.#deadline - Date.now();
            if (left <= 0) {
              this.#end(this.#timeout);
              continue;
            }
            // Started at the first next(): an iterator never started holds no timer. Unref'd: the
            // bound alone must not keep the process alive (the poller does, when ref is true).
            this.#timer = setTimeout(() => this.#end(this.#timeout), left);
            this.#timer.unref?.();
          }
          // One listener per signal however many streams share it (abort-fanout.ts).
          if (this.#signal) this.#offAbort = onAbort(this.#signal, this.#onAbort);
          await this.#source.open(this.#stop.signal);
          if (this.ended) continue;
          this.#state = 'open';
          this.#snap = snapshotMap(this.#deps.list(this.#source.generation));
          continue;
        }
        await this.#source.wait(this.#stop.signal);
        if (this.ended) continue;
        const list = this.#deps.list(this.#source.generation);
        const events = diffSnapshots(this.#snap, list);
        this.#snap = snapshotMap(list);
        for (const e of events) if (matches(e, this.#filter)) this.#queue.push(e);
      } catch (e) {
        if (this.ended) continue; // ended meanwhile: the wait was cut short
        this.#end();
        throw e;
      }
    }
  }
}

/** Where started iterators are tracked so that the client's close() can end them. */
interface StreamRegistry {
  /** false once the client is closed. */
  enter(s: EventStream): boolean;
  leave(s: EventStream): void;
}

/**
 * The live `events()` iterators of one client. `closeAll()` (from the client's close)
 * ends every one of them — a pending next() resolves `{ done: true }` — and makes later
 * `open()` calls throw DmClosedError.
 */
export class EventStreams implements StreamRegistry {
  readonly #live = new Set<EventStream>();
  #closed = false;

  constructor(private readonly deps: EventStreamDeps) {}

  /** Started iterators not yet ended (observability for tests). */
  get size(): number { return this.#live.size; }

  open(options: EventsOptions = {}): AsyncIterableIterator<DeviceEvent> {
    if (this.#closed) throw new DmClosedError('the device-mapper client');
    return new EventStream(this.deps, options, this);
  }

  enter(s: EventStream): boolean {
    if (this.#closed) return false;
    this.#live.add(s);
    return true;
  }

  leave(s: EventStream): void {
    this.#live.delete(s);
  }

  closeAll(): void {
    this.#closed = true;
    for (const s of [...this.#live]) s.end();
  }
}
