/**
 * The poison test (docs/kernel-facts.md, "Stale bytes"), written once for the simulator
 * and the real kernels: the same sequence of every command, run on a client whose reused
 * request buffers hold 0xA5 wherever the previous reply left them free (`poisonedBackend()`: a
 * backend that writes it after every ioctl, past the reply's data_size) and on one whose
 * buffers hold only zeros and earlier replies, must decode identically. The sequence includes a 15-character target type
 * (snapshot-origin), which kernels before a 2023 change (Debian's 6.1) copy with strncpy(…, 15): no terminator, so
 * byte 15 is whatever the request buffer held there.
 *
 * What is normalised, and why: minors are replaced by their order of first appearance
 * within a run (the kernel hands out free minors, which other devices may hold), and the
 * target list is sorted (a module loaded by the first run changes the kernel's order).
 * Everything else — names, uuids, event numbers, flags, counts, table and status text,
 * message output, errors — is compared as decoded.
 */
import { codec } from '../../codec/index.js';
import type { Backend, ControlTransport, DeviceMapper } from '../../lib/index.js';

/**
 * `backend`, with every ioctl's buffer filled with `byte` from the reply's data_size to its
 * end once the call returns: the next request the client encodes into a buffer it reuses
 * (the sync calls' scratch buffer, the batch pool) finds old bytes wherever the codec does
 * not write. Through the public Backend interface only.
 */
export function poisonedBackend(backend: Backend, byte: number | undefined): Backend {
  if (byte === undefined) return backend;
  const dirty = (buf: Uint8Array): void => {
    const { data_size: dataSize } = codec.decodeHeader(buf);
    if (dataSize < buf.length) buf.fill(byte, dataSize);
  };
  const wrap = (t: ControlTransport): ControlTransport => ({
    get fd() { return t.fd; },
    ioctl(request, buf) {
      const r = t.ioctl(request, buf);
      dirty(buf);
      return r;
    },
    async ioctlAsync(request, buf, kind) {
      const r = await t.ioctlAsync(request, buf, kind);
      dirty(buf);
      return r;
    },
    close: () => t.close(),
  });
  return { ...backend, openControl: async () => wrap(await backend.openControl()) };
}

/** One step's decoded result (or its error code), keyed by the step's name. */
export type Transcript = [step: string, result: unknown][];

export const ORIGIN_TYPE = 'snapshot-origin';

/**
 * Runs every command once on devices named `<prefix>…` and returns what was decoded.
 * The devices are removed at the end (and on failure).
 */
export async function poisonSequence(dm: DeviceMapper, prefix: string): Promise<Transcript> {
  const out: Transcript = [];
  // Long names: list records then cover the bytes where a later reply puts target_type.
  const base = `${prefix}base-with-a-long-name-0123456789`;
  const origin = `${prefix}origin-with-a-long-name-0123456789`;
  const renamed = `${prefix}renamed-origin-with-a-long-name`;
  const step = async (name: string, f: () => unknown): Promise<void> => {
    try {
      out.push([name, await f()]);
    } catch (e) {
      out.push([name, { error: (e as { code?: string }).code ?? String(e) }]);
    }
  };
  try {
    await step('version', () => dm.version());
    await step('getTargetVersion', () => dm.getTargetVersion(ORIGIN_TYPE));
    await step('listVersions', async () => (await dm.listVersions()).map((t) => `${t.name} ${t.version.join('.')}`).sort());
    await step('create base', () => dm.create({ name: base, uuid: `${prefix}uuid-base` }));
    await step('load base', () => dm.load(base, [{ start: 0, length: 2048, type: 'zero', params: '' }]));
    await step('resume base', () => dm.resume(base));
    const b = await dm.info(base);
    if (!b.exists) throw new Error(`${base} vanished`);
    await step('create origin', () => dm.create({ name: origin, uuid: `${prefix}uuid-origin` }));
    await step('load origin', () => dm.load(origin, [{ start: 0, length: 2048, type: ORIGIN_TYPE, params: `${b.dev.major}:${b.dev.minor}` }]));
    await step('info origin (inactive)', () => dm.info(origin, { inactive: true }));
    await step('table origin (inactive)', () => dm.table(origin, { inactive: true }));
    await step('resume origin', () => dm.resume(origin));
    await step('list', () => dm.list({ namePrefix: prefix }));
    await step('info origin', () => dm.info(origin));
    await step('deps origin', () => dm.deps(origin));
    await step('status origin', () => dm.status(origin));
    await step('table origin', () => dm.table(origin));
    await step('wait origin', () => dm.wait(origin, { eventNr: 12345 }));
    await step('status base', () => dm.status(base));
    await step('message @stats_create', () => dm.message(base, 0, '@stats_create - /2'));
    await step('message @stats_list', () => dm.message(base, 0, '@stats_list'));
    await step('message @stats_delete', () => dm.message(base, 0, '@stats_delete 0'));
    await step('message (no handler)', () => dm.message(origin, 0, 'hello'));
    await step('setGeometry', () => dm.setGeometry(base, { cylinders: 1, heads: 16, sectorsPerTrack: 63, startSectors: 0 }));
    await step('suspend origin', () => dm.suspend(origin));
    await step('status origin (suspended)', () => dm.status(origin));
    await step('resume origin again', () => dm.resume(origin));
    await step('load base (inactive)', () => dm.load(base, [{ start: 0, length: 4096, type: 'error', params: '' }]));
    await step('table base (inactive)', () => dm.table(base, { inactive: true }));
    await step('clear base', () => dm.clear(base));
    await step('rename origin', () => dm.rename(origin, { newName: renamed }));
    await step('list after rename', () => dm.list({ namePrefix: prefix }));
    await step('status renamed', () => dm.status(renamed));
    await step('info missing', () => dm.info(`${prefix}missing`));
    await step('remove renamed', () => dm.remove(renamed));
    await step('remove base', () => dm.remove(base));
    await step('list at the end', () => dm.list({ namePrefix: prefix }));
  } finally {
    for (const d of await dm.list({ namePrefix: prefix })) await dm.remove({ name: d.nameBytes ?? d.name }).catch(() => undefined);
  }
  return normalise(out);
}

/** Replaces minors by their order of first appearance (see the file comment). */
function normalise(t: Transcript): Transcript {
  const minors = new Map<number, number>();
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v instanceof Uint8Array) return Array.from(v);
    if (v !== null && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x);
      if (typeof o.major === 'number' && typeof o.minor === 'number' && Object.keys(o).length === 2) {
        if (!minors.has(o.minor)) minors.set(o.minor, minors.size);
        o.minor = `#${minors.get(o.minor)}`;
      }
      return o;
    }
    if (typeof v === 'bigint') return `${v}n`;
    return v;
  };
  // Table text names the base by major:minor: normalise that too.
  const text = (v: unknown): unknown => v === undefined ? 'undefined' : JSON.parse(JSON.stringify(v), (_k, x) =>
    typeof x === 'string' ? x.replace(/\b(\d+):(\d+)\b/g, (m, ma: string, mi: string) => {
      const n = Number(mi);
      return minors.has(n) ? `${ma}:#${minors.get(n)}` : m;
    }) : x);
  const walked = t.map(([s, r]) => [s, walk(r)] as const);
  return walked.map(([s, r]) => [s, text(r)]);
}
