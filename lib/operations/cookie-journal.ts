/**
 * The intent record of one call's own udev cookie (lib/udev/cookie-call.ts `CookieJournal`,
 * docs/crash-safety.md): a record of its own (`udev cookie`), whichever call made the cookie,
 * so a SIGKILL anywhere from the key's choice to the set's removal leaves it to recover().
 */
import type { CookieJournal } from '../udev/cookie-call.js';
import { IntentJournal, type IntentStore } from './intent-record.js';

/** One slot: the key changes on an EEXIST retry, the record names the one being tried. */
const SLOT = 'cookie';

/** A cookie's record in `store`. */
export function cookieJournal(store: IntentStore): CookieJournal {
  const journal = new IntentJournal(store, 'udev cookie');
  return {
    creating(cookie) {
      // Rounded down: the set's ctime (whole seconds) is never below it when made after it.
      journal.record(SLOT, { kind: 'cookie', cookie, notBeforeS: Math.floor(Date.now() / 1000) });
    },
    made(cookie, semid, ctimeS) {
      journal.record(SLOT, { kind: 'cookie', cookie, semid, ...(ctimeS !== undefined ? { ctimeS } : {}) });
    },
    close: () => journal.close(),
  };
}
