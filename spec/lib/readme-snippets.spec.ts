// Every ```ts block of README.md and of the guides it links (docs/*.md, shipped in the tarball)
// is a complete program a user can copy: this extracts each one, type-checks it as its own ES module the way a consumer compiles it (strict,
// noUncheckedIndexedAccess, module nodenext; 'devicemapper', 'devicemapper/codec' and
// 'devicemapper/testing' resolve to this repository's sources), then runs it on the simulated
// kernel. A block that opens the real control node (`DeviceMapper.open()` with no backend)
// gets a simulated kernel with /dev/loop0 (7:0) and /dev/loop1 (7:1) instead; nothing else
// of the block is changed. A block that only defines exported functions is run by a driver
// below that calls them (a block exporting a function with no driver fails the test).
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import * as root from '../../lib/index.js';
import * as testing from '../../testing/index.js';
import * as codecEntry from '../../codec/index.js';

const ROOT = path.resolve(__dirname, '..', '..');
/** README.md and the guides in docs/ (every Markdown file there ships with the package). */
const DOCUMENTS = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

interface Snippet { readonly where: string; readonly line: number; readonly marker: string | undefined; readonly code: string; readonly file: string }

/** Each ```ts block of a document with its line and the `<!-- example|snippet: … -->` marker above it. */
function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const doc of DOCUMENTS) {
    const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
    const stem = doc.replace(/[/.]/g, '-');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] !== '```ts') continue;
      const end = lines.indexOf('```', i + 1);
      if (end < 0) throw new Error(`${doc}:${i + 1}: unterminated code block`);
      const m = /^<!-- (?:example: \S+|snippet:) (\S+) -->$/.exec(lines[i - 1] ?? '');
      out.push({ where: `${doc}:${i + 1}`, line: i + 1, marker: m?.[1], code: lines.slice(i + 1, end).join('\n') + '\n', file: path.join(ROOT, '.cache', 'readme', `${stem}-${i + 1}.mts`) });
      i = end;
    }
  }
  return out;
}

const ENTRIES: Record<string, unknown> = { devicemapper: root, 'devicemapper/testing': testing, 'devicemapper/codec': codecEntry };

/** Type-checks all blocks in one program; returns the diagnostics per block file. */
function typeCheck(blocks: readonly Snippet[]): Map<string, string[]> {
  const options: ts.CompilerOptions = {
    strict: true, noUncheckedIndexedAccess: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'], types: ['node'], noEmit: true, skipLibCheck: true,
    paths: {
      devicemapper: [path.join(ROOT, 'lib/index.ts')],
      'devicemapper/testing': [path.join(ROOT, 'testing/index.ts')],
      'devicemapper/codec': [path.join(ROOT, 'codec/index.ts')],
    },
  };
  const virtual = new Map(blocks.map((b) => [b.file, b.code]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => {
    const text = virtual.get(f);
    return text !== undefined ? ts.createSourceFile(f, text, lang) : getSourceFile.call(host, f, lang, ...rest);
  };
  const program = ts.createProgram([...virtual.keys()], options, host);
  const out = new Map<string, string[]>(blocks.map((b) => [b.file, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const key = d.file && out.has(d.file.fileName) ? d.file.fileName : blocks[0]!.file;
    out.get(key)!.push(`${where ? `line ${where.line + 1}: ` : ''}TS${d.code} ${text}${d.file && !out.has(d.file.fileName) ? ` (in ${d.file.fileName})` : ''}`);
  }
  return out;
}

/** Runs a block as written (compiled to CommonJS inside an async function, so top-level await works); `modules` stand in for Node's. */
async function run(block: Snippet, modules: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const js = ts.transpileModule(block.code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: 'snippet.ts',
  }).outputText;
  const exports: Record<string, unknown> = {};
  const req = (id: string): unknown => {
    if (id in ENTRIES) return ENTRIES[id];
    if (id in modules) return modules[id];
    if (id.startsWith('node:')) return require(id);
    throw new Error(`${block.where}: the block imports ${id}, which a user of the package does not have`);
  };
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
  await new AsyncFunction('require', 'exports', 'module', js)(req, exports, { exports });
  return exports;
}

/** Clients the blocks opened through `DeviceMapper.open()` without a backend, on their simulated kernel. */
let opened: { kernel: testing.SimulatedKernel; dm: root.DeviceMapper }[] = [];
const realOpen = root.DeviceMapper.open.bind(root.DeviceMapper);
function simulateOpen(): void {
  jest.spyOn(root.DeviceMapper, 'open').mockImplementation(async (options = {}) => {
    if (options.backend) return realOpen(options);
    const kernel = new testing.SimulatedKernel({ version: [4, 48, 0] });
    kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
    kernel.addBlockDevice('/dev/loop1', 7, 1, 131072);
    const dm = await realOpen({ ...options, backend: kernel.backend() });
    opened.push({ kernel, dm });
    return dm;
  });
}

const until = async (what: () => boolean, label: string): Promise<void> => {
  for (let i = 0; i < 2000 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!what()) throw new Error(`timed out waiting for ${label}`);
};

/** Drivers for blocks that need more than running: keyed by the block's marker. */
const DRIVERS: Record<string, (block: Snippet, log: jest.SpiedFunction<typeof console.log>) => Promise<void>> = {
  // The events loop runs until its client closes: make a pool cross its low-water mark, see
  // the block react, then close the client the block opened.
  async events(block, log) {
    const running = run(block);
    // Its iterator took its first snapshot once its poll is parked: only then make the event.
    await until(() => opened.length === 1 && opened[0]!.kernel.pendingWaits > 0, 'the block to start listening');
    const { kernel } = opened[0]!;
    const dm = await realOpen({ backend: kernel.backend() });
    await root.createTypedDevice(dm, { name: 'pool0', table: [{ start: 0, length: 131072, type: 'thin-pool', metadataDevice: '/dev/loop0',
      dataDevice: { major: 7, minor: 1 }, blockSizeSectors: 128, lowWaterMarkBlocks: 1000n }] });
    await dm.message('pool0', 0, 'create_thin 1');
    const info = await dm.info('pool0');
    if (!info.exists) throw new Error('pool0 vanished');
    await dm.createDevice({ name: 'thin1', table: [{ start: 0, length: 131072, type: 'thin', params: `${info.dev.major}:${info.dev.minor} 1` }] });
    testing.thinSim(kernel).write('thin1', 0, 128 * 100);   // 1024 - 100 free blocks < 1000: low water
    await until(() => log.mock.calls.some((c) => c[0] === 'pool0: low on space'), 'the block to see the low-water event');
    opened[0]!.dm.close();
    await running;
    dm.close();
  },
  // README's backup from thin snapshots: one changed range, and the restored thin has today's sha256.
  async 'thin-backup'(block, log) {
    await run(block);
    expect(log.mock.calls).toEqual([[1, true]]);
  },
  // docs/thin-metadata.md's reader of a metadata file: run on a file thin_restore made (the
  // oracle's own writer; skipped, saying so, where it is not installed).
  async 'thin-metadata-file'(block, log) {
    const exports = await run(block);
    const restore = ['/usr/sbin/thin_restore', '/sbin/thin_restore', '/usr/bin/thin_restore'].find((f) => fs.existsSync(f));
    if (!restore) { console.warn(`${block.where}: run skipped, no thin_restore on this machine`); return; }
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'thin-snippet-'));
    try {
      const xml = path.join(dir, 'pool.xml');
      fs.writeFileSync(xml, '<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="1000">\n'
        + '  <device dev_id="1" mapped_blocks="3" transaction="0" creation_time="0" snap_time="0">\n'
        + '    <range_mapping origin_begin="0" data_begin="40" length="3" time="0"/>\n  </device>\n</superblock>\n');
      const meta = path.join(dir, 'meta.bin');
      fs.writeFileSync(meta, Buffer.alloc(0));
      fs.truncateSync(meta, 4 << 20);
      const r = require('node:child_process').spawnSync(restore, ['-i', xml, '-o', meta]);
      expect(r.status).toBe(0);
      const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
      try {
        await (exports['printMetadata'] as (f: string) => Promise<void>)(meta);
        expect(write.mock.calls.map((c) => String(c[0])).join('')).toContain('begin superblock');
      } finally { write.mockRestore(); }
      expect(log.mock.calls.map((c) => c.join(' '))).toEqual(expect.arrayContaining(['1 3', '0 40 3 0', '1']));
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  },
  // docs/thin-metadata.md's live-pool reader on a simulated pool, whose metadata device the
  // simulator leaves zeroed: the read fails with a typed error and the snapshot is released.
  async 'thin-metadata-pool'(block, log) {
    const exports = await run(block);
    const kernel = new testing.SimulatedKernel();
    const dm = await realOpen({ backend: kernel.backend() });
    try {
      await using pool = await root.ThinPool.create(dm, { name: 'p', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n }, lowWaterMarkBlocks: 100 });
      // The simulated pool's metadata device reads as its metadata: thins 1 (3 blocks written) and 2.
      await pool.createThin(1);
      await pool.createThin(2);
      const t = await pool.activate(1, { name: 't1', sizeSectors: 1024n });
      testing.thinSim(kernel).write('t1', 0, 3 * 128);
      await pool.deactivate(t);
      await (exports['printPoolDevices'] as (p: root.ThinPool) => Promise<void>)(pool);
      expect(log.mock.calls).toEqual([[1, 3n], [2, 0n]]);
      const st = await pool.status();
      expect(st.health === 'ok' ? st.heldMetadataRoot : 'not ok').toBeNull();
    } finally { dm.close(); }
  },
  // README's verity image: formatted on the simulator's files, its command line checked.
  async 'verity-boot'(block) {
    const exports = await run(block);
    const kernel = new testing.SimulatedKernel();
    const dm = await realOpen({ backend: kernel.backend() });
    const io = testing.simBlockIo(kernel);
    const f = await io.openFile('/img/root.img', 'create');
    await f.write(0, Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff));
    await f.close();
    const out = await (exports.verityBoot as (dm: root.DeviceMapper, a: string, b: string) => Promise<{ dmMod: string; systemd: string }>)(dm, '/img/root.img', '/img/root.hash');
    const sb = await root.readVeritySuperblock('/img/root.hash', { dm });
    // The tree verifies against the root hash the command line carries.
    expect(await root.verifyVerity('/img/root.img', '/img/root.hash', out.systemd.slice('roothash='.length), { dm })).toMatchObject({ rootHashHex: out.systemd.slice('roothash='.length), dataBlocks: 256n });
    expect(out.dmMod).toBe(`dm-mod.create="vroot,,,ro,0 2048 verity 1 8:2 8:3 4096 4096 256 1 sha256 ${out.systemd.slice('roothash='.length)} ${Buffer.from(sb.salt).toString('hex')}"`);
    dm.close();
  },
  async 'thin-pool'(block, log) {
    const exports = await run(block);
    const kernel = new testing.SimulatedKernel();
    const dm = await realOpen({ backend: kernel.backend() });
    // No io option: the simulator's backend holds the files and loop devices.
    await (exports.snapshotterCycle as (dm: root.DeviceMapper, dir: string) => Promise<void>)(dm, '/var/lib/images');
    expect(log).toHaveBeenCalledWith('0/16384 blocks of 128 sectors used, mode rw');
    expect(testing.simBlockIo(kernel).loops.size).toBe(0);
    expect(kernel.devices.size).toBe(0);
    dm.close();
  },
  async 'thin-pool-conditions'(block) {
    const exports = await run(block);
    const kernel = new testing.SimulatedKernel();
    const dm = await realOpen({ backend: kernel.backend() });
    const pool = await root.ThinPool.create(dm, {
      name: 'p', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n }, lowWaterMarkBlocks: 100,
    });
    await pool.createThin(1);
    await pool.activate(1, { name: 't', sizeSectors: 1n << 22n });
    const stop = new AbortController();
    const watching = (exports.watchPool as (p: root.ThinPool, s: AbortSignal, a: (w: string) => void) => Promise<void>)(pool, stop.signal, () => {});
    await new Promise((r) => setTimeout(r, 10));
    testing.thinSim(kernel).write('t', 0, 128 * 930);
    await until(() => testing.thinSim(kernel).pools.values().next().value?.totalDataBlocks === 2048, 'the block to grow the pool');
    stop.abort();
    await watching.catch(() => undefined);
    dm.close();
  },
  // With the simulated udevd: every step synced by a cookie, nothing left (links, semaphores, devices).
  async 'udev-sync'(block) {
    const exports = await run(block);
    const kernel = new testing.SimulatedKernel({ udev: true });
    const dm = await realOpen({ backend: kernel.backend() });
    await (exports.withUdev as (dm: root.DeviceMapper) => Promise<void>)(dm);
    expect(kernel.udev!.events.map((e) => e.cookie !== 0)).toEqual([true, true, true]);
    expect(kernel.udev!.links.size).toBe(0);
    expect(kernel.udev!.semaphores).toEqual([]);
    expect(kernel.devices.size).toBe(0);
    dm.close();
  },
  async 'faulty-device'(block, log) {
    const exports = await run(block);
    const kernel = new testing.SimulatedKernel();
    kernel.addBlockDevice('/dev/sdb', 8, 16, 1 << 20);
    const dm = await realOpen({ backend: kernel.backend() });
    const seen = await (exports.faultInjection as (dm: root.DeviceMapper, d: string) => Promise<{ kind: string }[]>)(dm, '/dev/sdb'); // no size: the simulated backend's BLKGETSIZE64
    expect(log).toHaveBeenCalledWith({ kind: 'passthrough' });
    expect(seen.map((m) => m.kind)).toContain('fail-writes');
    expect(kernel.devices.size).toBe(0);
    dm.close();
  },
  // README's first example prints what README shows under it (the consumer test compares the same).
  async 'first-example'(block, log) {
    await run(block);
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const shown = /<!-- consumer: first-example-output -->\n```text\n([\s\S]*?)```\n/.exec(readme);
    expect(shown).not.toBeNull();
    expect(log.mock.calls.map((c) => c.join(' ')).join('\n') + '\n').toBe(shown![1]);
  },
  // README's node:test example: its tests are collected (node:test's runner is not started
  // inside jest) and each is run here; a failed assertion fails this test.
  async 'node-test'(block) {
    const tests: { name: string; fn: () => Promise<void> }[] = [];
    await run(block, { 'node:test': { test: (name: string, fn: () => Promise<void>) => { tests.push({ name, fn }); } } });
    expect(tests.map((t) => t.name)).toEqual(['a failed table load leaves no device behind; an open device is not removed']);
    for (const t of tests) await t.fn();
  },
  async 'sim-faults'(block) {
    const exports = await run(block);
    expect(await (exports.errorPaths as () => Promise<string[]>)()).toEqual(['create: ENOMEM', 'rolled back: true', 'remove: EBUSY', 'woken']);
  },
};

const BLOCKS = snippets();
let diagnostics: Map<string, string[]> | undefined;

describe('README TypeScript blocks', () => {
  afterEach(() => {
    jest.restoreAllMocks();
    for (const { dm } of opened) dm.close();
    opened = [];
  });

  test('README and the guides have TypeScript blocks to check', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(9);
    expect(BLOCKS.filter((b) => b.where.startsWith('README.md:')).map((b) => b.marker)).toEqual(expect.arrayContaining(['first-example', 'node-test', 'thin-backup']));
  });

  describe.each(BLOCKS.map((b) => [`${b.where}${b.marker ? ` (${b.marker})` : ''}`, b] as const))('%s', (_name, block) => {
    test('compiles on its own (strict, noUncheckedIndexedAccess, nodenext)', () => {
      diagnostics ??= typeCheck(BLOCKS);
      expect(diagnostics.get(block.file)).toEqual([]);
    }, 120_000);

    test('runs on the simulated kernel', async () => {
      simulateOpen();
      const log = jest.spyOn(console, 'log').mockImplementation(() => {});
      const driver = block.marker !== undefined ? DRIVERS[block.marker] : undefined;
      if (driver) await driver(block, log);
      else {
        const exports = await run(block);
        const functions = Object.keys(exports).filter((k) => typeof exports[k] === 'function');
        expect(functions).toEqual([]);   // exported functions need a driver that calls them
      }
      // Whatever a block opened it also closed (await using, or its driver).
      for (const { kernel } of opened) expect(kernel.devices.size === 0 || block.marker === 'events').toBe(true);
    }, 60_000);
  });
});
