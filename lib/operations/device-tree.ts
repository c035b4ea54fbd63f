/**
 * `DeviceTree`: one snapshot of every mapped device and what its live table uses (DM_LIST_DEVICES,
 * then one DM_TABLE_DEPS per device, which carries the device's state too), as libdevmapper's
 * deptree builds it for `dmsetup ls --tree` and LVM (libdm/libdm-deptree.c `_add_dev`):
 *
 * - devices are added in the kernel's list order; a device's dependencies are added under it in
 *   the order DM_TABLE_DEPS returns them; a device already in the tree is linked, not re-read;
 * - `roots` (libdm's "top level": nothing uses them) keeps the order in which devices were
 *   added there, minus those a later device turned out to use; `leaves` (libdm's "bottom
 *   level": no table, no dependencies, or not a mapped device) is in the order they were found;
 * - `children` of a node are in deps order, `parents` in the order the users were found.
 *
 * Those orders are what dmsetup prints and the order in which libdevmapper walks a stack, so
 * `lib/operations/tree-operations.ts` (remove, suspend, resume, reload) and `dmctl ls --tree` use them.
 * Non-dm nodes (loop, sd, nvme …) are leaves named by their kernel name from
 * `/sys/dev/block/MAJ:MIN` when sysfs has it. See docs/device-tree.md.
 */
import * as fs from 'node:fs';
import type { DeviceId, DeviceInfo, DevNo } from '../../codec/index.js';
import { DmAbortError, DmArgumentError, DmError } from '../errors.js';
import { callOptionsArg } from '../client/call-bounds.js';
import type { CallOptions } from '../client/command-types.js';
import { describeValue, deviceArg, optionsArg } from '../client/args.js';
import { identityOf, type DeviceIdentity } from './identity.js';
import { ERRNO } from '../../ffi/errors.js';
import { DeviceMapper } from '../client/client.js';
import { DmOperationError } from '../errors.js';

/**
 * One device of the snapshot. `I` is what the snapshot knows of a mapped device: a
 * `DeviceInfo` from DM_TABLE_DEPS (`DeviceTree.read`), or a `SysfsDeviceInfo` from sysfs
 * (`inspect().tree()`, docs/sysfs-inspection.md), whose unknown fields are typed `undefined`.
 */
export interface TreeNode<I extends TreeInfo = DeviceInfo> {
  /** `"major:minor"`. */
  readonly key: string;
  readonly dev: { readonly major: number; readonly minor: number };
  /** `dm`: a mapped device; `block`: any other block device (loop, disk, partition …), always a leaf. */
  readonly kind: 'dm' | 'block';
  /** dm: the device's name; block: its kernel name from sysfs (`loop0`, `sda1`), '' when unknown. */
  readonly name: string;
  /** dm: its uuid (null when it has none, as everywhere in the package); block: null. */
  readonly uuid: string | null;
  /** dm: its state from the same DM_TABLE_DEPS reply (open count, suspended, read-only, tables present). */
  readonly info: I | undefined;
  /** dm: name, uuid and dev as the snapshot saw them; every later step must reach exactly this device. */
  readonly identity: DeviceIdentity | undefined;
  /** The devices its live table uses, in DM_TABLE_DEPS order. */
  readonly children: readonly TreeNode<I>[];
  /** The mapped devices whose live table uses it, in the order the snapshot found them. */
  readonly parents: readonly TreeNode<I>[];
}

/** What a tree node may know of a mapped device: the ioctl API's DeviceInfo, or sysfs's. */
export type TreeInfo = Pick<DeviceInfo, 'name' | 'uuid' | 'dev' | 'nameBytes' | 'uuidBytes'>;

interface MutableNode<I extends TreeInfo> extends TreeNode<I> {
  readonly children: TreeNode<I>[];
  readonly parents: TreeNode<I>[];
}

/**
 * Where a snapshot's devices come from: a mapped device's state and dependencies
 * (undefined when it is gone), and the kernel name of any other block device.
 */
export interface TreeSource<I extends TreeInfo> {
  /** The dm majors (dm_is_dm_major()): a dependency with one of them is read as a mapped device. */
  readonly dmMajors: ReadonlySet<number>;
  /** The listed mapped devices, in the order they become top-level candidates. */
  readonly listed: readonly { readonly major: number; readonly minor: number }[];
  /** A mapped device's state and what it uses, or undefined when it is gone. */
  read(dev: { readonly major: number; readonly minor: number }): { info: I; deps: readonly { readonly major: number; readonly minor: number }[] } | undefined;
  /** Another block device's kernel name ('' when unknown). */
  blockName(dev: { readonly major: number; readonly minor: number }): string;
}

/** Builds a tree from a source (the inspection API's sysfs snapshot); set in DeviceTree's static block. */
let buildFrom: <I extends TreeInfo>(source: TreeSource<I>) => DeviceTree<I>;

/** A DeviceTree of any source (lib/inspect/ builds its sysfs tree through it; not exported from the package root). */
export function treeFromSource<I extends TreeInfo>(source: TreeSource<I>): DeviceTree<I> {
  return buildFrom(source);
}

/** Options of {@link DeviceTree.read}. */
export interface ReadTreeOptions {
  /** sysfs root for the names of non-dm devices (default /sys). */
  readonly sysfs?: string;
}

/** A device as the tree operations accept it: a name, `{ name }`, `{ uuid }`, `{ dev }`, or a node of the tree. */
export type TreeDeviceRef<I extends TreeInfo = DeviceInfo> = string | DeviceId | TreeNode<I>;

const keyOf = (d: { readonly major: number; readonly minor: number }) => `${d.major}:${d.minor}`;

/**
 * One snapshot of every device-mapper device and what it is stacked on (from DM_TABLE_DEPS of
 * each device, like libdevmapper's deptree), with the orders the tree operations use.
 */
export class DeviceTree<I extends TreeInfo = DeviceInfo> {
  readonly #nodes = new Map<string, MutableNode<I>>();
  /** libdm's root->uses: the top level, in libdm's list order. */
  readonly #top: MutableNode<I>[] = [];
  /** libdm's root->used_by: the bottom level. */
  readonly #bottom: MutableNode<I>[] = [];

  private constructor() {}

  static {
    buildFrom = <J extends TreeInfo>(source: TreeSource<J>) => {
      const t = new DeviceTree<J>();
      for (const d of source.listed) t.#add(source, undefined, d, true);
      return t;
    };
  }

  /**
   * Reads one snapshot (DM_LIST_DEVICES, then DM_TABLE_DEPS of each device). An aborted
   * `signal` rejects with DmAbortError before any ioctl; the read itself is `readSync`'s one
   * uninterrupted pass (list and deps never sleep in the kernel), so once started it is not
   * stopped, and `timeoutMs` is checked but has no wait to end.
   */
  static async read(dm: DeviceMapper, options: ReadTreeOptions & CallOptions = {}): Promise<DeviceTree<DeviceInfo>> {
    optionsArg(options, 'options', { sysfs: 'string', signal: 'signal', timeoutMs: 'any' });
    const { signal, timeoutMs, ...rest } = options;
    callOptionsArg({ timeoutMs });
    if (signal?.aborted) throw new DmAbortError(signal.reason);
    return DeviceTree.readSync(dm, rest);
  }

  /**
   * The same, synchronously: list and deps never sleep in the kernel, and one uninterrupted
   * pass keeps the snapshot's window as small as it can be. A device removed between the
   * list and its deps is left out; one that appears meanwhile is not in this snapshot.
   */
  static readSync(dm: DeviceMapper, options: ReadTreeOptions = {}): DeviceTree<DeviceInfo> {
    clientArg(dm);
    optionsArg(options, 'options', { sysfs: 'string' });
    const sysfs = options.sysfs ?? '/sys';
    const listed = dm.listSync();
    return buildFrom<DeviceInfo>({
      // dm_is_dm_major(): every listed device has the dm block major.
      dmMajors: new Set(listed.map((d) => d.dev.major)),
      listed: listed.map((d) => ({ major: d.dev.major, minor: d.dev.minor })),
      read(dev) {
        try {
          const r = dm.depsWithInfoSync({ dev: { major: dev.major, minor: dev.minor } });
          return { info: r.device, deps: r.deps };
        } catch (e) {
          if (!(e instanceof DmError && e.errno === ERRNO.ENXIO)) throw e;
          return undefined;
        }
      },
      blockName: (dev) => blockName(sysfs, dev),
    });
  }

  /** Every node, in the order the snapshot found them. */
  get nodes(): readonly TreeNode<I>[] { return [...this.#nodes.values()]; }
  /** The devices nothing uses (what `dmsetup ls --tree` starts each tree with), in its order. */
  get roots(): readonly TreeNode<I>[] { return [...this.#top]; }
  /** The devices that use nothing (what `dmsetup ls --tree -o inverted` starts with), in its order. */
  get leaves(): readonly TreeNode<I>[] { return [...this.#bottom]; }

  /** The node of a device: by name, uuid or dev, or undefined when the snapshot has no such device. */
  get(device: TreeDeviceRef<I>): TreeNode<I> | undefined {
    if (isNode<I>(device)) return this.#nodes.get(device.key) === device ? device : undefined;
    const id = deviceArg(device);
    if (id.dev !== undefined) return this.#nodes.get(keyOf(id.dev));
    for (const n of this.#nodes.values()) {
      const i = n.identity;
      if (!i) continue;
      if (id.name !== undefined ? sameText(i.name, i.nameBytes, id.name) : (i.uuid !== null && sameText(i.uuid, i.uuidBytes, id.uuid!))) return n;
    }
    return undefined;
  }

  /** Like get(), but a device the snapshot lacks is a DmOperationError ENXIO. */
  node(device: TreeDeviceRef<I>, argument = 'device'): TreeNode<I> {
    const n = this.get(device);
    if (!n) throw new DmOperationError('ENXIO', `${argument}: ${describeRef(device)} is not in the tree snapshot`);
    return n;
  }

  /** The given devices and everything below them (what they use, transitively), each once, top-down. */
  subtree(devices: readonly TreeDeviceRef<I>[]): TreeNode<I>[] {
    const roots = this.#refs(devices);
    const set = new Set<TreeNode<I>>();
    const walk = (n: TreeNode<I>) => {
      if (set.has(n)) return;
      set.add(n);
      n.children.forEach(walk);
    };
    roots.forEach(walk);
    return this.#topDownOf(roots, set);
  }

  /** The given devices and everything that uses them (transitively), each once, top-down. */
  above(devices: readonly TreeDeviceRef<I>[]): TreeNode<I>[] {
    const start = this.#refs(devices);
    const set = new Set<TreeNode<I>>();
    const walk = (n: TreeNode<I>) => {
      if (set.has(n)) return;
      set.add(n);
      n.parents.forEach(walk);
    };
    start.forEach(walk);
    const tops = [...set].filter((n) => !n.parents.some((p) => set.has(p)));
    return this.#topDownOf(this.#treeOrder(tops), set);
  }

  /**
   * Top-down order of the subtree of `devices` (default: the whole tree): every node comes
   * after all of its users in the set, in the order libdevmapper's dm_tree_suspend_children
   * visits them (a level's nodes first, then the levels below each).
   */
  topDown(devices?: readonly TreeDeviceRef<I>[]): TreeNode<I>[] {
    return devices === undefined ? this.#topDownOf(this.#top, new Set(this.#nodes.values())) : this.subtree(devices);
  }

  /**
   * Bottom-up order of the subtree of `devices` (default: the whole tree): every node comes
   * after everything it uses in the set, in the order libdevmapper's dm_tree_activate_children
   * resumes them (what a node uses first, depth first, then the node's level).
   */
  bottomUp(devices?: readonly TreeDeviceRef<I>[]): TreeNode<I>[] {
    const roots = devices === undefined ? this.#top : this.#refs(devices);
    const set = devices === undefined ? new Set<TreeNode<I>>(this.#nodes.values()) : new Set(this.subtree(devices));
    const out: TreeNode<I>[] = [];
    const done = new Set<TreeNode<I>>();
    const activate = (level: readonly TreeNode<I>[], depth: number) => {
      if (depth > this.#nodes.size) return; // a cycle (impossible in the kernel's tables, but never loop)
      for (const c of level) if (set.has(c) && c.children.length) activate(c.children, depth + 1);
      for (const c of level) {
        if (!set.has(c) || done.has(c)) continue;
        done.add(c);
        out.push(c);
      }
    };
    activate(roots, 0);
    return out;
  }

  /**
   * The order in which `removeTree` removes the mapped devices of the subtree when nothing
   * else holds them (libdevmapper's dm_tree_deactivate_children): depth first from the given
   * devices, each once every user of it in the subtree is gone. A device used from outside the
   * subtree is left out, and so is everything only reachable through it.
   */
  removalOrder(devices: readonly TreeDeviceRef<I>[]): TreeNode<I>[] {
    const named = this.#refs(devices);
    const set = new Set(this.subtree(named).filter((n) => n.kind === 'dm'));
    const done = new Set<TreeNode<I>>();
    const out: TreeNode<I>[] = [];
    const visit = (level: readonly TreeNode<I>[]) => {
      for (const n of level) {
        if (!set.has(n) || done.has(n)) continue;
        if (n.parents.some((p) => !set.has(p) || !done.has(p))) continue;
        done.add(n);
        out.push(n);
        visit(n.children);
      }
    };
    const want = new Set(named);
    visit(this.topDown(named).filter((n) => want.has(n)));
    return out;
  }

  /** dm_tree_suspend_children's walk over `set`: a node once all its users in the set came before it. */
  #topDownOf(roots: readonly TreeNode<I>[], set: ReadonlySet<TreeNode<I>>): TreeNode<I>[] {
    const out: TreeNode<I>[] = [];
    const done = new Set<TreeNode<I>>();
    const ready = (n: TreeNode<I>) => n.parents.every((p) => !set.has(p) || done.has(p));
    const level = (nodes: readonly TreeNode<I>[], depth: number) => {
      if (depth > this.#nodes.size) return;
      for (const c of nodes) {
        if (!set.has(c) || done.has(c) || !ready(c)) continue;
        done.add(c);
        out.push(c);
      }
      for (const c of nodes) if (set.has(c) && c.children.length) level(c.children, depth + 1);
    };
    level(roots, 0);
    // Nodes held back by a user in the set that was never reached (a cycle): last, in snapshot order.
    for (const n of this.#nodes.values()) if (set.has(n) && !done.has(n)) out.push(n);
    return out;
  }

  /** Nodes in the order of the tree's own walk (top level first, then depth first). */
  #treeOrder(nodes: readonly TreeNode<I>[]): TreeNode<I>[] {
    const want = new Set(nodes);
    return this.#topDownOf(this.#top, new Set(this.#nodes.values())).filter((n) => want.has(n));
  }

  #refs(devices: readonly TreeDeviceRef<I>[]): TreeNode<I>[] {
    if (!Array.isArray(devices)) throw new DmArgumentError('devices', 'an array of devices', describeValue(devices));
    const out: TreeNode<I>[] = [];
    devices.forEach((d, i) => {
      const n = this.node(d, `devices[${i}]`);
      if (!out.includes(n)) out.push(n);
    });
    return out;
  }

  /** libdm's _add_dev(): find or read the node, link it under `parent`, recurse into a new node's deps. */
  #add(source: TreeSource<I>, parent: MutableNode<I> | undefined, dev: { readonly major: number; readonly minor: number }, top: boolean): void {
    const key = keyOf(dev);
    let node = this.#nodes.get(key);
    let deps: readonly { readonly major: number; readonly minor: number }[] = [];
    const isNew = node === undefined;
    if (!node) {
      let info: I | undefined;
      if (source.dmMajors.has(dev.major)) {
        const r = source.read(dev);
        // Removed since the list: a listed device is left out; a dependency stays a node (its user holds it).
        if (r) {
          info = r.info;
          deps = r.deps;
        } else if (top) return;
      }
      node = {
        key, dev: { major: dev.major, minor: dev.minor }, kind: info ? 'dm' : 'block',
        name: info ? info.name : source.blockName(dev), uuid: info ? info.uuid : null, info,
        identity: info ? identityOf(info) : undefined, children: [], parents: [],
      };
      this.#nodes.set(key, node);
    }
    if (!parent) {
      // _link_tree_nodes(root, node): not under the root when something already uses it.
      if (node.parents.length === 0 && !this.#top.includes(node)) this.#top.push(node);
    } else {
      remove(this.#top, node);
      remove(this.#bottom, parent);
      if (!parent.children.includes(node)) {
        parent.children.push(node);
        node.parents.push(parent);
      }
    }
    if (!isNew) return;
    if (deps.length === 0) {
      this.#bottom.push(node);
      return;
    }
    for (const d of deps) this.#add(source, node, d, false);
  }
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/** Whether `v` is a node of some DeviceTree (rather than a device id). */
export function isNode<I extends TreeInfo = DeviceInfo>(v: unknown): v is TreeNode<I> {
  return typeof v === 'object' && v !== null && 'key' in v && 'kind' in v && 'children' in v;
}

function describeRef<I extends TreeInfo>(d: TreeDeviceRef<I>): string {
  if (isNode(d)) return `node ${d.name} (${d.key})`;
  return describeValue(d);
}

/** The client argument of the tree functions: a DeviceMapper (DmArgumentError otherwise, before anything is sent). */
export function clientArg(dm: unknown): DeviceMapper {
  if (!(dm instanceof DeviceMapper)) throw new DmArgumentError('dm', 'a DeviceMapper client', describeValue(dm));
  return dm;
}

/** Whether a name or uuid (text, and its bytes when they are not UTF-8) is the one asked for. */
function sameText(s: string, bytes: Uint8Array | undefined, want: string | Uint8Array): boolean {
  if (typeof want === 'string') return bytes === undefined && s === want;
  const have = bytes ?? new TextEncoder().encode(s);
  return have.length === want.length && have.every((x, i) => x === want[i]);
}

/**
 * A block device's kernel name as libdm's dm_device_get_name() finds it: the last component of
 * the /sys/dev/block/MAJ:MIN link (`loop0`, `sda1`, `dm-3`); '' when sysfs does not have it.
 */
export function blockName(sysfs: string, dev: { readonly major: number; readonly minor: number }): string {
  try {
    const link = fs.readlinkSync(`${sysfs}/dev/block/${dev.major}:${dev.minor}`);
    return link.slice(link.lastIndexOf('/') + 1);
  } catch {
    return '';
  }
}
