import type { Models } from '../db/models.js';
import { compareGroups, rateInterval, type Comparison, type Interval } from './experiment-stats.js';

/** The variant name shown for messages and conversions of a campaign that runs no experiment. */
export const DEFAULT_VARIANT = 'default';
export const HOLDOUT_VARIANT = 'holdout';

export interface CampaignVariantKpis {
  /** The experiment variant; 'default' when the campaign runs no experiment, 'holdout' for the holdout group. */
  variant: string;
  sent: number;
  skipped: number;
  failed: number;
  cancelled: number;
  /** Customers held out (message facts of the holdout variant, whatever their status). */
  holdout: number;
  converted: number;
  /** converted / sent x 100 (holdout row: converted / holdout x 100), 1 decimal; null without a denominator. */
  conversionRate: number | null;
  /** (rate - holdout rate) / holdout rate x 100, 1 decimal; null without a holdout, a holdout rate of 0, or on the holdout row. */
  lift: number | null;
  /** The conversion rate's 95% Wilson score interval, percent to 1 decimal; null without a denominator. */
  conversionRateInterval: Interval | null;
  /**
   * For an experiment variant: P(its true conversion rate beats the holdout's), Beta(1, 1) prior, exact, 3
   * decimals; null without a holdout, on the holdout and default rows, and with "not enough data" (either
   * group under MIN_GROUP_SIZE customers).
   */
  probabilityToBeatHoldout: number | null;
  /**
   * An experiment variant against the holdout (first) and against each other variant: the difference with
   * Newcombe's hybrid score interval, the lift with its MOVER-R interval, the probability to beat; or "not
   * enough data" (src/kpis/experiment-stats.ts). Empty on the holdout and default rows.
   */
  comparisons: Comparison[];
  /**
   * Messages SendGrid reported delivered, bounced (hard bounce or blocked), opened and clicked (its Event
   * Webhook, as `email` facts: each message counts once per kind, however often it was opened).
   */
  delivered: number;
  bounced: number;
  opened: number;
  clicked: number;
  /** delivered / sent x 100, 1 decimal; null when nothing was sent. */
  deliveryRate: number | null;
  /** opened / delivered x 100, and clicked / delivered x 100, 1 decimal; null when nothing was delivered. */
  openRate: number | null;
  clickRate: number | null;
}

export interface CampaignKpis {
  campaignId: string;
  variants: CampaignVariantKpis[];
}

export interface Kpis {
  /** Journeys in the read model. */
  customers: number;
  customersPerStage: Record<string, number>;
  rates: {
    /** paying / customers x 100 */
    activation: number | null;
    /** repeat / paying x 100 */
    repeatCustomer: number | null;
    /** loyal / repeat x 100 */
    loyalCustomer: number | null;
  };
  counts: {
    /** payments >= 1 */
    paying: number;
    /** payments >= 2 */
    repeat: number;
    /** stage is 'loyal' */
    loyal: number;
    /** reactivations >= 1 */
    reactivated: number;
  };
  /** Sorted by campaignId; variants alphabetically with the holdout last. */
  campaigns: CampaignKpis[];
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** part / whole x 100 to 1 decimal, null when there is nothing to divide by. */
export function percent(part: number, whole: number): number | null {
  return whole > 0 ? round1((part / whole) * 100) : null;
}

export interface JourneyGroup {
  _id: { stage?: string; payments?: number | null };
  n: number;
}
export interface FactGroup {
  _id: { kind: 'message' | 'conversion' | 'email'; campaignId?: string | null; variant?: string | null; status?: string | null; event?: string | null };
  n: number;
}

/**
 * The KPIs over the read model, computed in MongoDB by grouping on raw fields ($match/$group/$sum only:
 * FerretDB 1.x implements neither $cond nor $facet), then folded here over a handful of groups.
 */
export async function computeKpis(models: Models): Promise<Kpis> {
  const [journeyGroups, reactivated, factGroups] = await Promise.all([
    models.JourneyRecord.aggregate<JourneyGroup>([{ $group: { _id: { stage: '$stage', payments: '$payments' }, n: { $sum: 1 } } }]),
    models.JourneyRecord.countDocuments({ reactivations: { $gte: 1 } }),
    models.JourneyFactRecord.aggregate<FactGroup>([
      { $match: { kind: { $in: ['message', 'conversion', 'email'] } } },
      { $group: { _id: { kind: '$kind', campaignId: '$campaignId', variant: '$variant', status: '$status', event: '$event' }, n: { $sum: 1 } } },
    ]),
  ]);
  return foldKpis(journeyGroups, reactivated, factGroups);
}

/**
 * The KPIs from the aggregation's groups: journeys by (stage, payments), the reactivated count, and
 * message, conversion and email facts by (kind, campaign, variant, status, event). Pure, so the simulator folds groups
 * it built in memory exactly as GET /v1/kpis does.
 */
export function foldKpis(journeyGroups: JourneyGroup[], reactivated: number, factGroups: FactGroup[]): Kpis {
  let customers = 0;
  let paying = 0;
  let repeat = 0;
  let loyal = 0;
  const customersPerStage: Record<string, number> = {};
  for (const { _id, n } of journeyGroups) {
    const stage = _id.stage ?? 'unknown';
    const payments = _id.payments ?? 0;
    customers += n;
    customersPerStage[stage] = (customersPerStage[stage] ?? 0) + n;
    if (payments >= 1) paying += n;
    if (payments >= 2) repeat += n;
    if (stage === 'loyal') loyal += n;
  }

  return {
    customers,
    customersPerStage: Object.fromEntries(Object.entries(customersPerStage).sort(([a], [b]) => a.localeCompare(b))),
    rates: {
      activation: percent(paying, customers),
      repeatCustomer: percent(repeat, paying),
      loyalCustomer: percent(loyal, repeat),
    },
    counts: { paying, repeat, loyal, reactivated },
    campaigns: campaignKpis(factGroups),
  };
}

type Tally = Omit<CampaignVariantKpis, 'conversionRate' | 'lift' | 'deliveryRate' | 'openRate' | 'clickRate' | 'conversionRateInterval' | 'probabilityToBeatHoldout' | 'comparisons'>;

/** The email facts counted, by the journey's name for the SendGrid event. */
const EMAIL_COUNTS = { delivered: 'delivered', bounced: 'bounced', opened: 'opened', clicked: 'clicked' } as const;

function campaignKpis(groups: FactGroup[]): CampaignKpis[] {
  const campaigns = new Map<string, Map<string, Tally>>();
  for (const { _id, n } of groups) {
    if (!_id.campaignId) continue;
    const variant = _id.variant ?? DEFAULT_VARIANT; // null and missing group apart: merge them here
    let variants = campaigns.get(_id.campaignId);
    if (!variants) campaigns.set(_id.campaignId, (variants = new Map()));
    let t = variants.get(variant);
    if (!t) {
      t = { variant, sent: 0, skipped: 0, failed: 0, cancelled: 0, holdout: 0, converted: 0, delivered: 0, bounced: 0, opened: 0, clicked: 0 };
      variants.set(variant, t);
    }
    if (_id.kind === 'conversion') {
      t.converted += n;
      continue;
    }
    if (_id.kind === 'email') {
      const counted = EMAIL_COUNTS[_id.event as keyof typeof EMAIL_COUNTS];
      if (counted) t[counted] += n;
      continue;
    }
    if (variant === HOLDOUT_VARIANT) t.holdout += n;
    if (_id.status === 'sent') t.sent += n;
    else if (_id.status === 'skipped') t.skipped += n;
    else if (_id.status === 'failed') t.failed += n;
    else if (_id.status === 'cancelled') t.cancelled += n;
  }

  const rawRate = (t: Tally): number | null => {
    const base = t.variant === HOLDOUT_VARIANT ? t.holdout : t.sent;
    return base > 0 ? (t.converted / base) * 100 : null;
  };
  const group = (t: Tally) => ({ converted: t.converted, size: t.variant === HOLDOUT_VARIANT ? t.holdout : t.sent });
  const order = (a: string, b: string) => Number(a === HOLDOUT_VARIANT) - Number(b === HOLDOUT_VARIANT) || a.localeCompare(b);

  return [...campaigns.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([campaignId, variants]) => {
      const holdout = variants.get(HOLDOUT_VARIANT);
      const holdoutRate = holdout ? rawRate(holdout) : null;
      // Experiment variants: every variant but the holdout and the default row (messages of no variant).
      const arms = [...variants.values()].filter((t) => t.variant !== HOLDOUT_VARIANT && t.variant !== DEFAULT_VARIANT).sort((a, b) => order(a.variant, b.variant));
      return {
        campaignId,
        variants: [...variants.values()]
          .sort((a, b) => order(a.variant, b.variant))
          .map((t) => {
            const rate = rawRate(t);
            const lift =
              t.variant !== HOLDOUT_VARIANT && rate !== null && holdoutRate !== null && holdoutRate > 0
                ? round1(((rate - holdoutRate) / holdoutRate) * 100)
                : null;
            const isArm = arms.includes(t);
            const comparisons = isArm
              ? [
                  ...(holdout ? [compareGroups(group(t), group(holdout), HOLDOUT_VARIANT)] : []),
                  ...arms.filter((other) => other !== t).map((other) => compareGroups(group(t), group(other), other.variant)),
                ]
              : [];
            const vsHoldout = holdout && isArm ? comparisons[0] : undefined;
            return {
              ...t,
              conversionRate: rate === null ? null : round1(rate),
              lift,
              conversionRateInterval: rateInterval(group(t)),
              probabilityToBeatHoldout: vsHoldout?.enoughData ? vsHoldout.probabilityToBeat : null,
              comparisons,
              deliveryRate: percent(t.delivered, t.sent),
              openRate: percent(t.opened, t.delivered),
              clickRate: percent(t.clicked, t.delivered),
            };
          }),
      };
    });
}
