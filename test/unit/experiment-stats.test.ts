import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import betaCdf from '@stdlib/stats-base-dists-beta-cdf';
import betaPdf from '@stdlib/stats-base-dists-beta-pdf';
import {
  compareGroups,
  differenceInterval,
  MIN_GROUP_SIZE,
  probabilityBBeatsA,
  probabilityToBeat,
  rateInterval,
  ratioInterval,
  wilsonInterval,
} from '../../src/kpis/experiment-stats.js';

const to4 = (i: { low: number; high: number }) => [Number(i.low.toFixed(4)), Number(i.high.toFixed(4))];

describe('experiment statistics', () => {
  // R. G. Newcombe, "Two-sided confidence intervals for the single proportion: comparison of seven methods",
  // Stat Med 17 (1998) 857-872, Table I, method 3 (Wilson score interval without continuity correction).
  test('Wilson intervals match the worked examples of Newcombe (1998a), Table I', () => {
    assert.deepEqual(to4(wilsonInterval(81, 263)), [0.2553, 0.3662]);
    assert.deepEqual(to4(wilsonInterval(15, 148)), [0.0624, 0.1605]);
    assert.deepEqual(to4(wilsonInterval(0, 20)), [0, 0.1611]);
    assert.deepEqual(to4(wilsonInterval(1, 29)), [0.0061, 0.1718]);
    assert.deepEqual(to4(wilsonInterval(29, 29)), [0.883, 1]);
  });

  // R. G. Newcombe, "Interval estimation for the difference between independent proportions: comparison of
  // eleven methods", Stat Med 17 (1998) 873-890, Table II, method 10 (hybrid score, no continuity correction).
  test('difference intervals match the worked examples of Newcombe (1998b), Table II, method 10', () => {
    const cases: Array<[number, number, number, number, [number, number]]> = [
      [56, 70, 48, 80, [0.0524, 0.3339]],
      [9, 10, 3, 10, [0.1705, 0.809]],
      [6, 7, 2, 7, [0.0582, 0.8062]],
      [5, 56, 0, 29, [-0.0381, 0.1926]],
      [0, 10, 0, 20, [-0.1611, 0.2775]],
      [0, 10, 0, 10, [-0.2775, 0.2775]],
      [10, 10, 0, 20, [0.6791, 1]],
      [10, 10, 0, 10, [0.6075, 1]],
    ];
    for (const [x1, n1, x2, n2, expected] of cases) assert.deepEqual(to4(differenceInterval(x1, n1, x2, n2)), expected, `${x1}/${n1} - ${x2}/${n2}`);
  });

  test('the ratio interval (MOVER-R) holds the estimate, turns over with the groups, and agrees with the log method on large groups', () => {
    const r = ratioInterval(56, 70, 48, 80)!;
    assert.ok(r.low < (56 / 70) / (48 / 80) && (56 / 70) / (48 / 80) < r.high);
    const back = ratioInterval(48, 80, 56, 70)!;
    assert.ok(Math.abs(back.low - 1 / r.high) < 1e-9 && Math.abs(back.high - 1 / r.low) < 1e-9, 'B/A is the reciprocal of A/B');
    // Katz's log method, fine for large counts: exp(ln(p1/p2) +- z sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2)).
    const [x1, n1, x2, n2] = [1200, 10_000, 1000, 10_000];
    const se = Math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2);
    const big = ratioInterval(x1, n1, x2, n2)!;
    assert.ok(Math.abs(big.low - 1.2 * Math.exp(-1.96 * se)) < 0.002 && Math.abs(big.high - 1.2 * Math.exp(1.96 * se)) < 0.002, JSON.stringify(big));
    assert.equal(ratioInterval(3, 40, 0, 40), undefined, 'no ratio over a rate of 0');
    assert.equal(ratioInterval(3, 40, 1, 40)!.high < Infinity, true);
  });

  // Evan Miller, "Formulas for Bayesian A/B Testing" (2015): P(pB > pA) in closed form.
  test('the probability that B beats A: exact small cases, symmetry, and numerical integration', () => {
    // pA ~ Beta(1, 2), pB ~ Beta(2, 1): the integral of 2x (2x - x^2) over [0, 1] is 5/6.
    assert.ok(Math.abs(probabilityBBeatsA(1, 2, 2, 1) - 5 / 6) < 1e-12);
    assert.ok(Math.abs(probabilityToBeat(1, 1, 0, 1) - 5 / 6) < 1e-12, '1 of 1 against 0 of 1 with the uniform prior');
    // pA ~ Beta(1, 1), pB ~ Beta(2, 1): the integral of 2x * x over [0, 1] is 2/3.
    assert.ok(Math.abs(probabilityBBeatsA(1, 1, 2, 1) - 2 / 3) < 1e-12);
    assert.ok(Math.abs(probabilityToBeat(17, 60, 17, 60) - 0.5) < 1e-9, 'the same data: even');
    for (const [xB, nB, xA, nA] of [
      [120, 1000, 100, 1000],
      [4, 35, 9, 41],
      [250, 2000, 30, 300],
    ] as const) {
      const exact = probabilityToBeat(xB, nB, xA, nA);
      // P(B > A) = integral of f_B(x) F_A(x) dx, by Simpson's rule on 20,000 intervals (stdlib's Beta pdf and cdf).
      const steps = 20_000;
      let sum = 0;
      for (let k = 0; k <= steps; k++) {
        const x = k / steps;
        const w = k === 0 || k === steps ? 1 : k % 2 === 1 ? 4 : 2;
        sum += w * betaPdf(x, 1 + xB, 1 + nB - xB) * betaCdf(x, 1 + xA, 1 + nA - xA);
      }
      const integrated = sum / (3 * steps);
      assert.ok(Math.abs(exact - integrated) < 1e-6, `${xB}/${nB} vs ${xA}/${nA}: ${exact} against ${integrated}`);
      assert.ok(Math.abs(exact + probabilityToBeat(xA, nA, xB, nB) - 1) < 1e-9, 'P(B > A) + P(A > B) = 1');
    }
  });

  test('a comparison says "not enough data" below the minimum, and gives rounded figures above it', () => {
    assert.deepEqual(compareGroups({ converted: 3, size: 50 }, { converted: 1, size: MIN_GROUP_SIZE - 1 }, 'holdout'), {
      against: 'holdout',
      enoughData: false,
      minimumGroupSize: MIN_GROUP_SIZE,
    });
    const c = compareGroups({ converted: 56, size: 70 }, { converted: 48, size: 80 }, 'holdout');
    assert.ok(c.enoughData);
    assert.equal(c.difference, 20);
    assert.deepEqual(c.differenceInterval, { low: 5.2, high: 33.4 });
    assert.equal(c.lift, 33.3);
    assert.ok(c.liftInterval && c.liftInterval.low === 7.8 && c.liftInterval.high === 66.3, JSON.stringify(c.liftInterval));
    assert.ok(c.probabilityToBeat > 0.99 && c.probabilityToBeat <= 1);
    assert.deepEqual(rateInterval({ converted: 81, size: 263 }), { low: 25.5, high: 36.6 });
    assert.equal(rateInterval({ converted: 0, size: 0 }), null);
    assert.deepEqual(rateInterval({ converted: 5, size: 3 }), { low: 43.9, high: 100 }, 'conversions beyond the group size are capped');
  });
});
