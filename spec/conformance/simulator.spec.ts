import { conformance } from './suite.js';
import { simEnv } from './sim-env.js';

conformance(simEnv([4, 48, 0]));
conformance(simEnv([4, 47, 0]));
// Debian 11's 5.10 kernel: no uuids or prefix filters in LIST, hash-ordered LIST.
conformance(simEnv([4, 43, 0]));
// The newest kernel of the matrix (Debian's 7.3): exact data_size for target versions.
conformance(simEnv([4, 50, 0]));
