#!/usr/bin/env node
// dmctl: a dmsetup-compatible CLI (cli/). Built into dist/ by `npm run build` (and by `npm pack`, `prepack`).
// run.js, not index.js: the entry point's --json schemas would load zod before every command.
import { run } from '../dist/cli/run.js';

process.exitCode = await run(process.argv.slice(2));
