/**
 * Child process of cookie-crash.spec.ts: one synchronised resume on a simulated kernel, with
 * this host's real SysV semaphores (udev reported running; its completion played here, after
 * the ioctl) and the real file intent store under a scratch state directory; the process
 * SIGKILLs itself right after its n-th call (a semaphore call, a record write or removal, an
 * ioctl), for real: no 'exit' handler runs, the kernel keeps what it had.
 * argv: 'cookie-kill-child', stateDir, then `<call name>#<occurrence>` to be killed after (or 'count': run to the end and print the calls).
 * stdout: `key <cookie>` before each semget it tries; `calls <json>` at the end of a count.
 */
import * as fs from 'node:fs';
import { DeviceMapper, fileIntentStore, type IntentStore } from '../../lib/index.js';
import { realCookieHost, type CookieHost, type SemOps } from '../../lib/udev/cookies.js';
import { IPC_NOWAIT } from '../../ffi/sem.js';
import { SimulatedKernel } from '../../testing/index.js';

const args = process.argv.slice(process.argv.indexOf('cookie-kill-child') + 1);
const [stateDir, at] = args as [string, string];
// The kill point is a call's name and its occurrence (`semop#2`), not its index: how many
// times the wait polls its semaphore depends on timing, so indexes after it would shift.
const killAt = at === 'count' ? undefined : at;
const calls: string[] = [];
const seen = new Map<string, number>();
let counting = false;
const call = (name: string) => {
  if (!counting) return;
  calls.push(name);
  const n = (seen.get(name) ?? 0) + 1;
  seen.set(name, n);
  if (`${name}#${n}` === killAt) process.kill(process.pid, 'SIGKILL');
};
const counted = <R>(name: string, f: () => R): R => { try { return f(); } finally { call(name); } };

const kernel = new SimulatedKernel();
kernel.intercept({ after: () => call('ioctl') });

async function host(): Promise<CookieHost> {
  const h = await realCookieHost({});
  const s = h.sems;
  const sems: SemOps = {
    info: () => counted('semctl SEM_INFO', () => s.info()),
    create: (key, mode) => { fs.writeSync(1, `key ${key}\n`); return counted('semget IPC_CREAT', () => s.create(key, mode)); },
    get: (key) => counted('semget', () => s.get(key)),
    op: (semid, delta, flags) => counted('semop', () => {
      const r = s.op(semid, delta, flags);
      // udev: the uevent of the ioctl after this increment completes it, a moment later.
      if (r === 0 && delta === 1) setTimeout(() => s.op(semid, -1, IPC_NOWAIT), 20);
      return r;
    }),
    getVal: (semid) => counted('semctl GETVAL', () => s.getVal(semid)),
    setVal: (semid, v) => counted('semctl SETVAL', () => s.setVal(semid, v)),
    remove: (semid) => counted('semctl IPC_RMID', () => s.remove(semid)),
    lastPid: (semid) => counted('semctl GETPID', () => s.lastPid(semid)),
  };
  const stat = h.stat;
  return { ...h, sems, ...(stat ? { stat: (semid: number) => counted('semctl IPC_STAT', () => stat(semid)) } : {}), udevRunning: () => true, notifyRulesInstalled: () => true };
}

function store(): IntentStore {
  const st = fileIntentStore(stateDir);
  return { ...st, write: (k, r) => counted('record write', () => st.write(k, r)), remove: (k) => counted('record remove', () => st.remove(k)) };
}

void (async () => {
  const dm = await DeviceMapper.open({ backend: { ...kernel.backend(), openCookieHost: host, openIntentStore: store } });
  await dm.createDevice({ name: 'held', uuid: 'U-held', table: [{ start: 0, length: 2048, type: 'zero', params: '' }], udev: 'none' });
  await dm.suspend('held');
  counting = true;
  await dm.resume('held', { udevTimeoutMs: 10_000 });
  counting = false;
  fs.writeSync(1, `calls ${JSON.stringify(calls)}\n`);
  dm.close();
})().catch((e: unknown) => { process.stderr.write(`child failed: ${String(e)}\n`); process.exitCode = 2; });
