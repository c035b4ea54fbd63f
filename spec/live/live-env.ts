// Helpers for live tests (spec/**/*.live.spec.ts), which talk to a real kernel's
// device-mapper. They run inside the project's VM (vm/test-live.sh sets DM_LIVE=1)
// or on a host that has device-mapper and root.
import { describe, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DM_CONTROL = '/dev/mapper/control';

/** True when the live suite was requested explicitly (VM, CI, DM_LIVE_DIRECT). */
export const liveRequired = process.env.DM_LIVE === '1';

/** Which kernel the suite runs on ("5.10", "6.1", "6.12", "newest", a package name, or "host"). */
export const kernelLabel = process.env.DM_KERNEL_LABEL ?? 'host';

/** The kernel of the matrix a live run is on, without its flavour suffixes (`6.1-udev` → `6.1`). */
export const kernelBase: string = kernelLabel.replace(/(-(udev|realtools|crash))+$/, '');

/**
 * The lowest device-mapper interface minor each kernel of the matrix reports (measured:
 * 5.10 → 4.43, 6.1 → 4.47, 6.12 → 4.48, 7.3 → 4.50); other labels: the matrix's floor.
 */
export const dmMinorFloor: number = ({ '5.10': 43, '6.1': 47, '6.12': 48, newest: 50 } as Record<string, number>)[kernelBase] ?? 43;

/**
 * Why the control node cannot be used, or undefined when it can. Probed once, with
 * a plain synchronous open (jest registers tests synchronously, so the decision
 * cannot wait for the async FFI loader).
 */
export const unavailableReason: string | undefined = probe();

function probe(): string | undefined {
  if (process.platform !== 'linux') return `device-mapper needs Linux (platform ${process.platform})`;
  try {
    fs.closeSync(fs.openSync(DM_CONTROL, fs.constants.O_RDWR));
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const hint =
      code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO'
        ? 'no device-mapper in this kernel'
        : code === 'EACCES' || code === 'EPERM'
          ? 'not root'
          : 'cannot open it';
    return `${DM_CONTROL} unavailable (${code}: ${hint}); run "npm run test:live" to use a VM`;
  }
}

/**
 * `describe` for live tests. With a usable control node the block runs. Without
 * one it registers a single skipped test whose title states why -- unless
 * DM_LIVE=1, where a missing device-mapper is a broken environment and the
 * block FAILS instead of silently skipping.
 */
export function describeLive(name: string, fn: () => void): void {
  const reason = unavailableReason;
  if (reason === undefined) {
    describe(name, fn);
  } else if (liveRequired) {
    describe(name, () => {
      it('has a usable device-mapper control node (DM_LIVE=1)', () => {
        throw new Error(`DM_LIVE=1 but ${reason}`);
      });
    });
  } else {
    // jest hides the titles of a fully skipped file, so say it on stderr as well.
    process.stderr.write(`[live] skipping "${name}": ${reason}\n`);
    describe(name, () => {
      it.skip(`skipped: ${reason}`, () => {});
    });
  }
}

/**
 * `describeLive` for a suite that runs on some kernels of the matrix only (what it checks does
 * not vary with the kernel, or the module exists on those only; CI's time budget): on another
 * kernel it registers one skipped test whose title says where it runs. Outside a VM
 * (`kernelLabel` 'host') it behaves as `describeLive`.
 */
export function describeLiveOn(kernels: readonly string[], name: string, fn: () => void): void {
  if (kernelLabel === 'host' || kernels.includes(kernelBase)) { describeLive(name, fn); return; }
  const why = `runs on kernel ${kernels.join(' and ')} only, this is ${kernelBase}`;
  process.stderr.write(`[live] skipping "${name}": ${why}\n`);
  describe(name, () => { it.skip(`skipped: ${why}`, () => {}); });
}

/**
 * Records a fact about the kernel under test (e.g. the dm version) into the JSON
 * file named by DM_LIVE_REPORT, which vm/test-live.sh prints in its summary.
 * A no-op when DM_LIVE_REPORT is unset.
 */
export function recordLiveFact(key: string, value: unknown): void {
  const file = process.env.DM_LIVE_REPORT;
  if (!file) return;
  let facts: Record<string, unknown> = {};
  try {
    facts = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // first fact, or an unreadable file: start over
  }
  facts[key] = value;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(facts, null, 2) + '\n');
}

/** Threads of this process currently blocked in poll(2)/ppoll(2) (x86-64 syscalls 7 and 271). */
export function threadsInPoll(): number {
  let n = 0;
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const nr = fs.readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').split(' ')[0];
      if (nr === '7' || nr === '271') n++;
    } catch { /* thread gone */ }
  }
  return n;
}
