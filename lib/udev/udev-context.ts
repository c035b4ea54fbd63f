/**
 * The client's udev context: the cookie host of its backend (opened once, on the first call
 * that syncs with udev), the kernel version that decides whether udev can complete a
 * cookie, and the signals that end a call's wait for udev — the call's own, and the
 * client's close() so that close() ends every udev wait at once (the semaphore removed;
 * createDevice then rolls back).
 */
import type { Version } from '../../codec/index.js';
import type { Backend } from '../kernel/backend.js';
import type { CookieJournal, UdevContext } from './cookie-call.js';
import { UdevCookies } from './cookies.js';

export class ClientUdev {
  #cookies: Promise<UdevCookies | undefined> | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly kernel: () => Version,
    private readonly closing: AbortSignal,
    /** Opens the record of a cookie a call makes for itself (UdevContext.cookieJournal); none without an intent store. */
    private readonly cookieJournal?: () => CookieJournal,
  ) {}

  /** The udev context of one call whose wait `signal` may end. */
  context(signal: AbortSignal | undefined): UdevContext {
    return {
      cookies: () => (this.#cookies ??= this.backend.openCookieHost ? this.backend.openCookieHost().then((h) => new UdevCookies(h)) : Promise.resolve(undefined)),
      kernel: this.kernel(),
      // Not AbortSignal.any(): that leaves a reference per call on the long-lived closing
      // signal (lib/events/abort-fanout.ts); the wait registers on both through the fan-out.
      signal,
      closing: this.closing,
      cookieJournal: this.cookieJournal,
    };
  }
}
