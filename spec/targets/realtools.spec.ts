// The kernel's own lines for devices LVM2, cryptsetup, integritysetup and veritysetup made
// (spec/targets/realtools-cases.ts, captured by spec/live/realtools.live.spec.ts): every table
// line parses, and parse → build (and normalise → build) gives the kernel's text token for
// token; every status line parses with nothing left in `extra`.
import { describe, expect, test } from '@jest/globals';
import { buildTarget, normalise, parseStatus, parseTarget, type TypedTarget } from '../../lib/targets/index.js';
import { REAL_STATUS, REAL_TABLES } from './realtools-cases.js';

const text = (p: string | Uint8Array) => (typeof p === 'string' ? p : new TextDecoder().decode(p));
const line = (l: (typeof REAL_TABLES)[number]) => ({ start: 0n, length: BigInt(l.length), type: l.type, params: l.params });

describe('real tools: kernel table lines rebuild exactly', () => {
  test.each(REAL_TABLES.map((l) => [`${l.device} (${l.type}${l.kernels ? `, ${l.kernels}` : ''})`, l] as const))('%s', (_n, l) => {
    const parsed = parseTarget(line(l), { showKeys: true });
    // thin-pool prints a blank after its feature count; nothing else is dropped
    expect(text(buildTarget(parsed as unknown as TypedTarget).params)).toBe(l.params.trimEnd());
    const n = normalise(parsed as unknown as TypedTarget, { showKeys: true });
    expect(n).toEqual(parsed);
    expect(text(buildTarget(n as unknown as TypedTarget).params)).toBe(l.params.trimEnd());
  });
});

describe('real tools: kernel status lines parse with nothing left over', () => {
  test.each(REAL_STATUS.map((l) => [`${l.device} (${l.type}${l.kernels ? `, ${l.kernels}` : ''})`, l] as const))('%s', (_n, l) => {
    const s = parseStatus(line(l)).status as { extra?: readonly string[] };
    expect(s.extra ?? []).toEqual([]);
  });
});
