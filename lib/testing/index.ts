/**
 * devicemapper/testing — a simulated device-mapper kernel for tests without root.
 */
export { SimulatedKernel, SimError, splitArgs, BUILTIN_TARGETS, simKey, keyBytes } from './simulator.js';
export type {
  SimulatedKernelOptions, SimDevice, SimBlockDevice, SimTargetType, ConstructedTarget, SimInterceptor, SimIoctlEvent, SimIoctlOutcome,
} from './simulator.js';
export { thinSim, ThinSim, type SimPool } from './thin-sim.js';
export { simThinPoolIo, type SimThinPoolIo } from './sim-io.js';
export { SimUdev, type SimUevent } from './udev-sim.js';
