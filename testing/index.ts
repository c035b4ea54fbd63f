/**
 * devicemapper/testing — a simulated device-mapper kernel for tests without root.
 */
export type { SimErrorCode } from './errors.js';
export { SimError } from './errors.js';
export { SimulatedKernel, splitArgs, BUILTIN_TARGETS, simKey, keyBytes } from './simulator.js';
export type {
  SimulatedKernelOptions, SimDevice, SimBlockDevice, SimTargetType, ConstructedTarget, SimInterceptor, SimIoctlEvent, SimIoctlOutcome,
  SimCallFault, SimTable,
} from './simulator.js';
export type { SimStatsRegion, SimIo, SimAreaCounters } from './sim-stats.js';
export type { SimFd } from './sim-transport.js';
export type { DeviceArea, TargetContext } from './targets.js';
export { simFaults, SimFaults, type SimFaultMatch } from './faults.js';
export { thinSim, ThinSim, newSimThin, type SimPool, type SimPoolMode, type SimPoolFeatures, type SimThin } from './thin-sim.js';
export { metadataImage, holdMetadata, copyState, imageBytes, type ImageState, type ImageThin, type MetadataImage, type HeldMetadata } from './thin-metadata-image.js';
export { tableDeviceOrder } from './table-devices.js';
export { simBlockIo, type SimBlockIo, type SimFileCall, type SimFileFault, type SimFileMap, type SimFileMapInput } from './sim-io.js';
export { SimUdev, type SimUevent } from './udev-sim.js';
export { SimProcesses, killAfterIoctls, countIoctls, killAfterCalls, countCalls, type SimProcess, type Interceptable, type IoctlCounter, type CallCounter } from './sim-processes.js';
export { SimKeyring, type SimKey, type SimKeyringCall } from './sim-keyring.js';
