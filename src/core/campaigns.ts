import { routingOf } from './channel-routing.js';
import { formatDuration } from './duration.js';
import type { Campaign } from './journey-definition.js';
import { failedCondition } from './conditions.js';
import { learnedHourOf } from './engagement.js';
import { describeSuppression } from './email-events.js';
import { bucketOf, deliveryKey } from './ids.js';
import type { JourneyInput, MessageRecord } from './journey-state.js';
import {
  DAY,
  LIMITS,
  campaignById,
  countDelivered,
  messageFact,
  nextFactId,
  pushMessage,
  timerDeadline,
  type CampaignDeadline,
  type Ctx,
} from './reducer-context.js';

/**
 * Campaigns in a journey: started (one deadline per step, within the campaign's limit), fired when a step
 * falls due (audience, conditions, consent, caps, offers, experiment variant, then a `deliver` command),
 * and settled by the delivery's outcome (sent, skipped, failed, or deferred back onto the calendar).
 */

export function stepOffset(campaign: Campaign, step: number): number {
  return campaign.steps?.[step]?.after ?? 0;
}

/** Start a campaign for this customer: one deadline per step, unless its limit says it already ran. */
export function startCampaign(
  ctx: Ctx,
  campaign: Campaign,
  at: number,
  because: string,
  eventProperties?: Record<string, unknown>,
  timerId?: string,
  opts: { broadcast?: boolean } = {},
): void {
  const { s } = ctx;
  // Eligibility is checked when the campaign would start (silently) and again when each step is due; a
  // step tied to a timer lies in the future, so only its due-time check applies.
  if (!timerId && failedCondition(s, campaign.conditions, at) !== undefined) return;
  // A customer who unsubscribed is not started on new marketing (steps already scheduled say why they
  // skip). A broadcast that reached them is recorded as skipped, so support sees why it never came.
  if (campaign.kind === 'marketing' && s.marketingOptOut && !opts.broadcast) return;
  const starts = s.campaignStarts[campaign.id];
  const running = s.deadlines.some((d) => d.kind === 'campaign' && d.campaignId === campaign.id) || s.messages.some((m) => m.campaignId === campaign.id && m.status === 'pending');
  // "once" means delivered once: a start whose step was skipped (left the audience, capped) does not use it up.
  if (campaign.limit === 'once' && (running || (starts?.delivered ?? 0) > 0)) return;
  if (campaign.limit === 'oncePerStageEntry' && starts && starts.stageEnteredAt === s.stageEnteredAt) return;
  if (campaign.limit === 'notWhileRunning' && running) return;
  s.campaignStarts[campaign.id] = { count: (starts?.count ?? 0) + 1, stageEnteredAt: s.stageEnteredAt, delivered: starts?.delivered ?? 0 };
  const steps = campaign.steps ?? [{ after: 0 }];
  steps.forEach((stepDef, step) => {
    const occurrence = (s.occurrences[campaign.id] ?? 0) + 1;
    s.occurrences[campaign.id] = occurrence;
    s.deadlines.push({
      kind: 'campaign',
      key: `campaign:${campaign.id}#${occurrence}`,
      campaignId: campaign.id,
      occurrence,
      summary: `send ${campaign.name}${steps.length > 1 ? ` (${step + 1}/${steps.length})` : ''}`,
      at: at + campaign.delay + stepDef.after,
      scheduledAt: s.clock,
      because,
      step,
      deferrals: 0,
      ...(timerId ? { timerId } : {}),
      ...(eventProperties ? { eventProperties } : {}),
    });
  });
}

function variantFor(ctx: Ctx, campaign: Campaign, at: number): string | undefined {
  const { s } = ctx;
  const experiment = campaign.experiment;
  if (!experiment) return undefined;
  const known = s.assignments[campaign.id];
  if (known) return known;
  const u = bucketOf(s.userId, campaign.id);
  let variant: string;
  if (u < experiment.holdout) variant = 'holdout';
  else {
    const v = (u - experiment.holdout) / (1 - experiment.holdout);
    const total = experiment.variants.reduce((sum, x) => sum + x.weight, 0);
    let acc = 0;
    variant = experiment.variants[experiment.variants.length - 1]!.id;
    for (const x of experiment.variants) {
      acc += x.weight / total;
      if (v < acc) {
        variant = x.id;
        break;
      }
    }
  }
  s.assignments[campaign.id] = variant;
  ctx.facts.push({ kind: 'assignment', id: nextFactId(ctx), userId: s.userId, at, campaignId: campaign.id, variant });
  return variant;
}

/** A campaign step falls due: skipped with the reason, kept back for a holdout, or handed to the delivery. */
export function fireCampaign(ctx: Ctx, due: CampaignDeadline, at: number): void {
  const { plan, s } = ctx;
  const campaign = campaignById(plan, due.campaignId);
  const chosen: { variant?: string } = {};
  const record = (status: MessageRecord['status'], reason?: string): MessageRecord => {
    const message: MessageRecord = {
      key: deliveryKey(s.userId, due.campaignId, due.occurrence),
      campaignId: due.campaignId,
      occurrence: due.occurrence,
      kind: campaign?.kind ?? 'marketing',
      status,
      dueAt: due.at,
      at,
      ...(reason ? { reason } : {}),
      ...(chosen.variant ? { variant: chosen.variant } : {}),
    };
    pushMessage(ctx, message);
    return message;
  };
  if (!campaign) {
    record('cancelled', 'campaign is no longer in the journey definition');
    return;
  }
  const late = ctx.now - due.at;
  const maxLateness = campaign.maxLateness ?? (campaign.kind === 'marketing' ? DAY : Infinity);
  if (late > maxLateness) {
    record('skipped', `missed its moment: due ${new Date(due.at).toISOString()}, ${formatDuration(late)} late`);
    return;
  }
  if (campaign.audience.stages && !campaign.audience.stages.includes(s.stage)) {
    record('skipped', `left the audience: stage is ${s.stage}, campaign is for ${campaign.audience.stages.join(', ')}`);
    return;
  }
  const unmet = failedCondition(s, campaign.conditions, at);
  if (unmet) {
    record('skipped', `conditions not met: ${unmet}`);
    return;
  }
  if (s.emailSuppressed && campaign.message.channel === 'email') {
    record('skipped', describeSuppression(s.emailSuppressed));
    return;
  }
  if (campaign.kind === 'marketing') {
    if (s.marketingOptOut) {
      record('skipped', 'unsubscribed from marketing');
      return;
    }
    if (s.marketingPaused) {
      record('skipped', 'marketing paused by support');
      return;
    }
    const cap = plan.frequencyCap;
    if (cap) {
      const recent = s.messages.filter((m) => m.kind === 'marketing' && (m.status === 'sent' || m.status === 'pending') && at - m.at < cap.per).length;
      if (recent >= cap.max) {
        record('skipped', `frequency cap: ${recent} marketing messages in the last ${formatDuration(cap.per)} (at most ${cap.max})`);
        return;
      }
    }
    if (campaign.offer) {
      const last = s.offers[campaign.offer.id];
      const inFlight = s.messages.some((m) => m.status === 'pending' && campaignById(plan, m.campaignId)?.offer?.id === campaign.offer!.id);
      if (inFlight || (last !== undefined && at - last < campaign.offer.cooldown)) {
        record(
          'skipped',
          `offer ${campaign.offer.id} ${inFlight ? 'is being sent already' : `was sent ${formatDuration(at - last!)} ago`} (cooldown ${formatDuration(campaign.offer.cooldown)})`,
        );
        return;
      }
    }
  }
  const variant = variantFor(ctx, campaign, at);
  chosen.variant = variant;
  if (variant === 'holdout') {
    record('holdout', `holdout group of ${campaign.id}: nothing sent`);
    countDelivered(s, campaign.id);
    return;
  }
  const message = record('pending');
  const variantDef = campaign.experiment?.variants.find((v) => v.id === variant);
  const timing = due.deferrals >= LIMITS.deferrals ? undefined : (campaign.timing ?? (campaign.kind === 'marketing' ? plan.timing : undefined));
  const learnedHour = timing?.optimise ? learnedHourOf(s.engagement) : undefined;
  ctx.commands.push({
    type: 'deliver',
    request: {
      key: message.key,
      userId: s.userId,
      campaignId: campaign.id,
      occurrence: due.occurrence,
      kind: campaign.kind,
      template: variantDef?.template ?? campaign.steps?.[due.step]?.template ?? campaign.message.template,
      segments: campaign.audience.segments ?? [],
      definition: s.definition,
      summary: due.summary,
      journey: { stage: s.stage, plan: s.attributes.plan ?? null, counters: { ...s.counters } },
      ...(variant ? { variant } : {}),
      ...(timing ? { timing } : {}),
      ...(learnedHour ? { learnedHour } : {}),
      ...(due.eventProperties ? { eventProperties: due.eventProperties } : {}),
      // An email request stays as it was before there was a choice; another channel says so (and its options).
      ...routingOf(campaign.message),
    },
  });
  // Keep what is needed to put the very same step back on the calendar if the delivery asks to wait.
  message.pendingStep = due;
}

/** The delivery of a step answered: record its outcome, or put the very same step back on the calendar. */
export function applyDeliveryOutcome(ctx: Ctx, input: Extract<JourneyInput, { type: 'delivery' }>): void {
  const { plan, s } = ctx;
  const message = s.messages.find((m) => m.key === input.key);
  if (!message || message.status !== 'pending') return;
  const outcome = input.outcome;
  if (outcome.status === 'deferred') {
    s.messages = s.messages.filter((m) => m !== message);
    const campaign = campaignById(plan, message.campaignId);
    const known = message.pendingStep;
    s.deadlines.push({
      kind: 'campaign',
      key: `campaign:${message.campaignId}#${message.occurrence}`,
      campaignId: message.campaignId,
      occurrence: message.occurrence,
      summary: known?.summary ?? `send ${campaign?.name ?? message.campaignId}`,
      at: Math.max(outcome.until, s.clock),
      scheduledAt: known?.scheduledAt ?? message.dueAt,
      because: known?.because ?? 'deferred',
      step: known?.step ?? 0,
      deferrals: (known?.deferrals ?? 0) + 1,
      deferredBecause: outcome.reason,
      ...(known?.timerId && timerDeadline(s, known.timerId) ? { timerId: known.timerId } : {}),
      ...(known?.eventProperties ? { eventProperties: known.eventProperties } : {}),
    });
    return;
  }
  delete message.pendingStep;
  message.status = outcome.status;
  message.at = input.now;
  if (outcome.reason !== undefined) message.reason = outcome.reason;
  if (outcome.status === 'sent') {
    if (outcome.providerMessageId) message.providerMessageId = outcome.providerMessageId;
    if (outcome.localTime) message.localTime = outcome.localTime;
    if (outcome.duplicate) message.reason = 'already delivered by an earlier attempt';
    const offer = campaignById(plan, message.campaignId)?.offer;
    if (offer) s.offers[offer.id] = input.now;
    countDelivered(s, message.campaignId);
  }
  messageFact(ctx, message);
}

