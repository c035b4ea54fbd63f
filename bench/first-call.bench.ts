/**
 * What a fresh process pays before its first batch and its first wake-up, split by cause:
 * `npm run build && node dist/bench/first-call.bench.js`.
 *
 * Each measure runs in a fresh Node process of its own (`--child <what>`), R times
 * (FIRST_ROUNDS, default 5), interleaved, medians printed:
 *
 *   node       `node -e 0`: Node's own start, the floor of any process;
 *   import     `import('devicemapper')` (dist/lib/index.js) from a fresh process, and how many
 *              of the package's modules that loads;
 *   libc       loading koffi and binding libc on the main thread (what `open()` pays once);
 *   open       `DeviceMapper.open()` on a backend with no native code + one `versionSync()`;
 *   engine     an ioctl engine's worker: thread start with a fake ioctl (no koffi), then
 *              with koffi loaded in the worker (the real engine's start), then its first ioctl;
 *   batch      `statusMany()` of FIRST_DEVICES (default 10,000) tableless devices through a
 *              fake transport: the first batch of the process against a second one (cold code);
 *   wake       1,000 waits (FIRST_WAITS) on the simulator woken by one event: the first time in
 *              the process against a later time;
 *   eager      `DeviceMapper.open({ engine })` + one sync call on a backend whose transport
 *              starts a real engine (koffi in its worker): 'lazy' against 'eager', to exit.
 *
 * `--live-wake` (in the VM, as root: `bash vm/run-in-vm.sh node dist/bench/first-call.bench.js
 * --live-wake`) splits the first wake-up of FIRST_WAITS waits on a real device in this fresh
 * process, and three later ones, by phase: the rename's ioctl, the poller's poll() returning,
 * the shared DM_DEV_STATUS check, the shared DM_DEV_WAIT (issued → returned), and every wait
 * resolved. FIRST_ENGINE=eager opens the client with `engine: 'eager'`.
 *
 * Prints ratios within the run; no assertion on time. On a host without device-mapper the
 * engine's first ioctl goes to fd -1 (EBADF): the hop is real, the kernel's work is not.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROUNDS = Number(process.env.FIRST_ROUNDS ?? 5);
const DEVICES = Number(process.env.FIRST_DEVICES ?? 10_000);
const WAITS = Number(process.env.FIRST_WAITS ?? 1000);
const here = path.dirname(process.argv[1]!);
const ms = () => performance.now();

type Out = Record<string, number>;

async function child(what: string): Promise<Out> {
  const t0 = ms(); // since the process started (performance.timeOrigin): Node's bootstrap
  const out: Out = { bootMs: t0 };
  if (what === 'import') {
    const a = ms();
    await import('../lib/index.js');
    out.importMs = ms() - a;
    return out;
  }
  if (what === 'libc') {
    const { loadLibc } = await import('../ffi/libc.js');
    const a = ms();
    await loadLibc();
    out.libcMs = ms() - a;
    return out;
  }
  if (what === 'open') {
    const { DeviceMapper } = await import('../lib/index.js');
    const { fakeBackend } = await import('./first-call-fakes.js');
    const a = ms();
    const dm = await DeviceMapper.open({ backend: fakeBackend() });
    out.openMs = ms() - a;
    const b = ms();
    dm.infoSync('vg0-lv_data_0');
    out.firstSyncMs = ms() - b;
    dm.close();
    return out;
  }
  if (what === 'engine' || what === 'engine-fake') {
    const { IoctlEngine } = await import('../ffi/engine.js');
    const a = ms();
    const e = IoctlEngine.start({ fd: -1, libc: 'libc.so.6', ...(what === 'engine-fake' ? { fakeIoctl: 'return [0, 0];' } : {}) });
    out.startCallMs = ms() - a;
    while (!e.ready) await new Promise((r) => setTimeout(r, 0.2));
    out.readyMs = ms() - a;
    const b = ms();
    await e.ioctl(0, new Uint8Array(312));
    out.firstIoctlMs = ms() - b;
    const c = ms();
    await e.ioctl(0, new Uint8Array(312));
    out.secondIoctlMs = ms() - c;
    e.close();
    return out;
  }
  if (what === 'batch') {
    const { DeviceMapper } = await import('../lib/index.js');
    const { fakeBackend, deviceNames } = await import('./first-call-fakes.js');
    const dm = await DeviceMapper.open({ backend: fakeBackend() });
    const ids = deviceNames(DEVICES).map((name) => ({ name }));
    const a = ms();
    const r1 = await dm.statusMany(ids);
    out.firstBatchMs = ms() - a;
    const b = ms();
    const r2 = await dm.statusMany(ids);
    out.secondBatchMs = ms() - b;
    if (!r1.every((r) => r.ok) || !r2.every((r) => r.ok)) throw new Error('statusMany failed');
    dm.close();
    return out;
  }
  if (what === 'wake') {
    const { DeviceMapper } = await import('../lib/index.js');
    const { SimulatedKernel } = await import('../testing/index.js');
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'w', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    const tick = () => new Promise<void>((r) => setImmediate(r));
    for (const key of ['firstWakeMs', 'secondWakeMs', 'thirdWakeMs']) {
      const a = ms();
      const waits = Array.from({ length: WAITS }, () => dm.wait('w'));
      await tick(); await tick();
      if (key === 'firstWakeMs') out.firstStartMs = ms() - a;
      await tick();
      const b = ms();
      kernel.triggerEvent('w');
      await Promise.all(waits);
      out[key] = ms() - b;
    }
    dm.close();
    return out;
  }
  if (what === 'lazy' || what === 'eager') {
    const { DeviceMapper } = await import('../lib/index.js');
    const { engineBackend } = await import('./first-call-fakes.js');
    const a = ms();
    const dm = await DeviceMapper.open({ backend: engineBackend(), engine: what });
    dm.infoSync('vg0-lv_data_0');
    out.openAndSyncMs = ms() - a;
    dm.close();
    const b = ms();
    process.on('exit', () => { fs.writeSync(1, JSON.stringify({ ...out, closeToExitMs: ms() - b })); });
    return out;
  }
  throw new Error(`unknown child ${what}`);
}

function run(what: string): Out & { wallMs: number } {
  const a = ms();
  const r = what === 'node'
    ? spawnSync(process.execPath, ['-e', '0'], { encoding: 'utf8' })
    : spawnSync(process.execPath, [process.argv[1]!, '--child', what], { encoding: 'utf8', cwd: path.resolve(here, '../..') });
  const wallMs = ms() - a;
  if (r.status !== 0) throw new Error(`child ${what} exited ${r.status}: ${r.stderr}`);
  return { ...(what === 'node' ? {} : (JSON.parse(r.stdout) as Out)), wallMs };
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };
const f = (n: number) => `${n.toFixed(2)} ms`;

/** How many of the package's own modules importing the root loads (a static walk of dist/). */
function moduleCount(entry: string): number {
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm)) walk(path.resolve(path.dirname(file), m[1]!));
  };
  walk(entry);
  return seen.size;
}

/** `--live-wake`: see the module comment. Times are ns from the rename's start. */
async function liveWake(): Promise<void> {
  const { DeviceMapper } = await import('../lib/index.js');
  const { realBackend } = await import('../lib/kernel/kernel-backend.js');
  const { requestCode } = await import('../codec/index.js');
  const t0 = ms();
  const real = realBackend();
  const STATUS = requestCode('info');
  const WAIT = requestCode('wait');
  let marks: Record<string, number> = {};
  const mark = (k: string) => { marks[k] ??= ms(); };
  const backend = {
    ...real,
    async openControl() {
      const t = await real.openControl();
      return {
        get fd() { return t.fd; },
        // The wake-up's check: the first DM_DEV_STATUS after poll() returned (the rename makes its own before).
        ioctl: (r: number, b: Uint8Array) => {
          const woken = r === STATUS && marks.pollReturned !== undefined;
          if (woken) mark('checkIssued');
          const x = t.ioctl(r, b);
          if (woken) mark('checkDone');
          return x;
        },
        ioctlAsync: async (r: number, b: Uint8Array, kind?: 'single' | 'batch' | 'wait', lane?: number) => {
          if (r === WAIT) mark('devWaitIssued');
          const x = await t.ioctlAsync(r, b, kind, lane);
          if (r === WAIT) mark('devWaitDone');
          return x;
        },
        close: () => t.close(),
        startEngine: () => (t as unknown as { startEngine?: () => void }).startEngine?.(),
      };
    },
    async openWatcher() {
      const w = await real.openWatcher();
      return { check: () => w.check(), arm: () => w.arm(), cancel: () => w.cancel(), close: () => w.close(), wait: async () => { const r = await w.wait(); if (r === 'event') mark('pollReturned'); return r; } };
    },
  };
  const engine = process.env.FIRST_ENGINE === 'eager' ? 'eager' : 'lazy';
  const a = ms();
  const dm = await DeviceMapper.open({ backend: backend as typeof real, engine });
  const openMs = ms() - a;
  const name = 'fc-wake-a';
  for (const n of [name, 'fc-wake-b']) if (dm.infoSync(n).exists) await dm.removeDevice(n);
  await dm.createDevice({ name, table: [{ start: 0, length: 8, type: 'error', params: '' }] });
  let at = name;
  const rows: Record<string, number>[] = [];
  for (let k = 0; k < 4; k++) {
    const waits = Array.from({ length: WAITS }, () => dm.wait(at));
    // Parked: wait until the process is quiet (the waits finish parking asynchronously).
    for (;;) { const c = process.cpuUsage(); await new Promise((r) => setTimeout(r, 200)); const u = process.cpuUsage(c); if (u.user + u.system < 4000) break; }
    marks = {};
    const next = at === name ? 'fc-wake-b' : name;
    const start = ms();
    await dm.rename(at, { newName: next });
    const renamed = ms();
    await Promise.all(waits);
    const done = ms();
    const rel = (k2: string) => (marks[k2] === undefined ? NaN : marks[k2]! - start);
    rows.push({ renameMs: renamed - start, pollReturnedMs: rel('pollReturned'), checkIssuedMs: rel('checkIssued'), checkDoneMs: rel('checkDone'), devWaitIssuedMs: rel('devWaitIssued'), devWaitDoneMs: rel('devWaitDone'), allResolvedMs: done - start });
    at = next;
  }
  await dm.removeDevice(at);
  dm.close();
  console.log(`live wake-up of ${WAITS} waits, fresh process (engine: ${engine}; process start → open() returned ${(t0 + openMs).toFixed(0)} ms, open ${openMs.toFixed(1)} ms); ms from the rename's start`);
  console.log('| wake-up | rename ioctl returned | poll() returned | check issued | check done | DEV_WAIT issued | DEV_WAIT done | all resolved |\n|---|---:|---:|---:|---:|---:|---:|---:|');
  rows.forEach((r, i) => console.log(`| ${i === 0 ? 'first' : `later ${i}`} | ${[r.renameMs, r.pollReturnedMs, r.checkIssuedMs, r.checkDoneMs, r.devWaitIssuedMs, r.devWaitDoneMs, r.allResolvedMs].map((v) => v!.toFixed(2)).join(' | ')} |`));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--live-wake') return liveWake();
  if (process.argv[2] === '--child') {
    const what = process.argv[3]!;
    const out = await child(what);
    if (what !== 'lazy' && what !== 'eager') process.stdout.write(JSON.stringify(out));
    return;
  }
  const kinds = (process.env.FIRST_ONLY ?? 'node import libc open engine-fake engine batch wake lazy eager').split(/[ ,]+/);
  const samples: Record<string, (Out & { wallMs: number })[]> = {};
  for (let k = 0; k < ROUNDS; k++) for (const w of kinds) (samples[w] ??= []).push(run(w));
  const med = (w: string, key: string) => median(samples[w]!.map((s) => s[key]!));
  const rows: [string, string][] = [];
  const has = (w: string) => samples[w] !== undefined;
  if (has('node')) rows.push(['`node -e 0` (spawn to exit)', f(med('node', 'wallMs'))]);
  if (has('import')) rows.push([`import the root (${moduleCount(path.resolve(here, '../lib/index.js'))} of the package's modules)`, f(med('import', 'importMs'))]);
  if (has('libc')) rows.push(['koffi + libc bound on the main thread (loadLibc)', f(med('libc', 'libcMs'))]);
  if (has('open')) rows.push(['DeviceMapper.open() on a fake backend (incl. one DM_VERSION) / first infoSync', `${f(med('open', 'openMs'))} / ${f(med('open', 'firstSyncMs'))}`]);
  if (has('engine-fake')) rows.push(['engine worker, fake ioctl (no koffi): start() / until ready / first ioctl / second', `${f(med('engine-fake', 'startCallMs'))} / ${f(med('engine-fake', 'readyMs'))} / ${f(med('engine-fake', 'firstIoctlMs'))} / ${f(med('engine-fake', 'secondIoctlMs'))}`]);
  if (has('engine')) rows.push(['engine worker, koffi loaded in it: start() / until ready / first ioctl / second', `${f(med('engine', 'startCallMs'))} / ${f(med('engine', 'readyMs'))} / ${f(med('engine', 'firstIoctlMs'))} / ${f(med('engine', 'secondIoctlMs'))}`]);
  if (has('batch')) rows.push([`statusMany of ${DEVICES}, fake transport: first batch / second / ratio`, `${f(med('batch', 'firstBatchMs'))} / ${f(med('batch', 'secondBatchMs'))} / ${(med('batch', 'firstBatchMs') / med('batch', 'secondBatchMs')).toFixed(2)}×`]);
  if (has('wake')) rows.push([`${WAITS} waits woken by one event (simulator): first / second / third / first ÷ third`, `${f(med('wake', 'firstWakeMs'))} / ${f(med('wake', 'secondWakeMs'))} / ${f(med('wake', 'thirdWakeMs'))} / ${(med('wake', 'firstWakeMs') / med('wake', 'thirdWakeMs')).toFixed(2)}×`]);
  for (const w of ['lazy', 'eager']) {
    if (has(w)) rows.push([`open({ engine: '${w}' }) + one infoSync / close to exit / whole process`, `${f(med(w, 'openAndSyncMs'))} / ${f(med(w, 'closeToExitMs'))} / ${f(med(w, 'wallMs'))}`]);
  }
  console.log(`first call in a fresh process, median of ${ROUNDS} interleaved rounds (node ${process.version}, load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
  console.log('| measure | value |\n|---|---:|');
  for (const [a, b] of rows) console.log(`| ${a} | ${b} |`);
}

void main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
