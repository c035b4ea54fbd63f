// One victim of the live crash suite (spec/live/crash.live.spec.ts), run with plain node
// against the built package (dist/), as the identity race's workers are. The parent SIGKILLs
// it in the middle of a multi-step operation and then checks what the kernel was left with.
//
// Protocol. The child loads the package and opens a client, prints `booted <ms since its
// start>`, and reads ONE JSON line on stdin: the operation and its parameters (the parent
// boots children ahead while it checks the previous kill, so the Node start-up is not on the
// critical path). It sets the operation up, prints `ready`, then runs the operation in a
// loop, each iteration framed by `begin <label>` and `done <label> <ms> <ioctls>` (or
// `fail <label> <code>`); with nothing left to do it prints `idle` and waits to be killed.
//
// Stop points. Every ioctl the operation issues has two points: 2i (before ioctl i is sent)
// and 2i+1 (its reply is in, nothing done with it yet). With `stopAt` = p the child prints
// `stop p` at that point and blocks its only JS thread for good, so the SIGKILL lands
// exactly there; an iteration that has fewer points wraps p into the next one.
//
// env: CRASH_DIST (dist/ path), CRASH_STATE_DIR (intent records, used only when the client
// has recover()).
import * as fs from 'node:fs';
import * as readline from 'node:readline';

const dist = process.env.CRASH_DIST;
const lib = await import(`${dist}/lib/index.js`);
const { DeviceMapper, ThinPool, FaultyDevice, suspendTree, resumeTree, removeTree } = lib;
const { realBackend } = await import(`${dist}/lib/kernel/kernel-backend.js`);

/** Synchronous: a line written before a block or a kill must reach the parent. */
const say = (line) => fs.writeSync(1, `${line}\n`);

let inOp = false;
let ioctls = 0;
let stopAt = -1;
const mark = (point) => {
  if (!inOp || point !== stopAt) return;
  say(`stop ${point}`);
  // Blocks this thread (the only one that can issue the next ioctl) until the SIGKILL.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
};

/** The real backend, with the two stop points around each ioctl of the operation. */
function markingBackend() {
  const base = realBackend();
  return {
    ...base,
    async openControl() {
      const t = await base.openControl();
      return {
        get fd() { return t.fd; },
        ioctl(request, buf) {
          const i = inOp ? ioctls++ : -1;
          mark(2 * i);
          const r = t.ioctl(request, buf);
          mark(2 * i + 1);
          return r;
        },
        async ioctlAsync(request, buf, kind) {
          const i = inOp ? ioctls++ : -1;
          mark(2 * i);
          const r = await t.ioctlAsync(request, buf, kind);
          mark(2 * i + 1);
          return r;
        },
        close: () => t.close(),
      };
    },
  };
}

// The intent records of the recovery feature live where the parent's recover() looks; a
// package without recover() takes no stateDir option (feature-detected, as the parent does).
const hasRecover = typeof DeviceMapper.prototype.recover === 'function';
const dm = await DeviceMapper.open({ backend: markingBackend(), ...(hasRecover ? { stateDir: process.env.CRASH_STATE_DIR } : {}) });
say(`booted ${Math.round(performance.now())}`);

const rl = readline.createInterface({ input: process.stdin });
const config = JSON.parse(await new Promise((resolve) => rl.once('line', resolve)));
rl.close();
stopAt = config.stopAt ?? -1;

/** One iteration of the operation, framed and counted. */
async function iteration(label, fn) {
  say(`begin ${label}`);
  ioctls = 0;
  inOp = true;
  const t0 = performance.now();
  try {
    await fn();
    inOp = false;
    say(`done ${label} ${Math.round(performance.now() - t0)} ${ioctls}`);
  } catch (e) {
    inOp = false;
    say(`fail ${label} ${e?.code ?? e?.name ?? 'error'} ${String(e?.message ?? e).split('\n')[0]}`);
  }
  // A stop point past this iteration's last one lands in the next iteration.
  if (stopAt >= 2 * ioctls && ioctls > 0) stopAt %= 2 * ioctls;
}

const idle = () => { say('idle'); setInterval(() => {}, 60_000); };

switch (config.op) {
  case 'snapshot': case 'createThin': {
    const pool = await ThinPool.open(dm, config.pool);
    say('ready');
    for (let id = config.firstId; ; id++) {
      await iteration(String(id), () => (config.op === 'snapshot' ? pool.snapshot(id, config.originId) : pool.createThin(id)));
    }
  }
  case 'delete': {
    const pool = await ThinPool.open(dm, config.pool);
    say('ready');
    for (const id of config.ids) await iteration(String(id), () => pool.delete(id, { discard: true }));
    idle();
    break;
  }
  case 'faulty': {
    const dev = await FaultyDevice.create(dm, { name: config.name, device: config.device });
    say('ready');
    for (let i = 0; ; i++) await iteration(String(i), () => (i % 2 === 0 ? dev.failWrites() : dev.restore()));
  }
  case 'tree': {
    say('ready');
    for (let i = 0; ; i++) {
      // Two operations, two iterations: a kill between them (or before resumeTree has recorded
      // anything) leaves the stack as a finished suspendTree left it, which is not recovery's to undo.
      await iteration(`s${i}`, () => suspendTree(dm, [config.top]));
      await iteration(`r${i}`, () => resumeTree(dm, [config.top]));
    }
  }
  case 'createDevice': {
    say('ready');
    for (let i = 0; ; i++) {
      const name = `${config.prefix}${i}`;
      await iteration(name, () => dm.createDevice({ name, uuid: `CRASH-${name}`, table: config.table }));
    }
  }
  case 'removeDevice': {
    say('ready');
    for (const name of config.names) await iteration(name, () => dm.removeDevice(name));
    idle();
    break;
  }
  case 'removeTree': {
    say('ready');
    for (const top of config.tops) await iteration(top, () => removeTree(dm, [top]));
    idle();
    break;
  }
  case 'rename': {
    say('ready');
    let [from, to] = config.names;
    for (;;) {
      await iteration(`${from}>${to}`, () => dm.rename(from, { newName: to }, { udev: 'sync' }));
      if ((await dm.info(to)).exists) [from, to] = [to, from];
    }
  }
  default:
    say(`fail setup unknown-op ${config.op}`);
    process.exit(2);
}
