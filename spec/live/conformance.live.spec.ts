// The conformance suite (spec/conformance/suite.ts) on the real kernel in the VM.
import { conformance } from '../conformance/suite.js';
import { describeLive } from './live-env.js';
import { kernelEnv } from './kernel-env.js';

describeLive('conformance on a real kernel', () => {
  conformance(kernelEnv());
});
