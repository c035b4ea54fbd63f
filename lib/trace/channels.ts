/**
 * What the package publishes on `node:diagnostics_channel` (docs/debugging.md): one message
 * per ioctl on {@link IOCTL_CHANNEL}, and each compound operation and each of its steps on the
 * tracing channels {@link OPERATION_CHANNEL} and {@link STEP_CHANNEL}. Nothing is built when
 * no one subscribes (every publisher checks `hasSubscribers` first).
 *
 * Never key material: an ioctl message carries the request's header fields (name, uuid,
 * device number, flags, sizes), never a table's params; a DM_TARGET_MSG's text is shown as
 * dmsetup shows it, with a `key …` message cut to its first two words (dm-crypt's
 * `key set <key>`). `spec/lib/secrets-canary.spec.ts` subscribes to every channel.
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';
import {
  commandSpec, decodeDev, DM_BUFFER_FULL_FLAG, DM_STATUS_TABLE_FLAG, DM_SUSPEND_FLAG, DM_UUID_FLAG,
  type CommandName, type DmCodec,
} from '../../codec/index.js';
import { errnoName } from '../../ffi/errors.js';

/** The channel of every device-mapper ioctl the package makes: one {@link IoctlTraceMessage} per ioctl, published when it returns. */
export const IOCTL_CHANNEL = 'devicemapper:ioctl';
/** The tracing channel of compound operations (`tracing:devicemapper:operation:start`, `…:end`, `…:asyncStart`, `…:asyncEnd`, `…:error`); context {@link OperationTraceContext}. */
export const OPERATION_CHANNEL = 'devicemapper:operation';
/** The tracing channel of each step of a compound operation (`tracing:devicemapper:step:*`); context {@link StepTraceContext}. */
export const STEP_CHANNEL = 'devicemapper:step';

/** How an ioctl was issued: on the calling thread, or asynchronously as one call, one of a batch, or a wait. */
export type IoctlPath = 'sync' | 'single' | 'batch' | 'wait';

/** One ioctl, as {@link IOCTL_CHANNEL} publishes it. Request fields are what was sent (a failed call's kernel writes nothing back). */
export interface IoctlTraceMessage {
  /** The client command (`suspend`, `load`, …). */
  readonly command: CommandName;
  /** The kernel's name of the ioctl (`DM_DEV_SUSPEND`). */
  readonly ioctl: string;
  /** What it does, in dmsetup's words (`resume` for DM_DEV_SUSPEND without DM_SUSPEND_FLAG, `reload`, `table`, `names`, …). */
  readonly operation: string;
  /** dm_ioctl.name of the request ('' when addressed otherwise). */
  readonly name: string;
  /** dm_ioctl.uuid of the request. */
  readonly uuid: string;
  /** dm_ioctl.dev of the request, when set. */
  readonly dev: { readonly major: number; readonly minor: number } | undefined;
  /** dm_ioctl.flags of the request. */
  readonly flags: number;
  /** dm_ioctl.event_nr of the request (a udev cookie in its upper half on some calls). */
  readonly eventNr: number;
  /** dm_ioctl.target_count of the request. */
  readonly targetCount: number;
  /** dm_ioctl.data_size: the buffer handed to the kernel. */
  readonly dataSizeBytes: number;
  /** 1, then 2, 3… when DM_BUFFER_FULL_FLAG made the runner repeat the call with a doubled buffer. */
  readonly attempt: number;
  /** How it was issued. */
  readonly path: IoctlPath;
  /** Wall time of the ioctl itself, in ms (from just before the call to its return). */
  readonly durationMs: number;
  /** 0 on success, else the errno. */
  readonly errno: number;
  /** The errno's name on failure (`ENXIO`); undefined on success. */
  readonly code: string | undefined;
  /** The reply had DM_BUFFER_FULL_FLAG set (the call is repeated with a bigger buffer). */
  readonly bufferFull: boolean;
  /** DM_DEV_RENAME: the new name or uuid. */
  readonly newName?: string | undefined;
  /** DM_TARGET_MSG: the sector and the message text (a `key …` message cut to its first two words). */
  readonly sector?: bigint | undefined;
  /** DM_TARGET_MSG: the message text (a `key …` message cut to its first two words). */
  readonly message?: string | undefined;
}

/** The context object of {@link OPERATION_CHANNEL}. `result` or `error` is set by the tracing channel when it ends. */
export interface OperationTraceContext {
  /** The operation, e.g. `createDevice`. */
  readonly operation: string;
  /** A number unique to this operation in the process (its steps carry it). */
  readonly id: number;
  result?: unknown;
  error?: unknown;
}

/** The context object of {@link STEP_CHANNEL}. */
export interface StepTraceContext {
  /** The operation the step belongs to. */
  readonly operation: string;
  /** The operation's {@link OperationTraceContext.id}. */
  readonly id: number;
  /** The step's label, e.g. `load`. */
  readonly step: string;
  result?: unknown;
  error?: unknown;
}

/** @internal */
export const ioctlChannel = channel(IOCTL_CHANNEL);
/** @internal */
export const operationChannel = tracingChannel<unknown, OperationTraceContext>(OPERATION_CHANNEL);
/** @internal */
export const stepChannel = tracingChannel<unknown, StepTraceContext>(STEP_CHANNEL);

let operations = 0;

/** The next operation id. */
export function nextOperationId(): number {
  return ++operations;
}

/** dmsetup's task names (libdm-iface.c `_cmd_data_v4`) by client command. */
const DMSETUP_NAMES: { readonly [C in CommandName]: string } = {
  version: 'version', removeAll: 'remove_all', listDevices: 'names', create: 'create', remove: 'remove', rename: 'rename',
  suspend: 'suspend', info: 'info', wait: 'waitevent', load: 'reload', clear: 'clear', deps: 'deps', status: 'status',
  listVersions: 'versions', message: 'message', setGeometry: 'setgeometry', armPoll: 'armpoll', getTargetVersion: 'target-version',
};

/** What a request does as its flags say, in dmsetup's words. */
export function operationOf(command: CommandName, flags: number): string {
  if (command === 'suspend') return flags & DM_SUSPEND_FLAG ? 'suspend' : 'resume';
  if (command === 'status' && flags & DM_STATUS_TABLE_FLAG) return 'table';
  return DMSETUP_NAMES[command];
}

/** A message's text as dmsetup logs it: dm-crypt's `key set <key>` (any `key …`) cut to its first two words. */
export function shownMessage(text: string): string {
  const words = text.trim().split(/\s+/);
  return words[0]?.toLowerCase() === 'key' ? words.slice(0, 2).join(' ') : text;
}

/** What the runner notes before an ioctl when someone subscribes: the message's request fields, and what completes it. */
export interface IoctlStart extends Pick<IoctlTraceMessage, 'command' | 'name' | 'uuid' | 'dev' | 'flags' | 'eventNr' | 'targetCount' | 'dataSizeBytes' | 'attempt' | 'path'> {
  readonly newName: string | undefined;
  readonly sector: bigint | undefined;
  readonly message: string | undefined;
  readonly startMs: number;
}

/** Reads the request's header before the ioctl (after it, a reply has overwritten it). */
export function ioctlStart(codec: DmCodec, command: CommandName, req: Uint8Array, params: unknown, attempt: number, path: IoctlPath): IoctlStart {
  const h = codec.decodeHeader(req);
  const p = params as { newName?: unknown; newUuid?: unknown; sector?: unknown; message?: unknown };
  const newName = command === 'rename' ? (h.flags & DM_UUID_FLAG ? p.newUuid : p.newName) : undefined;
  return {
    command, name: h.name, uuid: h.uuid, dev: h.dev ? decodeDev(h.dev) : undefined, flags: h.flags, eventNr: h.event_nr,
    targetCount: h.target_count, dataSizeBytes: h.data_size, attempt, path,
    newName: typeof newName === 'string' ? newName : undefined,
    sector: command === 'message' && (typeof p.sector === 'bigint' || typeof p.sector === 'number') ? BigInt(p.sector) : undefined,
    message: command === 'message' && typeof p.message === 'string' ? shownMessage(p.message) : undefined,
    startMs: performance.now(),
  };
}

/** Publishes the ioctl that `start` began, now that it returned `ret`/`errno` with `reply` in its buffer. */
export function publishIoctl(codec: DmCodec, start: IoctlStart, ret: number, errno: number, reply: Uint8Array): void {
  const durationMs = performance.now() - start.startMs;
  const failed = ret !== 0;
  const e = failed ? (ret < 0 ? errno : 0) : 0;
  let bufferFull = false;
  if (!failed) {
    try { bufferFull = (codec.decodeHeader(reply).flags & DM_BUFFER_FULL_FLAG) !== 0; } catch { /* a reply too short to say */ }
  }
  const { startMs: _, ...request } = start;
  const message: IoctlTraceMessage = {
    ...request,
    ioctl: commandSpec(start.command).kernelName,
    operation: operationOf(start.command, start.flags),
    durationMs, errno: e, code: failed ? (e > 0 ? errnoName(e) : `RETURNED_${ret}`) : undefined, bufferFull,
  };
  ioctlChannel.publish(message);
}
