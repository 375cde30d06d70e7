import { z } from 'zod';
import { viaMongo } from '../http/errors.js';
import type { JourneyDefinition } from '../core/journey-definition.js';
import type { Models } from '../db/models.js';
import { computeKpis, type Kpis } from './compute-kpis.js';
import { foldFunnel, reachedStages, type FunnelPlan, type FunnelStep } from './funnel.js';
import { foldTimeseries, KPI_INTERVALS, MAX_POINTS, periodCount, periodsOf, seriesRange, timeseriesEvents, type KpiTimeseries } from './kpi-timeseries.js';

/** What the KPI reports need to know of the journey definition the API serves. */
export interface KpiPlan extends FunnelPlan {
  name: string;
}

export function kpiPlanOf(definition: Pick<JourneyDefinition, 'name' | 'stages' | 'metrics'>): KpiPlan {
  return {
    name: definition.name,
    stages: definition.stages.map((s) => ({ id: s.id, ...(s.label ? { label: s.label } : {}) })),
    ...(definition.metrics.loyalStage ? { loyalStage: definition.metrics.loyalStage } : {}),
  };
}

export type KpisWithFunnel = Kpis & { funnel: FunnelStep[] };

const Instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'an ISO 8601 date (2026-01-31) or date-time with offset (2026-01-31T10:00:00Z)' })
  .transform((text) => Date.parse(text));

/** GET /v1/kpis/timeseries?interval=day|week&from&to: dates are UTC days, date-times any instant. */
export const KpiTimeseriesQuery = z
  .strictObject({
    interval: z.enum(KPI_INTERVALS, { error: 'interval is day or week' }).default('day'),
    from: Instant.optional(),
    to: Instant.optional(),
  })
  .superRefine((q, ctx) => {
    const to = q.to ?? Date.now();
    if (q.from === undefined) return;
    if (q.from > to) ctx.addIssue({ code: 'custom', path: ['from'], message: `from must not be after ${q.to === undefined ? 'now' : 'to'}` });
    else if (periodCount(q.from, to, q.interval) > MAX_POINTS) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: `at most ${MAX_POINTS} ${q.interval}s from from to to: shorten the range${q.interval === 'day' ? ' or use interval=week' : ''}` });
    }
  });
export type KpiTimeseriesQuery = z.infer<typeof KpiTimeseriesQuery>;

/**
 * The KPIs, the funnel and the rates over time, over the read model (journeys + journey_facts). MongoDB
 * outages surface as UpstreamUnavailable (503 at the edge).
 */
export class KpiReport {
  constructor(private readonly deps: { models: Models; plan: KpiPlan }) {}

  get plan(): KpiPlan {
    return this.deps.plan;
  }

  async kpis(): Promise<KpisWithFunnel> {
    const [kpis, reached] = await viaMongo(() => Promise.all([computeKpis(this.deps.models), reachedStages(this.deps.models)]));
    return { ...kpis, funnel: foldFunnel(this.deps.plan, reached, kpis.customers) };
  }

  async timeseries(query: KpiTimeseriesQuery, now = Date.now()): Promise<KpiTimeseries> {
    const events = await viaMongo(() => timeseriesEvents(this.deps.models, this.deps.plan.loyalStage ?? 'loyal'));
    const { from, to } = seriesRange(events, query, now);
    return {
      interval: query.interval,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      points: foldTimeseries(events, periodsOf(from, to, query.interval)),
    };
  }
}
