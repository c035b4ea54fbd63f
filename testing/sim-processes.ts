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
      write: (key, record) => { living('write'); m.set(key, { text: JSON.stringify(record) }); },
      remove: (key) => { living('unlink'); m.delete(key); },
      list: () => [...m].map(([key, h]): StoredIntent => ({ key, record: parse(h), ...(h.claimedBy ? { claimedBy: { ...h.claimedBy } } : {}) })),
      claim: (entry) => {
        living('rename');
        const h = m.get(entry.key);
        // As a rename: only the one who finds the record as it listed it takes it.
        if (!h || h.claimedBy?.pid !== entry.claimedBy?.pid || h.claimedBy?.startTime !== entry.claimedBy?.startTime) return undefined;
        h.claimedBy = me;
        return { key: entry.key, record: parse(h), claimedBy: me };
      },
      unclaim: (entry, record) => { living('write'); m.set(entry.key, { text: JSON.stringify(record) }); },
      removeClaimed: (entry) => { living('unlink'); m.delete(entry.key); },
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

/** Semaphore calls of a process: a dead one's change nothing. */
export function semsWhileAlive(sems: SemOps, process: SimProcess): SemOps {
  const dead = (syscall: string): never => { throw new DmSyscallError(`the simulated process ${process.pid} is dead`, { errno: ERRNO.EIO, syscall }); };
  return {
    info: () => (process.alive ? sems.info() : dead('semctl')),
    create: (key, mode) => (process.alive ? sems.create(key, mode) : dead('semget')),
    get: (key) => (process.alive ? sems.get(key) : dead('semget')),
    op: (semid, delta, flags) => (process.alive ? sems.op(semid, delta, flags) : ERRNO.EIO),
    getVal: (semid) => (process.alive ? sems.getVal(semid) : dead('semctl')),
    setVal: (semid, v) => (process.alive ? sems.setVal(semid, v) : dead('semctl')),
    remove: (semid) => (process.alive ? sems.remove(semid) : dead('semctl')),
    lastPid: (semid) => (process.alive ? sems.lastPid(semid) : dead('semctl')),
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
