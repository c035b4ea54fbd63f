/**
 * dmsetup's udev verbs (dmsetup.c `_udevcreatecookie`, `_udevreleasecookie`, `_udevflags`,
 * `_udevcomplete`, `_udevcomplete_all`, `_udevcookies`) with the same output, on
 * lib/udev/cookies.ts. `udevcomplete` is what udev's 95-dm-notify.rules runs; dmctl's
 * completes libdevmapper's cookies and dmsetup's ours (docs/udev-cookies.md).
 */
import { realCookieHost, udevFlagLines, UdevCookies, type CookieHost } from '../lib/index.js';
import { DM_COOKIE_MAGIC, DM_UDEV_FLAGS_MASK } from '../codec/index.js';
import type { Ctx } from './context.js';
import { intArg } from './context.js';
import { UsageError } from './errors.js';
import { parseCookieValue } from './cookie-value.js';

export { parseCookieValue } from './cookie-value.js';
export { CookieValueError } from './errors.js';

async function cookies(ctx: Ctx): Promise<UdevCookies> {
  const host: CookieHost = await (ctx.io.cookieHost ?? (() => realCookieHost(ctx.io.env)))();
  return new UdevCookies(host);
}

/** `dm_udev_get_sync_support()` for this command line (`--noudevsync` turns it off). */
async function syncCookies(ctx: Ctx): Promise<UdevCookies | undefined> {
  if (ctx.opts.noudevsync) return undefined;
  const c = await cookies(ctx);
  return c.syncSupported((await ctx.dm()).kernelVersion) ? c : undefined;
}

/**
 * `udevcreatecookie`: prints `0x%08X` of a new cookie, or nothing where udev sync is off. The
 * cookie is the user's (`lifetime: 'transaction'`): it outlives dmctl until `udevreleasecookie`.
 */
export async function udevcreatecookie(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw new UsageError('Too many command line arguments.');
  const c = await syncCookies(ctx);
  if (c) ctx.out(`0x${c.create({ lifetime: 'transaction' }).toString(16).toUpperCase().padStart(8, '0')}\n`);
  return 0;
}

/** `udevreleasecookie [<cookie>]`: wait for udev, then remove the semaphore (`dm_udev_wait`). */
export async function udevreleasecookie(ctx: Ctx): Promise<number> {
  if (ctx.args.length > 1) throw new UsageError('Too many command line arguments.');
  const arg = ctx.args[0] ?? ctx.udevCookieOption();
  if (arg === undefined) { ctx.io.stderr('No udev transaction cookie given.\n'); return 1; }
  const cookie = parseCookieValue(arg);
  const c = await syncCookies(ctx);
  if (!c) return 0;
  const t = ctx.opts['udev-timeout'];
  await c.wait(cookie, t !== undefined ? { timeoutMs: intArg(t, 'udev-timeout') } : {});
  return 0;
}

/** `udevflags <cookie>`: the flags in a cookie's upper 16 bits, as udev's IMPORT{program} reads them. */
export async function udevflags(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) throw new UsageError('udevflags needs <cookie>.');
  for (const line of udevFlagLines(parseCookieValue(ctx.args[0]!))) ctx.out(`${line}\n`);
  return 0;
}

/** `udevcomplete <cookie>`: what 95-dm-notify.rules runs; decrements the cookie's semaphore. */
export async function udevcomplete(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) throw new UsageError('udevcomplete needs <cookie>.');
  const value = parseCookieValue(ctx.args[0]!);
  ctx.out(`DM_COOKIE_COMPLETED=0x${value.toString(16).padEnd(10)}\n`);
  // A flags-only cookie (base 0) notifies nobody.
  if (!(value & ~DM_UDEV_FLAGS_MASK)) return 0;
  const c = await syncCookies(ctx);
  if (c) c.complete(value);
  return 0;
}

/** `udevcomplete_all [<age_in_minutes>]`: remove every cookie semaphore older than the age (asks first, unless -y). */
export async function udevcompleteAll(ctx: Ctx): Promise<number> {
  if (ctx.args.length > 1) throw new UsageError('Too many command line arguments.');
  let age = 0;
  if (ctx.args.length === 1) {
    // sscanf("%u"): leading digits (after blanks, an optional sign) are enough.
    const m = /^\s*\+?(\d+)/.exec(ctx.args[0]!);
    if (!m) { ctx.io.stderr('Failed to read age_in_minutes parameter.\n'); return 1; }
    age = Number(m[1]) >>> 0;
  }
  const prefix = `${DM_COOKIE_MAGIC} (0x${DM_COOKIE_MAGIC.toString(16)})`;
  if (!ctx.opts.yes) {
    ctx.io.stderr(`WARNING: This operation will destroy all semaphores ${age ? `older than ${age} minutes ` : ''}with keys that have a prefix ${prefix}.\n`);
    ctx.out('Do you really want to continue? [y/n]: ');
    const answer = ctx.io.stdinIsTTY ? '' : await ctx.io.readStdin();
    if (!/^\s*y/i.test(answer)) {
      ctx.out(`\nSemaphores with keys prefixed by ${prefix} NOT destroyed.\n`);
      return 0;
    }
  }
  const r = (await cookies(ctx)).completeAll(age * 60_000);
  ctx.out(`${r.destroyed} semaphores with keys prefixed by ${prefix} destroyed. ${r.skipped} skipped.\n`);
  return 0;
}

/** ctime_r(3) in the local time zone, without the newline: `Sun Nov 29 12:45:47 2026`. */
export function ctimeString(seconds: number): string {
  const d = new Date(seconds * 1000);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()]!;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()]!;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${day} ${mon} ${String(d.getDate()).padStart(2)} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/** `udevcookies`: every cookie semaphore with its value and times. */
export async function udevcookies(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw new UsageError('Too many command line arguments.');
  const list = (await cookies(ctx)).list();
  ctx.out('Cookie       Semid      Value      Last semop time           Last change time\n');
  for (const e of list) {
    ctx.out(`0x${e.key.toString(16).padEnd(10)} ${String(e.semid).padEnd(10)} ${String(e.value).padEnd(10)} ${ctimeString(e.otime)}  ${ctimeString(e.ctime)}\n`);
  }
  return 0;
}
