/**
 * The threads that hash a tree's bottom level (the data blocks, nearly all of the work):
 * worker_threads sized to os.availableParallelism(), each given a chunk of whole blocks and
 * returning their digests in order. The workers only hash: every byte reaches them from the
 * main thread, which reads through the backend (so the simulator's files work the same).
 * The worker's source is a string run with `eval: true`, as ffi/engine.ts's: no file to
 * locate from dist/ or under jest.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
parentPort.on('message', (m) => {
  const data = new Uint8Array(m.buffer, 0, m.count * m.blockBytes);
  const salt = new Uint8Array(m.salt);
  const out = new Uint8Array(m.count * m.digestBytes);
  if (typeof crypto.hash === 'function') {
    // One call per block (crypto.hash: no Hash object per block), over the block and the
    // salt laid out in one staging buffer: salt first (format 1) or after (format 0).
    const stage = new Uint8Array(salt.length + m.blockBytes);
    const at = m.version === 1 ? salt.length : 0;
    stage.set(salt, m.version === 1 ? 0 : m.blockBytes);
    for (let i = 0; i < m.count; i++) {
      stage.set(data.subarray(i * m.blockBytes, (i + 1) * m.blockBytes), at);
      out.set(crypto.hash(m.algorithm, stage, 'buffer'), i * m.digestBytes);
    }
  } else {
    const salted = m.version === 1 ? crypto.createHash(m.algorithm).update(salt) : undefined;
    for (let i = 0; i < m.count; i++) {
      const h = salted ? salted.copy() : crypto.createHash(m.algorithm);
      h.update(data.subarray(i * m.blockBytes, (i + 1) * m.blockBytes));
      if (m.version === 0) h.update(salt);
      out.set(h.digest(), i * m.digestBytes);
    }
  }
  parentPort.postMessage({ id: m.id, buffer: m.buffer, digests: out.buffer }, [m.buffer, out.buffer]);
});
`;

/** What every chunk of one tree is hashed with. */
export interface HashJob {
  readonly algorithm: string;
  readonly digestBytes: number;
  readonly blockBytes: number;
  /** 1: salt first; 0: salt after the block (Chrome OS). */
  readonly version: 0 | 1;
  readonly salt: Uint8Array;
}

interface Pending { resolve(v: { digests: Uint8Array; buffer: ArrayBuffer }): void; reject(e: unknown): void }

/** A pool of hashing threads for one tree; `close()` ends them. */
export class HashPool {
  readonly size: number;
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #waiting: (() => void)[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #failed: unknown;

  constructor(readonly job: HashJob, size = availableParallelism()) {
    this.size = Math.max(1, size);
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.on('message', (m: { id: number; buffer: ArrayBuffer; digests: ArrayBuffer }) => {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        this.#release(w);
        p?.resolve({ digests: new Uint8Array(m.digests), buffer: m.buffer });
      });
      w.on('error', (e) => this.#fail(e));
      // Not unref()ed: while a chunk is out, the worker is all that keeps the caller's await alive.
      this.#workers.push(w);
      this.#idle.push(w);
    }
  }

  #release(w: Worker): void {
    const next = this.#waiting.shift();
    this.#idle.push(w);
    next?.();
  }

  #fail(e: unknown): void {
    this.#failed ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  /**
   * Hashes `count` blocks at the start of `buffer` (transferred: the caller gets it back with
   * the digests, to reuse). Resolves in any order; callers keep their own order.
   */
  async hash(buffer: ArrayBuffer, count: number): Promise<{ digests: Uint8Array; buffer: ArrayBuffer }> {
    while (this.#idle.length === 0) await new Promise<void>((r) => this.#waiting.push(r));
    if (this.#failed !== undefined) throw this.#failed;
    const w = this.#idle.pop()!;
    const id = this.#nextId++;
    const { algorithm, digestBytes, blockBytes, version, salt } = this.job;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const saltCopy = salt.slice().buffer;
      w.postMessage({ id, buffer, count, algorithm, digestBytes, blockBytes, version, salt: saltCopy }, [buffer, saltCopy]);
    });
  }

  /** Ends the threads (pending chunks are rejected). */
  async close(): Promise<void> {
    this.#fail(new Error('the hashing pool was closed'));
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
