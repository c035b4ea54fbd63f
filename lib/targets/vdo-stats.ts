/**
 * The vdo `stats` message's reply (vdo_write_stats() in dm-vdo/message-stats.c): one line of
 * `{ key : value, …, }` with nested groups in braces, every entry followed by `, `. Parsed into
 * a typed object: the volume-wide fields by name, the groups (packer, journal, blockMap, bios…)
 * as trees of counters. Hostile text gives `DmTargetParseError`, never a crash or a polluted
 * prototype.
 */
import { DmTargetParseError } from '../errors.js';

/** A group of counters of the `stats` reply (`packer`, `blockMap`, `biosIn`, …), nested as the kernel nests them. */
export interface VdoStatsGroup { readonly [key: string]: bigint | string | VdoStatsGroup }

/** The vdo `stats` message's reply, typed. Counts of blocks are 4096-byte blocks. */
export interface VdoStats {
  /** The statistics layout's version. */
  readonly version: number;
  readonly dataBlocksUsed: bigint;
  readonly overheadBlocksUsed: bigint;
  readonly logicalBlocksUsed: bigint;
  readonly physicalBlocks: bigint;
  readonly logicalBlocks: bigint;
  /** The block map page cache's size in bytes. */
  readonly blockMapCacheSizeBytes: bigint;
  /** The physical block size in bytes (4096). */
  readonly blockSizeBytes: bigint;
  readonly completeRecoveries: bigint;
  readonly readOnlyRecoveries: bigint;
  /** The operating mode (`normal`, `recovering`, `read-only`). */
  readonly mode: string;
  readonly inRecoveryMode: boolean;
  readonly recoveryPercentage: number;
  /** The vdo instance number. */
  readonly instance: number;
  readonly currentVIOsInProgress: number;
  readonly maxVIOs: number;
  readonly dedupeAdviceTimeouts: bigint;
  readonly flushOut: bigint;
  /** The logical block size in bytes (512 or 4096). */
  readonly logicalBlockSizeBytes: bigint;
  /** The nested groups by the kernel's names (`packer`, `allocator`, `journal`, `blockMap`, `hashLock`, `errors`, `biosIn`, …, `memoryUsage`, `index`). */
  readonly groups: Readonly<Record<string, VdoStatsGroup>>;
  /** Top-level values this parser does not name (a newer kernel's), verbatim. */
  readonly extra: Readonly<Record<string, bigint | string>>;
}

const MAX_TEXT = 1 << 20;
const MAX_DEPTH = 8;
const MAX_ENTRIES = 4096;
const fail = (what: string): never => { throw new DmTargetParseError('BAD_VALUE', 'vdo', `stats: ${what}`, 'stats'); };

/** A fresh object without a prototype, filled by defineProperty: `__proto__` stays a key. */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (Object.prototype.hasOwnProperty.call(o, k)) fail(`duplicate key ${JSON.stringify(k.slice(0, 40))}`);
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Parses the `{ … }` text into a tree of bigint (decimal), string (a word) and group values. */
function tree(text: string): Record<string, unknown> {
  let i = 0;
  let entries = 0;
  const ws = () => { while (i < text.length && /\s/.test(text[i]!)) i++; };
  const word = (re: RegExp, what: string): string => {
    ws();
    const m = re.exec(text.slice(i, i + 256));
    if (!m) fail(`expected ${what} at offset ${i}`);
    i += m![0].length;
    return m![0];
  };
  const expect = (ch: string) => { ws(); if (text[i] !== ch) fail(`expected "${ch}" at offset ${i}`); i++; };
  const group = (depth: number): Record<string, unknown> => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    expect('{');
    const o: Record<string, unknown> = {};
    for (;;) {
      ws();
      if (text[i] === '}') { i++; return o; }
      if (++entries > MAX_ENTRIES) fail('too many entries');
      const key = word(/^[A-Za-z_][A-Za-z0-9_]{0,63}/, 'a key');
      expect(':');
      ws();
      const value = text[i] === '{' ? group(depth + 1) : word(/^[^\s,{}]{1,64}/, 'a value');
      put(o, key, typeof value === 'string' && /^\d{1,20}$/.test(value) ? BigInt(value) : value);
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== '}') fail(`expected "," or "}" at offset ${i}`);
    }
  };
  if (typeof text !== 'string') fail('not a string');
  if (text.length > MAX_TEXT) fail('too long');
  const root = group(0);
  ws();
  if (i !== text.length) fail(`trailing text at offset ${i}`);
  return root;
}

const NAMED = {
  version: 'n', dataBlocksUsed: 'b', overheadBlocksUsed: 'b', logicalBlocksUsed: 'b', physicalBlocks: 'b', logicalBlocks: 'b',
  blockMapCacheSize: 'b', blockSize: 'b', completeRecoveries: 'b', readOnlyRecoveries: 'b', mode: 's', inRecoveryMode: 'f',
  recoveryPercentage: 'n', instance: 'n', currentVIOsInProgress: 'n', maxVIOs: 'n', dedupeAdviceTimeouts: 'b', flushOut: 'b', logicalBlockSize: 'b',
} as const;
/** Fields whose name in the typed object carries their unit. */
const RENAMED: Record<string, string> = { blockMapCacheSize: 'blockMapCacheSizeBytes', blockSize: 'blockSizeBytes', logicalBlockSize: 'logicalBlockSizeBytes' };

/**
 * Parses the reply of a vdo `stats` message (`vdoMessage.stats()`) into {@link VdoStats}.
 * Every named field must be there with its type; groups and unknown scalars are kept.
 */
export function parseVdoStats(text: string): VdoStats {
  const root = tree(text);
  const out: Record<string, unknown> = {};
  const groups: Record<string, VdoStatsGroup> = {};
  const extra: Record<string, bigint | string> = {};
  for (const [k, v] of Object.entries(root)) {
    const kind = Object.prototype.hasOwnProperty.call(NAMED, k) ? NAMED[k as keyof typeof NAMED] : undefined;
    if (kind === undefined) {
      if (typeof v === 'object') put(groups, k, v);
      else put(extra, k, v as bigint | string);
      continue;
    }
    const name = RENAMED[k] ?? k;
    if (kind === 's') {
      if (typeof v !== 'string') fail(`${k}: expected a word`);
      out[name] = v;
    } else if (typeof v !== 'bigint') {
      fail(`${k}: expected a number`);
    } else if (kind === 'b') {
      if (v > 0xffffffffffffffffn) fail(`${k}: above 2^64-1`);
      out[name] = v;
    } else if (kind === 'f') {
      if (v > 1n) fail(`${k}: expected 0 or 1`);
      out[name] = v === 1n;
    } else {
      if (v > 0xffffffffn) fail(`${k}: above 2^32-1`);
      out[name] = Number(v);
    }
  }
  for (const k of Object.keys(NAMED)) if (!((RENAMED[k] ?? k) in out)) fail(`${k}: missing`);
  return { ...(out as Omit<VdoStats, 'groups' | 'extra'>), groups, extra };
}
