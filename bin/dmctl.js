#!/usr/bin/env node
// dmctl: a dmsetup-compatible CLI (cli/). Built into dist/ by `npm run build` (and by `npm pack`, `prepack`).
import { run } from '../dist/cli/index.js';

process.exitCode = await run(process.argv.slice(2));
