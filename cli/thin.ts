/**
 * `dmctl thin <tool> …`: thin-provisioning-tools' commands on the library's metadata reader
 * (docs/thin-metadata.md). Each tool parses its own command line as its namesake does.
 */
import type { CliIo } from './context.js';
import { runThinDump } from './thin-dump.js';
import { runThinLs } from './thin-ls.js';
import { runThinDelta } from './thin-delta.js';

/** The tools, by the name after `thin`. */
const THIN_TOOLS: Record<string, (argv: readonly string[], io: CliIo) => Promise<number>> = {
  dump: runThinDump,
  ls: (argv, io) => runThinLs(argv, io),
  delta: (argv, io) => runThinDelta(argv, io),
};

/** `dmctl thin` usage. */
export function thinUsage(): string {
  return `Usage: dmctl thin {${Object.keys(THIN_TOOLS).join('|')}} [the tool's options] <metadata>\n`;
}

/** Runs `dmctl thin <tool> <argv>`; resolves to the tool's exit status. */
export async function runThin(argv: readonly string[], io: CliIo): Promise<number> {
  const [tool, ...rest] = argv;
  if (tool === undefined || tool === '--help' || tool === '-h') {
    (tool === undefined ? io.stderr : io.stdout)(thinUsage());
    return tool === undefined ? 1 : 0;
  }
  const run = Object.hasOwn(THIN_TOOLS, tool) ? THIN_TOOLS[tool]! : undefined;
  if (!run) {
    io.stderr(`${thinUsage()}dmctl thin: unknown tool "${tool}"\n`);
    return 1;
  }
  return run(rest, io);
}
