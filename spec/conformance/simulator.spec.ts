import { conformance } from './suite.js';
import { simEnv } from './sim-env.js';

conformance(simEnv([4, 48, 0]));
conformance(simEnv([4, 47, 0]));
