/**
 * Whether the semaphore set a dead process's `cookie` record names is still that process's
 * own (docs/crash-safety.md, "Cookies"): what `recover()` asks before it removes one. A set
 * is removed only when it is provably the one the dead call made; anything else (another
 * process's set under the same key, made before the record or after the death, or under the
 * same key and id) is left, with the reason.
 *
 * What the kernel tells of a set (IPC_STAT, GETPID) and what each proves:
 * - `key` and `semid`: the key is one of 65535 random bases, the id comes back only after the
 *   kernel's sequence number wrapped: together, with the ctime, one set.
 * - `ctime`: set by the semget and by each SETVAL (IPC_SET too), whole seconds. The call
 *   records it after its SETVAL and never changes it again (udev's completions are semops),
 *   so the set it made still has exactly that ctime; a set made again under the key and id
 *   has its own.
 * - `cuid`: the creator's uid, which records share (a store reads only its user's records).
 * - `otime` and GETPID (`sempid`): 0 until the first semop; SETVAL sets sempid too. Before
 *   the record names the set's id the call has made no semop and sent no ioctl with it, so
 *   its set has otime 0 and sempid 0 (killed before its SETVAL) or the dead pid (after).
 *   Another process's cookie has had its SETVAL (libdevmapper and this package make one right
 *   after the semget), so its sempid is that process's pid.
 */
import type { CookieSemInfo, UdevCookies } from './cookies.js';

/** The cookie effect of an intent record (lib/kernel/intent-store.ts). */
export interface CookieIntent {
  /** The key. */
  readonly cookie: number;
  /** The set's id, once made and recorded (absent: recorded before its semget). */
  readonly semid?: number | undefined;
  /** The set's sem_ctime after its SETVAL (seconds since the epoch). Absent in records of older versions. */
  readonly ctimeS?: number | undefined;
  /** When the key was recorded, before its semget (seconds since the epoch, rounded down). */
  readonly notBeforeS?: number | undefined;
}

/** What recovery does with a recorded cookie's set. */
export type CookieVerdict =
  | { readonly remove: number }
  | { readonly outcome: 'not-needed' | 'skipped'; readonly note: string };

/** How long a set nobody has changed since its semget is watched before it is taken for the dead process's. */
export const UNTOUCHED_SET_GRACE_MS = 100;

/**
 * Judges the set `effect` names, of the dead process `pid`. `sleep` waits (the recovery's
 * signal ends it) before a set still at sempid 0 is read again: a live process between its
 * own semget and SETVAL under the same key would have changed it by then.
 */
export async function judgeRecordedCookie(cookies: UdevCookies, effect: CookieIntent, pid: number, sleep: (ms: number) => Promise<void>): Promise<CookieVerdict> {
  let semid: number;
  try { semid = cookies.host.sems.get(effect.cookie); } catch { return { outcome: 'not-needed', note: 'gone' }; }
  // Records of older versions have no ctime: the id alone, as they did.
  if (effect.semid !== undefined && effect.ctimeS === undefined) {
    return semid === effect.semid ? { remove: semid } : { outcome: 'not-needed', note: `the key now names another set (semid ${semid})` };
  }
  const info = cookies.semInfo(semid);
  if (!info) return gone(cookies, semid);
  const euid = process.geteuid?.();
  if (info.cuid !== undefined && euid !== undefined && info.cuid !== euid) return { outcome: 'skipped', note: `semid ${semid} was made by uid ${info.cuid}` };
  if (effect.semid !== undefined) {
    if (semid !== effect.semid) return { outcome: 'not-needed', note: `the key now names another set (semid ${semid})` };
    if (info.ctime !== effect.ctimeS) {
      return { outcome: 'skipped', note: `semid ${semid} changed at ${info.ctime}, not ${effect.ctimeS} as recorded: made again since, or changed by another process` };
    }
    return { remove: semid };
  }
  // Recorded before its semget: the dead call may have made it, or died first (or hit EEXIST).
  const notOurs = whyNotMade(info, effect, pid);
  if (notOurs) return { outcome: 'skipped', note: `semid ${semid} ${notOurs}` };
  if (info.lastPid === 0) {
    await sleep(UNTOUCHED_SET_GRACE_MS);
    const again = cookies.semInfo(semid);
    if (!again) return gone(cookies, semid);
    if (again.lastPid !== 0 || again.ctime !== info.ctime || again.otime !== 0) return { outcome: 'skipped', note: `semid ${semid} is being set up by another process` };
  }
  return { remove: semid };
}

/** A set semInfo could not read: gone, or a host that cannot tell its times (then nothing is proven). */
function gone(cookies: UdevCookies, semid: number): CookieVerdict {
  try { cookies.host.sems.getVal(semid); } catch { return { outcome: 'not-needed', note: 'gone' }; }
  return { outcome: 'skipped', note: `semid ${semid}: this host does not tell its times (no IPC_STAT, no /proc/sysvipc/sem)` };
}

/** Why a set found under a key recorded before its semget is not the dead process's, or undefined when it can be. */
function whyNotMade(info: CookieSemInfo, effect: CookieIntent, pid: number): string | undefined {
  if (effect.notBeforeS === undefined) return 'cannot be told from another process\'s (no time recorded)';
  if (info.ctime < effect.notBeforeS) return `was made before the record (${info.ctime} < ${effect.notBeforeS}): another process's`;
  if (info.otime !== 0) return 'has been operated on (semop): in use by another process';
  if (info.lastPid !== 0 && info.lastPid !== pid) return `was set up by pid ${info.lastPid}, not by the dead pid ${pid}`;
  return undefined;
}
