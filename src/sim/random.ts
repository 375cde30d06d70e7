/**
 * Seeded randomness for the simulator: plain functions over a 32-bit state carried as a number, so the
 * state is JSON (it travels in workflow state and through continue-as-new) and a draw is deterministic.
 * Safe in workflow code: no Math.random, no clock.
 */

import { hash32 } from '../core/ids.js';

/** The core's hash of text, which seeds draws from (seed, customer, purpose). */
export { hash32 };

/** The state of an independent stream for `parts` (say seed, customer index and a purpose). */
export function seedOf(...parts: Array<string | number>): number {
  return hash32(parts.join('\u0000'));
}

/** One mulberry32 step: the next state and a uniform draw in [0, 1). */
export function next(state: number): [number, number] {
  const s = (state + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [s, ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296];
}

/**
 * A stream of draws over a mutable holder, for code that makes several draws in a row. The holder is the
 * only state: write `rng.state` back where it is kept.
 */
export class Rng {
  constructor(public state: number) {}

  /** Uniform in [0, 1). */
  uniform(): number {
    const [state, u] = next(this.state);
    this.state = state;
    return u;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.uniform() < p;
  }

  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** Exponentially distributed with this mean (0 for a mean of 0). */
  exponential(mean: number): number {
    if (mean <= 0) return 0;
    return -Math.log(1 - this.uniform()) * mean;
  }

  /** Index picked by weight (weights need not sum to 1). */
  weighted(weights: number[]): number {
    const total = weights.reduce((sum, w) => sum + w, 0);
    let u = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i]!;
      if (u < 0) return i;
    }
    return weights.length - 1;
  }
}

/** Probability of at least one occurrence in `periods` periods at `perPeriod` each. */
export function within(perPeriod: number, periods: number): number {
  if (perPeriod <= 0 || periods <= 0) return 0;
  if (perPeriod >= 1) return 1;
  return 1 - Math.pow(1 - perPeriod, periods);
}
