/**
 * Child process of shared-signal.spec.ts: runs the shared-signal scenario with Node's
 * 'warning' event watched (jest's sandbox does not receive it) and prints the result as JSON.
 */
import { sharedSignalScenario } from './shared-signal-scenario.js';

const warnings: string[] = [];
process.on('warning', (w) => { warnings.push(`${w.name}: ${w.message}`); });

void sharedSignalScenario().then(async (r) => {
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  console.log(JSON.stringify({ ...r, warnings }));
}, (e: unknown) => { console.log(JSON.stringify({ error: String(e) })); });
