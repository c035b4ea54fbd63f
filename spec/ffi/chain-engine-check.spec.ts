// The process's engine is started by whichever transport of a control node uses it first. If
// that transport was opened without the chain check, the engine cannot run checked chains:
// a later transport that has the check must then go step by step (ioctlChain undefined,
// nothing sent), not hand createDevice a chain the engine rejects.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openControl } from '../../ffi/control.js';
import type { ChainTransport, ControlTransport } from '../../ffi/types.js';
import type { IoctlEngine } from '../../ffi/engine.js';
import { CHAIN_CHECK_SOURCE } from '../../lib/kernel/chain-check.js';
import { requestCode } from '../../codec/index.js';

describe('a chain only on an engine that can check it', () => {
  test('an engine started by a transport without the check takes no chain from one with it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-chain-nocheck-'));
    const node = path.join(dir, 'control');
    fs.symlinkSync('/dev/null', node);
    const fake = 'return [0, 0];';
    const started: IoctlEngine[] = [];
    const plain = (await openControl(node, { asyncPath: 'engine', engineFake: fake, onEngine: (e) => { started.push(e); } })) as ControlTransport & ChainTransport;
    const checked = (await openControl(node, { asyncPath: 'auto', engineFake: fake, chainCheck: CHAIN_CHECK_SOURCE })) as ControlTransport & ChainTransport;
    try {
      await plain.ioctlAsync(requestCode('version'), new Uint8Array(312));
      expect(started).toHaveLength(1);
      for (let i = 0; i < 1000 && !started[0]!.ready; i++) await new Promise((r) => setTimeout(r, 10));
      expect(started[0]!.ready).toBe(true);
      expect(checked.chainReady(3)).toBe(false);
      const steps = [1, 2, 3].map((k) => ({ request: requestCode('info'), buf: new Uint8Array(312), check: k === 1 ? 0 : 1 }));
      expect(checked.ioctlChain(steps)).toBeUndefined();
      expect(started[0]!.chains).toBe(0);
    } finally {
      plain.close();
      checked.close();
      for (const e of started) await e.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
