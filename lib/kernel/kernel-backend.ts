/**
 * The real backend: koffi on the control node. Loading it loads no native code until
 * `openControl()` is called (koffi comes in through a dynamic import in ffi/).
 */
import { createCancelPipe, createPoller, DM_CONTROL_PATH, openControl, type AsyncPath } from '../../ffi/control.js';
import { POLLIN, type CancelPipe, type ControlTransport } from '../../ffi/types.js';
import { pollerOf, type Poller } from './syscall-structs.js';
import { DmClosedError, DmSyscallError } from '../../ffi/errors.js';
import { codec, requestCode } from '../../codec/index.js';
import type { Backend, Watcher } from './backend.js';
import { openKernelLog } from './kmsg-reader.js';
import { realCookieHost } from '../udev/cookies.js';
import { hostBlockIo } from './host-block-io.js';
import { fileIntentStore } from './intent-store.js';
import { hostSysfs } from './host-sysfs.js';
import { CHAIN_CHECK_SOURCE } from './chain-check.js';
import { dmReplyBytes } from './reply-bytes.js';

export function realBackend(path: string = DM_CONTROL_PATH, asyncPath?: AsyncPath): Backend {
  return {
    description: path,
    openControl: () => openControl(path, { asyncPath, chainCheck: CHAIN_CHECK_SOURCE, replyBytes: dmReplyBytes }),
    openWatcher: async () => {
      const t = await openControl(path);
      try {
        return new PollWatcher(t, await createCancelPipe(), pollerOf(await createPoller()));
      } catch (e) {
        t.close();
        throw e;
      }
    },
    openKernelLog: () => openKernelLog(),
    openCookieHost: () => realCookieHost(),
    blockIo: hostBlockIo,
    openIntentStore: (stateDir) => fileIntentStore(stateDir),
    sysfs: hostSysfs(),
  };
}

const ARM_POLL = requestCode('armPoll');

/** DM_DEV_ARM_POLL + poll() on a dedicated control fd, woken early through a self-pipe. */
class PollWatcher implements Watcher {
  readonly #armRequest = codec.encodeRequest('armPoll');
  #closed = false;
  #waiting = false;

  constructor(private readonly t: ControlTransport, private readonly pipe: CancelPipe, private readonly poller: Poller) {}

  /** A closed watcher's fds are gone (or going): using it is DmClosedError, never a poll of fd -1 that sleeps forever. */
  #open(): void {
    if (this.#closed) throw new DmClosedError('device-mapper event watcher');
  }

  check(): boolean {
    this.#open();
    const r = this.poller.poll([{ fd: this.t.fd, events: POLLIN }], 0);
    return r.ret > 0 && (r.revents[0] ?? 0) !== 0;
  }

  arm(): void {
    this.#open();
    // ARM_POLL only copies the header; reuse one encoded request (the kernel rewrites the version).
    const r = this.t.ioctl(ARM_POLL, this.#armRequest);
    if (r.ret !== 0) throw new DmSyscallError('DM_DEV_ARM_POLL failed', { errno: r.errno, syscall: 'ioctl' });
  }

  async wait(): Promise<'event' | 'cancelled'> {
    this.#open();
    if (this.#waiting) throw new Error('internal: only one wait() may be pending on a watcher');
    this.#waiting = true;
    try {
      for (;;) {
        const r = await this.poller.pollAsync([{ fd: this.t.fd, events: POLLIN }, { fd: this.pipe.readFd, events: POLLIN }], -1);
        if (r.ret < 0) {
          if (r.errno === 4) continue; // EINTR
          throw new DmSyscallError('poll failed', { errno: r.errno, syscall: 'poll' });
        }
        // An event wins over a cancel that raced with it: the caller must see it.
        if ((r.revents[1] ?? 0) !== 0) this.pipe.drain();
        return (r.revents[0] ?? 0) !== 0 ? 'event' : 'cancelled';
      }
    } finally {
      this.#waiting = false;
    }
  }

  cancel(): void {
    if (!this.#closed) this.pipe.signal();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.pipe.signal();
    // The fds are closed once no poll can still be using them.
    const release = () => { this.t.close(); this.pipe.close(); };
    if (!this.#waiting) release();
    else void this.#waitIdle().then(release);
  }

  async #waitIdle(): Promise<void> {
    while (this.#waiting) await new Promise((r) => setTimeout(r, 1));
  }
}
