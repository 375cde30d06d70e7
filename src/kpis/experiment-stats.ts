import betaln from '@stdlib/math-base-special-betaln';

/**
 * The arithmetic of experiments with confidence: a conversion rate's interval, the difference and the lift
 * between two groups with their intervals, and the probability that one group's true rate beats the other's.
 * Pure and deterministic (no sampling). Sources, with the worked examples the unit tests check:
 *
 * - Wilson score interval for one proportion: E. B. Wilson (1927); R. G. Newcombe, "Two-sided confidence
 *   intervals for the single proportion: comparison of seven methods", Stat Med 17 (1998) 857-872, method 3.
 * - Difference of two independent proportions, the hybrid score interval built from the two Wilson
 *   intervals: R. G. Newcombe, "Interval estimation for the difference between independent proportions:
 *   comparison of eleven methods", Stat Med 17 (1998) 873-890, method 10.
 * - Ratio of two proportions (the lift is ratio - 1), MOVER-R from the two Wilson intervals: A. Donner and
 *   G. Y. Zou, "Closed-form confidence intervals for functions of the normal mean and standard deviation",
 *   Stat Methods Med Res 21 (2012) 347-359, and Newcombe, "Confidence Intervals for Proportions and Related
 *   Measures of Effect Size" (2013), ch. 10 (the same Newcombe family as the difference).
 * - Probability that B beats A with independent Beta posteriors: the closed-form sum in Evan Miller,
 *   "Formulas for Bayesian A/B Testing" (2015), after J. D. Cook, "Exact calculation of beta inequalities"
 *   (2005); with the uniform prior Beta(1, 1) the posterior of x conversions in n is Beta(1 + x, 1 + n - x).
 */

/** The normal quantile for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/**
 * Below this many customers in either group (messages sent, or customers held out) a comparison says "not
 * enough data" instead of intervals and a probability: with fewer, the intervals are too wide to act on and a
 * marketer reads noise (the simulator once showed a lift of -43% from 7 held-out customers).
 */
export const MIN_GROUP_SIZE = 30;

/** The Beta prior of every conversion rate: uniform, Beta(1, 1) (stated with the figures). */
export const PRIOR = { alpha: 1, beta: 1 } as const;

export interface Interval {
  low: number;
  high: number;
}

function checkCounts(x: number, n: number): void {
  if (!Number.isInteger(x) || !Number.isInteger(n) || n < 1 || x < 0 || x > n) throw new RangeError(`need whole numbers 0 <= x <= n, n >= 1; got ${x} of ${n}`);
}

/** Wilson score interval of x successes in n trials (proportions, 0 to 1). */
export function wilsonInterval(x: number, n: number, z = Z95): Interval {
  checkCounts(x, n);
  const p = x / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  // At x = 0 or x = n one end is exactly 0 or 1; the formula gets there up to rounding.
  return { low: x === 0 ? 0 : Math.max(0, centre - half), high: x === n ? 1 : Math.min(1, centre + half) };
}

/** Newcombe's hybrid score interval of p1 - p2 (method 10), from x1 of n1 and x2 of n2. */
export function differenceInterval(x1: number, n1: number, x2: number, n2: number, z = Z95): Interval {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const a = wilsonInterval(x1, n1, z);
  const b = wilsonInterval(x2, n2, z);
  const d = p1 - p2;
  return {
    low: d - Math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
    high: d + Math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2),
  };
}

/**
 * MOVER-R interval of the ratio p1 / p2 from the two Wilson intervals; undefined when p2 is 0 (no ratio).
 * `high` is Infinity when the lower Wilson limit of p2 is 0.
 */
export function ratioInterval(x1: number, n1: number, x2: number, n2: number, z = Z95): Interval | undefined {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  if (x2 === 0) return undefined;
  const a = wilsonInterval(x1, n1, z);
  const b = wilsonInterval(x2, n2, z);
  const product = p1 * p2;
  const lowRoot = Math.max(0, product ** 2 - a.low * b.high * (2 * p1 - a.low) * (2 * p2 - b.high));
  const highRoot = Math.max(0, product ** 2 - a.high * b.low * (2 * p1 - a.high) * (2 * p2 - b.low));
  const lowDenominator = b.high * (2 * p2 - b.high);
  const highDenominator = b.low * (2 * p2 - b.low);
  return {
    low: Math.max(0, (product - Math.sqrt(lowRoot)) / lowDenominator),
    high: highDenominator > 0 ? (product + Math.sqrt(highRoot)) / highDenominator : Infinity,
  };
}

/**
 * P(pB > pA) for independent pA ~ Beta(aA, bA) and pB ~ Beta(aB, bB) with whole-number aB (Evan Miller's
 * closed form): sum over i < aB of B(aA + i, bA + bB) / ((bB + i) B(1 + i, bB) B(aA, bA)), in logs.
 */
export function probabilityBBeatsA(aA: number, bA: number, aB: number, bB: number): number {
  if (!Number.isInteger(aB) || aB < 1) throw new RangeError(`aB must be a whole number from 1, got ${aB}`);
  const base = betaln(aA, bA);
  let total = 0;
  for (let i = 0; i < aB; i++) total += Math.exp(betaln(aA + i, bA + bB) - Math.log(bB + i) - betaln(1 + i, bB) - base);
  return Math.min(1, Math.max(0, total));
}

/**
 * The probability that group B's true conversion rate is higher than group A's, given xB of nB and xA of nA
 * and the uniform prior. Sums over the smaller count of conversions (P(B > A) = 1 - P(A > B): ties have
 * probability 0), so it costs at most min(xA, xB) + 1 terms.
 */
export function probabilityToBeat(xB: number, nB: number, xA: number, nA: number): number {
  checkCounts(xB, nB);
  checkCounts(xA, nA);
  const a = { alpha: PRIOR.alpha + xA, beta: PRIOR.beta + nA - xA };
  const b = { alpha: PRIOR.alpha + xB, beta: PRIOR.beta + nB - xB };
  if (b.alpha <= a.alpha) return probabilityBBeatsA(a.alpha, a.beta, b.alpha, b.beta);
  return 1 - probabilityBBeatsA(b.alpha, b.beta, a.alpha, a.beta);
}

/** One group of an experiment: conversions among the customers it counts (messages sent, or customers held out). */
export interface Group {
  converted: number;
  size: number;
}

/** How a group compares with another (a variant with the holdout, or with another variant); percentages to 1 decimal. */
export type Comparison =
  | { against: string; enoughData: false; minimumGroupSize: number }
  | {
      against: string;
      enoughData: true;
      minimumGroupSize: number;
      /** This group's rate minus the other's, in percentage points, with Newcombe's hybrid score 95% interval. */
      difference: number;
      differenceInterval: Interval;
      /** (rate / other rate - 1) x 100 with the MOVER-R 95% interval (Wilson limits); null when the other rate is 0; `high` null when unbounded. */
      lift: number | null;
      liftInterval: { low: number; high: number | null } | null;
      /** P(this group's true rate > the other's), Beta(1, 1) prior, exact; 3 decimals. */
      probabilityToBeat: number;
    };

const round1 = (v: number) => Math.round(v * 10) / 10;
const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** A group's counts as binomial counts: conversions above the group's size (several goals of one message) are capped. */
function counts(g: Group): { x: number; n: number } {
  return { x: Math.min(g.converted, g.size), n: g.size };
}

/** The 95% Wilson interval of a group's conversion rate in percent (1 decimal), null for an empty group. */
export function rateInterval(g: Group): Interval | null {
  if (g.size < 1) return null;
  const { x, n } = counts(g);
  const w = wilsonInterval(x, n);
  return { low: round1(w.low * 100), high: round1(w.high * 100) };
}

/** Group B against group A ("against" names A), or "not enough data" when either has fewer than MIN_GROUP_SIZE. */
export function compareGroups(b: Group, a: Group, against: string): Comparison {
  if (a.size < MIN_GROUP_SIZE || b.size < MIN_GROUP_SIZE) return { against, enoughData: false, minimumGroupSize: MIN_GROUP_SIZE };
  const B = counts(b);
  const A = counts(a);
  const d = differenceInterval(B.x, B.n, A.x, A.n);
  const ratio = ratioInterval(B.x, B.n, A.x, A.n);
  return {
    against,
    enoughData: true,
    minimumGroupSize: MIN_GROUP_SIZE,
    difference: round1((B.x / B.n - A.x / A.n) * 100),
    differenceInterval: { low: round1(d.low * 100), high: round1(d.high * 100) },
    lift: A.x === 0 ? null : round1(((B.x / B.n / (A.x / A.n)) - 1) * 100),
    liftInterval: ratio ? { low: round1((ratio.low - 1) * 100), high: Number.isFinite(ratio.high) ? round1((ratio.high - 1) * 100) : null } : null,
    probabilityToBeat: round3(probabilityToBeat(B.x, B.n, A.x, A.n)),
  };
}
