// What the CLI tests import from the CLI's entry point (devicemapper/cli: the schemas are public API there, not at the root).
export { DmctlSchemas, InfoOutputSchema, LsOutputSchema } from '../../cli/index.js';
export { codec as codecForTests } from '../../codec/index.js';
