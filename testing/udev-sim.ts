/**
 * A simulated udev for the simulated kernel (`new SimulatedKernel({ udev: true })`): SysV
 * semaphores in memory (the same calls lib/udev/cookies.ts makes on the host), and a udevd
 * that, for each uevent carrying DM_COOKIE, applies dm's rules to `links`
 * (`/dev/mapper/<name>` → `../dm-<minor>`) and then runs `dmsetup udevcomplete` — after a
 * macrotask, as the real one answers after the ioctl returned. `stop()` models udevd
 * stopped mid-wait: events queue until `start()`.
 */
import { DmSyscallError } from '../lib/index.js';
import { ERRNO } from '../ffi/errors.js';
import { IPC_NOWAIT, type SemOps } from '../ffi/sem.js';
import { UDEV_FLAGS, UdevCookies, decodeCookie, type CookieHost, type SemEntry } from '../lib/index.js';

/** One uevent the simulated kernel sent (DM_COOKIE is `cookie`; 0 = none). */
export interface SimUevent {
  /** The uevent's ACTION (dm sends `change` on resume and rename, `remove` on remove). */
  readonly action: 'change' | 'remove';
  /** The device's name. */
  readonly name: string;
  /** The device's minor number. */
  readonly minor: number;
  /** DM_COOKIE: the cookie with its flags (0 = none). */
  readonly cookie: number;
}

interface SimSem { key: number; value: number; otime: number; ctime: number; pid: number; cuid: number }

/** The pid udev's `dmsetup udevcomplete` runs as here (a short-lived process of its own on a real host). */
const UDEVCOMPLETE_PID = 2;
/** Every simulated process runs as this user (the one running the tests: nothing else is asked of the host). */
const SIM_UID = process.geteuid?.() ?? 0;

/**
 * The simulator's udevd (`new SimulatedKernel({ udev: true })`): in-memory cookie semaphores,
 * dm's udev rules applied to `links`, cookies completed after each uevent; `stop()`/`start()`.
 */
export class SimUdev {
  /** Whether udevd processes events. */
  #running = true;
  /**
   * Whether /run/udev/control exists (what libdevmapper's "udev is running" checks). A
   * udevd killed mid-wait leaves it behind: `stop()` does not clear it.
   */
  controlSocket = true;
  /** Whether 95-dm-notify.rules is installed (without it nothing completes a cookie). */
  notifyRules = true;
  /** DM_DISABLE_UDEV and friends as the client sees them. */
  env: Record<string, string | undefined> = {};
  /** Every uevent with its DM_COOKIE, in order. */
  readonly events: SimUevent[] = [];
  /** The links udev's dm rules made: `/dev/mapper/<name>` → `../dm-<minor>`. */
  readonly links = new Map<string, string>();
  readonly #sems = new Map<number, SimSem>();
  readonly #queue: SimUevent[] = [];
  #nextId = 0;
  #clock = () => Math.floor(Date.now() / 1000);

  /** udevd stops processing (killed or hung; its control socket stays): events wait, a cookie wait times out. */
  stop(): void { this.#running = false; }
  /** udevd starts again and processes what queued. */
  start(): void {
    this.#running = true;
    for (const e of this.#queue.splice(0)) this.#schedule(e);
  }
  /** Whether udevd is processing events (false after `stop()`). */
  get running(): boolean { return this.#running; }

  /** The semaphore sets alive now (leak checks). */
  get semaphores(): readonly SemEntry[] {
    return [...this.#sems].map(([semid, s]) => ({ key: s.key, semid, otime: s.otime, ctime: s.ctime }));
  }

  /** Called by the simulated kernel for each uevent it generates. */
  uevent(e: SimUevent): void {
    this.events.push(e);
    if (this.#running) this.#schedule(e);
    else this.#queue.push(e);
  }

  #schedule(e: SimUevent): void {
    setTimeout(() => {
      if (!this.#running) { this.#queue.push(e); return; }
      this.#rules(e);
    }, 0);
  }

  /** 10-dm.rules (links unless DISABLE_DM_RULES), then 95-dm-notify.rules. */
  #rules(e: SimUevent): void {
    const { flags } = decodeCookie(e.cookie);
    const target = `../dm-${e.minor}`;
    for (const [p, t] of this.links) if (t === target) this.links.delete(p);
    if (e.action === 'change' && !(flags & UDEV_FLAGS.DISABLE_DM_RULES)) this.links.set(`/dev/mapper/${e.name}`, target);
    if (e.cookie && this.notifyRules) {
      try { new UdevCookies(this.host(UDEVCOMPLETE_PID)).complete(e.cookie); } catch { /* dmsetup logs and exits 1 */ }
    }
  }

  /**
   * The CookieHost a client on this kernel uses. `pid`: the process whose semop and SETVAL
   * calls these are (what GETPID then answers; default: this one).
   */
  host(pid: number = process.pid): CookieHost {
    return {
      sems: this.#semOps(pid),
      env: this.env,
      removeOnExit: false,
      list: () => [...this.semaphores],
      udevRunning: () => this.controlSocket,
      notifyRulesInstalled: () => this.notifyRules,
      random16: () => Math.floor(Math.random() * 0x10000),
      stat: (semid) => {
        const s = this.#sems.get(semid);
        if (!s) throw new DmSyscallError(`semctl IPC_STAT semid ${semid}`, { errno: ERRNO.EINVAL, syscall: 'semctl' });
        return { key: s.key, cuid: s.cuid, uid: s.cuid, mode: 0o600, otime: s.otime, ctime: s.ctime, nsems: 1 };
      },
    };
  }

  #semOps(pid: number): SemOps {
    const sem = (semid: number, syscall: string): SimSem => {
      const s = this.#sems.get(semid);
      if (!s) throw new DmSyscallError(`${syscall} semid ${semid}`, { errno: ERRNO.EINVAL, syscall });
      return s;
    };
    return {
      info: () => Math.max(-1, ...this.#sems.keys()),
      create: (key) => {
        if ([...this.#sems.values()].some((s) => s.key === key)) throw new DmSyscallError('semget', { errno: ERRNO.EEXIST, syscall: 'semget' });
        const id = this.#nextId++;
        this.#sems.set(id, { key, value: 0, otime: 0, ctime: this.#clock(), pid: 0, cuid: SIM_UID });
        return id;
      },
      get: (key) => {
        for (const [id, s] of this.#sems) if (s.key === key) return id;
        throw new DmSyscallError('semget', { errno: ERRNO.ENOENT, syscall: 'semget' });
      },
      op: (semid, delta, flags) => {
        const s = this.#sems.get(semid);
        if (!s) return ERRNO.EINVAL;
        // Nothing here may sleep: a wait that would block is EAGAIN (callers always pass IPC_NOWAIT).
        if (delta === 0) return s.value === 0 ? 0 : ERRNO.EAGAIN;
        if (s.value + delta < 0) return flags & IPC_NOWAIT ? ERRNO.EAGAIN : ERRNO.EAGAIN;
        s.value += delta;
        s.otime = this.#clock();
        s.pid = pid;
        return 0;
      },
      getVal: (semid) => sem(semid, 'semctl').value,
      lastPid: (semid) => sem(semid, 'semctl').pid,
      setVal: (semid, v) => { const s = sem(semid, 'semctl'); s.value = v; s.ctime = this.#clock(); s.pid = pid; },

      remove: (semid) => { sem(semid, 'semctl'); this.#sems.delete(semid); },
    };
  }
}
