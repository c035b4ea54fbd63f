// Keys never leak. A unique key (and a raw-text secret) goes through every path that can carry
// key material — typed crypt/integrity builders, raw string and Uint8Array params, dmctl
// create/load/reload from --table, a table file and stdin, with and without --json — with a
// failure forced at every step: validation, each ioctl (an errno, or a transport that throws),
// the kernel rejecting the table while logging its arguments, close. Every string the package
// produces is scanned for the key as text, hex (both cases), base64 and 16-digit fragments:
// zero hits. A transport spy and the codec's copy observer keep every buffer the library made
// or handed to ioctl: after each call, each one that held key bytes is all zeros.
import { afterAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as util from 'node:util';
import { observeCopies } from '../../codec/copies.js';
import type { TargetSpecInput } from '../../codec/index.js';
import {
  DeviceMapper, createTypedDevice, loadTypedTable, type Backend, type ControlTransport, type IntentRecord, type IoctlResult, type TypedTarget,
} from '../../lib/index.js';
import { run, type CliIo } from '../../cli/index.js';
import { SimError, SimulatedKernel, type SimTargetType } from '../../testing/index.js';
import { memoryNodes } from '../cli/harness.js';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { IOCTL_CHANNEL, OPERATION_CHANNEL, STEP_CHANNEL } from '../../lib/index.js';
import { installDebugLog, type DebugLogger } from '../../lib/trace/debug-log.js';

// ------------------------------------------------------------------ the canary ---

const KEY = new Uint8Array(randomBytes(32));
const HEX = Buffer.from(KEY).toString('hex');
/** A secret that is not hex, for a secure load of a target the package knows nothing about. */
const RAW = 'canary' + Array.from(randomBytes(26), (b) => 'ghijklmnopqrstuvwxyz'[b % 20]).join('');

const ascii = (s: string) => new TextEncoder().encode(s);
const NEEDLES: [string, string][] = [];
for (const [label, s] of [['hex', HEX], ['raw', RAW]] as const) {
  NEEDLES.push([`${label} text`, s], [`${label} upper`, s.toUpperCase()], [`${label} base64`, Buffer.from(s).toString('base64')],
    [`${label} as hex`, Buffer.from(s).toString('hex')], [`${label} as HEX`, Buffer.from(s).toString('hex').toUpperCase()]);
  // Fragments: a truncated quote of a key is a leak too.
  const w = label === 'hex' ? 16 : 12;
  for (let i = 0; i + w <= s.length; i += 4) NEEDLES.push([`${label} fragment@${i}`, s.slice(i, i + w)], [`${label} FRAGMENT@${i}`, s.slice(i, i + w).toUpperCase()]);
}
NEEDLES.push(['key bytes base64', Buffer.from(KEY).toString('base64')], ['key bytes base64url', Buffer.from(KEY).toString('base64url')],
  ['key bytes latin1', Buffer.from(KEY).toString('latin1')]);

function leaksIn(text: string): string[] {
  return NEEDLES.filter(([, n]) => text.includes(n)).map(([l]) => l);
}

const SECRET_BYTES = [KEY, ascii(HEX), ascii(HEX.toUpperCase()), ascii(RAW)];
function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}
const holdsSecret = (b: Uint8Array) => SECRET_BYTES.some((s) => indexOfBytes(b, s) >= 0);
const whole = (b: Uint8Array) => new Uint8Array(b.buffer, 0, b.buffer.byteLength);
const allZero = (b: Uint8Array) => b.every((x) => x === 0);

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));

/** Every string a thrown value or a result offers. */
function stringsOf(v: unknown): string[] {
  const out: string[] = [util.inspect(v, { depth: Infinity, showHidden: true }), json(v) ?? '', String(v)];
  if (v instanceof Error) {
    out.push(v.message, v.stack ?? '', String(v.cause));
    for (const k of ['cause', 'cleanupError', 'kernelLog'] as const) {
      const x = (v as unknown as Record<string, unknown>)[k];
      if (x !== undefined) out.push(...stringsOf(x));
    }
  }
  return out;
}

// ----------------------------------------------------------- the trace channels ---

// Subscribed for the whole file, so every scenario below also runs with tracing on: each ioctl
// message, each operation's and step's context (with its result or error) and each
// NODE_DEBUG line, as text, is scanned at the end.
const traced: string[] = [];
const seeText = (v: unknown) => { traced.push(util.inspect(v, { depth: Infinity, showHidden: true }), json(v) ?? ''); };
const seeTrace = { start: seeText, end: seeText, asyncStart: seeText, asyncEnd: seeText, error: seeText };
subscribe(IOCTL_CHANNEL, seeText);
for (const name of [OPERATION_CHANNEL, STEP_CHANNEL]) tracingChannel(name).subscribe(seeTrace);
const stopDebugLog = installDebugLog(Object.assign((f: string, ...a: unknown[]) => { traced.push(util.format(f, ...a)); }, { enabled: true }) as DebugLogger);
// The channels are the process's: the next spec file in this worker must find them unsubscribed.
afterAll(() => {
  unsubscribe(IOCTL_CHANNEL, seeText);
  for (const name of [OPERATION_CHANNEL, STEP_CHANNEL]) tracingChannel(name).unsubscribe(seeTrace);
  stopDebugLog?.();
});

// ------------------------------------------------------- the hostile simulator ---

/** crypt/integrity/vault as a careless out-of-tree target would be: it logs its arguments when it rejects them. */
function loggingTarget(name: string): SimTargetType {
  return {
    name, version: [1, 0, 0],
    construct(argv, _len, ctx) {
      if (argv.includes('/dev/nope')) throw new SimError('EINVAL', `${name}: cannot use arguments ${argv.join(' ')}`);
      const deps = argv.filter((a) => a.startsWith('/dev/')).map((a) => ctx.lookup(a)!);
      return {
        table: argv.join(' '), status: () => '', deps,
        message: (m) => {
          if (m.length === 3 && m[0] === 'key' && m[1] === 'set') return undefined;
          throw new SimError('EINVAL', `${name}: message "${m.join(' ')}" rejected`);
        },
      };
    },
  };
}

function newKernel(): SimulatedKernel {
  const k = new SimulatedKernel();
  for (let i = 0; i < 4; i++) k.addBlockDevice(`/dev/loop${i}`, 7, i, 1 << 20);
  for (const t of ['crypt', 'integrity', 'vault']) k.registerTarget(loggingTarget(t));
  return k;
}

// ------------------------------------------------------------------ the spy ---

type Fault = { at: number; kind: 'errno' | 'throw' } | { kind: 'close-throws' };

/** Every buffer the library made (codec copy observer) or handed to ioctl, and the faults to force. */
class Spy {
  readonly made = new Set<Uint8Array>();
  /** Buffers handed to ioctl, with whether they held a secret when last handed over. */
  readonly handed = new Map<ArrayBufferLike, { buf: Uint8Array; secret: boolean }>();
  ioctls = 0;
  armed = false;
  fault: Fault | undefined;
  readonly #stop = observeCopies((b) => this.made.add(b));

  /** Every intent record written (docs/crash-safety.md), as text: scanned like every other output. */
  readonly records: string[] = [];

  backend(inner: Backend): Backend {
    const store = inner.openIntentStore;
    return {
      ...inner, openControl: async () => this.#wrap(await inner.openControl()),
      ...(store ? { openIntentStore: (dir: string | undefined) => { const s = store(dir); return { ...s, write: (k: string, r: IntentRecord) => { this.records.push(JSON.stringify(r)); s.write(k, r); } }; } } : {}),
    };
  }

  #wrap(t: ControlTransport): ControlTransport {
    const before = (buf: Uint8Array): IoctlResult | 'throw' | undefined => {
      // Whether it holds a secret now, at this handover: a buffer reused (the scratch buffer)
      // after a secure call is checked again here, and must no longer hold the old one.
      this.handed.set(buf.buffer, { buf, secret: holdsSecret(whole(buf)) });
      if (!this.armed) return undefined;
      this.ioctls++;
      const f = this.fault;
      if (f && f.kind !== 'close-throws' && f.at === this.ioctls) return f.kind === 'throw' ? 'throw' : { ret: -1, errno: 22 };
      return undefined;
    };
    const spy = this;
    return {
      get fd() { return t.fd; },
      ioctl(request, buf) {
        const f = before(buf);
        if (f === 'throw') throw new Error('transport failure (forced)');
        return f ?? t.ioctl(request, buf);
      },
      async ioctlAsync(request, buf) {
        const f = before(buf);
        if (f === 'throw') throw new Error('transport failure (forced)');
        return f ?? t.ioctlAsync(request, buf);
      },
      close() {
        t.close();
        if (spy.armed && spy.fault?.kind === 'close-throws') throw new Error('close failure (forced)');
      },
    };
  }

  /** The wipe proof: returns the buffers that still hold key bytes, and the number checked. */
  check(callerOwned: readonly Uint8Array[] = []): { dirty: string[]; checked: number } {
    const dirty: string[] = [];
    let checked = 0;
    for (const { buf, secret } of this.handed.values()) {
      checked++;
      if (secret && !allZero(whole(buf))) dirty.push(`ioctl buffer of ${buf.buffer.byteLength} bytes`);
    }
    for (const b of this.made) {
      if (this.handed.has(b.buffer) || callerOwned.includes(b)) continue;
      checked++;
      // A copy of params never handed to ioctl (escaped, UTF-8 or built key bytes): always wiped.
      if (!allZero(whole(b))) dirty.push(`copy of ${b.length} bytes${holdsSecret(b) ? ' (holds the secret)' : ''}`);
    }
    return { dirty, checked };
  }

  stop(): void { this.#stop(); }
}

// ---------------------------------------------------------------- the paths ---

type Variant = 'ok' | 'reject' | 'length0' | 'gap' | 'nul' | 'later' | 'big';
const DEV = (v: Variant) => (v === 'reject' || v === 'big' ? '/dev/nope' : '/dev/loop0');

const cryptLine = (v: Variant, start = 0) => `${start} ${v === 'length0' ? 0 : 8} crypt aes-xts-plain64 ${HEX} 0 ${DEV(v)} 0${v === 'nul' ? '\0' : ''}`;
const integrityParams = (v: Variant) => `${DEV(v)} 0 32 J 1 internal_hash:hmac(sha256):${HEX}`;

/** A table whose line 1 (or 2, for `gap`/`later`) carries the secret, broken as the variant says. */
function stringTable(type: 'crypt' | 'integrity' | 'vault', v: Variant): TargetSpecInput[] {
  const params = type === 'crypt' ? cryptLine(v).split(' ').slice(3).join(' ') : type === 'integrity' ? integrityParams(v) : `${RAW} ${DEV(v)}`;
  const keyed: TargetSpecInput = { start: v === 'gap' ? 16 : 0, length: v === 'length0' ? 0 : 8, type, params: v === 'nul' ? params + '\0' : params };
  if (v === 'gap') return [{ start: 0, length: 8, type: 'zero', params: '' }, keyed];
  if (v === 'later') return [keyed, { start: 4, length: 8, type: 'zero', params: '' }];
  if (v === 'big') return [keyed, ...Array.from({ length: 400 }, (_, i) => ({ start: 8 + i * 8, length: 8, type: 'zero', params: '' }))];
  return [keyed];
}

function typedTable(type: 'crypt' | 'integrity', v: Variant): TypedTarget[] {
  const key = KEY.slice();
  const line = (start: number): TypedTarget => (type === 'crypt'
    ? { start, length: v === 'length0' ? 0 : 8, type: 'crypt', cipher: 'aes-xts-plain64', key: key.slice(), ivOffsetSectors: 0, device: DEV(v), offsetSectors: 0 }
    : { start, length: v === 'length0' ? 0 : 8, type: 'integrity', device: DEV(v), offsetSectors: 0, tagSizeBytes: 32, mode: 'J', internalHash: { algorithm: 'hmac(sha256)', key: key.slice() } });
  if (v === 'gap') return [line(0), line(16)];
  if (v === 'later') return [line(0), { start: 8, length: 8, type: 'crypt', cipher: 'bad cipher', key: key.slice(), ivOffsetSectors: 0, device: '/dev/loop0', offsetSectors: 0 } as TypedTarget];
  if (v === 'big') return Array.from({ length: 200 }, (_, i) => line(i * 8));
  return [line(0)];
}

const bytesOf = (t: TargetSpecInput[]) => t.map((x) => ({ ...x, params: typeof x.params === 'string' ? ascii(x.params) : x.params }));

interface LibPath {
  name: string;
  /** ioctls of the successful call: a fault is forced at each. */
  ioctls: number;
  variants: readonly Variant[];
  run(dm: DeviceMapper, v: Variant, owned: Uint8Array[], kernel: SimulatedKernel): Promise<unknown>;
  /** The live table of device cv before the call (default: zero). */
  setup?: TargetSpecInput | TargetSpecInput[];
}

const STRING_VARIANTS: readonly Variant[] = ['ok', 'reject', 'length0', 'gap', 'nul', 'later', 'big'];
const TYPED_VARIANTS: readonly Variant[] = ['ok', 'reject', 'length0', 'gap', 'later', 'big'];

const LIB_PATHS: LibPath[] = [
  { name: 'typed crypt loadTypedTable', ioctls: 1, variants: TYPED_VARIANTS, run: (dm, v) => loadTypedTable(dm, 'cv', typedTable('crypt', v)) },
  { name: 'typed integrity loadTypedTable', ioctls: 1, variants: TYPED_VARIANTS, run: (dm, v) => loadTypedTable(dm, 'cv', typedTable('integrity', v)) },
  { name: 'typed crypt createTypedDevice', ioctls: 3, variants: TYPED_VARIANTS, run: (dm, v) => createTypedDevice(dm, { name: 'new', table: typedTable('crypt', v) }) },
  { name: 'string crypt load secure', ioctls: 1, variants: STRING_VARIANTS, run: (dm, v) => dm.load('cv', stringTable('crypt', v), { secure: true }) },
  { name: 'string crypt load (secure by default)', ioctls: 1, variants: STRING_VARIANTS, run: (dm, v) => dm.load('cv', stringTable('crypt', v)) },
  { name: 'string crypt load secure:false', ioctls: 1, variants: STRING_VARIANTS, run: (dm, v) => dm.load('cv', stringTable('crypt', v), { secure: false }) },
  { name: 'string integrity load', ioctls: 1, variants: STRING_VARIANTS, run: (dm, v) => dm.load('cv', stringTable('integrity', v)) },
  { name: 'string vault load secure (raw-text secret)', ioctls: 1, variants: STRING_VARIANTS, run: (dm, v) => dm.load('cv', stringTable('vault', v), { secure: true }) },
  {
    name: 'Uint8Array crypt load', ioctls: 1, variants: STRING_VARIANTS,
    run: (dm, v, owned) => { const t = bytesOf(stringTable('crypt', v)); owned.push(...t.map((x) => x.params as Uint8Array)); return dm.load('cv', t); },
  },
  { name: 'string crypt createDevice', ioctls: 3, variants: STRING_VARIANTS, run: (dm, v) => dm.createDevice({ name: 'new', table: stringTable('crypt', v) }) },
  {
    name: 'Uint8Array integrity createDevice', ioctls: 3, variants: STRING_VARIANTS,
    run: (dm, v, owned) => { const t = bytesOf(stringTable('integrity', v)); owned.push(...t.map((x) => x.params as Uint8Array)); return dm.createDevice({ name: 'new', table: t }); },
  },
  {
    name: 'message "key set <hex>"', ioctls: 1, variants: ['ok', 'reject'], setup: { start: 0, length: 8, type: 'vault', params: '/dev/loop1' },
    run: (dm, v) => dm.message('cv', 0, `key ${v === 'reject' ? 'sett' : 'set'} ${HEX}`),
  },
  {
    // info, info after the poller's arm, DEV_WAIT with the table.
    name: 'wait({ table: true }) on a crypt device', ioctls: 3, variants: ['ok'], setup: stringTable('crypt', 'ok')[0],
    run: (dm, _v, _o, kernel) => { kernel.triggerEvent('cv'); return dm.wait('cv', { eventNr: 0, table: true }); },
  },
  {
    // A table bigger than 16 KiB: DM_BUFFER_FULL, then a grown buffer; both must be wiped.
    name: 'table() of a 200-line crypt table (buffer growth)', ioctls: 2, variants: ['ok'],
    setup: Array.from({ length: 200 }, (_, i) => ({ ...stringTable('crypt', 'ok')[0]!, start: i * 8 })),
    run: (dm) => dm.table('cv'),
  },
];

/** Failure points of a library path: none, each ioctl (errno / throw), close mid-call; variants add validation, rejection, size. */
function failurePoints(p: LibPath): string[] {
  const out: string[] = [];
  for (const v of p.variants) out.push(v);
  for (let k = 1; k <= p.ioctls; k++) out.push(`errno@${k}`, `throw@${k}`);
  // createDevice: the kernel rejects the load, then the rollback's remove fails too.
  if (p.name.includes('create')) out.push('reject+throw@3', 'reject+errno@3');
  out.push('close');
  return out;
}

let scenarios = 0;
let buffersChecked = 0;
let recordsChecked = 0;
let libCount = 0;
let cliCount = 0;

function parseFailure(f: string): { variant: Variant; fault?: Fault; close?: boolean } {
  if (f === 'close') return { variant: 'ok', close: true };
  const m = /^(?:(\w+)\+)?(errno|throw)@(\d+)$/.exec(f);
  if (m) return { variant: (m[1] as Variant | undefined) ?? 'ok', fault: { kind: m[2] as 'errno' | 'throw', at: Number(m[3]) } };
  return { variant: f as Variant };
}

describe.each([['async', false], ['blocking', true]] as const)('library, %s client', (_mode, blocking) => {
  const cases = LIB_PATHS.flatMap((p) => failurePoints(p).map((f) => [p.name, f, p] as const));
  libCount += cases.length;
  test.each(cases)('%s × %s', async (_name, failure, path) => {
    const kernel = newKernel();
    const spy = new Spy();
    try {
      const dm = await DeviceMapper.open({ backend: spy.backend(kernel.backend()), blocking });
      await dm.create({ name: 'cv' });
      // A live table: zero, or what the path needs (a target that takes "key set <hex>" as dm-crypt does, a crypt line).
      await dm.load('cv', ([] as TargetSpecInput[]).concat(path.setup ?? { start: 0, length: 8, type: 'zero', params: '' }));
      await dm.resume('cv');
      const { variant, fault, close } = parseFailure(failure);
      spy.fault = fault;
      spy.armed = true;
      const owned: Uint8Array[] = [];
      let result: unknown;
      let error: unknown;
      let settled = false;
      try {
        if (close && blocking) dm.close(); // a blocking call runs at once: close it before
        const p = path.run(dm, variant, owned, kernel);
        if (close && !blocking) dm.close(); // mid-call: the ioctl is in flight
        result = await p;
        settled = true;
      } catch (e) {
        error = e;
      }
      spy.armed = false;
      const texts = [...stringsOf(error), ...stringsOf(result), ...spy.records];
      recordsChecked += spy.records.length;
      if (settled && !close && !path.name.includes('vault') && !path.name.includes('message')) {
        // The table as read back (keys hidden unless showKeys) is output too.
        const name = path.name.includes('create') ? 'new' : 'cv';
        texts.push(...stringsOf(await dm.table(name)), ...stringsOf(await dm.table(name, { inactive: true })));
      }
      // The call must have failed where forced, and succeeded otherwise.
      if (variant === 'ok' && !fault && !close) expect(error).toBeUndefined();
      if (variant !== 'ok' || fault) expect(error).toBeDefined();
      // Forced at the k-th ioctl: k were issued (plus createDevice's rollback remove).
      if (fault && fault.kind !== 'close-throws' && !close && variant === 'ok') expect(spy.ioctls - fault.at).toBeGreaterThanOrEqual(0);
      if (variant === 'ok' && !fault && !close) expect(spy.ioctls).toBe(path.ioctls);
      expect(texts.flatMap(leaksIn)).toEqual([]);
      const { dirty, checked } = spy.check(owned);
      expect(dirty).toEqual([]);
      buffersChecked += checked;
      scenarios++;
      dm.close();
    } finally {
      spy.stop();
    }
  });
});

// ------------------------------------------------------------------- dmctl ---

type Source = '--table' | 'file' | 'stdin';
interface CliPath { verb: 'create' | 'load' | 'reload'; source: Source; json: boolean }
const CLI_PATHS: CliPath[] = (['create', 'load', 'reload'] as const).flatMap((verb) => (['--table', 'file', 'stdin'] as const)
  .flatMap((source) => [false, true].map((jsonOut) => ({ verb, source, json: jsonOut }))));

function cliTable(v: string): string {
  switch (v) {
    case 'parse': return `0 8 crypt aes-xts-plain64 ${HEX} 0 /dev/loop0 0\n8 eight crypt aes-xts-plain64 ${HEX} 0 /dev/loop0 0\n`;
    case 'integrity': return `0 8 integrity ${integrityParams('reject')}\n`;
    case 'big': return cliTable('reject') + Array.from({ length: 400 }, (_, i) => `${8 + i * 8} 8 zero`).join('\n') + '\n';
    default: return cryptLine(v as Variant) + '\n';
  }
}

const CLI_FAILURES = (p: CliPath): string[] => {
  const n = p.verb === 'create' ? 3 : 1;
  const out = ['ok', 'reject', 'integrity', 'length0', 'nul', 'parse', 'big', 'close-throws'];
  for (let k = 1; k <= n; k++) out.push(`errno@${k}`, `throw@${k}`);
  return out;
};

describe('dmctl', () => {
  const cases = CLI_PATHS.flatMap((p) => CLI_FAILURES(p).map((f) => [`${p.verb} ${p.source}${p.json ? ' --json' : ''}`, f, p] as const));
  cliCount += cases.length;
  test.each(cases)('%s × %s', async (_name, failure, p) => {
    const kernel = newKernel();
    const seed = await DeviceMapper.open({ backend: kernel.backend() });
    await seed.create({ name: 'cv' });
    seed.close();
    const spy = new Spy();
    try {
      const m = /^(errno|throw)@(\d+)$/.exec(failure);
      const variant = m ? 'ok' : failure === 'close-throws' ? 'ok' : failure;
      const table = cliTable(variant);
      const argv = [p.verb, p.verb === 'create' ? 'new' : 'cv'];
      let stdin: string | undefined;
      if (p.source === '--table') argv.push('--table', table);
      else if (p.source === 'file') argv.push('/tables/t');
      else stdin = table;
      if (p.json) argv.push('--json');
      let stdout = '';
      let stderr = '';
      const ops = memoryNodes();
      const io: Partial<CliIo> = {
        stdout: (t) => { stdout += t; },
        stderr: (t) => { stderr += t; },
        readStdin: async () => stdin ?? '',
        stdinIsTTY: stdin === undefined,
        env: {},
        open: async () => {
          const dm = await DeviceMapper.open({ backend: spy.backend(kernel.backend()), blocking: true });
          spy.fault = m ? { kind: m[1] as 'errno' | 'throw', at: Number(m[2]) } : failure === 'close-throws' ? { kind: 'close-throws' } : undefined;
          spy.armed = true;
          return dm;
        },
        readFile: (f) => { if (f !== '/tables/t') throw new Error(`no file ${f}`); return table; },
        sysfs: '/nonexistent-sysfs',
        nodes: { dir: '/dev/mapper', udev: false, ops },
      };
      let code: number | undefined;
      let thrown: unknown;
      try { code = await run(argv, io); } catch (e) { thrown = e; }
      spy.armed = false;
      if (variant === 'ok' && !m && failure !== 'close-throws') expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      else if (failure !== 'close-throws') expect(code).toBe(1);
      const texts = [stdout, stderr, ...stringsOf(thrown), ...spy.records];
      recordsChecked += spy.records.length;
      expect(texts.flatMap(leaksIn)).toEqual([]);
      const { dirty, checked } = spy.check();
      expect(dirty).toEqual([]);
      buffersChecked += checked;
      scenarios++;
    } finally {
      spy.stop();
    }
  });

  test('--dry-run dumps (text, --hex, --json) mask the key unless --showkeys', async () => {
    const kernel = newKernel();
    const io = (out: string[]): Partial<CliIo> => ({
      stdout: (t) => { out.push(t); }, stderr: (t) => { out.push(t); }, readStdin: async () => '', stdinIsTTY: true, env: {},
      open: () => DeviceMapper.open({ backend: kernel.backend() }), readFile: () => '', sysfs: '/nonexistent-sysfs', nodes: false,
    });
    for (const extra of [[], ['--hex'], ['--json']]) {
      const out: string[] = [];
      expect(await run(['create', 'new', '--table', cryptLine('ok'), '--dry-run', ...extra], io(out))).toBe(0);
      expect(out.flatMap(leaksIn)).toEqual([]);
      expect(out.join('')).toContain('DM_SECURE_DATA_FLAG');
    }
    const shown: string[] = [];
    expect(await run(['create', 'new', '--table', cryptLine('ok'), '--dry-run', '--hex', '--showkeys'], io(shown))).toBe(0);
    expect(shown.join('')).toContain(HEX);
  });
});

test('the trace channels and NODE_DEBUG lines of every scenario above carried no key', () => {
  expect(traced.length).toBeGreaterThan(1000);
  expect(traced.some((t) => t.includes('DM_TABLE_LOAD'))).toBe(true);
  expect(traced.some((t) => t.includes('createDevice'))).toBe(true);
  const leaks = new Set(traced.flatMap(leaksIn));
  expect([...leaks]).toEqual([]);
});

test('intent records were written on the way and scanned (docs/crash-safety.md: never key material)', () => {
  expect(recordsChecked).toBeGreaterThan(0);
});

afterAll(() => {
  // The closing note's numbers: paths × failure points, and buffers the spy checked.
  const libPaths = LIB_PATHS.length * 2;
  console.log(`secrets canary: ${libPaths} library paths (${LIB_PATHS.length} × async/blocking) and ${CLI_PATHS.length} dmctl paths; `
    + `${libCount} + ${cliCount} = ${libCount + cliCount} path × failure-point scenarios (${scenarios} ran); ${buffersChecked} buffers checked by the spy; ${recordsChecked} intent records; `
    + `${NEEDLES.length} needles per string`);
});
