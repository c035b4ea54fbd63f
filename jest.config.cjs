// Tests run through @swc/jest, which emits CommonJS: source must not use import.meta
// (see ARCHITECTURE.md, "Modules and tests"). `.js` specifiers (NodeNext style) map back to `.ts`.
const live = process.env.DM_LIVE === '1';
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: live ? ['**/*.live.spec.ts'] : ['**/*.spec.ts'],
  testPathIgnorePatterns: live ? [] : ['\\.live\\.spec\\.ts$'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 60000,
};
