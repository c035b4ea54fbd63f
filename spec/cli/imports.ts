// What the CLI tests import from the package root (the schemas are part of the public API).
export { DmctlSchemas, InfoOutputSchema, LsOutputSchema } from '../../lib/index.js';
export { codec as codecForTests } from '../../codec/index.js';
