/**
 * The shapes of a thin pool's metadata as the library reads it (persistent-data's on-disk
 * format: docs/thin-metadata.md). The reader (`openThinMetadata`) produces them; thin_ls's,
 * thin_dump's and thin_delta's views, the CSI-shaped streams and the next free thin id are
 * computed from them. Block counts are bigint (docs/conventions.md, "Units"), each beside the
 * block size that defines it.
 */

/** The pool's superblock (block 0 of the metadata device, or the metadata snapshot's copy). */
export interface ThinMetadataSuperblock {
  /** The metadata block this superblock was read from (0, or the metadata snapshot's block). */
  readonly blockNumber: bigint;
  /** 16 raw bytes (all zero when the pool was made without one). */
  readonly uuid: Uint8Array;
  readonly version: number;
  /** The pool's current time (each snapshot bumps it); mappings record the time they were made. */
  readonly time: number;
  readonly transactionId: bigint;
  /** Block number of the held metadata snapshot's superblock, 0n when none is held. */
  readonly metadataSnapBlock: bigint;
  /** The data block size in 512-byte sectors (thin_dump's `data_block_size`). */
  readonly dataBlockSizeSectors: number;
  /** The metadata block size in sectors (always 8: 4096 bytes). */
  readonly metadataBlockSizeSectors: number;
  /** Metadata blocks the metadata device holds. */
  readonly metadataBlockCount: bigint;
  /** Data blocks the pool's data device holds (the data space map's nr_blocks). */
  readonly dataBlockCount: bigint;
  readonly flags: number;
}

/** One thin device's entry in the device-details tree. */
export interface ThinDeviceDetails {
  /** The thin id (the `thin` target's dev id, 24 bits). */
  readonly thinId: number;
  readonly mappedBlocks: bigint;
  readonly transactionId: bigint;
  readonly creationTime: number;
  readonly snapshottedTime: number;
}

/**
 * A run of consecutive thin blocks mapped to consecutive data blocks with one time stamp
 * (thin_dump's `range_mapping`; a single mapping is a run of 1).
 */
export interface ThinMappingRun {
  readonly thinBlock: bigint;
  readonly dataBlock: bigint;
  readonly lengthBlocks: bigint;
  readonly time: number;
}

/** Options every reading method takes (docs/conventions.md, "Cancellation, time and progress"). */
export interface ThinReadOptions {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

/**
 * An open view of a pool's metadata (a metadata file, a metadata device, or a live pool's
 * reserved metadata snapshot). Every block it reads is checksum- and type-checked; a walk
 * is bounded by the metadata's own size.
 */
export interface ThinMetadata extends AsyncDisposable {
  readonly superblock: ThinMetadataSuperblock;
  /** Every thin device, ordered by thin id. */
  devices(options?: ThinReadOptions): Promise<ThinDeviceDetails[]>;
  /**
   * One device's mappings in thin-block order, as maximal runs (consecutive thin and data
   * blocks with one time). Memory is bounded by the tree's depth, not by the device's size.
   */
  mappings(thinId: number, options?: ThinReadOptions): AsyncIterable<ThinMappingRun>;
  /**
   * True when the blocks are read synchronously (a host file), so a consumer gains nothing by
   * reading a stream ahead of itself (thinDelta then skips its read-ahead). Optional: absent
   * means false.
   */
  readonly readsSynchronously?: boolean | undefined;
  /** The data space map's reference count of one data block (0 = free). */
  dataBlockReferenceCount(dataBlock: bigint, options?: ThinReadOptions): Promise<number>;
  /** Releases the file (and a reserved metadata snapshot). Closing twice is harmless. */
  close(): Promise<void>;
}
