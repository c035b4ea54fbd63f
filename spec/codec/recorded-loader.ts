/**
 * Loads the recordings in fixtures/recorded/<dm version>/ (request and reply buffers captured
 * from real kernels by fixtures/record/record.ts; see fixtures/recorded/README.md).
 *
 *   for (const rec of loadAllRecordings()) for (const c of rec.cases) codec.decodeReply(c.command, c.reply);
 *
 * Same JSON conventions as the golden fixtures: "123n" is a bigint, an absent key is undefined.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandName, CommandRequests, EncodeOptions, Version } from '../../codec/index.js';
import { readCaseFiles, reviveBigints } from './fixture-loader.js';

export const RECORDED_DIR = resolve(__dirname, '..', '..', 'fixtures', 'recorded');

export interface KernelInfo {
  readonly release: string;
  readonly dmVersion: string;
  readonly label: string | undefined;
}

export interface RecordedCase<C extends CommandName = CommandName> {
  readonly id: string;
  readonly command: C;
  /** The ioctl request number sent. */
  readonly request: number;
  /** Set when the ioctl nr sent is not the command's (unknown-command cases). */
  readonly requestNr: number | undefined;
  readonly description: string;
  readonly params: CommandRequests[C];
  readonly options: EncodeOptions;
  readonly patched: Readonly<Record<string, unknown>> | undefined;
  readonly requestBytes: number;
  readonly result: { readonly ret: number; readonly errno: number; readonly errnoName: string | null };
  readonly kernel: KernelInfo;
  readonly replyDataSize: number;
  readonly replyFlags: number;
  /** decodeReply at record time; undefined when the ioctl failed. */
  readonly expected: unknown;
  readonly decodeError: string | undefined;
  readonly context: Readonly<Record<string, unknown>> | undefined;
  readonly seq: number;
  readonly req: Uint8Array;
  readonly reply: Uint8Array;
}

export interface SequenceEntry {
  readonly seq: number;
  readonly case?: string;
  readonly command?: CommandName;
  readonly requestNr?: number;
  readonly ret?: number;
  readonly errno?: number;
  readonly req?: string;
  readonly reply?: string;
  readonly action?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** recording.json: the run as a whole. */
export interface RecordingRun {
  readonly kernel: KernelInfo;
  readonly node: string;
  readonly arch: string;
  readonly endian: 'little' | 'big';
  readonly recordedAt: string;
  readonly durationMs: number;
  readonly prefix: string;
  readonly error: string | undefined;
  readonly cases: readonly string[];
  readonly skipped: readonly string[];
  readonly surprises: readonly string[];
  readonly sequence: readonly SequenceEntry[];
}

export interface Recording {
  /** The directory name: the dm version ("4.47.0"). */
  readonly dmVersion: string;
  readonly version: Version;
  readonly dir: string;
  readonly run: RecordingRun;
  readonly cases: readonly RecordedCase[];
}

/** The recorded dm versions, sorted. */
export function recordedVersions(): string[] {
  if (!existsSync(RECORDED_DIR)) return [];
  return readdirSync(RECORDED_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(RECORDED_DIR, d.name, 'recording.json')))
    .map((d) => d.name)
    .sort();
}

export function loadRecording(dmVersion: string): Recording {
  const dir = join(RECORDED_DIR, dmVersion);
  const run = JSON.parse(readFileSync(join(dir, 'recording.json'), 'utf8')) as RecordingRun;
  const cases = readCaseFiles(dir, 'recording.json').map(({ id, raw }): RecordedCase => {
    return {
      id,
      command: raw.command as CommandName,
      request: raw.request as number,
      requestNr: raw.requestNr as number | undefined,
      description: raw.description as string,
      params: reviveBigints(raw.params) as never,
      options: (raw.options ?? {}) as EncodeOptions,
      patched: raw.patched as Record<string, unknown> | undefined,
      requestBytes: raw.requestBytes as number,
      result: raw.result as RecordedCase['result'],
      kernel: raw.kernel as KernelInfo,
      replyDataSize: raw.replyDataSize as number,
      replyFlags: raw.replyFlags as number,
      expected: raw.expected === undefined ? undefined : reviveBigints(raw.expected),
      decodeError: raw.decodeError as string | undefined,
      context: raw.context as Record<string, unknown> | undefined,
      seq: raw.seq as number,
      req: new Uint8Array(readFileSync(join(dir, `${id}.req.bin`))),
      reply: new Uint8Array(readFileSync(join(dir, `${id}.reply.bin`))),
    };
  });
  const version = dmVersion.split('.').map(Number) as unknown as Version;
  return { dmVersion, version, dir, run, cases };
}

export function loadAllRecordings(): Recording[] {
  return recordedVersions().map(loadRecording);
}
