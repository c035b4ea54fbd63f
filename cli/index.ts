/**
 * devicemapper/cli — `dmctl`, a dmsetup-compatible command line on the public client.
 * This entry point carries the CLI's `--json` schemas and `runDmctl`; the package root
 * exports the library only.
 * Verbs, arguments
 * and exit codes follow dmsetup (0 = success, 1 = failure or usage error); every
 * verb that prints takes `--json` (schemas in ./schemas.ts); `--dry-run [--hex|--json]`
 * shows the exact ioctl requests instead of sending them; `dmctl decode` turns a reply
 * (hex, e.g. from strace) into JSON. The dispatcher is run.ts (bin/dmctl.js imports it
 * directly: this module's schemas would load zod for every command).
 */
export * from './schemas.js';
export { VerityOutputSchema, VerityOpenOutputSchema, VerityCloseOutputSchema, type DmctlVerityOutput, type DmctlVerityOpenOutput, type DmctlVerityCloseOutput } from './verity-schemas.js';
export { run, run as runDmctl } from './run.js';
/** @internal The verb table and usage text, for the tests (stripped from the declarations, as in run.ts). */
export { VERBS, verbNamed, usage } from './run.js';
export type { CliIo } from './context.js';
export { parseTableText } from './context.js';
export { mangle, unmangle, type ManglingMode } from './mangle.js';
export { annotateRequest, formatAnnotated, parseHex, decodeReplyHex, resolveCommand, type AnnotatedField, type AnnotatedRequest, type DecodedReply } from './hex.js';
