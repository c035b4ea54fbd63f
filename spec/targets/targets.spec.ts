// Typed targets: builders render raw tokens, parsers read the kernel's lines back, normalise
// makes the two meet, status parsers name every field, keys never leak.
import { describe, expect, test } from '@jest/globals';
import {
  DmTargetError, DmTargetParseError, TARGET_UNITS, buildTarget, normalise, parseStatus, parseTable, parseTarget,
  splitRdev, statsMessage, tableNeedsReadOnly, tableNeedsSecure, thinPoolMessage, toTargetSpecs, wipeTargetSpecs,
  type TypedTarget,
} from '../../lib/index.js';
import { parseStatsPrint } from '../../lib/targets/stats.js';
import * as targetsModule from '../../lib/targets/index.js';
import { makedev } from '../../ffi/index.js';
import { KEY_CARRYING_TARGETS, prepareTable } from '../../codec/index.js';
import { KEY32, KEY32_HEX, STATUS_CASES, TABLE_CASES, resolveLoop } from './cases.js';

const text = (p: string | Uint8Array) => (typeof p === 'string' ? p : new TextDecoder().decode(p));

describe('builders', () => {
  test.each(TABLE_CASES.map((c) => [c.name, c] as const))('%s renders its params', (_n, c) => {
    const spec = buildTarget(c.input);
    expect(text(spec.params)).toBe(c.params);
    expect(spec.type).toBe(c.input.type);
    expect(spec.start).toBe(c.input.start);
    expect(spec.length).toBe(c.input.length);
  });

  test('every one of the 23 targets has a unit with a builder, parser and status parser', () => {
    expect(Object.keys(TARGET_UNITS).sort()).toEqual([
      'cache', 'clone', 'crypt', 'delay', 'ebs', 'era', 'error', 'flakey', 'integrity', 'linear', 'mirror', 'multipath', 'raid',
      'snapshot', 'snapshot-merge', 'snapshot-origin', 'striped', 'thin', 'thin-pool', 'vdo', 'verity', 'writecache', 'zero',
    ]);
    for (const t of new Set(TABLE_CASES.map((c) => c.input.type))) expect(TARGET_UNITS).toHaveProperty([t]);
  });

  test('builders never escape: a backslash reaches the codec once, and the codec doubles it', () => {
    const spec = buildTarget({ start: 0, length: 8, type: 'linear', device: '/dev/disk/by-id/a\\x20b', offsetSectors: 0 });
    expect(spec.params).toBe('/dev/disk/by-id/a\\x20b 0');
    const prepared = prepareTable([spec]);
    expect(new TextDecoder().decode(prepared.specs[0]!.params)).toBe('/dev/disk/by-id/a\\\\x20b 0');
  });

  test('invalid input → DmTargetError INVALID_INPUT naming target and field', () => {
    const bad: unknown[] = [
      { start: 0, length: 8, type: 'linear', device: '/dev/x', offsetSectors: -1 },
      { start: 0, length: 8, type: 'linear', device: 'two words', offsetSectors: 0 },
      { start: 0, length: 8, type: 'linear', device: '/dev/x', offsetSectors: 0, typo: 1 },
      { start: 0, length: 8, type: 'thin-pool', metadataDevice: 'a', dataDevice: 'b', blockSizeSectors: 100, lowWaterMarkBlocks: 0 },
      { start: 0, length: 8, type: 'thin', poolDevice: 'a', deviceId: 1 << 24 },
      { start: 0, length: 8, type: 'flakey', device: 'a', offsetSectors: 0, upSeconds: 1, downSeconds: 1, dropWrites: true, errorWrites: true },
      { start: 0, length: 8, type: 'mirror', log: { type: 'core', regionSizeSectors: 8 }, mirrors: [{ device: 'a', offsetSectors: 0 }], keepLog: true },
      { start: 0, length: 8, type: 'multipath', groups: [{ selector: 'round-robin', paths: [{ device: 'a', args: ['1'] }, { device: 'b' }] }] },
      { start: 0, length: 8, type: 'crypt', cipher: 'aes', key: 'deadbeef', ivOffsetSectors: 0, device: 'a', offsetSectors: 0 },
      { start: -1, length: 8, type: 'zero' },
    ];
    for (const b of bad) {
      let err: unknown;
      try { buildTarget(b as TypedTarget); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(DmTargetError);
      expect((err as DmTargetError).code).toBe('INVALID_INPUT');
      expect((err as DmTargetError).target).toBe((b as { type: string }).type);
    }
    expect(() => buildTarget({ start: 0, length: 8, type: 'dust' } as unknown as TypedTarget)).toThrow(expect.objectContaining({ code: 'UNKNOWN_TARGET' }));
  });

  test('message helpers validate their arguments', () => {
    expect(thinPoolMessage.createThin(0)).toBe('create_thin 0');
    expect(thinPoolMessage.createSnap(1, 0)).toBe('create_snap 1 0');
    expect(thinPoolMessage.delete(7)).toBe('delete 7');
    expect(thinPoolMessage.setTransactionId(0, 5)).toBe('set_transaction_id 0 5');
    expect(() => thinPoolMessage.createThin(1 << 24)).toThrow();
    expect(statsMessage.create('-', '/100')).toBe('@stats_create - /100');
    expect(statsMessage.print(0)).toBe('@stats_print 0');
    expect(parseStatsPrint('0+100 1 2 3 4 5 6 7 8 9 10 11\n100+100 0 0 0 0 0 0 0 0 0 0 0\n')).toEqual([
      { startSectors: 0n, lengthSectors: 100n, counters: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n] },
      { startSectors: 100n, lengthSectors: 100n, counters: Array(11).fill(0n) },
    ]);
  });
});

describe('parsers and the round trip', () => {
  test.each(TABLE_CASES.map((c) => [c.name, c] as const))('%s: parse(kernel line) equals normalise(input)', (_n, c) => {
    const parsed = parseTarget({ start: BigInt(c.input.start), length: BigInt(c.input.length), type: c.input.type, params: c.kernel });
    expect(parsed).toEqual(normalise(c.input, { resolve: resolveLoop }));
    // and the parsed form is itself valid builder input that renders the kernel's line
    const withKeys = parseTarget({ start: BigInt(c.input.start), length: BigInt(c.input.length), type: c.input.type, params: c.kernel }, { showKeys: true });
    const again = buildTarget(withKeys as unknown as TypedTarget);
    expect(parseTarget({ ...again, params: text(again.params) }, {})).toEqual(parsed);
    // ...token for token in the kernel's order (devices are already major:minor in a parsed
    // line; only the trailing blank some targets print, e.g. thin-pool's, is not rebuilt)
    expect(text(again.params)).toBe(c.kernel.trimEnd());
  });

  test('normalise fills the kernel defaults and resolves devices', () => {
    const n = normalise({ start: 0, length: 8, type: 'integrity', device: '/dev/loop5', offsetSectors: 0, tagSizeBytes: 4, mode: 'B', internalHash: { algorithm: 'crc32c' } }, { resolve: resolveLoop });
    expect(n).toMatchObject({ device: '7:5', interleaveSectors: 32768, bufferSectors: 128, sectorsPerBit: 32768n, bitmapFlushIntervalMs: 10000 });
    expect(n).not.toHaveProperty('journalWatermarkPercent');
    expect(normalise({ start: 0, length: 8, type: 'linear', device: '8:017', offsetSectors: 1 })).toEqual({ start: 0n, length: 8n, type: 'linear', device: '8:17', offsetSectors: 1n });
    expect(() => normalise({ start: 0, length: 8, type: 'linear', device: '/nonexistent/dev', offsetSectors: 1 })).toThrow(expect.objectContaining({ code: 'UNRESOLVED_DEVICE' }));
    expect(normalise([{ start: 0, length: 8, type: 'zero' }, { start: 8, length: 8, type: 'error' }])).toHaveLength(2);
    // the default resolver stats the path: a character device is refused with a typed error
    expect(() => normalise({ start: 0, length: 8, type: 'linear', device: '/dev/null', offsetSectors: 0 }))
      .toThrow(expect.objectContaining({ name: 'DmTargetError', code: 'UNRESOLVED_DEVICE', target: 'linear', field: 'device' }));
  });

  test('flakey without features: error_reads error_writes from dm 4.48 (6.12 measured), nothing on 4.47 (6.1)', () => {
    const bare: TypedTarget = { start: 0, length: 2048, type: 'flakey', device: '7:0', offsetSectors: 0, upSeconds: 5, downSeconds: 0 };
    const k612 = { start: 0n, length: 2048n, type: 'flakey', params: '7:0 0 5 0 2 error_reads error_writes' };
    const k61 = { start: 0n, length: 2048n, type: 'flakey', params: '7:0 0 5 0 0 ' };
    expect(parseTarget(k612)).toEqual(normalise(bare, { kernel: [4, 48, 0] }));
    expect(parseTarget(k61)).toEqual(normalise(bare, { kernel: [4, 47, 0] }));
    expect(parseTarget(k61)).toEqual(normalise(bare));
  });

  test('splitRdev follows glibc (major 259, minor 1048575 and a classic 8:17)', () => {
    expect(splitRdev(0x811n)).toEqual({ major: 8, minor: 17 });
    const rdev = (259n & 0xfffn) << 8n | (1048575n & 0xffn) | ((1048575n & ~0xffn) << 12n);
    expect(splitRdev(rdev)).toEqual({ major: 259, minor: 1048575 });
  });

  test('read-only is a unit flag: verity\'s unit says so, and tableNeedsReadOnly reads it (no side list)', () => {
    const flagged = Object.entries(TARGET_UNITS).filter(([, u]) => u.readOnly).map(([t]) => t);
    expect(flagged).toEqual(['verity']);
    expect(tableNeedsReadOnly([{ type: 'verity' }])).toBe(true);
    expect(tableNeedsReadOnly([{ type: 'linear' }, { type: 'zero' }])).toBe(false);
    expect(Object.keys(targetsModule)).not.toContain('READ_ONLY_TARGETS');
  });

  test('key-carrying units are exactly codec/secrets.ts\'s key-carrying targets (read from there, not declared twice)', () => {
    const sensitive = Object.entries(TARGET_UNITS).filter(([, u]) => u.sensitive).map(([t]) => t).sort();
    expect(sensitive).toEqual([...KEY_CARRYING_TARGETS].sort());
    expect(sensitive).toEqual(['crypt', 'integrity']);
  });

  test('one splitRdev: the inverse of makedev at the edges, exported once (the targets module has none of its own)', () => {
    for (const [major, minor] of [[0, 0], [8, 17], [259, 1048575], [0xfff, 0xff], [0x1000, 0x100], [0xffffffff, 0xffffffff], [0x12345678, 0x9abcdef0]] as const) {
      expect(splitRdev(makedev(major, minor))).toEqual({ major, minor });
    }
    expect(Object.keys(targetsModule)).not.toContain('splitRdev');
  });

  test('parseTable keeps order and start/length as bigint', () => {
    const t = parseTable([{ start: 0n, length: 8n, type: 'zero', params: '' }, { start: 8n, length: 8n, type: 'linear', params: '7:0 0' }]);
    expect(t.map((x) => [x.start, x.type])).toEqual([[0n, 'zero'], [8n, 'linear']]);
  });

  test('bad table lines → DmTargetParseError with code, target and field', () => {
    const cases: [string, string, string, string][] = [
      ['linear', '7:0', 'MISSING_FIELD', 'offsetSectors'],
      ['linear', '/dev/sda 0', 'BAD_DEVICE', 'device'],
      ['linear', '7:0 x', 'BAD_NUMBER', 'offsetSectors'],
      ['linear', '7:0 0 extra', 'TRAILING_FIELDS', 'params'],
      ['thin-pool', '7:3 7:1 128 0 1 bogus', 'BAD_VALUE', 'features'],
      ['striped', '3 8 7:0 0', 'MISSING_FIELD', 'stripes[1].device'],
      ['multipath', '99999 0', 'BAD_NUMBER', 'features.count'],
      ['multipath', '60 0', 'MISSING_FIELD', 'features'],
    ];
    for (const [type, params, code, field] of cases) {
      let err: unknown;
      try { parseTarget({ start: 0, length: 8, type, params }); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(DmTargetParseError);
      expect(err).toMatchObject({ code, target: type, field });
    }
  });
});

describe('status parsers', () => {
  test.each(STATUS_CASES.map((c, i) => [`${c.type} #${i}`, c] as const))('%s', (_n, c) => {
    const s = parseStatus({ start: 0n, length: 8n, type: c.type, params: c.line });
    expect(s.type).toBe(c.type);
    expect(s.status).toMatchObject(c.expect);
  });

  test('unknown trailing fields are kept, not fatal', () => {
    expect(parseStatus({ start: 0, length: 8, type: 'era', params: '8 12/2048 2 - new1 new2' }).status).toMatchObject({ extra: ['new1', 'new2'] });
    expect(parseStatus({ start: 0, length: 8, type: 'linear', params: 'surprise' }).status).toEqual({ extra: ['surprise'] });
  });

  test('malformed status → DmTargetParseError', () => {
    expect(() => parseStatus({ start: 0, length: 8, type: 'thin-pool', params: '0 1/2 3/4 - sideways discard_passdown queue_if_no_space - 1' }))
      .toThrow(expect.objectContaining({ name: 'DmTargetParseError', code: 'BAD_VALUE', field: 'mode' }));
    expect(() => parseStatus({ start: 0, length: 8, type: 'raid', params: 'raid1 2 A 1/1 idle 0' })).toThrow(DmTargetParseError);
  });
});

describe('keys', () => {
  const cryptLine: TypedTarget = { start: 0, length: 2048, type: 'crypt', cipher: 'aes-xts-plain64', key: KEY32, ivOffsetSectors: 0, device: '7:0', offsetSectors: 0 };

  test('a crypt builder writes the key into params bytes, never into a string', () => {
    const spec = buildTarget(cryptLine);
    expect(spec.params).toBeInstanceOf(Uint8Array);
    expect(text(spec.params)).toBe(`aes-xts-plain64 ${KEY32_HEX} 0 7:0 0`);
    expect(tableNeedsSecure([cryptLine])).toBe(true);
    expect(tableNeedsSecure([spec])).toBe(true);
    expect(tableNeedsSecure([{ start: 0, length: 8, type: 'linear', device: '7:0', offsetSectors: 0 }])).toBe(false);
    // keyring keys and empty keys are not secret material
    const keyring: TypedTarget = { ...cryptLine, key: { keyring: { sizeBytes: 64, type: 'logon', description: 'x' } } };
    expect(typeof buildTarget(keyring).params).toBe('string');
    expect(tableNeedsSecure([keyring])).toBe(false);
    expect(buildTarget({ ...cryptLine, cipher: 'cipher_null-ecb', key: new Uint8Array(0) }).params).toBe('cipher_null-ecb - 0 7:0 0');
  });

  test('integrity HMAC keys are bytes too', () => {
    const line: TypedTarget = { start: 0, length: 8, type: 'integrity', device: '7:5', offsetSectors: 0, tagSizeBytes: 32, mode: 'J', internalHash: { algorithm: 'hmac(sha256)', key: KEY32 } };
    expect(buildTarget(line).params).toBeInstanceOf(Uint8Array);
    expect(tableNeedsSecure([line])).toBe(true);
  });

  test('toTargetSpecs + wipeTargetSpecs: the built key bytes can be wiped after the load', () => {
    const specs = toTargetSpecs([cryptLine, { start: 2048, length: 8, type: 'zero' }]);
    wipeTargetSpecs(specs);
    expect((specs[0]!.params as Uint8Array).every((b) => b === 0)).toBe(true);
    expect(KEY32[0]).toBe(0x01); // the caller's key is untouched
  });

  test('parsed keys are redacted unless showKeys', () => {
    const line = { start: 0n, length: 2048n, type: 'crypt', params: `aes-xts-plain64 ${KEY32_HEX} 0 7:0 0` };
    expect(parseTarget(line)).toMatchObject({ key: { redacted: true, sizeBytes: 32 } });
    expect(JSON.stringify(parseTarget(line), (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('0123456789abcdef');
    expect((parseTarget(line, { showKeys: true }) as { key: Uint8Array }).key).toEqual(KEY32);
    expect(normalise(cryptLine)).toMatchObject({ key: { redacted: true, sizeBytes: 32 } });
    expect((normalise(cryptLine, { showKeys: true }) as { key: Uint8Array }).key).toEqual(KEY32);
    const ig = { start: 0n, length: 8n, type: 'integrity', params: `7:5 0 32 J 1 internal_hash:hmac(sha256):${KEY32_HEX}` };
    expect(parseTarget(ig)).toMatchObject({ internalHash: { algorithm: 'hmac(sha256)', key: { redacted: true, sizeBytes: 32 } } });
  });

  test('errors never quote key material', () => {
    const messages: string[] = [];
    for (const params of [`aes-xts-plain64 ${KEY32_HEX}zz 0 7:0 0`, `aes-xts-plain64 ${KEY32_HEX} 0 7:0 0 1 ${KEY32_HEX}`, `aes-xts-plain64 ${KEY32_HEX} x`]) {
      try { parseTarget({ start: 0, length: 8, type: 'crypt', params }); } catch (e) { messages.push((e as Error).message); }
    }
    try { parseTarget({ start: 0, length: 8, type: 'integrity', params: `7:5 0 32 J 1 bogus_hash:${KEY32_HEX}` }); } catch (e) { messages.push((e as Error).message); }
    expect(messages).toHaveLength(4);
    for (const m of messages) expect(m).not.toContain('0123456789abcdef');
  });
});
