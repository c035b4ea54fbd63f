// One process of the live identity race (spec/live/identity-race.live.spec.ts), run with
// plain node against the built package (dist/). As a worker (IDR_MODE=worker) it creates,
// renames and removes devices under a few shared names with createDevice/removeDevice/rename,
// every device tagged with this process's uuid prefix, for a bounded time; its transport logs
// every ioctl's reply header (name, uuid, dev) — what the kernel says each call reached,
// independent of the library's own checks — as JSON lines. As the adversary
// (IDR_MODE=adversary) it is the hostile neighbour: single ioctls by name, as fast as it can,
// one loop removing whatever holds a name while another creates, loads and resumes its own
// devices on the names that come free.
// A worker's removals are pinned to the identity createDevice returned (`expect`), so each
// attempt is verify-then-remove; with IDR_ASYNC_PATH=engine its createDevice and each such
// attempt go to the ioctl engine as one chain (logged, counted per kind), otherwise ('auto',
// no batch starts the engine) step by step.
//   env: IDR_DIST (dist/ path), IDR_MODE, IDR_PREFIX (uuid prefix), IDR_NAMES (comma list),
//        IDR_SECTORS (this process's table size), IDR_DURATION_MS, IDR_LOG (file), IDR_SEED,
//        IDR_ASYNC_PATH ('engine' | 'auto', default 'auto')
import * as fs from 'node:fs';

const dist = process.env.IDR_DIST;
const { DeviceMapper, DmError, DmIdentityError } = await import(`${dist}/lib/index.js`);
const { realBackend } = await import(`${dist}/lib/kernel/kernel-backend.js`);
const { codec, COMMANDS } = await import(`${dist}/codec/index.js`);

const prefix = process.env.IDR_PREFIX;
const names = process.env.IDR_NAMES.split(',');
const sectors = BigInt(process.env.IDR_SECTORS);
const until = Date.now() + Number(process.env.IDR_DURATION_MS);
const lines = [];
const log = (o) => lines.push(JSON.stringify(o));

let seed = Number(process.env.IDR_SEED) >>> 0;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];

/** Chains the engine ran, per kind: the commands of their steps (logged with the worker's totals). */
const chainsRun = {};

/** The real backend, with every ioctl's outcome logged from the reply bytes themselves. */
function loggingBackend() {
  const base = realBackend(undefined, process.env.IDR_ASYNC_PATH || 'auto');
  const record = (request, buf, r) => {
    const cmd = COMMANDS[request & 0xff];
    if (r.ret !== 0) { log({ t: 'ioctl', cmd, ok: false, errno: r.errno }); return r; }
    const h = codec.decodeHeader(buf);
    log({ t: 'ioctl', cmd, ok: true, name: h.name, uuid: h.uuid, dev: String(h.dev), flags: h.flags });
    return r;
  };
  return {
    ...base,
    async openControl() {
      const t = await base.openControl();
      return {
        get fd() { return t.fd; },
        ioctl: (request, buf) => record(request, buf, t.ioctl(request, buf)),
        ioctlAsync: async (request, buf) => record(request, buf, await t.ioctlAsync(request, buf)),
        // Chains on the engine (createDevice's create → load → resume, a pinned removal's
        // status → remove): every step the worker issued is logged from its reply bytes, as a
        // single call is.
        chainReady: (steps, lane) => t.chainReady(steps, lane),
        ioctlChain(steps, lane, reference) {
          const chain = t.ioctlChain(steps, lane, reference);
          return chain && chain.then((results) => {
            const kind = steps.map((st) => COMMANDS[st.request & 0xff]).join('>');
            chainsRun[kind] = (chainsRun[kind] ?? 0) + 1;
            results.forEach((r, i) => { if (r.ran) record(steps[i].request, steps[i].buf, r); });
            return results;
          });
        },
        close: () => t.close(),
      };
    },
  };
}

const dm = await DeviceMapper.open({ backend: loggingBackend() });
const isIdentityError = (e) => typeof DmIdentityError === 'function' && e instanceof DmIdentityError;

if (process.env.IDR_MODE === 'adversary') {
  // Two loops at once (each ioctl on its own pool thread): one removes whatever holds a
  // name, the other takes freed names at once — the remove-and-re-create of the issue.
  const stats = { ops: 0, removed: 0, created: 0, live: 0 };
  let i = 0;
  const remover = async () => {
    while (Date.now() < until) {
      stats.ops++;
      try { await dm.remove(pick(names)); stats.removed++; } catch { /* not there, or open */ }
    }
  };
  const creator = async () => {
    while (Date.now() < until) {
      const name = pick(names);
      try {
        await dm.create({ name, uuid: rnd() < 0.5 ? `${prefix}${i++}` : undefined });
        stats.created++;
        await dm.load({ name }, [{ start: 0, length: sectors, type: 'zero', params: '' }]);
        await dm.resume({ name });
        stats.live++;
      } catch { /* the name was taken, or the device went away between our steps */ }
    }
  };
  await Promise.all([remover(), creator()]);
  dm.close();
  log({ t: 'done', ...stats });
  fs.writeFileSync(process.env.IDR_LOG, lines.join('\n') + '\n');
  process.exit(0);
}

const mine = [];
/** What createDevice returned, per uuid of ours. */
const made = new Map();
let n = 0;
const stats = { ops: 0, ok: 0, created: 0, removed: 0, renamed: 0, identity: 0, raced: 0, failed: 0 };

async function op(kind, fn, detail) {
  stats.ops++;
  log({ t: 'op', kind, ...detail });
  try {
    const r = await fn();
    stats.ok++;
    log({ t: 'ok', kind, ...detail });
    return r;
  } catch (e) {
    stats.failed++;
    if (isIdentityError(e)) stats.identity++;
    // Our device went away (or another took the name) between two of our steps.
    if (isIdentityError(e) || (e.code === 'ENXIO' && kind !== 'table')) stats.raced++;
    const typed = e instanceof DmError || isIdentityError(e);
    log({ t: 'fail', kind, ...detail, code: e.code, name: e.name, typed, cleanup: e.cleanupError ? String(e.cleanupError.code) : undefined, message: String(e.message).split('\n')[0] });
    return undefined;
  }
}

try {
  while (Date.now() < until) {
    const r = rnd();
    if (mine.length === 0 || (mine.length < 2 && r < 0.55)) {
      const uuid = `${prefix}${n++}`;
      const name = pick(names);
      const info = await op('create', () => dm.createDevice({ name, uuid, table: [{ start: 0, length: sectors, type: 'zero', params: '' }], rollback: { delayMs: 20 } }), { name, uuid });
      if (info) {
        stats.created++;
        mine.push(uuid);
        made.set(uuid, info);
        // What went live on the device with our uuid: our table (the kernel's word, by uuid).
        const t = await op('table', () => dm.table({ uuid }), { uuid });
        if (t) log({ t: 'table', uuid, replyUuid: t.device.uuid, sectors: String(t.targets.reduce((s, x) => s + x.length, 0n)) });
      }
    } else if (r < 0.85) {
      const uuid = mine.splice(Math.floor(rnd() * mine.length), 1)[0];
      // Pinned to what createDevice returned: only that very device (uuid and dev) is removed.
      if (await op('remove', () => dm.removeDevice({ uuid }, { delayMs: 20, expect: made.get(uuid) }), { uuid })) stats.removed++;
    } else {
      const uuid = pick(mine);
      const to = pick(names);
      if (await op('rename', () => dm.rename({ uuid }, { newName: to }), { uuid, to })) stats.renamed++;
    }
  }
} finally {
  for (const uuid of mine) await op('cleanup', () => dm.removeDevice({ uuid }, { delayMs: 50 }), { uuid });
  await dm[Symbol.asyncDispose]();
  log({ t: 'done', ...stats, chains: chainsRun });
  fs.writeFileSync(process.env.IDR_LOG, lines.join('\n') + '\n');
}
