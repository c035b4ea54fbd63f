#!/usr/bin/env node
// dmctl: a dmsetup-compatible CLI (lib/cli/). Built into dist/ by `npm run build` (or `prepare` on install).
import { run } from '../dist/lib/cli/index.js';

process.exitCode = await run(process.argv.slice(2));
