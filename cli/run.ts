/**
 * dmctl's dispatcher: the command line parsed, the verb found, and only that verb's modules
 * loaded (each handler is imported when its verb runs). `bin/dmctl.js` imports this module,
 * not index.ts, whose `--json` schemas would load zod for every command: a `dmctl thin …`
 * process reads a metadata file without loading the client, zod or the target catalogue
 * (spec/cli/startup.spec.ts).
 */
import { parseArgs } from 'node:util';
// The thin-metadata entry point, not the root: the root would load the whole library first.
import { DmArgumentError } from '../lib/thin-metadata/public.js';
import { defaultIo, type CliIo } from './io.js';
import type { Ctx, Options } from './context.js';
import { STATS_USAGE } from './stats-usage.js';

const query = () => import('./query.js');
const extra = () => import('./extra-verbs.js');
const concise = () => import('./concise.js');
const life = () => import('./lifecycle.js');
const udev = () => import('./udev.js');
const reportVerbs = () => import('./report/verbs.js');

/** A verb's handler, `pick` of the module `load` imports, loaded when the verb runs. */
function lazy<M>(load: () => Promise<M>, pick: (m: M) => (ctx: Ctx) => Promise<number>): (ctx: Ctx) => Promise<number> {
  return async (ctx) => pick(await load())(ctx);
}

/** @internal One row of {@link VERBS}. */
export interface Verb {
  usage: string;
  help: string;
  run(ctx: Ctx): Promise<number>;
  /** A verb that parses its own command line (its options are another tool's): given argv without its own name. */
  raw?(argv: readonly string[], io: CliIo): Promise<number>;
}

/** @internal dmctl's verbs by name (tests and help read it). */
export const VERBS: Record<string, Verb> = {
  version: { usage: 'version', help: 'Library and kernel driver versions.', run: lazy(query, (m) => m.version) },
  targets: { usage: 'targets', help: 'Loaded target types and their versions.', run: lazy(query, (m) => m.targets) },
  ls: {
    usage: 'ls [--target <target_type>] [--exec <command>] [-o devno|devname|blkdevname] [--tree]',
    help: 'List devices: "name\\t(major:minor)". --exec: run <command> /dev/mapper/<name> for each.', run: lazy(extra, (m) => m.ls),
  },
  info: {
    usage: 'info [-c|-C|--columns [-o [+]<fields>] [-O|--sort <sort_fields>] [-S|--select <selection>] [--noheadings] [--separator <separator>] [--nameprefixes] [--unquoted] [--rows] [--unbuffered]] [--inactive] [<device>...]',
    help: 'Device state (all devices without arguments); -c: dmsetup\'s report (fields: dmctl help -c).', run: lazy(query, (m) => m.info),
  },
  create: {
    usage: 'create <dev_name> [<table_file>] [--table <table>] [-u|--uuid <uuid>] [-r|--readonly] [-n|--notable] [-j <major> -m <minor>] [-U <uid>] [-G <gid>] [-M <octal_mode>] [--addnodeonresume|--addnodeoncreate] [--readahead {[+]<sectors>|auto|none}]\n  create --concise [<concise_device_spec_list>]',
    help: 'Create a device: create, load the table (from --table, the file, or stdin), resume. --concise: the devices of a concise list (dmsetup\'s, the grammar of dm-mod.create=; docs/concise.md).', run: lazy(concise, (m) => m.create),
  },
  remove: { usage: 'remove [-f|--force] [--retry] [--deferred] <device>...', help: 'Remove devices (--force swaps in an error table first).', run: lazy(life, (m) => m.remove) },
  remove_all: { usage: 'remove_all [-f|--force] [--deferred]', help: 'Remove every device that is not open.', run: lazy(life, (m) => m.removeAll) },
  suspend: { usage: 'suspend [--noflush] [--nolockfs] <device>...', help: 'Suspend devices.', run: lazy(life, (m) => m.suspend) },
  resume: { usage: 'resume [--noflush] [--nolockfs] [--addnodeonresume|--addnodeoncreate] [--readahead {[+]<sectors>|auto|none}] <device>...', help: 'Resume devices (makes a loaded table live).', run: lazy(extra, (m) => m.resume) },
  load: { usage: 'load <device> [<table_file>] [--table <table>] [-r]', help: 'Load a table into the inactive slot.', run: lazy(life, (m) => m.load) },
  reload: { usage: 'reload <device> [<table_file>] [--table <table>] [-r]', help: 'Same as load.', run: lazy(life, (m) => m.load) },
  clear: { usage: 'clear <device>...', help: 'Drop the inactive table.', run: lazy(life, (m) => m.clear) },
  rename: { usage: 'rename <device> [--setuuid] <new_name_or_uuid>', help: 'Rename a device, or set its uuid (once).', run: lazy(life, (m) => m.rename) },
  table: { usage: 'table [<device>...] [--concise] [--target <target_type>] [--showkeys] [--inactive] [--exec <command>] [-v]', help: 'Table lines (devices as major:minor; keys hidden unless --showkeys); --concise: one line, as create --concise reads it.', run: lazy(concise, (m) => m.table) },
  status: { usage: 'status [<device>...] [--target <target_type>] [--noflush] [--inactive] [--exec <command>] [-v]', help: 'Status lines of each target.', run: lazy(query, (m) => m.status) },
  deps: { usage: 'deps [-o devno|devname|blkdevname] [<device>...]', help: 'Devices each table uses.', run: lazy(query, (m) => m.deps) },
  message: { usage: 'message <device> <sector> <message>', help: 'Send a message to a target; prints its response.', run: lazy(life, (m) => m.message) },
  wait: { usage: 'wait <device> [<event_nr>] [--noflush]', help: 'Wait until the device\'s event number differs from event_nr (default 0).', run: lazy(query, (m) => m.wait) },
  setgeometry: { usage: 'setgeometry <device> <cyl> <head> <sect> <start>', help: 'Set the device geometry.', run: lazy(life, (m) => m.setgeometry) },
  mknodes: { usage: 'mknodes [<device>...]', help: 'Make /dev/mapper match the kernel.', run: lazy(life, (m) => m.mknodes) },
  udevcreatecookie: { usage: 'udevcreatecookie', help: 'Create a udev transaction cookie (prints it; nothing where udev sync is off).', run: lazy(udev, (m) => m.udevcreatecookie) },
  udevreleasecookie: { usage: 'udevreleasecookie [<cookie>]', help: 'Wait for udev to complete a cookie, then remove it.', run: lazy(udev, (m) => m.udevreleasecookie) },
  udevflags: { usage: 'udevflags <cookie>', help: 'The DM_UDEV_* flags a cookie carries (as udev rules import them).', run: lazy(udev, (m) => m.udevflags) },
  udevcomplete: { usage: 'udevcomplete <cookie>', help: 'Complete one uevent of a cookie (what udev\'s 95-dm-notify.rules runs).', run: lazy(udev, (m) => m.udevcomplete) },
  udevcomplete_all: { usage: 'udevcomplete_all [<age_in_minutes>] [-y|--yes]', help: 'Remove every cookie semaphore not changed or used for the age.', run: lazy(udev, (m) => m.udevcompleteAll) },
  udevcookies: { usage: 'udevcookies', help: 'List the cookie semaphores with their values.', run: lazy(udev, (m) => m.udevcookies) },
  recover: {
    usage: 'recover [--dry-run] [--state-dir <dir>]',
    help: 'Finish or take back what operations of processes that died left half-done (suspended devices, staged tables, temporary devices, unreported thin ids, udev semaphores; docs/crash-safety.md).',
    run: lazy(() => import('./recover.js'), (m) => m.recover),
  },
  verity: {
    usage: 'verity format|verify|open|close|dump <device>... [veritysetup\'s options]',
    help: 'dm-verity\'s hash tree as veritysetup makes, checks and shows it (no veritysetup needed; dmctl verity --help).',
    run: async () => 1, raw: async (argv, io) => (await import('./verity.js')).runVerity(argv, io),
  },
  thin: {
    usage: 'thin dump|ls|delta [thin_dump\'s, thin_ls\'s, thin_delta\'s options] <metadata>',
    help: 'A thin pool\'s metadata as thin-provisioning-tools show it (no thin tools needed; docs/thin-metadata.md).',
    run: async () => 1, raw: async (argv, io) => (await import('./thin.js')).runThin(argv, io),
  },
  wipe_table: { usage: 'wipe_table [-f|--force] [--noflush] [--nolockfs] <device>...', help: 'Replace the live table with an error table of the same size (--force: without flushing).', run: lazy(extra, (m) => m.wipeTable) },
  measure: { usage: 'measure [<device>...] [--exec <command>] [-v]', help: 'What IMA measures of each target (dm 4.45+), in status\'s format.', run: lazy(extra, (m) => m.measure) },
  mangle: { usage: 'mangle [<device>...]', help: 'Rename devices whose names are not in the --manglename mode\'s form.', run: lazy(extra, (m) => m.mangle) },
  'target-version': { usage: 'target-version <target>...', help: 'The version of each target type (its module is loaded if needed).', run: lazy(extra, (m) => m.targetVersion) },
  splitname: {
    usage: 'splitname <device_name> [<subsystem>] [-o <fields>] [-O <sort_fields>] [-S <selection>] [--noheadings] [--separator <separator>] [--nameprefixes] [--rows]',
    help: 'Split an LVM device name into VG, LV and layer ("--" quotes a "-"); other subsystems give empty fields.', run: lazy(reportVerbs, (m) => m.splitname),
  },
  decode: {
    usage: 'decode [<command>] <hex>|-',
    help: 'Decode a reply buffer (hex, e.g. from strace -X raw -e ioctl) into JSON, or read back dmctl\'s own --dry-run --hex dump (printed as --dry-run --json). <command>: listDevices, DM_LIST_DEVICES or ls, …; a dump names its own.', run: lazy(() => import('./decode.js'), (m) => m.decode),
  },
  stats: { usage: STATS_USAGE, help: 'dm-stats regions, areas, histograms and groups, as dmstats (docs/stats.md).', run: async () => 1 },
};

/**
 * The verb a user typed, or undefined. An own-property check, not `VERBS[name]`: the
 * name is user text, and `constructor`, `toString` or `__proto__` would otherwise find
 * Object.prototype's members ("verb.run is not a function").
 * @internal
 */
export function verbNamed(name: string): Verb | undefined {
  return Object.hasOwn(VERBS, name) ? VERBS[name] : undefined;
}

const OPTIONS = {
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'state-dir': { type: 'string' },
  hex: { type: 'boolean' },
  table: { type: 'string' },
  uuid: { type: 'string', short: 'u' },
  readonly: { type: 'boolean', short: 'r' },
  notable: { type: 'boolean', short: 'n' },
  retry: { type: 'boolean' },
  deferred: { type: 'boolean' },
  force: { type: 'boolean', short: 'f' },
  noflush: { type: 'boolean' },
  nolockfs: { type: 'boolean' },
  setuuid: { type: 'boolean' },
  showkeys: { type: 'boolean' },
  inactive: { type: 'boolean' },
  target: { type: 'string' },
  options: { type: 'string', short: 'o' },
  tree: { type: 'boolean' },
  major: { type: 'string', short: 'j' },
  minor: { type: 'string', short: 'm' },
  columns: { type: 'boolean', short: 'c' },
  C: { type: 'boolean', short: 'C' },
  noheadings: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  help: { type: 'boolean', short: 'h' },
  manglename: { type: 'string' },
  noudevsync: { type: 'boolean' },
  noudevrules: { type: 'boolean' },
  udevcookie: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  'udev-timeout': { type: 'string' },
  // dmsetup's: --concise (create, table), --exec (ls, table, status, measure: cli/exec.ts), the node and read-ahead options of create/resume
  // (-U/-G/-M, --readahead, --addnodeon*), and --noopencount, --checks, --verifyudev (accepted: see docs/dmctl.md).
  concise: { type: 'boolean' },
  exec: { type: 'string' },
  readahead: { type: 'string' },
  addnodeoncreate: { type: 'boolean' },
  addnodeonresume: { type: 'boolean' },
  noopencount: { type: 'boolean' },
  checks: { type: 'boolean' },
  verifyudev: { type: 'boolean' },
  uid: { type: 'string', short: 'U' },
  gid: { type: 'string', short: 'G' },
  mode: { type: 'string', short: 'M' },
  // dmsetup has --version (no short form; its short options are "cCfG:hj:m:M:no:O:rS:u:U:vy",
  // so -V means nothing there): it runs the version command and exits 0.
  version: { type: 'boolean', short: 'V' },
  // dmsetup's report switches (cli/report/).
  sort: { type: 'string', short: 'O' },
  select: { type: 'string', short: 'S' },
  separator: { type: 'string' },
  nameprefixes: { type: 'boolean' },
  unquoted: { type: 'boolean' },
  rows: { type: 'boolean' },
  unbuffered: { type: 'boolean' },
} as const;

/** @internal dmctl's usage text. */
export function usage(): string {
  const lines = Object.entries(VERBS).map(([, v]) => `  ${v.usage}`);
  return [
    'Usage: dmctl <command> [options]   (a dmsetup-compatible CLI of the devicemapper package)',
    '',
    'Commands:',
    ...lines,
    '',
    'Options for every command:',
    '  --json                 print a JSON document (schemas: DmctlSchemas in the package)',
    '  --dry-run [--hex]      print the ioctl requests instead of sending them (--hex: annotated bytes, --json: JSON)',
    '  -u|--uuid <uuid>, -j|--major <major> -m|--minor <minor>   select the device instead of a name',
    '  --manglename auto|hex|none   name mangling, as dmsetup (default auto, or $DM_DEFAULT_NAME_MANGLING_MODE)',
    '  --udev-timeout <ms>    how long to wait for udev (cookie or /dev/mapper node; default 30000 / 10000)',
    '  --noudevsync           send no udev cookie (nodes: wait for udev, else make them), --noudevrules: disable dm rules',
    '  --udevcookie <cookie>  join a udev transaction (also $DM_UDEV_COOKIE): no wait; udevreleasecookie waits',
    '  -v|--verbose, -h|--help, -V|--version (library and driver versions; exit 0 even without device-mapper)',
    '  -vv, -vvv              each ioctl as dmsetup -vv prints it (-vvv: with its timestamps); also NODE_DEBUG=devicemapper',
    '',
    'Exit status: 0 on success, 1 on failure or a usage error (as dmsetup).',
  ].join('\n') + '\n';
}

/**
 * A command line dmctl cannot parse, or a command it does not know: the problem, the
 * general form and where to look, in three lines (the full usage is `dmctl help`).
 * `verb`: the known command the line was for, whose own help is then named.
 */
function shortUsage(problem: string, verb?: string): string {
  return `dmctl: ${problem}\nUsage: dmctl <command> [options]\n`
    + (verb !== undefined ? `Try 'dmctl help ${verb}' for its options, or 'dmctl help' for every command.\n` : `Try 'dmctl help' for the commands, or 'dmctl help <command>' for one.\n`);
}

/**
 * parseArgs' complaint without its advice on positionals that start with '-' ("Unknown
 * option '--x'. To specify a positional argument starting with a '-', …"): its first sentence.
 */
function parseArgsProblem(e: unknown): string {
  // Node prints some of these as "TypeError [ERR_PARSE_ARGS_…]: …" in their message.
  const message = (e instanceof Error ? e.message : String(e)).replace(/^\w*Error \[\w+\]: /, '');
  const first = message.split(/\.\s/)[0]!.replace(/\.$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}

/** The first argument that is not an option, as a lenient parse sees it (for naming the verb's help). */
function firstPositional(argv: readonly string[]): string | undefined {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false }).positionals[0];
  } catch {
    return undefined;
  }
}

/** What a bad argument of run() is, for its message (never String(v): a Symbol would throw). */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v)}` : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * getopt's reading of an option that takes a value: the next argument is the value even when
 * it starts with '-' (`-O -name` sorts by name descending, `--separator -`); parseArgs would
 * call it ambiguous. Such pairs are joined as `--long=value` before parsing; `--` ends options.
 */
function joinOptionValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.push(...argv.slice(i)); break; }
    const entry = Object.entries(OPTIONS).find(([long, o]) => o.type === 'string' && (a === `--${long}` || ('short' in o && a === `-${o.short}`)));
    const next = argv[i + 1];
    if (entry && next !== undefined && next.startsWith('-')) {
      out.push(`--${entry[0]}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Runs one dmctl command line; resolves to the exit status. */
export async function run(argv: readonly string[], ioOverrides: Partial<CliIo> = {}): Promise<number> {
  // Programmer errors, not usage errors: thrown, not turned into an exit status.
  if (!Array.isArray(argv)) throw new DmArgumentError('argv', 'an array of strings', describe(argv));
  for (let i = 0; i < argv.length; i++) {
    if (typeof argv[i] !== 'string') throw new DmArgumentError(`argv[${i}]`, 'a string', describe(argv[i]));
  }
  if (ioOverrides === null || typeof ioOverrides !== 'object' || Array.isArray(ioOverrides)) {
    throw new DmArgumentError('io', 'an object of CliIo overrides', describe(ioOverrides));
  }
  const io: CliIo = { ...defaultIo(), ...ioOverrides };
  // A verb with a command line of its own (verity: veritysetup's options) parses it itself.
  const own = firstPositional(argv);
  const rawVerb = own === undefined ? undefined : verbNamed(own)?.raw;
  if (rawVerb) {
    const at = argv.indexOf(own!);
    return rawVerb([...argv.slice(0, at), ...argv.slice(at + 1)], io);
  }
  // dmstats has options of its own: `stats` parses its whole line itself (cli/stats.ts).
  if (argv[0] === 'stats' && !argv.includes('--help') && !argv.includes('-h')) return (await import('./stats.js')).runStats(argv.slice(1), io);
  let parsed: { values: Options; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinOptionValues(argv), options: OPTIONS, allowPositionals: true, strict: true }) as unknown as { values: Options; positionals: string[] };
  } catch (e) {
    io.stderr(shortUsage(parseArgsProblem(e), verbNamed(firstPositional(argv) ?? '') ? firstPositional(argv) : undefined));
    return 1;
  }
  let [verbName, ...args] = parsed.positionals;
  // --version/-V: dmsetup runs its version command whatever else the line says.
  if (parsed.values.version && !parsed.values.help) [verbName, args] = ['version', []];
  if (verbName === undefined || verbName === 'help') {
    const topic = args[0];
    const v = topic !== undefined ? verbNamed(topic) : undefined;
    if (topic !== undefined && !v) {
      io.stderr(shortUsage(`unknown command "${topic}"`));
      return 1;
    }
    // `help -c`: the report fields after the usage, as dmsetup lists them (cli/report/).
    const fields = verbName === 'help' && !v && (parsed.values.columns || parsed.values.C) ? (await reportVerbs()).columnsHelp() : '';
    (verbName === undefined && !parsed.values.help ? io.stderr : io.stdout)((v ? `Usage: dmctl ${v.usage}\n  ${v.help}\n` : usage()) + fields);
    return verbName === undefined && !parsed.values.help ? 1 : 0;
  }
  const verb = verbNamed(verbName);
  if (!verb) {
    io.stderr(shortUsage(`unknown command "${verbName}"`));
    return 1;
  }
  if (parsed.values.help) {
    io.stdout(`Usage: dmctl ${verb.usage}\n  ${verb.help}\n`);
    return 0;
  }
  // The modules every verb over devices shares, loaded now that one runs.
  const [{ Ctx }, { traceIoctls }, { errorJson, formatError, UsageError }, { ErrorOutputSchema }, report] = await Promise.all([
    import('./context.js'), import('./verbose.js'), import('./errors.js'), import('./schemas.js'), reportVerbs(),
  ]);
  let ctx: Ctx | undefined;
  let stopTrace: (() => void) | undefined;
  try {
    ctx = new Ctx(verbName, args, parsed.values, io);
    // -vv/-vvv: dmsetup's per-ioctl lines (cli/verbose.ts); on stderr when stdout is a --json document.
    stopTrace = traceIoctls(ctx.verbose, parsed.values.json ? (t) => io.stderr(t) : (t) => io.stdout(t));
    await ctx.resolveRawNames();
    // -S on a verb over devices: an info -c selection picks them (cli/report/verbs.ts).
    const rc = parsed.values.select !== undefined && report.SELECT_VERBS.has(verbName) && !ctx.dry
      ? await report.runSelected(ctx, () => verb.run(ctx!))
      : await verb.run(ctx);
    // recover's --dry-run is a report of its own (what it would do), not a list of ioctls.
    if (ctx.dry && verbName !== 'recover') ctx.printPlan();
    return rc;
  } catch (e) {
    if (parsed.values.json) io.stderr(JSON.stringify(ErrorOutputSchema.parse(errorJson(e, verbName)), null, 2) + '\n');
    else io.stderr(formatError(e, verbName) + (e instanceof UsageError ? `Usage: dmctl ${verb.usage}\n` : ''));
    return 1;
  } finally {
    stopTrace?.();
    ctx?.close();
  }
}
