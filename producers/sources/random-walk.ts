// Deterministic Brownian paths with random access, for the synthetic source.
// W(0) = 0 at the epoch, one step per second, built by the Lévy (Brownian-bridge) construction over
// [0, 2^32] seconds: every dyadic midpoint draws one Gaussian from a hash of (seed, stream, level, node).
// So W(t) is the same whenever and in whatever batch it is asked for, and a sorted set of n points costs
// about n·(2 + log2(spacing)) hashes instead of a walk from 1970.

const TWO_PI = 2 * Math.PI;
const SPAN_BITS = 32;
const SPAN = 2 ** SPAN_BITS;

function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of four integers (each taken mod 2^32). */
export function hash4(a: number, b: number, c: number, d: number): number {
  let h = mix32(a ^ 0x9e3779b9);
  h = mix32(h ^ b);
  h = mix32(h ^ Math.imul(c, 0x27d4eb2f));
  return mix32(h ^ d);
}

/** FNV-1a of a string, for naming streams (`market`, `sector:tech`, `idio:AAPL`). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** Uniform in (0, 1], never 0 (safe for log). */
export function uniform(h: number): number {
  return (h + 1) / 4294967296;
}

/** Standard normal from a hash (Box–Muller on two derived uniforms). */
export function gaussian(h: number): number {
  const u1 = uniform(h);
  const u2 = mix32(h ^ 0x68e31da4) / 4294967296;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(TWO_PI * u2);
}

/**
 * Values of one Brownian path (unit variance per second) at the given sorted, distinct integer seconds
 * in [0, 2^32]. Written into `out` in the same order.
 */
export function brownianAt(seed: number, stream: number, seconds: ArrayLike<number>, out: Float64Array): Float64Array {
  const n = seconds.length;
  if (n === 0) return out;
  const root = Math.sqrt(SPAN) * gaussian(hash4(seed, stream, 0xffff, 0));
  fill(0, SPAN, 0, root, SPAN_BITS, 0, n);
  return out;

  function fill(a: number, b: number, wa: number, wb: number, level: number, lo: number, hi: number): void {
    while (lo < hi && seconds[lo] === a) out[lo++] = wa;
    while (hi > lo && seconds[hi - 1] === b) out[--hi] = wb;
    if (lo >= hi) return;
    // Interior points exist, so b - a >= 2 and level >= 1.
    const span = b - a;
    const m = a + span / 2;
    const wm = (wa + wb) / 2 + (Math.sqrt(span) / 2) * gaussian(hash4(seed, stream, level, a / span));
    let mid = lo;
    let top = hi;
    while (mid < top) { // first index with seconds[i] >= m
      const probe = (mid + top) >>> 1;
      if ((seconds[probe] as number) < m) mid = probe + 1; else top = probe;
    }
    fill(a, m, wa, wm, level - 1, lo, mid);
    fill(m, b, wm, wb, level - 1, mid, hi);
  }
}

/** Largest second the paths cover (2106-02-07). */
export const MAX_SECOND = SPAN;
