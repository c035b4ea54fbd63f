/**
 * `dmctl recover`: `dm.recover()` from the command line (docs/crash-safety.md). dmsetup has
 * no such verb. Prints one line per action (`--json`: the RecoverOutputSchema document);
 * `--dry-run` reports what would be done and changes nothing; `--state-dir` names the
 * directory the records are under (default /run/devicemapper). Exit status 1 when a step
 * failed (its record stays, with a note, for a later run).
 */
import { Ctx } from './context.js';
import { UsageError } from './errors.js';
import { RecoverOutputSchema } from './schemas.js';

/** `recover [--dry-run] [--state-dir <dir>]`. */
export async function recover(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw new UsageError('Too many command line arguments.');
  const dm = await ctx.dm();
  const report = await dm.recover({ dryRun: ctx.dry });
  const failed = report.operations.some((o) => o.outcome === 'failed');
  if (ctx.json) {
    ctx.printJson(RecoverOutputSchema, {
      location: report.location, dryRun: ctx.dry, live: report.live, claimedElsewhere: report.claimedElsewhere,
      operations: report.operations.map((o) => ({ ...o, actions: o.actions.map((a) => ({ ...a, note: a.note ?? null })) })),
    });
    return failed ? 1 : 0;
  }
  for (const o of report.operations) {
    ctx.out(`${o.operation} of pid ${o.pid}: ${o.outcome}\n`);
    for (const a of o.actions) ctx.out(`  ${a.action} ${a.target}: ${a.outcome}${a.note ? ` (${a.note})` : ''}\n`);
  }
  const left = [report.live ? `${report.live} of live processes` : '', report.claimedElsewhere ? `${report.claimedElsewhere} being recovered by another process` : ''].filter(Boolean);
  ctx.out(`${report.operations.length} operation${report.operations.length === 1 ? '' : 's'} ${ctx.dry ? 'to recover' : 'recovered'} from ${report.location}${left.length ? `; records left: ${left.join(', ')}` : ''}\n`);
  return failed ? 1 : 0;
}
