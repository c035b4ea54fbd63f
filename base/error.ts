/**
 * The one base class of every error this package throws. It lives in its own import-free
 * leaf because every layer needs it and the layers may not import each other (codec/ and
 * ffi/ import nothing of lib/ nor of each other: ARCHITECTURE.md, spec/boundaries).
 *
 * `instanceof DmBaseError` catches every error of the package; `code` is a literal union
 * per subclass (`DmError`: errno names, `DmCodecError`: `INVALID_NAME`, …, `DmClosedError`:
 * `DM_CLOSED`), so a `switch (e.code)` is checked by the compiler.
 */
export abstract class DmBaseError<Code extends string = string> extends Error {
  /** Stable and machine-readable; each subclass narrows it to its own literal union. */
  abstract readonly code: Code;
  /**
   * Set when the operation that threw this error also failed to undo its partial work
   * (createDevice's rollback, ThinPool's resume after a failed step): that second error.
   * Absent otherwise (declared only: no own property unless set).
   */
  declare cleanupError?: unknown;

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}
