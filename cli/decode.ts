/**
 * `dmctl decode`: a reply or a `--dry-run --hex` dump read back (cli/hex.ts), loaded only
 * when that verb runs.
 */
import { COMMAND_TABLE } from '../codec/index.js';
import { dryRunJson, type Ctx } from './context.js';
import { UsageError } from './errors.js';
import { annotateRequestBytes, decodeReplyHex, parseDryRunDump, parseHex, resolveCommand } from './hex.js';
import { DecodeOutputSchema, DryRunOutputSchema } from './schemas.js';

/**
 * `dmctl decode [<command>] <hex>|-`: a reply in plain hex (strace's, or any), decoded as
 * `<command>`'s reply; or dmctl's own `--dry-run --hex` dump (its title lines name the
 * command, so `<command>` may be left out), read back into the request bytes and printed as
 * `--dry-run --json` prints them (the fields decoded from the bytes again).
 */
export async function decode(ctx: Ctx): Promise<number> {
  const [first, ...rest] = ctx.args;
  const command = first !== undefined ? resolveCommand(first) : undefined;
  const input = command !== undefined ? rest : ctx.args;
  if (first !== undefined && command === undefined && first !== '-' && !/^\s*(\S+\s+\(\w+\)\s+ioctl\s)/m.test(first)) {
    throw new UsageError(`Unknown command "${first}": use a client name (listDevices), a kernel name (DM_LIST_DEVICES) or a dmsetup verb (ls).`);
  }
  const fromStdin = input.length === 0 || (input.length === 1 && input[0] === '-');
  if (fromStdin && input.length === 0 && ctx.io.stdinIsTTY) {
    throw new UsageError('decode needs the bytes: <hex> as an argument, or - (or a pipe) to read them from stdin, e.g. dmctl load x --table "0 8 zero" --dry-run --hex | dmctl decode');
  }
  const text = fromStdin ? await ctx.io.readStdin() : input.join(' ');
  const dump = parseDryRunDump(text);
  if (dump) {
    if (command !== undefined && dump.some((r) => r.command !== command)) {
      throw new UsageError(`the dump holds ${dump.map((r) => `${COMMAND_TABLE[r.command].kernelName} (${r.command})`).join(', ')}, not only ${command}: leave out the command to decode them all`);
    }
    ctx.printJson(DryRunOutputSchema, { requests: dump.map((r) => dryRunJson(annotateRequestBytes(r.command, r.bytes, { showKeys: ctx.opts.showkeys }))) });
    return 0;
  }
  if (command === undefined) throw new UsageError('decode needs <command> for a reply in plain hex (e.g. dmctl decode ls <hex>); only a --dry-run --hex dump names its own.');
  ctx.printJson(DecodeOutputSchema, decodeReplyHex(command, parseHex(text)));
  return 0;
}
