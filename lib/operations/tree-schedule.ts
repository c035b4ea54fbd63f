/**
 * The scheduler of the tree operations that wait in the kernel per device (removeTree,
 * suspendTree, resumeTree): the devices whose turn has come in tree order (for removal, no
 * user of it left among the pending ones; for resume, nothing it uses) run at once, up to
 * `concurrency` in flight, each in a lane of its own (removeMany's lanes: the transport may
 * run a lane's calls on a kernel-facing thread of its own, ffi/control.ts), so that the
 * grace periods of independent subtrees overlap (docs/scale.md).
 *
 * Tree order is kept because a device starts only once `ready` says so, which the operation
 * decides from the outcomes of the devices that settled before (a holder's removal has
 * returned before what it holds is tried). Among the ready ones the candidates start in the
 * order they were given, the ones a settled device made candidates first (depth first), so
 * `concurrency: 1` is the sequential walk it replaces.
 *
 * A failure stops new starts; the devices in flight finish (their outcomes are recorded by
 * the operation) and then the scheduler returns every failure, in the order they happened.
 * `canStart` is asked before each start (the operation's stop signal, a failure).
 */

/** One device's failure. */
export interface TreeFailure<N> {
  /** The device whose step failed. */
  readonly node: N;
  /** What it failed with. */
  readonly error: unknown;
}

export interface TreeSchedule<N> {
  /** The first candidates, in tree order. */
  readonly initial: readonly N[];
  /** Devices in flight at once (≥ 1). */
  readonly concurrency: number;
  /** Whether `n`'s turn has come: asked of each pending candidate whenever a lane is free. */
  ready(n: N): boolean;
  /** Deals with one device in lane `lane`; resolves with the devices it made candidates (in tree order; they go before the other pending ones). */
  run(n: N, lane: number): Promise<readonly N[]>;
  /** Whether a further device may start (false once the operation was stopped). */
  canStart(): boolean;
}

/** Runs the schedule; resolves (never rejects) once nothing is in flight, with the failures. */
export async function runTreeSchedule<N>(s: TreeSchedule<N>): Promise<TreeFailure<N>[]> {
  let pending: N[] = [];
  const queued = new Set<N>();
  // New candidates go first (depth first, as libdevmapper's walks): with `concurrency: 1` the
  // order is exactly the sequential walk's, and a stack is finished before the next is begun.
  const add = (ns: readonly N[]) => {
    const fresh: N[] = [];
    for (const n of ns) if (!queued.has(n)) { queued.add(n); fresh.push(n); }
    if (fresh.length) pending = fresh.concat(pending);
  };
  add(s.initial);
  const failures: TreeFailure<N>[] = [];
  const inFlight = new Set<Promise<void>>();
  // Lane numbers free for a start: the lowest first, so `concurrency` lanes are 0…concurrency-1.
  const lanes = Array.from({ length: s.concurrency }, (_, i) => s.concurrency - 1 - i);
  const start = (n: N, lane: number) => {
    const p: Promise<void> = s.run(n, lane).then(add, (error: unknown) => { failures.push({ node: n, error }); }).finally(() => {
      inFlight.delete(p);
      lanes.push(lane);
    });
    inFlight.add(p);
  };
  for (;;) {
    while (lanes.length > 0 && failures.length === 0 && s.canStart()) {
      const i = pending.findIndex((n) => s.ready(n));
      if (i < 0) break;
      const [n] = pending.splice(i, 1);
      start(n!, lanes.pop()!);
    }
    if (inFlight.size === 0) return failures;
    await Promise.race(inFlight);
  }
}
