/**
 * `NODE_DEBUG=devicemapper`: one line per ioctl, per operation step and per operation on
 * stderr, through `util.debuglog` (which prefixes `DEVICEMAPPER <pid>:`), from the same
 * channels any subscriber gets (./channels.ts). Without the section enabled nothing
 * subscribes, so the publishers' `hasSubscribers` checks stay false. Formats:
 * docs/debugging.md.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { debuglog } from 'node:util';
import {
  IOCTL_CHANNEL, operationChannel, stepChannel, type IoctlTraceMessage, type OperationTraceContext, type StepTraceContext,
} from './channels.js';

/** A logger as `util.debuglog` returns one. */
export interface DebugLogger {
  (message: string, ...args: unknown[]): void;
  readonly enabled: boolean;
}

const ms = (n: number) => `${n.toFixed(3)}ms`;
const quoted = (s: string) => JSON.stringify(s);

/** One ioctl as NODE_DEBUG prints it. */
export function formatIoctl(m: IoctlTraceMessage): string {
  const at = [m.name ? `name=${quoted(m.name)}` : '', m.uuid ? `uuid=${quoted(m.uuid)}` : '', m.dev ? `dev=${m.dev.major}:${m.dev.minor}` : '']
    .filter((x) => x !== '').join(' ');
  const extra = [
    m.newName !== undefined ? `new=${quoted(m.newName)}` : '',
    m.message !== undefined ? `message=${quoted(m.message)} sector=${String(m.sector)}` : '',
  ].filter((x) => x !== '').join(' ');
  const outcome = m.errno !== 0 || m.code !== undefined ? (m.code ?? 'failed') : m.bufferFull ? 'buffer full' : 'ok';
  return `ioctl ${m.ioctl} (${m.operation})${at ? ` ${at}` : ''}${extra ? ` ${extra}` : ''} flags=0x${m.flags.toString(16).padStart(8, '0')}`
    + ` data_size=${m.dataSizeBytes}${m.attempt > 1 ? ` attempt=${m.attempt}` : ''} ${m.path} ${ms(m.durationMs)} ${outcome}`;
}

function outcomeOf(error: unknown): string {
  if (error === undefined) return 'ok';
  const e = error as { code?: unknown; name?: unknown };
  return `failed: ${typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'error'}`;
}

/** One step as NODE_DEBUG prints it. */
export function formatStep(c: StepTraceContext, durationMs: number): string {
  return `step ${c.operation}#${c.id} ${quoted(c.step)} ${ms(durationMs)} ${outcomeOf(c.error)}`;
}

/** One operation as NODE_DEBUG prints it (when it ends). */
export function formatOperation(c: OperationTraceContext, durationMs: number): string {
  return `operation ${c.operation}#${c.id} ${ms(durationMs)} ${outcomeOf(c.error)}`;
}

/** Handlers of a tracing channel that print one line when the traced promise settles. */
function settledLines<C extends object>(print: (context: C, durationMs: number) => void) {
  const started = new WeakMap<C, number>();
  const done = (context: C) => {
    const t = started.get(context);
    if (t === undefined) return;
    started.delete(context);
    print(context, performance.now() - t);
  };
  return {
    start: (context: C) => { started.set(context, performance.now()); },
    end: (context: C) => { if ((context as { error?: unknown }).error !== undefined) done(context); }, // thrown before a promise existed
    asyncStart: () => {},
    asyncEnd: done,
    error: () => {},
  };
}

/**
 * Subscribes `log` to the channels when it is enabled; returns what unsubscribes it (also
 * used by tests with a logger of their own), or undefined when `log` is not enabled.
 */
export function installDebugLog(log: DebugLogger = debuglog('devicemapper')): (() => void) | undefined {
  if (!log.enabled) return undefined;
  const onIoctl = (m: unknown) => log('%s', formatIoctl(m as IoctlTraceMessage));
  const steps = settledLines<StepTraceContext>((c, d) => log('%s', formatStep(c, d)));
  const operations = settledLines<OperationTraceContext>((c, d) => log('%s', formatOperation(c, d)));
  subscribe(IOCTL_CHANNEL, onIoctl);
  stepChannel.subscribe(steps);
  operationChannel.subscribe(operations);
  return () => {
    unsubscribe(IOCTL_CHANNEL, onIoctl);
    stepChannel.unsubscribe(steps);
    operationChannel.unsubscribe(operations);
  };
}

installDebugLog();
