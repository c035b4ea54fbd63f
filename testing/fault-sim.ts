/**
 * Simulated `flakey` and `delay` targets: argument checks and the table/status text as
 * dm-flakey.c and dm-delay.c print them on the simulated kernel's version. There is no
 * data path; FaultyDevice's unit tests check tables, switching and read-back, the effects
 * on I/O are tested live (spec/live/faulty-device.live.spec.ts).
 *
 * flakey: 6.6+ kernels (dm 4.48 here) print `error_reads` and give a table without any
 * read/write feature `error_reads error_writes`; 6.1 (4.47) prints drop_writes/error_writes
 * and corrupt_bio_byte only.
 */
import type { SimulatedKernel } from './simulator.js';
import { SimError } from './errors.js';
import { type SimBlockDevice, type SimTargetType, type TargetContext } from './targets.js';

function dev(ctx: TargetContext, arg: string | undefined, what: string): SimBlockDevice {
  const d = arg === undefined ? undefined : ctx.lookup(arg);
  if (!d) throw new SimError(ctx.lookupErrno, `${what}: Device lookup failed`);
  return d;
}

const u32 = (s: string | undefined): number | undefined => (s !== undefined && /^\d{1,10}$/.test(s) && Number(s) <= 0xffffffff ? Number(s) : undefined);

function flakeyType(kernel: SimulatedKernel): SimTargetType {
  const newer = kernel.version[1] >= 48;
  return {
    name: 'flakey', version: [1, 5, 0],
    construct(argv, length, ctx) {
      if (argv.length < 4) throw new SimError('EINVAL', 'flakey: Invalid argument count');
      const d = dev(ctx, argv[0], 'flakey');
      if (!/^\d{1,20}$/.test(argv[1]!)) throw new SimError('EINVAL', 'flakey: Invalid device sector');
      const offset = BigInt(argv[1]!);
      const up = u32(argv[2]);
      const down = u32(argv[3]);
      if (up === undefined) throw new SimError('EINVAL', 'flakey: Invalid up interval');
      if (down === undefined) throw new SimError('EINVAL', 'flakey: Invalid down interval');
      if (up + down === 0) throw new SimError('EINVAL', 'flakey: Total (up + down) interval is zero');
      if (offset + length > d.sizeSectors) throw new SimError('EINVAL', 'flakey: Device too small');
      let errorReads = false, dropWrites = false, errorWrites = false;
      let corrupt: string | undefined;
      if (argv.length > 4) {
        const n = u32(argv[4]);
        if (n === undefined || argv.length !== 5 + n) throw new SimError('EINVAL', 'flakey: Invalid number of feature args');
        const f = argv.slice(5);
        for (let i = 0; i < f.length; i++) {
          const w = f[i];
          if (w === 'error_reads' && newer) errorReads = true;
          else if (w === 'drop_writes') { if (errorWrites) throw new SimError('EINVAL', 'flakey: drop_writes is mutually exclusive with error_writes'); dropWrites = true; }
          else if (w === 'error_writes') { if (dropWrites) throw new SimError('EINVAL', 'flakey: error_writes is mutually exclusive with drop_writes'); errorWrites = true; }
          else if (w === 'corrupt_bio_byte') {
            const [byte, dir, value, flags] = f.slice(i + 1, i + 5);
            const b = u32(byte);
            if (!b) throw new SimError('EINVAL', 'flakey: Invalid corrupt bio byte');
            if (dir !== 'r' && dir !== 'w') throw new SimError('EINVAL', "flakey: Invalid corrupt bio direction (r or w)");
            const v = u32(value);
            if (v === undefined || v > 255) throw new SimError('EINVAL', 'flakey: Invalid corrupt bio value');
            const fl = u32(flags);
            if (fl === undefined) throw new SimError('EINVAL', 'flakey: Invalid corrupt bio flags mask');
            corrupt = `corrupt_bio_byte ${b} ${dir} ${v} ${fl}`;
            i += 4;
          } else throw new SimError('EINVAL', 'flakey: Unrecognised flakey feature requested');
        }
      }
      if (newer && !errorReads && !dropWrites && !errorWrites && !corrupt) { errorReads = true; errorWrites = true; }
      const words = [...(errorReads ? ['error_reads'] : []), ...(dropWrites ? ['drop_writes'] : errorWrites ? ['error_writes'] : [])];
      const count = words.length + (corrupt ? 5 : 0);
      const table = `${d.major}:${d.minor} ${offset} ${up} ${down} ${count}${words.map((w) => ` ${w}`).join('')}${corrupt ? ` ${corrupt}` : ''}`;
      return { table, status: () => '', deps: [d] };
    },
  };
}

const delayType: SimTargetType = {
  name: 'delay', version: [1, 2, 1],
  construct(argv, length, ctx) {
    if (argv.length !== 3 && argv.length !== 6 && argv.length !== 9) throw new SimError('EINVAL', 'delay: Requires exactly 3, 6 or 9 arguments');
    const classes: string[] = [];
    const deps: SimBlockDevice[] = [];
    for (let i = 0; i < argv.length; i += 3) {
      const d = dev(ctx, argv[i], 'delay');
      if (!/^\d{1,20}$/.test(argv[i + 1]!)) throw new SimError('EINVAL', 'delay: Invalid device sector');
      const ms = u32(argv[i + 2]);
      if (ms === undefined) throw new SimError('EINVAL', 'delay: Invalid delay');
      if (BigInt(argv[i + 1]!) + length > d.sizeSectors) throw new SimError('EINVAL', 'delay: Device too small');
      classes.push(`${d.major}:${d.minor} ${BigInt(argv[i + 1]!)} ${ms}`);
      deps.push(d);
    }
    return { table: classes.join(' '), status: () => '0 0 0', deps };
  },
};

/** flakey and delay for one simulated kernel (registered by its constructor). */
export function faultTargets(kernel: SimulatedKernel): SimTargetType[] {
  return [flakeyType(kernel), delayType];
}
