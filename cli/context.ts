/**
 * What every verb gets: parsed options, the I/O it may use (injectable for tests), a
 * lazily opened client, name mangling, device selection like dmsetup's
 * `_set_task_device`, `--dry-run` planning and `--json` output through the schemas.
 */
import * as fs from 'node:fs';
import type { z } from 'zod';
import { describeTableLine, isUtf8, type CommandName, type DeviceId, type DeviceInfo, type KernelString, type TargetSpecInput } from '../codec/index.js';
import { DeviceMapper, DmPermissionError, inspect, UDEV_FLAGS, type CookieHost, type DeviceMapperInspector, type NodeOptions, type UdevCallOptions } from '../lib/index.js';
import { annotateRequest, formatAnnotated, toHex, type AnnotatedRequest } from './hex.js';
import { displayName, mangle, manglingMode, rawAlternative, type ManglingMode } from './mangle.js';
import { DMCTL_JSON_VERSION, DryRunOutputSchema, type DmctlDeviceInfo } from './schemas.js';
import { readAhead } from './format.js';
import { parseCookieValue } from './cookie-value.js';
import { UsageError } from './errors.js';
import { checkTable } from './table-check.js';
import { nodeOwner } from './extra-options.js';
import type { CliIo } from './io.js';

// dmctl's I/O lives in io.ts: the dispatcher (run.ts) needs it without this module's imports.
export { defaultIo, type CliIo } from './io.js';

/** One request of `--dry-run --json` (and of `decode` reading a `--dry-run --hex` dump back). */
export function dryRunJson(r: AnnotatedRequest) {
  // The JSON keeps its schema's names (`size`, `offset`): the unit is stated by the schema's
  // descriptions, and renaming them would break readers for no new information.
  return {
    ioctl: r.ioctl, command: r.command, operation: r.operation, request: r.request, size: r.dataSizeBytes, hex: toHex(r.bytes),
    fields: r.fields.map((f) => ({ offset: f.offsetBytes, size: f.sizeBytes, field: f.field, value: f.value })),
  };
}

/**
 * A field's value for the one-line plan: a name or uuid as the kernel gets it, between
 * quotes, escaped once (mangling already wrote `x\x2fy`; JSON would double its backslash).
 * A value holding a quote or a control character keeps its JSON form, which shows them.
 */
function shownOnce(value: string): string {
  if (!value.startsWith('"')) return value;
  const text = JSON.parse(value) as string;
  return /["\u0000-\u001f\u007f]/.test(text) ? value : `"${text}"`;
}

/** A `--json` document: `schemaVersion` first, validated by `schema`, pretty-printed, newline-terminated. */
export function jsonDocument<S extends z.ZodType>(schema: S, value: Omit<z.input<S>, 'schemaVersion'>): string {
  return JSON.stringify(schema.parse({ schemaVersion: DMCTL_JSON_VERSION, ...value }), null, 2) + '\n';
}


export interface Options {
  json?: boolean;
  'dry-run'?: boolean;
  'state-dir'?: string;
  hex?: boolean;
  table?: string;
  uuid?: string;
  readonly?: boolean;
  notable?: boolean;
  retry?: boolean;
  deferred?: boolean;
  force?: boolean;
  noflush?: boolean;
  nolockfs?: boolean;
  setuuid?: boolean;
  showkeys?: boolean;
  inactive?: boolean;
  target?: string;
  options?: string;
  tree?: boolean;
  major?: string;
  minor?: string;
  columns?: boolean;
  C?: boolean;
  noheadings?: boolean;
  verbose?: boolean[];
  help?: boolean;
  manglename?: string;
  noudevsync?: boolean;
  noudevrules?: boolean;
  udevcookie?: string;
  yes?: boolean;
  'udev-timeout'?: string;
  version?: boolean;
  // dmsetup's verbs and options of cli/concise.ts, cli/extra-verbs.ts and cli/extra-options.ts.
  concise?: boolean;
  exec?: string;
  readahead?: string;
  addnodeoncreate?: boolean;
  addnodeonresume?: boolean;
  noopencount?: boolean;
  checks?: boolean;
  verifyudev?: boolean;
  uid?: string;
  gid?: string;
  mode?: string;
  sort?: string;
  select?: string;
  separator?: string;
  nameprefixes?: boolean;
  unquoted?: boolean;
  rows?: boolean;
  unbuffered?: boolean;
}

export class Ctx {
  readonly mode: ManglingMode;
  readonly plan: AnnotatedRequest[] = [];
  #dm: DeviceMapper | undefined;
  /** Arguments that name a device by its printed raw form (see resolveRawNames). */
  readonly #raw = new Map<string, Uint8Array>();

  constructor(readonly verb: string, readonly args: string[], readonly opts: Options, readonly io: CliIo) {
    this.mode = manglingMode(opts.manglename, io.env);
  }

  /** Set by `-S` on a verb over devices (cli/report/verbs.ts): they are named as one of several. */
  selecting = false;

  /** `-S` picked these devices: the verb runs on them, each as one of several (dmsetup's multiple_devices). */
  selectedBy(names: readonly string[]): void {
    this.args.splice(0, this.args.length, ...names);
    this.selecting = true;
  }

  get json(): boolean { return !!this.opts.json; }
  get dry(): boolean { return !!this.opts['dry-run']; }
  get verbose(): number { return this.opts.verbose?.length ?? 0; }
  /** `--version`/`-V` (not the `version` verb): answers even without device-mapper. */
  get versionOption(): boolean { return !!this.opts.version; }

  async dm(): Promise<DeviceMapper> {
    // --noopencount: libdm's dm_task_no_open_count, a request flag (OpenOptions.skipOpenCount).
    const skip = this.opts.noopencount ? { skipOpenCount: true } : {};
    this.#dm ??= await this.io.open(this.opts['state-dir'] === undefined ? (this.opts.noopencount ? skip : undefined) : { stateDir: this.opts['state-dir'], ...skip });
    return this.#dm;
  }

  close(): void { this.#dm?.close(); }

  #inspector: DeviceMapperInspector | undefined;

  /**
   * The client, or, for a read verb whose every field sysfs can give or mark unknown
   * (cli/sysfs-fallback.ts decides), the sysfs view when the control node refused this user
   * (EACCES/EPERM): then one line on stderr says so, once. Any other failure is thrown.
   */
  async reader(fallback: boolean): Promise<DeviceMapper | DeviceMapperInspector> {
    if (this.#inspector) return this.#inspector;
    try {
      return await this.dm();
    } catch (e) {
      if (!fallback || !(e instanceof DmPermissionError)) throw e;
      this.#inspector = (this.io.inspect ?? (() => inspect()))();
      this.io.stderr(`dmctl: ${e.code === 'DM_PERMISSION' ? 'no permission for' : `${e.code} from`} /dev/mapper/control: read from sysfs instead; what sysfs cannot know is shown as unknown\n`);
      return this.#inspector;
    }
  }

  /** Whether a verb fell back to sysfs. */
  get fromSysfs(): boolean { return this.#inspector !== undefined; }

  out(text: string): void { this.io.stdout(text); }

  /** Validates `value` with the verb's schema and prints it, with the document's `schemaVersion` first. */
  printJson<S extends z.ZodType>(schema: S, value: Omit<z.input<S>, 'schemaVersion'>): void {
    this.io.stdout(jsonDocument(schema, value));
  }

  /** Records a request for --dry-run (encoded exactly as the client would, nothing sent). */
  request(command: CommandName, params: object): void {
    this.plan.push(annotateRequest(command, params, { showKeys: this.opts.showkeys }));
  }

  /** Prints the --dry-run plan: annotated hex, JSON, or one line per ioctl. */
  printPlan(): void {
    if (this.json) {
      this.printJson(DryRunOutputSchema, {
        requests: this.plan.map(dryRunJson),
      });
    } else if (this.opts.hex) {
      this.out(this.plan.map(formatAnnotated).join('\n\n') + '\n');
    } else {
      for (const r of this.plan) this.out(`would send ${r.ioctl} (${r.operation})  ${r.fields.filter((f) => /\.(name|uuid|flags|target_count)$/.test(f.field)).map((f) => `${f.field.replace('dm_ioctl.', '')}=${shownOnce(f.value)}`).join(' ')}\n`);
    }
  }

  mangled(name: string, what = 'name'): string { return mangle(name, this.mode, what); }
  /** A kernel name or uuid as dmctl prints it (mangle.ts displayName); `raw` = its bytes when not UTF-8. */
  display(kernelName: string, raw?: Uint8Array): string { return displayName(kernelName, raw, this.mode); }
  /** A name or uuid as given to the client (text, or the raw bytes of one that is not UTF-8), as dmctl prints it. */
  displayKernel(k: KernelString): string {
    if (typeof k === 'string') return this.display(k);
    const text = new TextDecoder().decode(k);
    return this.display(text, isUtf8(k) ? undefined : k);
  }
  displayName(d: { name: string; nameBytes?: Uint8Array | undefined }): string { return this.display(d.name, d.nameBytes); }
  displayUuid(d: { uuid: string | null; uuidBytes?: Uint8Array | undefined }): string { return this.display(d.uuid ?? '', d.uuidBytes); }

  /**
   * dmctl prints a kernel name made of bytes outside the whitelist (not by libdevmapper) in
   * hex-mangled form, e.g. `odd\xff`; auto mode would send that back as the ASCII name
   * `odd\xff`. Before a verb runs, each such argument is checked against the kernel's list:
   * when no device has the mangled name but one has the raw bytes, the argument means that
   * one. dmsetup's reading wins when both exist. One LIST_DEVICES, only for such arguments.
   */
  async resolveRawNames(): Promise<void> {
    if (this.dry || this.mode === 'none') return;
    const wanted: { kernel: string; raw: Uint8Array; uuid: boolean }[] = [];
    const consider = (arg: string | undefined, uuid: boolean) => {
      if (arg === undefined) return;
      let kernel: string;
      try { kernel = this.mangled(arg); } catch { return; } // the verb reports it
      const raw = rawAlternative(kernel);
      // A name never holds '/' (the kernel refuses it): such an argument is a path (a table
      // file), not a device, and costs no LIST_DEVICES.
      if (raw && (uuid || !raw.includes(0x2f))) wanted.push({ kernel, raw, uuid });
    };
    for (const a of this.args) consider(a, false);
    consider(this.opts.uuid, true);
    if (wanted.length === 0 || this.verb === 'decode') return;
    let list;
    try {
      list = await (await this.dm()).list();
    } catch (e) {
      // A read verb that will fall back to sysfs resolves against sysfs's list.
      if (!(e instanceof DmPermissionError) || !['ls', 'info', 'deps'].includes(this.verb)) return;
      try {
        list = await (this.io.inspect ?? (() => inspect()))().list();
      } catch {
        return; // no client (or no listing): the verb meets and reports the same failure itself
      }
    }
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((c, i) => b[i] === c);
    const bytesOf = (text: string, raw: Uint8Array | undefined) => raw ?? new TextEncoder().encode(text);
    for (const w of wanted) {
      const names = list.map((d) => (w.uuid ? (d.uuid == null ? undefined : bytesOf(d.uuid, d.uuidBytes)) : bytesOf(d.name, d.nameBytes)));
      const asMangled = new TextEncoder().encode(w.kernel);
      if (names.some((n) => n && same(n, asMangled))) continue;
      if (names.some((n) => n && same(n, w.raw))) this.#raw.set((w.uuid ? 'u:' : 'n:') + w.kernel, w.raw);
    }
  }

  #kernelName(arg: string, what: 'name' | 'UUID'): KernelString {
    const kernel = this.mangled(arg, what);
    return this.#raw.get((what === 'UUID' ? 'u:' : 'n:') + kernel) ?? kernel;
  }

  /** dmsetup's `_set_task_device`: a name argument, else -u uuid, else -j/-m. */
  deviceId(name: string | undefined): DeviceId {
    if (name !== undefined) return { name: this.#kernelName(name, 'name') };
    if (this.opts.uuid !== undefined) return { uuid: this.#kernelName(this.opts.uuid, 'UUID') };
    if (this.opts.major !== undefined && this.opts.minor !== undefined) {
      return { dev: { major: intArg(this.opts.major, 'major'), minor: intArg(this.opts.minor, 'minor') } };
    }
    throw new UsageError('No device specified.');
  }

  /** Whether a device is selected by option (-u or -j/-m) rather than by a name argument. */
  get byOption(): boolean {
    return this.opts.uuid !== undefined || (this.opts.major !== undefined && this.opts.minor !== undefined);
  }

  /** The JSON form of a device's info. */
  infoJson(d: DeviceInfo): DmctlDeviceInfo {
    const f = d.flags;
    return {
      name: this.displayName(d),
      uuid: d.uuid ? this.displayUuid(d) : null,
      major: d.dev.major,
      minor: d.dev.minor,
      state: f.suspended ? 'SUSPENDED' : 'ACTIVE',
      readOnly: f.readOnly,
      deferredRemove: f.deferredRemove,
      readAhead: readAhead(this.io.sysfs, d.dev) ?? null,
      tablesPresent: { live: f.activePresent, inactive: f.inactivePresent },
      openCount: d.openCount,
      eventNr: d.eventNr,
      targetCount: d.targetCount,
    };
  }

  /** Node options for this run, or undefined when nodes are not managed. */
  /** `--udevcookie`, else `$DM_UDEV_COOKIE` (dmsetup's `_set_up_udev_support`). */
  udevCookieOption(): string | undefined {
    const env = this.io.env.DM_UDEV_COOKIE;
    return this.opts.udevcookie ?? (env ? env : undefined);
  }

  /**
   * The client's udev options for resume, remove and rename: `--noudevsync` = no cookie;
   * `--udevcookie`/DM_UDEV_COOKIE = join that transaction (no wait); `--noudevrules` =
   * DISABLE_DM_RULES | DISABLE_SUBSYSTEM_RULES; `--udev-timeout` bounds the wait.
   */
  udevOptions(): UdevCallOptions {
    const t = this.opts['udev-timeout'];
    const flags = this.opts.noudevrules ? UDEV_FLAGS.DISABLE_DM_RULES | UDEV_FLAGS.DISABLE_SUBSYSTEM_RULES : 0;
    const cookie = this.udevCookieOption();
    return {
      ...(this.opts.noudevsync ? { udev: 'none' as const } : cookie !== undefined ? { udevCookie: parseCookieValue(cookie) } : {}),
      ...(flags ? { udevFlags: flags } : {}),
      ...(t !== undefined ? { udevTimeoutMs: intArg(t, 'udev-timeout') } : {}),
    };
  }

  nodeOptions(): NodeOptions | undefined {
    if (this.io.nodes === false) return undefined;
    // In a udev transaction udev owns the nodes (DISABLE_LIBRARY_FALLBACK) and nobody waits yet.
    if (!this.opts.noudevsync && this.udevCookieOption() !== undefined) return undefined;
    const t = this.opts['udev-timeout'];
    // The client's backend holds the nodes when no ops are given (the simulator's in-memory /dev).
    const dm = this.io.nodes.ops === undefined && this.#dm !== undefined ? { dm: this.#dm } : {};
    return { ...dm, ...this.io.nodes, ...nodeOwner(this.opts), ...(t !== undefined ? { timeoutMs: intArg(t, 'udev-timeout') } : {}), env: this.io.nodes.env ?? this.io.env };
  }

  /** The table of create/load: --table, a file argument, or stdin. */
  /**
   * The table of a create or load: parsed, then checked (cli/table-check.ts) — the one way to
   * a table for a real run and its `--dry-run`, so both refuse the same tables the same way.
   */
  async table(file: string | undefined): Promise<TargetSpecInput[]> {
    const targets = parseTableText(await this.tableText(file));
    checkTable(targets);
    return targets;
  }

  async tableText(file: string | undefined): Promise<string> {
    if (this.opts.table !== undefined) return this.opts.table;
    if (file !== undefined) return this.io.readFile(file);
    if (this.io.stdinIsTTY) throw new UsageError('No table given: use --table "<start> <length> <type> <params>", a table file, or pipe the table on stdin (or --notable).');
    return this.io.readStdin();
  }
}

/** A non-negative integer argument that a JS number holds exactly (below 2^53). */
export function intArg(v: string, what: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`Invalid ${what}: ${JSON.stringify(v)} (a non-negative integer below 2^53)`);
  return n;
}

/** A u64 argument (sectors): decimal, exact up to 2^64 - 1, as a bigint. */
export function u64Arg(v: string, what: string): bigint {
  if (!/^\d+$/.test(v) || v.replace(/^0+/, '').length > 20 || BigInt(v) > 0xffffffffffffffffn) {
    throw new UsageError(`Invalid ${what}: ${JSON.stringify(v)} (a non-negative integer below 2^64)`);
  }
  return BigInt(v);
}

/** One whitespace character, as JavaScript's `\s` and `String.prototype.trim` define it. */
function isSpace(ch: string): boolean {
  return ch.trim() === '';
}

/** `.` in the old line pattern: anything but a line terminator (`\n` is the line separator). */
const LINE_TERMINATORS = ['\r', '\u2028', '\u2029'];

/**
 * libdevmapper's table parsing (`_parse_line`): one target per line, "start length
 * type params", blank lines and lines starting with '#' skipped, params after the
 * type's whitespace taken verbatim (trailing whitespace dropped).
 *
 * A hand-written scan, not a regular expression: the text is the user's, and the
 * patterns this replaced (`/\s+$/` to trim, `\S+\s*(.*)$` to split) backtrack
 * quadratically on long whitespace runs (a 156 KiB line took 19 s). Every character is
 * looked at a bounded number of times (spec/lib/hostile-regex.spec.ts).
 */
export function parseTableText(text: string): TargetSpecInput[] {
  const out: TargetSpecInput[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const words: string[] = [];
    let at = 0;
    while (words.length < 3 && at < line.length) {
      const from = at;
      while (at < line.length && !isSpace(line[at]!)) at++;
      words.push(line.slice(from, at));
      while (at < line.length && isSpace(line[at]!)) at++;
    }
    const params = line.slice(at);
    const [start, length, type] = words;
    if (type === undefined || !/^\d+$/.test(start!) || !/^\d+$/.test(length!) || LINE_TERMINATORS.some((t) => params.includes(t))) {
      throw new UsageError(`Invalid format on line ${i + 1} of table: ${JSON.stringify(describeTableLine(raw))} (expected "<start> <length> <type> <params>")`);
    }
    out.push({ start: BigInt(start!), length: BigInt(length!), type, params });
  });
  if (out.length === 0) throw new UsageError('The table is empty (no "<start> <length> <type> <params>" line).');
  return out;
}
