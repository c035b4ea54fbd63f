/**
 * The udev cookie of one of the library's own calls in the operation's intent record
 * (docs/crash-safety.md): a process that dies while udev or its wait still holds the
 * semaphore leaves it to `recover()`, which removes it. A cookie the caller handed in
 * (`udevCookie`) is the caller's and is not recorded.
 */
import type { UdevCallOptions, UdevContext } from '../udev/cookie-call.js';
import { DM_COOKIE_MAGIC } from '../udev/cookies.js';
import type { Operation } from './operation.js';

/** Records the semaphore behind `eventNr` (the value a udevTransaction hands its ioctl), when it is one the library made. */
export async function recordCookie(op: Pick<Operation, 'intent' | 'intends'>, ctx: UdevContext, o: UdevCallOptions, eventNr: number): Promise<void> {
  const base = eventNr & 0xffff;
  if (base === 0 || o.udevCookie !== undefined) return;
  const cookie = ((DM_COOKIE_MAGIC << 16) | base) >>> 0;
  const slot = `cookie:${cookie}`;
  if (op.intends(slot)) return;
  const cookies = await ctx.cookies();
  if (!cookies) return;
  let semid: number;
  try { semid = cookies.semid(cookie); } catch { return; } // gone already: nothing to leave behind
  op.intent(slot, { kind: 'cookie', cookie, semid });
}
