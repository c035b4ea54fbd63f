// One error convention (docs/conventions.md, "Errors"): every error class the package exports
// is raised here, through real code paths where practical, and each instance obeys the rule:
// `code` is an errno's name exactly when `errno` is set (a positive number), and then it is
// the name Node gives that number; a code of the library's own is never an errno's name.
// The classes are enumerated from the entry points and the per-layer error files, so a new
// class without a case here fails.
import { describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';
import * as root from '../../lib/index.js';
import * as codecEntry from '../../codec/index.js';
import * as testingEntry from '../../testing/index.js';
import * as cliEntry from '../../cli/index.js';
import * as baseErrors from '../../base/error.js';
import * as codecErrors from '../../codec/errors.js';
import * as ffiErrors from '../../ffi/errors.js';
import * as libErrors from '../../lib/errors.js';
import * as testingErrors from '../../testing/errors.js';
import * as cliErrors from '../../cli/errors.js';
import {
  buildTarget, checkReply, DeviceMapper, DeviceTree, DmAbortError, DmArgumentError, DmBaseError, DmClosedError, DmCodecError, DmCookieError, DmEngineError,
  DmError, DmFfiError, DmIdentityError, DmLibcError, DmOperationError, DmPermissionError, DmPlatformError, DmSyscallError, DmTargetError,
  DmTargetParseError, DmUdevTimeoutError, DmUnavailableError, DmUnsupportedError, parseTarget, ThinPool, UdevCookies, type TypedTarget,
  DmSysfsError, inspect, DmStats,
} from '../../lib/index.js';
import { readFileExtents } from '../../lib/stats/fiemap.js';
import { formatVerity, readVeritySuperblock } from '../../lib/index.js';
import { simBlockIo } from '../../testing/index.js';
import { codec, type CommandName } from '../../codec/index.js';
import { SimUdev, SimulatedKernel, simFaults } from '../../testing/index.js';
import { CookieValueError, ManglingError, ReportFieldError, TreeOptionError, UsageError } from '../../cli/errors.js';
import { Report } from '../../cli/report/render.js';
import { parseSelection } from '../../cli/report/select.js';
import { intArg } from '../../cli/context.js';
import { mangle } from '../../cli/mangle.js';
import { report } from '../../cli/format.js';
import { parseTreeOptions } from '../../cli/tree.js';
import { parseCookieValue } from '../../cli/cookie-value.js';
import { openControl, loadLibc } from '../../ffi/index.js';
import { IoctlEngine } from '../../ffi/engine.js';
import { memoryNodes } from '../cli/harness.js';
import { computeFec, DmVerityFecError } from '../../lib/verity/index-fec.js';

type ErrorClass = abstract new (...a: never[]) => Error;
const isErrorClass = (v: unknown): v is ErrorClass => typeof v === 'function' && v.prototype instanceof Error;

/** Every error class the entry points export, and every one the per-layer error files declare. */
function errorClasses(): Map<string, ErrorClass> {
  const out = new Map<string, ErrorClass>();
  for (const mod of [root, codecEntry, testingEntry, cliEntry, baseErrors, codecErrors, ffiErrors, libErrors, testingErrors, cliErrors]) {
    for (const [k, v] of Object.entries(mod)) if (isErrorClass(v)) out.set(k, v);
  }
  return out;
}

const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
const catching = async (f: () => unknown): Promise<unknown> => { try { await f(); } catch (e) { return e; } throw new Error('no error was thrown'); };

async function withClient<T>(f: (dm: DeviceMapper, kernel: SimulatedKernel) => Promise<T>, kernel = new SimulatedKernel()): Promise<T> {
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  try { return await f(dm, kernel); } finally { dm.close(); }
}

/**
 * Per class, the errors it raises: at least one with an errno where an errno can be its cause,
 * and one of its own code where it has one. Each entry must be an instance of exactly that class.
 */
const CASES: Record<string, () => Promise<unknown[]>> = {
  // The abstract base: every case below is one.
  DmBaseError: async () => [],
  DmError: async () => [
    await withClient((dm) => catching(() => dm.suspend('missing'))), // ENXIO from the (simulated) kernel
    await withClient(async (dm, kernel) => { simFaults(kernel).failNext('info', 'EACCES'); return catching(() => dm.info('x')); }),
    new DmError({ command: 'info', errno: 0, ret: 1 }), // a positive return: RETURNED_1, no errno
  ],
  DmVerityError: async () => withClient(async (dm, kernel) => {
    // A hash image that holds no superblock, and a format with an algorithm veritysetup lacks.
    const f = await simBlockIo(kernel).openFile('/h.img', 'create');
    await f.write(0, new Uint8Array(512).fill(7));
    await f.close();
    return [await catching(() => readVeritySuperblock('/h.img', { dm })), await catching(() => formatVerity('/d.img', '/h.img', { dm, hashAlgorithm: 'nope' }))];
  }),
  DmThinMetadataError: async () => withClient(async (dm, kernel) => {
    // A metadata file of zeros (no superblock), and a delta naming a thin the metadata lacks.
    const f = await simBlockIo(kernel).openFile('/meta.bin', 'create');
    await f.write(0, new Uint8Array(8192));
    await f.close();
    const none = { superblock: {} as root.ThinMetadataSuperblock, devices: async () => [], mappings: async function* () {}, dataBlockReferenceCount: async () => 0, close: async () => {}, [Symbol.asyncDispose]: async () => {} };
    return [await catching(() => root.openThinMetadata('/meta.bin', { dm })), await catching(async () => { for await (const _ of root.thinDelta(none, 1, 2)); })];
  }),
  DmSysfsError: async () => {
    // A dm/suspended that says neither 0 nor 1.
    const kernel = new SimulatedKernel();
    await withClient((dm) => dm.createDevice({ name: 'a', table }), kernel);
    const b = kernel.backend();
    const real = b.sysfs!;
    const sysfs = { readdir: (p: string) => real.readdir(p), readFile: async (p: string, m: number) => (p.endsWith('suspended') ? new TextEncoder().encode('7\n') : real.readFile(p, m)) };
    return [await catching(() => inspect({ backend: { ...b, sysfs } }).list())];
  },
  DmUnsupportedError: async () => [await withClient((dm) => catching(() => dm.wait('a')), new SimulatedKernel({ version: [4, 36, 0] }))],
  DmArgumentError: async () => [await withClient((dm) => catching(() => dm.info(null as never)))],
  DmAbortError: async () => [await withClient(async (dm) => {
    await dm.createDevice({ name: 'a', table });
    return catching(() => dm.wait('a', { signal: AbortSignal.abort() }));
  })],
  DmIdentityError: async () => [await catching(() => checkReply('info', { name: 'a', uuid: 'U-1', dev: { major: 254, minor: 0 } }, { name: 'a', uuid: 'U-2', dev: { major: 254, minor: 1 } }, false))],
  DmFileMapError: async () => {
    const kernel = new SimulatedKernel();
    simBlockIo(kernel).mapFile('/elsewhere', { device: { major: 8, minor: 0 }, extents: [{ logicalBytes: 0n, physicalBytes: 0n, lengthBytes: 4096n }] });
    simBlockIo(kernel).mapFile('/hostile', { device: { major: 8, minor: 0 }, extents: [{ logicalBytes: 0n, physicalBytes: 0n, lengthBytes: 4096n }], tamper: (b) => new DataView(b.buffer, b.byteOffset).setUint32(20, 99, true) });
    return withClient(async (dm) => [
      await catching(() => DmStats.createFromFile(dm, '/elsewhere')),
      await catching(async () => { const h = await simBlockIo(kernel).openFileMap!('/hostile'); return readFileExtents(h); }),
    ], kernel);
  },
  DmOperationError: async () => {
    const kernel = new SimulatedKernel();
    return withClient(async (dm) => {
      const invalid = await catching(() => ThinPool.create(dm, { name: 'p', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n }, timeoutMs: -1 }));
      const p = await ThinPool.create(dm, { name: 'pool', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n } });
      await p.createThin(1);
      await p.activate(1, { name: 'thin1', sizeSectors: 8192 });
      const busy = await catching(() => p.delete(1)); // an active thin: EBUSY before anything is sent
      const gone = await catching(async () => (await DeviceTree.read(dm)).node('nope')); // ENXIO
      return [invalid, busy, gone];
    }, kernel);
  },
  DmVerityFecError: async () => [
    await catching(() => computeFec({ blockSizeBytes: 4096, roots: 2, dataBlocks: 1, hashBlocks: 0, dataReader: async () => new Uint8Array(1), writer: async () => {} })),
    new DmVerityFecError('FEC_UNCORRECTABLE', 'x', { round: 0n, byteIndex: 0, blocks: [] }),
  ],
  DmTargetError: async () => [await catching(() => buildTarget({ start: 0, length: 8, type: 'linear', device: '/dev/x', offsetSectors: -1 } as TypedTarget))],
  DmTargetParseError: async () => [await catching(() => parseTarget({ start: 0, length: 8, type: 'linear', params: '7:0' }))],
  DmUdevTimeoutError: async () => {
    const udev = new SimUdev();
    const cookies = new UdevCookies(udev.host());
    udev.stop();
    const cookie = cookies.create({ lifetime: 'transaction' });
    cookies.inc(cookie); // a uevent udev will not complete
    return [await catching(() => cookies.wait(cookie, { timeoutMs: 10 }))];
  },
  DmCookieError: async () => {
    const cookies = new UdevCookies(new SimUdev().host());
    return [
      await catching(() => cookies.semid(0x1234_0001)), // not a cookie: UDEV_COOKIE
      await catching(() => cookies.semid(0x0d4d_4242)), // no such semaphore: semget's ENOENT
    ];
  },
  DmCodecError: async () => [await catching(() => codec.encodeRequest('info', { name: 'x'.repeat(200) } as never)), await catching(() => cliEntry.parseHex('zz'))],
  DmFfiError: async () => [new DmFfiError('DM_LIBC', 'no errno'), new DmFfiError('DM_ENGINE', 'with an errno', { errno: 5 })],
  DmClosedError: async () => [await (async () => {
    const dm = await DeviceMapper.open({ backend: new SimulatedKernel().backend() });
    dm.close();
    return catching(() => dm.info('a'));
  })()],
  DmSyscallError: async () => {
    const ops = memoryNodes();
    ops.nodes.set('/dev/mapper/x', 'other');
    return [await catching(() => root.addNode('x', { major: 254, minor: 0 }, { ops, udev: false }))]; // EEXIST
  },
  DmUnavailableError: async () => [
    await catching(() => openControl(path.join(os.tmpdir(), `no-such-control-${process.pid}`))), // the open's ENOENT
    new DmUnavailableError(), // nothing known: DM_UNAVAILABLE
  ],
  DmPermissionError: async () => [
    await catching(() => DeviceMapper.open({ backend: new SimulatedKernel({ privileged: false }).backend() })), // EACCES opening the node
    new DmPermissionError('no errno known'),
  ],
  DmPlatformError: async () => [await catching(() => loadLibc('win32'))],
  DmLibcError: async () => [
    new DmLibcError('cannot load the C library'),
    new DmLibcError('cannot load koffi', Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', errno: -os.constants.errno.ENOENT })),
  ],
  DmEngineError: async () => {
    const fd = fs.openSync('/dev/null', 'r');
    const e = IoctlEngine.start({ fd, libc: '', slots: 2, slotSize: 64, fakeIoctl: 'function ioctl() { return [0, 0]; }' });
    e.close();
    return [await catching(() => e.ioctl(1, Uint8Array.of(1)))];
  },
  SimError: async () => [await catching(() => new SimulatedKernel().openDevice('nope'))],
  UsageError: async () => [await catching(() => intArg('x', 'count'))],
  ManglingError: async () => [await catching(() => mangle('a\\x5cx', 'auto'))],
  ReportFieldError: async () => [await catching(() => report([], 'nosuchfield', { headings: true }))],
  TreeOptionError: async () => [await catching(() => parseTreeOptions('nosuchoption', true, 80))],
  ReportError: async () => [await catching(() => new Report({ defaults: 'name', options: 'nosuchfield' }))],
  SelectionSyntaxError: async () => [await catching(() => parseSelection('bad(', { find: () => undefined, slot: () => ({}) }))],
  CookieValueError: async () => [await catching(() => parseCookieValue('x'))],
};

/** The rule, for one error: the problems found (none when it holds). */
function violations(e: unknown): string[] {
  if (!(e instanceof DmBaseError)) return [`not a DmBaseError: ${String(e)}`];
  const { code, errno } = e as unknown as { code: unknown; errno?: unknown };
  const problems: string[] = [];
  if (typeof code !== 'string') return [`code is ${typeof code}`];
  const errnoSet = typeof errno === 'number' && errno > 0;
  const isName = Object.hasOwn(os.constants.errno, code);
  if (errnoSet) {
    if (!isName) problems.push(`errno ${errno} is set, but code ${code} is no errno name`);
    else if ((os.constants.errno as Record<string, number>)[code] !== errno) problems.push(`code ${code} is errno ${(os.constants.errno as Record<string, number>)[code]}, errno is ${errno}`);
    // Node's name for the number, where libuv names it (it does not name every errno: EIDRM, ENODATA).
    const uv = util.getSystemErrorName(-(errno as number));
    if (Object.hasOwn(os.constants.errno, uv) && code !== uv) problems.push(`code ${code}, Node names errno ${errno} ${uv}`);
  } else if (isName) {
    problems.push(`code ${code} is an errno name, but errno is ${String(errno)}`);
  }
  return problems;
}

describe('every error class: code is the errno name exactly when errno is set (docs/conventions.md, "Errors")', () => {
  test('every exported error class has a case here', () => {
    expect([...errorClasses().keys()].filter((k) => !Object.hasOwn(CASES, k)).sort()).toEqual([]);
    // And no case for a class that no longer exists.
    expect(Object.keys(CASES).filter((k) => !errorClasses().has(k)).sort()).toEqual([]);
  });

  test.each([...errorClasses().keys()].sort())('%s', async (name) => {
    const cls = errorClasses().get(name)!;
    const raised = await CASES[name]!();
    if (cls === DmBaseError) { expect(raised).toEqual([]); return; }
    expect(raised.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const e of raised) {
      if (!(e instanceof Error) || e.constructor !== cls) { problems.push(`the case raised ${e instanceof Error ? e.constructor.name : String(e)}: ${String(e)}`); continue; }
      problems.push(...violations(e).map((p) => `${e.name}: ${p} (${e.message.split('\n')[0]})`));
    }
    expect(problems).toEqual([]);
  });

  test('errno-caused conditions carry the errno\'s name: the cases that must (one `e.code === ...` catches them all)', async () => {
    const codes = async (name: string) => (await CASES[name]!()).map((e) => (e as { code: string }).code);
    expect(await codes('DmSyscallError')).toEqual(['EEXIST']);
    expect(await codes('DmUnavailableError')).toEqual(['ENOENT', 'DM_UNAVAILABLE']);
    expect(await codes('DmPermissionError')).toEqual(['EACCES', 'DM_PERMISSION']);
    expect(await codes('DmOperationError')).toEqual(['INVALID_INPUT', 'EBUSY', 'ENXIO']);
    expect(await codes('DmCookieError')).toEqual(['UDEV_COOKIE', 'ENOENT']);
    expect(await codes('DmLibcError')).toEqual(['DM_LIBC', 'ENOENT']);
    expect(await codes('DmClosedError')).toEqual(['DM_CLOSED']);
    expect(await codes('SimError')).toEqual(['ENXIO']);
  });

  test('the rule catches what it should (a planted old-style error fails it)', () => {
    class Old extends DmBaseError<'DM_SYSCALL'> { readonly code = 'DM_SYSCALL'; readonly errno = 2; }
    class OldBusy extends DmBaseError<'BUSY'> { readonly code = 'BUSY'; readonly errno = 16; }
    class NameWithoutErrno extends DmBaseError<'EINVAL'> { readonly code = 'EINVAL'; }
    class Alias extends DmBaseError<'EWOULDBLOCK'> { readonly code = 'EWOULDBLOCK'; readonly errno = os.constants.errno.EAGAIN; }
    for (const e of [new Old('x'), new OldBusy('x'), new NameWithoutErrno('x'), new Alias('x')]) expect(violations(e)).not.toEqual([]);
    expect(violations(new DmClosedError('x'))).toEqual([]);
  });
});

test('error classes live in one file per layer', () => {
  const allowed = new Set(['base/error.ts', 'codec/errors.ts', 'ffi/errors.ts', 'lib/errors.ts', 'testing/errors.ts', 'cli/errors.ts']);
  const repo = path.resolve(__dirname, '../..');
  const stray: string[] = [];
  const walk = (dir: string): void => {
    for (const d of fs.readdirSync(path.join(repo, dir), { withFileTypes: true })) {
      const rel = `${dir}/${d.name}`;
      if (d.isDirectory()) walk(rel);
      else if (rel.endsWith('.ts') && !allowed.has(rel)) {
        for (const m of fs.readFileSync(path.join(repo, rel), 'utf8').matchAll(/^\s*export\s+(?:abstract\s+)?class\s+(\w+)\s+extends\s+(\w*Error)\b/gm)) stray.push(`${rel}: ${m[1]} extends ${m[2]}`);
      }
    }
  };
  for (const dir of ['base', 'codec', 'ffi', 'lib', 'testing', 'cli']) walk(dir);
  expect(stray).toEqual([]);
});

describe('an error keeps the caller\'s stack', () => {
  test('a TIMEOUT of a bounded step names the function that called the operation', async () => {
    const kernel = new SimulatedKernel();
    await withClient(async (dm) => {
      const p = await ThinPool.create(dm, { name: 'pool', data: { file: '/d', sizeBytes: 64n << 20n }, metadata: { file: '/m', sizeBytes: 4n << 20n } });
      await p.createThin(1);
      await p.activate(1, { name: 'base', sizeSectors: 8192 });
      const orig = dm.suspend.bind(dm);
      let finish!: () => void;
      jest.spyOn(dm, 'suspend').mockImplementation(async (d, o) => { await new Promise<void>((r) => { finish = r; }); return orig(d, o); });
      async function snapshotThatTimesOutInTheCaller(): Promise<unknown> {
        // Only the snapshot is bounded: its suspend never returns before finish().
        try { await p.snapshot(2, 1, { timeoutMs: 50 }); } catch (e) { return e; }
        return undefined;
      }
      const e = await snapshotThatTimesOutInTheCaller();
      finish();
      expect(e).toMatchObject({ name: 'DmOperationError', code: 'TIMEOUT' });
      expect((e as Error).stack).toContain('snapshotThatTimesOutInTheCaller');
      for (let i = 0; i < 100 && kernel.devices.get('base')!.suspended !== false; i++) await new Promise((r) => setTimeout(r, 5));
    }, kernel);
  });
});

// Compile-time: a command name the cases use is a real one.
const commandUsed: CommandName = 'info';
void commandUsed;
