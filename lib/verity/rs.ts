/**
 * Reed–Solomon over GF(2^8) with the parameters dm-verity's forward error correction uses:
 * field polynomial 0x11d, first consecutive root 0, primitive element 1, `roots` parity
 * symbols (2..24), codewords of 255 symbols, no padding. These are the arguments cryptsetup
 * gives its libfec-derived `init_rs_char` and the kernel gives `init_rs` (docs/verity-fec.md),
 * so parity computed here is the parity both of them compute and check.
 *
 * Two encoders: `encodeReference` is the shift-register encoder of libfec, kept to define
 * the code and to derive the fast one's tables; `ParityTables` (below) encodes many
 * codewords at once by table lookups, which the FEC stream needs for speed. The decoder is
 * libfec's Berlekamp–Massey + Chien + Forney with optional erasures.
 */

/** Symbols per codeword: 2^8 - 1. */
export const RS_NN = 255;
/** The field generator polynomial x^8 + x^4 + x^3 + x^2 + 1. */
export const RS_GFPOLY = 0x11d;
/** The fewest parity bytes dm-verity accepts (255 - FEC_MAX_RSN 253). */
export const RS_MIN_ROOTS = 2;
/** The most parity bytes dm-verity accepts (255 - FEC_MIN_RSN 231). */
export const RS_MAX_ROOTS = 24;

const A0 = RS_NN; // the index form of zero (log 0 = -inf)

/** alpha^i for i in 0..254, and ALPHA_TO[255] = 0. */
const ALPHA_TO = new Uint8Array(RS_NN + 1);
/** log_alpha(x) for x in 1..255, and INDEX_OF[0] = A0. */
const INDEX_OF = new Uint8Array(RS_NN + 1);
{
  INDEX_OF[0] = A0;
  ALPHA_TO[A0] = 0;
  let sr = 1;
  for (let i = 0; i < RS_NN; i++) {
    INDEX_OF[sr] = i;
    ALPHA_TO[i] = sr;
    sr <<= 1;
    if (sr & 0x100) sr ^= RS_GFPOLY;
    sr &= RS_NN;
  }
}

/** x mod 255 for 0 <= x < 2^16 (libfec's modnn). */
function modnn(x: number): number {
  while (x >= RS_NN) {
    x -= RS_NN;
    x = (x >> 8) + (x & RS_NN);
  }
  return x;
}

/** a * b in GF(2^8). */
export function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : ALPHA_TO[modnn(INDEX_OF[a]! + INDEX_OF[b]!)]!;
}

/**
 * One codec for a given number of parity symbols. `rsn = 255 - roots` data symbols per
 * codeword; a codeword is the data followed by its parity (systematic).
 */
export class ReedSolomon {
  readonly roots: number;
  readonly rsn: number;
  /** The generator polynomial's coefficients in index form, genpoly[0] the constant term. */
  private readonly genpoly: Uint8Array;
  /** Scratch of the decoder (one codec is not shared between concurrent decodes). */
  private readonly s = new Uint8Array(RS_NN + 1);
  private readonly lambda = new Uint8Array(RS_NN + 1);
  private readonly b = new Uint8Array(RS_NN + 1);
  private readonly t = new Uint8Array(RS_NN + 1);
  private readonly omega = new Uint8Array(RS_NN + 1);
  private readonly root = new Uint8Array(RS_NN + 1);
  private readonly reg = new Uint8Array(RS_NN + 1);
  private readonly loc = new Uint8Array(RS_NN + 1);

  constructor(roots: number) {
    if (!Number.isSafeInteger(roots) || roots < RS_MIN_ROOTS || roots > RS_MAX_ROOTS) {
      throw new RangeError(`roots must be an integer from ${RS_MIN_ROOTS} to ${RS_MAX_ROOTS}, got ${String(roots)}`);
    }
    this.roots = roots;
    this.rsn = RS_NN - roots;
    // g(x) = prod_{i<roots} (x + alpha^(fcr + i) * prim), fcr 0, prim 1.
    const g = new Uint8Array(roots + 1);
    g[0] = 1;
    for (let i = 0, root = 0; i < roots; i++, root += 1) {
      g[i + 1] = 1;
      for (let j = i; j > 0; j--) {
        g[j] = g[j] !== 0 ? g[j - 1]! ^ ALPHA_TO[modnn(INDEX_OF[g[j]!]! + root)]! : g[j - 1]!;
      }
      g[0] = ALPHA_TO[modnn(INDEX_OF[g[0]!]! + root)]!;
    }
    for (let i = 0; i <= roots; i++) g[i] = INDEX_OF[g[i]!]!;
    this.genpoly = g;
  }

  /**
   * libfec's shift-register encoder: `parity` (roots bytes) receives the parity of
   * `data` (rsn bytes). Slow but the definition; the tables of the fast encoder come from it.
   */
  encodeReference(data: Uint8Array, parity: Uint8Array): void {
    const { roots, genpoly } = this;
    parity.fill(0, 0, roots);
    for (let i = 0; i < this.rsn; i++) {
      const feedback = INDEX_OF[data[i]! ^ parity[0]!]!;
      if (feedback !== A0) {
        for (let j = 1; j < roots; j++) parity[j] = parity[j]! ^ ALPHA_TO[modnn(feedback + genpoly[roots - j]!)]!;
      }
      parity.copyWithin(0, 1, roots);
      parity[roots - 1] = feedback !== A0 ? ALPHA_TO[modnn(feedback + genpoly[0]!)]! : 0;
    }
  }

  /**
   * Decodes one codeword in place: `codeword` is 255 bytes, rsn data then roots parity.
   * `erasures` are positions (0..254) known to be wrong; up to `roots` of them, and with e
   * erasures up to (roots - e) / 2 further errors are corrected. Returns the number of
   * symbols corrected (their positions in `corrected`, if given), or -1 when the codeword is
   * beyond the code's power (nothing is changed then).
   */
  decode(codeword: Uint8Array, erasures?: readonly number[], corrected?: number[]): number {
    const { roots, s, lambda, b, t, omega, root, reg, loc } = this;
    const nn = RS_NN;
    const noEras = erasures ? erasures.length : 0;
    if (noEras > roots) return -1;

    // Syndromes: the received polynomial evaluated at the generator's roots alpha^i.
    for (let i = 0; i < roots; i++) s[i] = codeword[0]!;
    for (let j = 1; j < nn; j++) {
      const c = codeword[j]!;
      for (let i = 0; i < roots; i++) {
        const si = s[i]!;
        s[i] = si === 0 ? c : c ^ ALPHA_TO[modnn(INDEX_OF[si]! + i)]!;
      }
    }
    let synError = 0;
    for (let i = 0; i < roots; i++) {
      synError |= s[i]!;
      s[i] = INDEX_OF[s[i]!]!;
    }
    if (synError === 0) return 0;

    // The erasure locator seeds lambda.
    lambda.fill(0, 0, roots + 1);
    lambda[0] = 1;
    if (noEras > 0) {
      lambda[1] = ALPHA_TO[modnn(nn - 1 - erasures![0]!)]!;
      for (let i = 1; i < noEras; i++) {
        const u = modnn(nn - 1 - erasures![i]!);
        for (let j = i + 1; j > 0; j--) {
          const tmp = INDEX_OF[lambda[j - 1]!]!;
          if (tmp !== A0) lambda[j] = lambda[j]! ^ ALPHA_TO[modnn(u + tmp)]!;
        }
      }
    }
    for (let i = 0; i < roots + 1; i++) b[i] = INDEX_OF[lambda[i]!]!;

    // Berlekamp–Massey: the error+erasure locator polynomial.
    let r = noEras;
    let el = noEras;
    while (++r <= roots) {
      let discr = 0;
      for (let i = 0; i < r; i++) {
        if (lambda[i] !== 0 && s[r - i - 1] !== A0) discr ^= ALPHA_TO[modnn(INDEX_OF[lambda[i]!]! + s[r - i - 1]!)]!;
      }
      discr = INDEX_OF[discr]!;
      if (discr === A0) {
        b.copyWithin(1, 0, roots);
        b[0] = A0;
      } else {
        t[0] = lambda[0]!;
        for (let i = 0; i < roots; i++) {
          t[i + 1] = b[i] !== A0 ? lambda[i + 1]! ^ ALPHA_TO[modnn(discr + b[i]!)]! : lambda[i + 1]!;
        }
        if (2 * el <= r + noEras - 1) {
          el = r + noEras - el;
          for (let i = 0; i <= roots; i++) b[i] = lambda[i] === 0 ? A0 : modnn(INDEX_OF[lambda[i]!]! - discr + nn);
        } else {
          b.copyWithin(1, 0, roots);
          b[0] = A0;
        }
        lambda.set(t.subarray(0, roots + 1));
      }
    }

    let degLambda = 0;
    for (let i = 0; i < roots + 1; i++) {
      lambda[i] = INDEX_OF[lambda[i]!]!;
      if (lambda[i] !== A0) degLambda = i;
    }
    // Chien search: the roots of lambda are the inverses of the error locations. iprim is
    // 1 for prim 1, so location k runs from 0 with the root index i from 1.
    reg.set(lambda.subarray(1, roots + 1), 1);
    let count = 0;
    for (let i = 1, k = 0; i <= nn; i++, k = modnn(k + 1)) {
      let q = 1;
      for (let j = degLambda; j > 0; j--) {
        if (reg[j] !== A0) {
          reg[j] = modnn(reg[j]! + j);
          q ^= ALPHA_TO[reg[j]!]!;
        }
      }
      if (q !== 0) continue;
      root[count] = i;
      loc[count] = k;
      if (++count === degLambda) break;
    }
    if (degLambda !== count) return -1;

    // Forney: omega(x) = s(x) * lambda(x) mod x^roots, error values from it.
    const degOmega = degLambda - 1;
    for (let i = 0; i <= degOmega; i++) {
      let tmp = 0;
      for (let j = i; j >= 0; j--) {
        if (s[i - j] !== A0 && lambda[j] !== A0) tmp ^= ALPHA_TO[modnn(s[i - j]! + lambda[j]!)]!;
      }
      omega[i] = INDEX_OF[tmp]!;
    }
    // Compute every value first so a failure leaves the codeword unchanged.
    const values: number[] = [];
    for (let j = count - 1; j >= 0; j--) {
      let num1 = 0;
      for (let i = degOmega; i >= 0; i--) {
        if (omega[i] !== A0) num1 ^= ALPHA_TO[modnn(omega[i]! + i * root[j]!)]!;
      }
      // fcr 0: num2 = inv(X)^(fcr - 1) = alpha^(root * -1 + nn).
      const num2 = ALPHA_TO[modnn(root[j]! * (0 - 1) + nn)]!;
      let den = 0;
      for (let i = Math.min(degLambda, roots - 1) & ~1; i >= 0; i -= 2) {
        if (lambda[i + 1] !== A0) den ^= ALPHA_TO[modnn(lambda[i + 1]! + i * root[j]!)]!;
      }
      if (den === 0) return -1;
      values.push(num1 === 0 ? 0 : ALPHA_TO[modnn(INDEX_OF[num1]! + INDEX_OF[num2]! + nn - INDEX_OF[den]!)]!);
    }
    let n = 0;
    for (let j = count - 1, v = 0; j >= 0; j--, v++) {
      const value = values[v]!;
      if (value === 0) continue;
      codeword[loc[j]!] = codeword[loc[j]!]! ^ value;
      corrected?.push(loc[j]!);
      n++;
    }
    return n;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The fast encoder. Systematic RS encoding is linear over GF(2^8): the parity of a codeword
 * is the sum over data positions i of data[i] times the parity of the unit vector e_i. So
 * for every position i and byte value v the parity contribution v * parity(e_i) is a table
 * entry, packed four parity bytes to a 32-bit word, and encoding is one lookup and one XOR
 * per data byte and word. dm-verity's codewords are interleaved (byte b of rsn blocks forms
 * codeword b), so one call adds a whole block row to `blockSize` codewords at once.
 */
export class ParityTables {
  readonly roots: number;
  readonly rsn: number;
  /** 32-bit words of parity per codeword: ceil(roots / 4). */
  readonly words: number;
  /** Entry ((i * words + w) * 256 + v): parity bytes 4w..4w+3 of v * e_i, in memory order. */
  private readonly table: Int32Array;

  constructor(readonly rs: ReedSolomon) {
    const { roots, rsn } = rs;
    this.roots = roots;
    this.rsn = rsn;
    const words = (this.words = Math.ceil(roots / 4));
    const table = (this.table = new Int32Array(rsn * words * 256));
    const unit = new Uint8Array(rsn);
    const parity = new Uint8Array(roots);
    for (let i = 0; i < rsn; i++) {
      unit[i] = 1;
      rs.encodeReference(unit, parity);
      unit[i] = 0;
      for (let w = 0; w < words; w++) {
        const base = (i * words + w) * 256;
        for (let v = 1; v < 256; v++) {
          let word = 0;
          for (let q = 0; q < 4 && 4 * w + q < roots; q++) {
            word |= gfMul(v, parity[4 * w + q]!) << (8 * (LITTLE_ENDIAN ? q : 3 - q));
          }
          table[base + v] = word | 0;
        }
      }
    }
  }

  /** A zeroed accumulator for `count` codewords. */
  accumulator(count: number): Int32Array {
    return new Int32Array(count * this.words);
  }

  /**
   * Adds data position `i` of `count` consecutive codewords: `row[from + c]` is the byte at
   * position i of codeword c, whose parity words are acc[c * words ...].
   */
  add(i: number, row: Uint8Array, from: number, count: number, acc: Int32Array): void {
    const words = this.words;
    const table = this.table;
    if (words === 1) {
      const t = table.subarray(i * 256, i * 256 + 256);
      for (let c = 0; c < count; c++) acc[c] = acc[c]! ^ t[row[from + c]!]!;
      return;
    }
    const base = i * words * 256;
    for (let c = 0, a = 0; c < count; c++, a += words) {
      const v = row[from + c]!;
      for (let w = 0, o = base + v; w < words; w++, o += 256) acc[a + w] = acc[a + w]! ^ table[o]!;
    }
  }

  /** Writes the parity of `count` codewords from `acc` to `out` (roots bytes each, codeword order). */
  pack(acc: Int32Array, count: number, out: Uint8Array, outOffset = 0): void {
    const bytes = new Uint8Array(acc.buffer, acc.byteOffset, count * this.words * 4);
    const roots = this.roots;
    const stride = this.words * 4;
    if (stride === roots) {
      out.set(bytes, outOffset);
      return;
    }
    for (let c = 0, s = 0, d = outOffset; c < count; c++, s += stride, d += roots) {
      for (let j = 0; j < roots; j++) out[d + j] = bytes[s + j]!;
    }
  }
}
