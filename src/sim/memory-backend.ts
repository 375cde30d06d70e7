import { ApplicationFailure } from '@temporalio/activity';
import type { DefinitionRef, JourneyPlan } from '../core/journey-definition.js';
import type { JourneyFact, ReadModelBatch } from '../core/journey-facts.js';
import type { ComputedValue, DeliveryOutcome, DeliveryRequest } from '../core/journey-state.js';
import type { LoadedDefinition } from '../definition-store/load-definition.js';
import { decideDelivery } from '../delivery/delivery-rules.js';
import { renderMessage } from '../delivery/render-message.js';
import type { AudienceCheck } from '../../activities/journey-activities.js';
import type { FanOutPage } from '../../activities/broadcast-activities.js';
import type { SimStore } from './memory-store.js';
import type { SimProfile } from './population.js';
import type { MessageNotice } from './workflows/sim-messages.js';

/**
 * What the journey's activities do in the simulator, with MongoDB and SendGrid replaced by memory, as plain
 * functions of the store and the simulated clock. Both engines call these: the workflow engine through its
 * in-memory activities (sim-activities.ts), the event engine (event-engine.ts) directly. They keep the real
 * activities' rules where those decide an outcome: audience by segment filter, consent and send time
 * (decideDelivery, shared with the real delivery), the delivery key claimed once, facts by id, snapshots
 * by seq.
 */
export class MemoryBackend {
  constructor(
    readonly store: SimStore,
    readonly definition: LoadedDefinition,
  ) {}

  planFor(ref: DefinitionRef): JourneyPlan {
    const { definition } = this;
    if (ref.id !== definition.definition.id || (ref.version !== undefined && ref.version !== definition.version)) {
      throw ApplicationFailure.nonRetryable(`the simulator runs ${definition.definition.id}@${definition.version}, not ${ref.id}@${ref.version ?? 'current'}`, 'UnknownDefinition');
    }
    return definition.plan;
  }

  /** An identify call: the profile written at sign-up, or a change (only unsubscribing changes a stored field). */
  identify(userId: string, at: number, profile: SimProfile | undefined, change: Record<string, unknown> | undefined): void {
    const { profiles } = this.store;
    if (profile) profiles.set(userId, { _id: userId, ...profile, traits: { ...profile.traits }, createdAt: new Date(at), updatedAt: new Date(at) } as never);
    if (change?.unsubscribed === true) {
      const stored = profiles.get(userId);
      if (stored) stored.unsubscribedAt = new Date(at);
    }
  }

  correctProfile(input: { userId: string; timezone?: string; locale?: string }): void {
    const profile = this.store.profiles.get(input.userId);
    if (profile) Object.assign(profile, input.timezone ? { timezone: input.timezone } : {}, input.locale ? { locale: input.locale } : {});
  }

  evaluateSegments(input: { userId: string; definition: Required<DefinitionRef> }): string[] {
    const plan = this.planFor(input.definition);
    return plan.segments.filter((s) => this.store.inSegment(plan, s.id, input.userId)).map((s) => s.id);
  }

  syncComputedTraits(input: { userId: string; traits: Record<string, ComputedValue>; at: number }): void {
    const profile = this.store.profiles.get(input.userId);
    if (profile && (profile.computedAt === undefined || profile.computedAt.getTime() <= input.at)) {
      Object.assign(profile, { computed: { ...input.traits }, computedAt: new Date(input.at) });
    }
  }

  checkAudience(input: AudienceCheck): { inAudience: boolean; reason?: string } {
    const { store } = this;
    if (!store.profiles.has(input.userId)) return { inAudience: false, reason: 'no profile for this customer (identify was never called)' };
    const plan = this.planFor(input.definition);
    for (const segment of input.segments) {
      if (!plan.segments.some((s) => s.id === segment)) throw ApplicationFailure.nonRetryable(`segment "${segment}" is not in ${plan.id}@${plan.version}`, 'UnknownSegment');
      if (!store.inSegment(plan, segment, input.userId)) return { inAudience: false, reason: `not in segment ${segment}` };
    }
    return { inAudience: true };
  }

  /**
   * Deliver one message at `now`: the outcome the journey gets, and when it went out, the notice the
   * customer receives (ids and the goal, no content).
   */
  async deliver(request: DeliveryRequest, now: number): Promise<{ outcome: DeliveryOutcome; notice?: MessageNotice }> {
    assertId(request.key, 'key');
    assertId(request.userId, 'userId');
    const { store, definition } = this;
    const existing = store.deliveries.get(request.key);
    if (existing?.status === 'sent') return { outcome: { status: 'sent', provider: 'outbox', providerMessageId: request.key, duplicate: true } };
    if (existing?.status === 'skipped') return { outcome: { status: 'skipped', reason: existing.error ?? 'skipped' } };
    if (existing?.status === 'failed') throw ApplicationFailure.nonRetryable(existing.error ?? 'delivery failed', 'DeliveryRejected');

    const plan = this.planFor(request.definition);
    const profile = store.profiles.get(request.userId);
    const base = { userId: request.userId, campaignId: request.campaignId, kind: request.kind, template: request.template, at: now, ...(request.variant ? { variant: request.variant } : {}) };
    const decision = decideDelivery(request, profile, now);
    if (decision.kind === 'skip') {
      store.deliveries.set(request.key, { ...base, status: 'skipped', error: decision.reason });
      return { outcome: { status: 'skipped', reason: decision.reason } };
    }
    if (decision.kind === 'defer') return { outcome: decision.outcome };
    const { localTime, reason, profile: addressee } = decision;
    const rendered = await renderMessage(definition.definition, request.template, addressee, request.eventProperties, request.journey);
    store.deliveries.set(request.key, { ...base, status: 'sent', ...(localTime ? { localTime } : {}), locale: rendered.locale, subject: rendered.subject });

    const campaign = plan.campaigns.find((c) => c.id === request.campaignId);
    const notice: MessageNotice = {
      key: request.key,
      campaignId: request.campaignId,
      kind: request.kind,
      ...(request.variant ? { variant: request.variant } : {}),
      ...(campaign?.goal ? { goal: campaign.goal.event, withinHours: Math.floor(campaign.goal.within / 3_600_000) } : {}),
    };
    return {
      outcome: { status: 'sent', provider: 'outbox', providerMessageId: request.key, ...(localTime ? { localTime } : {}), ...(reason ? { reason } : {}) },
      notice,
    };
  }

  recordJourney(batch: ReadModelBatch): void {
    if (!batch?.snapshot?.userId) throw ApplicationFailure.nonRetryable('read model batch: snapshot.userId must be a non-empty string', 'InvalidInput');
    this.store.addFacts(batch.facts as JourneyFact[]);
    this.store.writeSnapshot(batch.snapshot);
  }

  /**
   * One page of a broadcast's audience, as the real fan-out reads it: by stage from the read model when the
   * campaign names stages, by segment filters on the profiles, in id order. `customers` limits it to the
   * customers one test server runs.
   */
  broadcastAudience(page: FanOutPage, customers?: Set<string>): { ids: string[]; next?: string } {
    const { store } = this;
    const plan = this.planFor(page.definition);
    const campaign = plan.campaigns.find((c) => c.id === page.campaignId);
    if (!campaign) throw ApplicationFailure.nonRetryable(`campaign ${page.campaignId} is not in ${plan.id}@${plan.version}`, 'UnknownCampaign');
    const size = Math.min(Math.max(page.pageSize ?? 500, 1), 2_000);
    const segments = campaign.audience.segments ?? [];
    const mine = (id: string) => !customers || customers.has(id);
    const inSegments = (userId: string) => mine(userId) && segments.every((s) => store.inSegment(plan, s, userId));
    const after = (id: string) => (page.after === undefined || id > page.after) && mine(id);
    if (campaign.audience.stages) {
      const stages = campaign.audience.stages;
      const stageIds = [...store.journeys.values()]
        .filter((j) => after(j.userId) && stages.includes(j.stage))
        .map((j) => j.userId)
        .sort()
        .slice(0, size);
      const next = stageIds.length === size ? stageIds[stageIds.length - 1] : undefined;
      return { ids: stageIds.filter(inSegments), ...(next ? { next } : {}) };
    }
    const ids = [...store.profiles.keys()].filter((id) => after(id) && inSegments(id)).sort().slice(0, size);
    const next = ids.length === size ? ids[ids.length - 1] : undefined;
    return { ids, ...(next ? { next } : {}) };
  }

  /** A broadcast run reached `signalled` journeys and found `withoutJourney` candidates without one. */
  countBroadcast(broadcastId: string, signalled: number, withoutJourney: number): void {
    this.store.broadcasts.runs.add(broadcastId.split('/')[0]!);
    this.store.broadcasts.signalled += signalled;
    this.store.broadcasts.withoutJourney += withoutJourney;
  }
}

function assertId(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw ApplicationFailure.nonRetryable(`${what} must be a non-empty string, got ${JSON.stringify(value)}`, 'InvalidInput');
  }
}
