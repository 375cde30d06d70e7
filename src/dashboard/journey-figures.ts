import type { Models } from '../db/models.js';

export interface StageFigures {
  /** Customers standing in the stage now (the journeys read model). */
  now: number;
  /** Customers who entered it within the period. */
  entered: number;
}

export interface CampaignFigures {
  sent: number;
  skipped: number;
  heldOut: number;
  converted: number;
  /** Why steps were skipped, most frequent first (at most three). */
  topSkipReasons: Array<{ reason: string; n: number }>;
}

export interface JourneyFigures {
  since: Date | null;
  stages: Record<string, StageFigures>;
  campaigns: Record<string, CampaignFigures>;
}

const emptyCampaign = (): CampaignFigures => ({ sent: 0, skipped: 0, heldOut: 0, converted: 0, topSkipReasons: [] });

/** The live figures on the journey map: stages now and entered since `since`; per campaign since `since` (all time when null). */
export async function journeyFigures(models: Models, since: Date | null): Promise<JourneyFigures> {
  const when = since ? { at: { $gte: since } } : {};
  const [now, entered, messages, conversions] = await Promise.all([
    models.JourneyRecord.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$stage', n: { $sum: 1 } } }]),
    models.JourneyFactRecord.aggregate<{ _id: string; n: number }>([{ $match: { kind: 'stage', ...when } }, { $group: { _id: '$stage', n: { $sum: 1 } } }]),
    models.JourneyFactRecord.aggregate<{ _id: { campaignId: string; status: string; reason?: string | null }; n: number }>([
      { $match: { kind: 'message', ...when } },
      { $group: { _id: { campaignId: '$campaignId', status: '$status', reason: '$reason' }, n: { $sum: 1 } } },
    ]),
    models.JourneyFactRecord.aggregate<{ _id: string; n: number }>([{ $match: { kind: 'conversion', ...when } }, { $group: { _id: '$campaignId', n: { $sum: 1 } } }]),
  ]);
  const stages: Record<string, StageFigures> = {};
  const stage = (id: string) => (stages[id] ??= { now: 0, entered: 0 });
  for (const g of now) stage(g._id).now += g.n;
  for (const g of entered) stage(g._id).entered += g.n;
  const campaigns: Record<string, CampaignFigures> = {};
  const reasons = new Map<string, Map<string, number>>();
  const campaign = (id: string) => (campaigns[id] ??= emptyCampaign());
  for (const g of messages) {
    const c = campaign(g._id.campaignId);
    if (g._id.status === 'sent') c.sent += g.n;
    else if (g._id.status === 'holdout') c.heldOut += g.n;
    else if (g._id.status === 'skipped') {
      c.skipped += g.n;
      const byReason = reasons.get(g._id.campaignId) ?? new Map<string, number>();
      const reason = g._id.reason ?? '(no reason given)';
      byReason.set(reason, (byReason.get(reason) ?? 0) + g.n);
      reasons.set(g._id.campaignId, byReason);
    }
  }
  for (const [id, byReason] of reasons) {
    campaign(id).topSkipReasons = [...byReason].map(([reason, n]) => ({ reason, n })).sort((a, b) => b.n - a.n || a.reason.localeCompare(b.reason)).slice(0, 3);
  }
  for (const g of conversions) campaign(g._id).converted += g.n;
  return { since, stages, campaigns };
}
