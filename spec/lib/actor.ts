// Another process on the same simulated kernel: raw ioctls through kernel.ioctl(), which
// never trigger interceptors, so a test can run them between two of a client's calls.
import { codec, requestCode, type CommandName, type CommandReplies, type CommandRequests, type DeviceId } from '../../codec/index.js';
import { errnoName } from '../../ffi/errors.js';
import type { SimDevice, SimulatedKernel } from '../../testing/index.js';

export class ActorError extends Error {
  constructor(readonly command: CommandName, readonly errno: number) {
    super(`adversary ${command}: ${errnoName(errno)}`);
  }
}

export class Actor {
  constructor(readonly kernel: SimulatedKernel) {}

  call<C extends CommandName>(command: C, params: CommandRequests[C]): CommandReplies[C] {
    const buf = (codec.encodeRequest as (c: C, p: CommandRequests[C]) => Uint8Array)(command, params);
    const r = this.kernel.ioctl(requestCode(command), buf);
    if (r.ret !== 0) throw new ActorError(command, r.errno);
    return codec.decodeReply(command, buf);
  }

  /** create → load (a zero table of `sectors`) → resume, by name as dmsetup does; returns the simulator's object. */
  createLive(name: string, opts: { uuid?: string; minor?: number; sectors?: number } = {}): SimDevice {
    this.call('create', { name, uuid: opts.uuid, minor: opts.minor });
    this.call('load', { id: { name }, targets: [{ start: 0, length: opts.sectors ?? 16, type: 'zero', params: '' }] });
    this.call('suspend', { id: { name }, action: 'resume' });
    return this.kernel.devices.get(name)!;
  }

  create(name: string, opts: { uuid?: string; minor?: number } = {}): SimDevice {
    this.call('create', { name, uuid: opts.uuid, minor: opts.minor });
    return this.kernel.devices.get(name)!;
  }

  remove(id: DeviceId): void { this.call('remove', { id }); }
  rename(name: string, newName: string): void { this.call('rename', { name, newName }); }
}
