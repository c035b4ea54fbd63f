// A chain-capable transport over the simulator for specs: ioctlChain runs the steps one after
// another on the simulated kernel (so interceptors and adversaries act between them, as
// another process acts between the engine worker's ioctls) and judges each checked step with
// the rule the worker runs (lib/kernel/chain-check.ts's source, evaluated here as the worker
// evaluates it): against the first step's reply, or against the chain's reference header when
// it has one (then the first step is checked too). The worker itself is covered by
// spec/ffi/engine-chain.spec.ts.
import type { Backend, ControlTransport } from '../../lib/index.js';
import type { ChainStep, ChainStepResult, ChainTransport } from '../../ffi/types.js';
import { DmEngineError } from '../../ffi/errors.js';
import { CHAIN_CHECK_SOURCE } from '../../lib/kernel/chain-check.js';
import { DM_IOCTL_SIZE } from '../../codec/index.js';

export interface ChainHooks {
  /** Chains run (not counting refused ones). */
  chains: number;
  /** Return undefined from ioctlChain (the engine not ready): the caller goes step by step. */
  refuse?: boolean;
  /** Reject as the worker dying after this step ran (sent: true), or before any (sent: false, -1). */
  dieAfter?: number;
  /** Awaited before the first step: a test holds the chain in flight with it. */
  gate?: Promise<void>;
  /** Each chain's steps' requests, by ioctl number (run or not), in order. */
  log?: number[][];
  /** Chains that came with a reference header. */
  referenced?: number;
}

const check = new Function(CHAIN_CHECK_SOURCE)() as (bits: number, d: Uint8Array, first: number, at: number) => number;

export function chainedBackend(backend: Backend, hooks: ChainHooks = { chains: 0 }): Backend {
  return {
    ...backend,
    openControl: async () => {
      const t = await backend.openControl();
      const chained: ControlTransport & ChainTransport = {
        get fd() { return t.fd; },
        ioctl: (r, b) => t.ioctl(r, b),
        ioctlAsync: (r, b, kind, lane) => t.ioctlAsync(r, b, kind, lane),
        close: () => t.close(),
        chainReady: () => !hooks.refuse,
        ioctlChain(steps: readonly ChainStep[], _lane?: number, reference?: Uint8Array): Promise<ChainStepResult[]> | undefined {
          if (hooks.refuse) return undefined;
          hooks.chains++;
          hooks.log?.push(steps.map((st) => st.request));
          if (reference) hooks.referenced = (hooks.referenced ?? 0) + 1;
          const first = reference ? reference.slice(0, DM_IOCTL_SIZE) : undefined;
          return (async () => {
            await hooks.gate;
            if (hooks.dieAfter === -1) throw new DmEngineError('the worker died', false);
            const out: ChainStepResult[] = [];
            for (const [i, st] of steps.entries()) {
              const r = await t.ioctlAsync(st.request, st.buf, 'single');
              let mismatch = 0;
              if (r.ret === 0 && st.check && (i > 0 || first)) {
                const d = new Uint8Array(2 * DM_IOCTL_SIZE);
                d.set(first ?? steps[0]!.buf.subarray(0, DM_IOCTL_SIZE), 0);
                d.set(st.buf.subarray(0, DM_IOCTL_SIZE), DM_IOCTL_SIZE);
                mismatch = check(st.check, d, 0, DM_IOCTL_SIZE);
              }
              out.push({ ...r, ran: true, mismatch });
              if (hooks.dieAfter === i) throw new DmEngineError('the worker died', true);
              if (r.ret !== 0 || mismatch !== 0) break;
            }
            while (out.length < steps.length) out.push({ ret: 0, errno: 0, ran: false, mismatch: 0 });
            return out;
          })();
        },
      };
      return chained;
    },
  };
}
