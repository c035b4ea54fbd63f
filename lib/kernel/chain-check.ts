/**
 * The identity check the ioctl engine's worker runs between a chain's steps
 * (`EngineOptions.chainCheck`, ffi/engine.ts): the source text of the codec's own rule
 * (codec/identity-rule.ts), the very functions `checkReply` (lib/operations/identity.ts)
 * decides with on the main thread, with dm_ioctl's field offsets from the layout declaration.
 * ffi/ cannot import codec/ (ARCHITECTURE.md), so the rule reaches it as text from here.
 */
import { HEADER_IDENTITY_FIELDS, headerIdentityMismatch, identityMismatch } from '../../codec/identity-rule.js';
import { TRUSTED_REPLY_FIELDS } from '../../codec/reply-fields.js';

/**
 * The check's source from the rule's two functions. Each is bound to the name it has in this
 * build, which is also the name the other's body calls it by: a bundler that renames or
 * rewrites them (a minifier) still ships a consistent pair, whether `toString()` gives a
 * declaration, an anonymous function or an arrow.
 */
export function chainCheckSource(rule: (...a: never[]) => unknown, header: (...a: never[]) => unknown): string {
  return [
    `const ${rule.name} = (${rule.toString()});`,
    `const ${header.name} = (${header.toString()});`,
    `const F = ${JSON.stringify(HEADER_IDENTITY_FIELDS)};`,
    `return (bits, D, first, at) => ${header.name}({ name: (bits & 1) !== 0, uuid: (bits & 2) !== 0, dev: (bits & 4) !== 0 }, D, first, D, at, F);`,
  ].join('\n');
}

/** The body of a function returning `(trustedBits, data, firstOffset, replyOffset) => mismatch`. */
export const CHAIN_CHECK_SOURCE = chainCheckSource(identityMismatch, headerIdentityMismatch);

/** A chain step's trusted-field bits (1 name, 2 uuid, 4 dev) for a step of TRUSTED_REPLY_FIELDS. */
export function trustedBits(step: keyof typeof TRUSTED_REPLY_FIELDS): number {
  const f = TRUSTED_REPLY_FIELDS[step];
  return (f.name ? 1 : 0) | (f.uuid ? 2 : 0) | (f.dev ? 4 : 0);
}
