/**
 * The README's pool-conditions example (README.md, "Thin provisioning"), kept here so it is
 * type-checked and run: spec/lib/readme-examples.spec.ts runs it on the simulated kernel and
 * checks that README shows exactly this code between the README markers.
 */
// README:begin thin-pool-conditions
import type { ThinPool } from '../lib/index.js';

/** Grows the pool at its low-water mark; reports the conditions that need a human. */
export async function watchPool(pool: ThinPool, signal: AbortSignal, alert: (what: string) => void): Promise<void> {
  for await (const c of pool.conditions({ signal })) {
    if (c.kind === 'low-water' && c.state === 'entered') {
      const s = await pool.healthyStatus({ signal });
      await pool.resize({ dataBytes: s.totalDataBlocks * 2n * s.blockSizeBytes, signal }); // blocks × their size: no unit arithmetic
    } else if (c.state === 'entered') {
      alert(`${pool.name}: ${c.kind}`);          // out-of-data-space, read-only, needs-check, failed …
    }
  }
}
// README:end
