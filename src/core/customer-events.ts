import { countTraitEvent, emptyComputedState } from './computed-traits.js';
import { startCampaign } from './campaigns.js';
import type { TrackedEvent } from './journey-state.js';
import { followEvent } from './stages.js';
import { armOnEvent, disarmTimer } from './timers.js';
import { firingTrigger, matchesEvent, triggerFires } from './triggers.js';
import { campaignById, cancelDeadline, nextFactId, type Ctx } from './reducer-context.js';

/**
 * A customer's event applied to the journey, in this order: activity, attributes, counters, consent,
 * computed traits, goal conversions, exits, timers cancelled, the stage transition, timers armed, and the
 * campaigns it triggers.
 */

/** The name of a track call; page and screen views are matched only where a definition says `call:`. */
function trackName(event: TrackedEvent): string | undefined {
  return (event.type ?? 'track') === 'track' ? event.event : undefined;
}

export function applyEvent(ctx: Ctx, event: TrackedEvent, at: number): void {
  const { plan, s } = ctx;
  s.stats.events += 1;
  const name = trackName(event);
  // A page or screen view is activity; a track call is unless the definition ignores its name.
  const isActivity = name === undefined || !plan.activity.ignore.includes(name);
  if (isActivity) s.lastActivityAt = at;

  for (const attribute of plan.attributes) {
    for (const source of attribute.setFrom) {
      const value = event.properties?.[source.property];
      if (source.event === name && typeof value === 'string' && value.length > 0 && (!attribute.values || attribute.values.includes(value))) {
        if (s.attributes[attribute.id] !== value) ctx.snapshotDirty = true;
        s.attributes[attribute.id] = value;
      }
    }
  }

  const reached: Array<{ counter: string; value: number }> = [];
  for (const counter of plan.counters) {
    if (counter.on.some((m) => matchesEvent(m, event))) {
      const value = (s.counters[counter.id] ?? 0) + 1;
      s.counters[counter.id] = value;
      reached.push({ counter: counter.id, value });
      if (counter.id === plan.metrics.paymentCounter) {
        ctx.snapshotDirty = true;
        ctx.facts.push({ kind: 'payment', id: nextFactId(ctx), userId: s.userId, at, payments: value });
      }
    }
  }

  if (name !== undefined && plan.consent.unsubscribeOn.includes(name) && !s.marketingOptOut) {
    s.marketingOptOut = true;
    ctx.snapshotDirty = true;
  }
  if (name !== undefined && plan.consent.resubscribeOn.includes(name)) s.marketingOptOut = false;

  const traits = plan.computedTraits ?? [];
  if (traits.length > 0 && name !== undefined) countTraitEvent(traits, (s.computed ??= emptyComputedState()), event, at);

  if (name !== undefined) attributeConversions(ctx, event, at);

  for (const d of [...s.deadlines]) {
    if (d.kind === 'campaign' && name !== undefined && campaignById(plan, d.campaignId)?.exitOn.events.includes(name)) {
      cancelDeadline(ctx, d, at, `exited: "${event.event}" arrived`);
    }
  }
  for (const timer of plan.timers) {
    if (name !== undefined && timer.cancelOn.includes(name)) disarmTimer(ctx, timer, at, `"${event.event}" arrived`);
  }

  followEvent(ctx, event, isActivity, at);

  armOnEvent(ctx, event, isActivity, at);

  for (const campaign of plan.campaigns) {
    const byEvent = firingTrigger(campaign.trigger, 'event', { kind: 'event', event });
    const byCounter = campaign.trigger.find(
      (t): t is Extract<typeof t, { kind: 'counter' }> => t.kind === 'counter' && reached.some((r) => triggerFires(t, { kind: 'counterReached', ...r })),
    );
    if (byEvent) startCampaign(ctx, campaign, at, `event "${event.event}"`, event.properties);
    else if (byCounter) startCampaign(ctx, campaign, at, `${byCounter.counter} reached ${s.counters[byCounter.counter]}`);
  }
}

function attributeConversions(ctx: Ctx, event: TrackedEvent, at: number): void {
  const { plan, s } = ctx;
  for (const campaign of plan.campaigns) {
    if (!campaign.goal || campaign.goal.event !== event.event) continue;
    const within = campaign.goal.within;
    const last = [...s.messages]
      .reverse()
      .find((m) => m.campaignId === campaign.id && (m.status === 'sent' || m.status === 'holdout') && m.at <= at && at - m.at <= within);
    if (!last || last.convertedAt !== undefined) continue;
    last.convertedAt = at;
    ctx.facts.push({
      kind: 'conversion',
      id: nextFactId(ctx),
      userId: s.userId,
      at,
      campaignId: campaign.id,
      variant: last.variant ?? null,
      goalEvent: event.event,
      messageKey: last.key,
    });
  }
}

