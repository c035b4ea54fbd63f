/**
 * Runs a TypeScript source tree in a child Node process without a build: `.ts` files are
 * compiled to CommonJS by @swc/core (as jest does), and `./x.js` specifiers resolve to
 * `./x.ts`. Used by specs that must watch a whole process (exit codes, the event loop):
 *   node -r spec/testing/ts-child.cjs -e 'require("/abs/child.ts")' args…
 * (`require`, not a main module: the package is "type": "module", so Node's ESM loader
 * would refuse a `.ts` entry point).
 */
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request.startsWith('.') && request.endsWith('.js') && parent?.filename) {
    const ts = require('node:path').resolve(require('node:path').dirname(parent.filename), request.slice(0, -3) + '.ts');
    if (fs.existsSync(ts)) return ts;
  }
  return resolve.call(this, request, parent, ...rest);
};
Module._extensions['.ts'] = function (module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
