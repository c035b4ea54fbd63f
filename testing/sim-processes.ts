/**
 * Simulated processes and their intent records (docs/crash-safety.md), so that crash
 * recovery is testable without killing anything on the host.
 *
 * Every backend of a simulated kernel belongs to a process (`kernel.backend({ process })`;
 * a new one per backend by default). `kill()` ends it the way SIGKILL does: from that
 * instant nothing the process does reaches the kernel (its ioctls fail with EIO before the
 * kernel sees them), its semaphores, its files and loop devices, or the record store — its
 * JavaScript may run on, but the state it leaves is the state at its death. Another process's
 * `dm.recover()` then finds its records (the store is per kernel, in memory: nothing reaches
 * the host) and sees it dead by pid and start time.
 */
import { DmSyscallError, ERRNO, type IntentRecord, type IntentStore, type ProcessIdentity, type StoredIntent } from '../lib/index.js';
import type { SemOps } from '../ffi/sem.js';

/** One simulated process. */
export interface SimProcess extends ProcessIdentity {
  /** Whether it runs (false once killed). */
  readonly alive: boolean;
  /** Ends it now, as SIGKILL would: nothing it does afterwards has any effect. */
  kill(): void;
}

interface Held { text: string; claimedBy?: ProcessIdentity }

/** Who watches each process's calls (killAfterCalls, countCalls). */
const observers = new WeakMap<SimProcess, Set<(call: string) => void>>();

/** `process` made `call` (it reached the semaphores or the records): its observers learn it after it took effect. */
function called(process: SimProcess, call: string): void {
  for (const o of observers.get(process) ?? []) o(call);
}

function observe(process: SimProcess, o: (call: string) => void): () => void {
  let set = observers.get(process);
  if (!set) observers.set(process, (set = new Set()));
  set.add(o);
  return () => { set.delete(o); };
}

/** The processes of one simulated host and their record stores (one per `stateDir`). */
export class SimProcesses {
  #nextPid = 4000;
  #ticks = 100;
  readonly #live = new Map<number, { startTime: string; alive: boolean }>();
  readonly #stores = new Map<string, Map<string, Held>>();

  /** A new running process. */
  spawn(): SimProcess {
    const pid = this.#nextPid++;
    const startTime = String(this.#ticks++);
    const state = { startTime, alive: true };
    this.#live.set(pid, state);
    return {
      pid, startTime,
      get alive() { return state.alive; },
      kill: () => { state.alive = false; },
    };
  }

  /** Whether a process with this pid and start time runs. */
  alive(p: ProcessIdentity): boolean {
    const s = this.#live.get(p.pid);
    return s !== undefined && s.alive && s.startTime === p.startTime;
  }

  /**
   * The records under `stateDir` as text (JSON), by key: for tests that check what was
   * recorded (and that no key material ever is).
   */
  records(stateDir = ''): Map<string, string> {
    return new Map([...this.#storeOf(stateDir)].map(([k, h]) => [k, h.text]));
  }

  #storeOf(stateDir: string): Map<string, Held> {
    let m = this.#stores.get(stateDir);
    if (!m) this.#stores.set(stateDir, (m = new Map()));
    return m;
  }

  /** The store `process` sees under `stateDir` (a client's `stateDir` option; default ''). */
  store(process: SimProcess, stateDir = ''): IntentStore {
    const m = this.#storeOf(stateDir);
    const me: ProcessIdentity = { pid: process.pid, startTime: process.startTime };
    const living = (what: string) => {
      if (!process.alive) throw new DmSyscallError(`${what}: the simulated process ${process.pid} is dead`, { errno: ERRNO.EIO, syscall: what });
    };
    const parse = (h: Held) => JSON.parse(h.text) as IntentRecord;
    return {
      location: `simulated:${stateDir || '/run/devicemapper'}/intents`,
      self: () => me,
      alive: (p) => this.alive(p),
      write: (key, record) => { living('write'); m.set(key, { text: JSON.stringify(record) }); called(process, 'record write'); },
      remove: (key) => { living('unlink'); m.delete(key); called(process, 'record remove'); },
      list: () => [...m].map(([key, h]): StoredIntent => ({ key, record: parse(h), ...(h.claimedBy ? { claimedBy: { ...h.claimedBy } } : {}) })),
      claim: (entry) => {
        living('rename');
        const h = m.get(entry.key);
        // As a rename: only the one who finds the record as it listed it takes it.
        if (!h || h.claimedBy?.pid !== entry.claimedBy?.pid || h.claimedBy?.startTime !== entry.claimedBy?.startTime) return undefined;
        h.claimedBy = me;
        called(process, 'record claim');
        return { key: entry.key, record: parse(h), claimedBy: me };
      },
      unclaim: (entry, record) => { living('write'); m.set(entry.key, { text: JSON.stringify(record) }); called(process, 'record unclaim'); },
      removeClaimed: (entry) => { living('unlink'); m.delete(entry.key); called(process, 'record remove'); },
    };
  }
}

/** `obj` with every method refusing (EIO) once `process` is dead; nested objects (BlockIo's `nodes`) too. */
export function whileAlive<T extends object>(obj: T, process: SimProcess): T {
  return new Proxy(obj, {
    get(target, key) {
      const v: unknown = Reflect.get(target, key, target);
      if (typeof v === 'function') {
        return (...args: unknown[]) => {
          if (!process.alive) throw new DmSyscallError(`the simulated process ${process.pid} is dead`, { errno: ERRNO.EIO, syscall: String(key) });
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (v !== null && typeof v === 'object' && !(v instanceof Map) && !Array.isArray(v)) return whileAlive(v, process);
      return v;
    },
  });
}

/** Semaphore calls of a process: a dead one's change nothing; each call a live one makes is told to its observers once it returned. */
export function semsWhileAlive(sems: SemOps, process: SimProcess): SemOps {
  const dead = (syscall: string): never => { throw new DmSyscallError(`the simulated process ${process.pid} is dead`, { errno: ERRNO.EIO, syscall }); };
  const call = <R>(name: string, f: () => R): R => {
    if (!process.alive) return dead(name.split(' ')[0]!);
    try { return f(); } finally { called(process, name); }
  };
  const { stat } = sems;
  return {
    info: () => call('semctl SEM_INFO', () => sems.info()),
    create: (key, mode) => call('semget IPC_CREAT', () => sems.create(key, mode)),
    get: (key) => call('semget', () => sems.get(key)),
    op: (semid, delta, flags) => (process.alive ? call('semop', () => sems.op(semid, delta, flags)) : ERRNO.EIO),
    getVal: (semid) => call('semctl GETVAL', () => sems.getVal(semid)),
    setVal: (semid, v) => call('semctl SETVAL', () => sems.setVal(semid, v)),
    remove: (semid) => call('semctl IPC_RMID', () => sems.remove(semid)),
    lastPid: (semid) => call('semctl GETPID', () => sems.lastPid(semid)),
    ...(stat ? { stat: (semid: number, buf: Uint8Array) => call('semctl IPC_STAT', () => stat.call(sems, semid, buf)) } : {}),
  };
}

/** What {@link killAfterIoctls} needs of the kernel (its interceptors). */
export interface Interceptable {
  /** Calls `after` once the kernel has processed each ioctl, with the calling client's label; returns what removes the hook. */
  intercept(i: { after?(e: { readonly label: string | undefined }): void }): () => void;
}

/** What {@link countIoctls} returns. */
export interface IoctlCounter {
  /** The ioctls counted so far. */
  readonly count: number;
  /** Stops counting. */
  stop(): void;
}

/**
 * Kills `process` right after the `count`-th ioctl of the clients labelled `label` has been
 * processed: the kernel did it, the process never learns of it (the crash-test harness of
 * docs/crash-safety.md: run an operation, kill it after step k for every k, recover from
 * another process). Returns the function that removes the interceptor.
 */
export function killAfterIoctls(kernel: Interceptable, process: SimProcess, label: string, count: number): () => void {
  let n = 0;
  return kernel.intercept({ after: (e) => { if (e.label === label && ++n === count) process.kill(); } });
}

/** Counts the ioctls of the clients labelled `label` (the steps an operation has). */
export function countIoctls(kernel: Interceptable, label: string): IoctlCounter {
  let n = 0;
  const stop = kernel.intercept({ after: (e) => { if (e.label === label) n++; } });
  return { get count() { return n; }, stop };
}

/** What {@link countCalls} returns. */
export interface CallCounter {
  /** The calls counted so far: ioctls (`ioctl`) and the process's semaphore and record calls, in order. */
  readonly calls: readonly string[];
  /** Stops counting. */
  stop(): void;
}

/**
 * Counts every call `process` makes that reaches the kernel (the ioctls of the clients
 * labelled `label`), the semaphores or the intent records: the finer steps a kill can fall
 * between (a semget and the record naming its set, the semaphore's removal and the record's).
 */
export function countCalls(kernel: Interceptable, process: SimProcess, label: string): CallCounter {
  const calls: string[] = [];
  const stopIoctls = kernel.intercept({ after: (e) => { if (e.label === label) calls.push('ioctl'); } });
  const stopCalls = observe(process, (c) => calls.push(c));
  return { calls, stop: () => { stopIoctls(); stopCalls(); } };
}

/**
 * Kills `process` right after its `count`-th call as {@link countCalls} counts them (an
 * ioctl of the clients labelled `label`, a semaphore call, a record write): SIGKILL at any
 * instant of an operation, not only between ioctls. Returns the function that stops it.
 */
export function killAfterCalls(kernel: Interceptable, process: SimProcess, label: string, count: number): () => void {
  let n = 0;
  const hit = () => { if (++n === count) process.kill(); };
  const stopIoctls = kernel.intercept({ after: (e) => { if (e.label === label) hit(); } });
  const stopCalls = observe(process, hit);
  return () => { stopIoctls(); stopCalls(); };
}
