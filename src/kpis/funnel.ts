import type { Models } from '../db/models.js';
import { percent } from './compute-kpis.js';

/** What the funnel needs to know of a journey definition. */
export interface FunnelPlan {
  /** The stages in the definition's order. */
  stages: Array<{ id: string; label?: string | undefined }>;
  /** The definition's loyal stage (metrics.loyalStage): the funnel's last step; the stages listed after it are exits. */
  loyalStage?: string | undefined;
}

export interface FunnelStep {
  stage: string;
  label: string;
  /** Customers who ever reached the stage (a stage fact into it), whatever happened after. */
  reached: number;
  /** reached / reached of the previous step x 100, 1 decimal; null on the first step, on exits, or without a previous count. */
  conversion: number | null;
  /** reached / customers x 100, 1 decimal; null without customers. */
  shareOfCustomers: number | null;
  /** 'step' on the way from the first stage to the loyal stage; 'exit' for the stages listed after it (lapsed, churned). */
  kind: 'step' | 'exit';
}

/** Customers who ever reached each stage. */
export interface ReachedGroup {
  stage: string;
  n: number;
}

/**
 * The funnel in the definition's order, from customers-per-stage-ever-reached counts. Pure, so in-memory
 * counts (a simulation) fold the same way as the aggregation's. Stages the definition no longer lists are
 * left out; a definition without a loyal stage is one funnel of every stage.
 */
export function foldFunnel(plan: FunnelPlan, reached: readonly ReachedGroup[], customers: number): FunnelStep[] {
  const counts = new Map<string, number>();
  for (const { stage, n } of reached) counts.set(stage, (counts.get(stage) ?? 0) + n);
  const lastStep = plan.loyalStage ? plan.stages.findIndex((s) => s.id === plan.loyalStage) : -1;
  let previous: number | undefined;
  return plan.stages.map((s, i) => {
    const n = counts.get(s.id) ?? 0;
    const kind = lastStep >= 0 && i > lastStep ? 'exit' : 'step';
    const conversion = kind === 'step' && previous !== undefined ? percent(n, previous) : null;
    if (kind === 'step') previous = n;
    return { stage: s.id, label: s.label ?? s.id, reached: n, conversion, shareOfCustomers: percent(n, customers), kind };
  });
}

/**
 * Customers per stage ever reached, in MongoDB: one group per (stage, customer), then per stage
 * ($match/$group/$sum only, as FerretDB 1.x implements them).
 */
export async function reachedStages(models: Models): Promise<ReachedGroup[]> {
  const groups = await models.JourneyFactRecord.aggregate<{ _id: string | null; n: number }>([
    { $match: { kind: 'stage' } },
    { $group: { _id: { stage: '$stage', userId: '$userId' } } },
    { $group: { _id: '$_id.stage', n: { $sum: 1 } } },
  ]);
  return groups.filter((g): g is { _id: string; n: number } => typeof g._id === 'string').map((g) => ({ stage: g._id, n: g.n }));
}
