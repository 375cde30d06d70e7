import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DefinitionRef, JourneyPlan } from '../src/core/journey-definition.js';
import type { ComputedValue, DeliveryOutcome, DeliveryRequest } from '../src/core/journey-state.js';
import type { Channel, ChannelProfile, SendContext } from '../src/channels/channel.js';
import type { ConsentCheck } from '../src/channels/consent.js';
import { preferenceConsent } from '../src/preferences/preference-consent.js';
import { createChannels, type ChannelDeps } from '../src/channels/registry.js';
import { isChannelId } from '../src/core/channel-ids.js';
import { DEFAULT_CHANNEL } from '../src/core/definition-constants.js';
import { describePassedOver, type FallbackRouting, type PassedOver } from '../src/core/channel-routing.js';
import type { DefinitionStore } from '../src/definition-store/definition-store.js';
import { decideTiming } from '../src/delivery/delivery-rules.js';
import { profileTest } from '../src/segments/segment-matcher.js';
import { oneAtATimePerKey } from '../src/util/one-at-a-time.js';
import { compareAndSetFilter, serverFlavour } from '../src/db/models.js';

/** A send time less than this ahead is taken as "now" (the journey would only wake up again at once). */

/** How long a delivery waits for a profile that identify has not written yet: attempts x delay. */
const PROFILE_WAIT_ATTEMPTS = 6;
const PROFILE_WAIT_MS = 5_000;

/**
 * Now, for decisions about the customer's local time. Inside a worker, the server's clock at scheduling
 * counts too: under the time-skipping test server it runs ahead of this machine's, in production it lags.
 */
function activityNow(): number {
  try {
    return Math.max(Date.now(), Context.current().info.currentAttemptScheduledTimestampMs);
  } catch {
    return Date.now();
  }
}

/** The attempt number inside a worker; undefined when called outside one (then nothing is waited for). */
function currentAttempt(): number | undefined {
  try {
    return Context.current().info.attempt;
  } catch {
    return undefined;
  }
}

/**
 * Backends often send "Signed Up" and identify side by side: throw a retryable failure for the first few
 * attempts so the profile has a moment to arrive; after that the caller records the step as skipped.
 */
function waitForProfile(userId: string, what: string): void {
  const attempt = currentAttempt();
  if (attempt !== undefined && attempt < PROFILE_WAIT_ATTEMPTS) {
    throw ApplicationFailure.create({ message: `profile of ${userId}: ${what} (attempt ${attempt})`, type: 'ProfileNotReady', nextRetryDelay: PROFILE_WAIT_MS });
  }
}

/** The activities' dependencies: every channel's (src/channels/registry.ts), the definitions, and the consent hook. */
export interface ActivityDeps extends ChannelDeps {
  definitions: DefinitionStore;
  /** Whether a message may go to this customer on this channel; default: marketing consent, then the customer's preferences per topic and channel. */
  consent?: ConsentCheck;
}

export interface AudienceCheck {
  userId: string;
  definition: Required<DefinitionRef>;
  segments: string[];
}

/**
 * The journey's side effects. Built from their dependencies so tests hand in a real database and a local
 * SendGrid-compatible server rather than mocking modules.
 */
export function createJourneyActivities(deps: ActivityDeps) {
  const { models, definitions, logger } = deps;
  const channels = createChannels(deps);
  const consentOf = deps.consent ?? preferenceConsent(deps.definitions);

  /** A channel by id; one this worker does not have fails the message for good (retrying would not add it). */
  function channelFor(id: unknown): Channel {
    const channel = isChannelId(id) ? channels.get(id) : undefined;
    if (!channel) throw ApplicationFailure.nonRetryable(`channel "${String(id)}" is not registered on this worker (src/channels/registry.ts)`, 'UnknownChannel');
    return channel;
  }

  async function segmentFilters(ref: DefinitionRef, ids: string[]) {
    const plan = await definitions.plan(ref);
    return ids.map((id) => {
      const segment = plan.segments.find((s) => s.id === id);
      if (!segment) throw ApplicationFailure.nonRetryable(`segment "${id}" is not in ${ref.id}@${ref.version}`, 'UnknownSegment');
      return segment;
    });
  }

  /** The profile for segment matching: one read by primary key, whatever the number of segments or profiles. */
  async function profileOf(userId: string): Promise<Record<string, unknown> | null> {
    assertId(userId, 'userId');
    return (await models.Customer.findById(userId).lean()) as Record<string, unknown> | null;
  }

  async function segmentsOf(input: { userId: string; definition: Required<DefinitionRef> }): Promise<string[]> {
    return segmentsOfProfile(input.definition, await profileOf(input.userId));
  }

  /** Which of the definition's segments this profile is in (none without a profile). */
  async function segmentsOfProfile(definition: Required<DefinitionRef>, profile: Record<string, unknown> | null): Promise<string[]> {
    const plan = await definitions.plan(definition);
    return profile ? plan.segments.filter((s) => profileTest(s.filter)(profile)).map((s) => s.id) : [];
  }

  /** Trait writes of one customer run one at a time in this process (see oneAtATimePerKey). */
  const traitWrites = oneAtATimePerKey();

  /**
   * The computed traits on the profile as of journey time `at`, unless a newer write is stored; answers the
   * profile as it stands after the write (null without one), so segments are matched without reading it again.
   * Compare-and-set by primary key, as the read model's snapshots: read the stored profile by `_id`, then update
   * `{ _id, computedAt: <what was read> }` (MongoDB), `{ _id }` (FerretDB, with this process's writes of one
   * customer one at a time). FerretDB 1.x hands the database only a filter that is exactly `{ _id }`: the
   * `{ _id, $or: [...] }` this used to send made it read and decode every profile on each write, so a journey's
   * first pass slowed with the number of customers (a broadcast bench of 5,000 stalled in its population).
   */
  async function writeComputedTraits(input: { userId: string; traits: Record<string, ComputedValue>; at: number }): Promise<Record<string, unknown> | null> {
    assertId(input.userId, 'userId');
    const at = new Date(input.at);
    const flavour = await serverFlavour(models.Customer.db);
    return traitWrites(input.userId, async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const stored = (await models.Customer.findById(input.userId).lean()) as (Record<string, unknown> & { computedAt?: Date | null }) | null;
        if (!stored) return null; // no profile yet: an identify makes the journey write them again
        const storedAt = stored.computedAt ?? null;
        if (storedAt && storedAt.getTime() > at.getTime()) return stored; // a newer write is stored
        const result = await models.Customer.updateOne(
          compareAndSetFilter(flavour, input.userId, { computedAt: storedAt }),
          { $set: { computed: input.traits, computedAt: at } },
          { strict: false },
        );
        // What the update made of the profile read: the same document a read after it would answer.
        if (result.matchedCount > 0) return { ...stored, computed: input.traits, computedAt: at };
      }
      throw new Error(`computed traits of ${input.userId} kept changing underneath; will retry`);
    });
  }

  return {
    /** The structure of a journey definition; a local activity, so it costs one marker per run. */
    async loadJourneyPlan(ref: DefinitionRef): Promise<JourneyPlan> {
      return definitions.plan(ref);
    },

    /** Support corrects the profile's time zone or locale (validated by the API before it gets here). */
    async correctProfile(input: { userId: string; timezone?: string; locale?: string }): Promise<void> {
      const set = { ...(input.timezone ? { timezone: input.timezone } : {}), ...(input.locale ? { locale: input.locale } : {}) };
      await models.Customer.updateOne({ _id: input.userId }, { $set: set, $setOnInsert: { traits: {} } }, { upsert: true });
    },

    /** Which of the definition's segments the customer is in now (for the Segments search attribute). */
    evaluateSegments: segmentsOf,

    /**
     * Keep the journey's computed traits on the profile (`computed.<id>`), as of the journey time `at`. A
     * write older than the one stored (a retry overtaken by a newer one) changes nothing; with no profile
     * yet nothing is written (an identify makes the journey write them again).
     */
    async syncComputedTraits(input: { userId: string; traits: Record<string, ComputedValue>; at: number }): Promise<void> {
      await writeComputedTraits(input);
    },

    /**
     * A lean pass's profile work in one call (journey code version 8): the computed traits, when the pass
     * changed them, then which segments the customer is in with them, matched against the profile the write
     * read (two database round trips with traits, one without).
     */
    async syncProfile(input: { userId: string; definition: Required<DefinitionRef>; traits?: Record<string, ComputedValue>; at?: number }): Promise<string[]> {
      if (input.traits && input.at !== undefined) {
        return segmentsOfProfile(input.definition, await writeComputedTraits({ userId: input.userId, traits: input.traits, at: input.at }));
      }
      return segmentsOf({ userId: input.userId, definition: input.definition });
    },

    /** Is the customer in every one of these segments? Looked up when the campaign step runs. */
    async checkAudience(input: AudienceCheck): Promise<{ inAudience: boolean; reason?: string }> {
      const profile = await profileOf(input.userId);
      if (!profile) {
        waitForProfile(input.userId, 'no profile yet');
        return { inAudience: false, reason: 'no profile for this customer (identify was never called)' };
      }
      for (const segment of await segmentFilters(input.definition, input.segments)) {
        if (!profileTest(segment.filter)(profile)) return { inAudience: false, reason: `not in segment ${segment.id}` };
      }
      return { inAudience: true };
    },

    /**
     * Deliver one message at most once, on its channel (src/channels): claim the delivery key, ask the
     * channel for the customer's address and the consent hook whether it may go, render, send, record what
     * the provider's answer means. A retry after a crash finds the claim; a message already sent is reported
     * as sent, not sent again.
     */
    async deliverMessage(request: DeliveryRequest): Promise<DeliveryOutcome> {
      assertId(request.key, 'key');
      assertId(request.userId, 'userId');
      const log = logger.child({ userId: request.userId, deliveryKey: request.key, campaignId: request.campaignId });
      const existing = await models.Delivery.findById(request.key).lean();
      // The channel an earlier attempt chose (among the fallbacks) is the one a retry keeps to.
      const attempts = attemptsOf(request, existing?.channel);
      const channel = channelFor(attempts[0]!.channel ?? DEFAULT_CHANNEL);
      if (existing?.status === 'sent') {
        return { status: 'sent', provider: existing.provider ?? channel.target(request).provider, providerMessageId: existing.providerMessageId, duplicate: true };
      }
      if (existing?.status === 'skipped') return { status: 'skipped', reason: existing.error ?? 'skipped' };
      if (existing?.status === 'failed') throw ApplicationFailure.nonRetryable(existing.error ?? 'delivery failed', 'DeliveryRejected');
      // The last attempt went to the provider and never came back: where the channel can look, look first.
      if (existing?.status === 'sending' && existing.sendingAt && channel.recoverCutOff) {
        const known = await channel.recoverCutOff({ _id: existing._id, provider: existing.provider, sendingAt: new Date(existing.sendingAt), events: existing.events });
        if (known.kind === 'sent') {
          const providerMessageId = known.providerMessageId ?? existing.providerMessageId;
          await models.Delivery.updateOne({ _id: request.key, status: 'sending' }, { $set: { status: 'sent', sentAt: new Date(), recoveredVia: known.via, ...(providerMessageId ? { providerMessageId } : {}) } });
          log.info({ via: known.via }, 'message found at the provider after its attempt was cut off: not sent again');
          return { status: 'sent', provider: existing.provider ?? channel.target(request).provider, ...(providerMessageId ? { providerMessageId } : {}), duplicate: true };
        }
        if (known.kind === 'wait') {
          log.info({ reason: known.reason, retryInMs: known.ms }, 'outcome of the last attempt unknown: looking again before resending');
          throw ApplicationFailure.create({ message: `outcome of the last attempt unknown: ${known.reason}`, type: 'DeliveryOutcomeUnknown', nextRetryDelay: known.ms });
        }
        log.warn({ reason: known.reason }, 'resending a message whose last attempt was cut off');
      }

      const loaded = await definitions.get(request.definition);
      const profile = (await models.Customer.findById(request.userId).lean()) as ChannelProfile | null;
      const record = async (status: 'sending' | 'sent' | 'failed' | 'skipped', fields: Record<string, unknown> = {}) => {
        await models.Delivery.updateOne(
          { _id: request.key },
          {
            $set: { status, ...fields },
            $setOnInsert: {
              userId: request.userId,
              campaignId: request.campaignId,
              occurrence: request.occurrence,
              kind: request.kind,
              template: request.template,
              definitionVersion: request.definition.version,
            },
            ...(status === 'sending' ? { $inc: { attempts: 1 } } : {}),
          },
          { upsert: true },
        );
      };
      const skip = async (reason: string): Promise<DeliveryOutcome> => {
        await record('skipped', { error: reason });
        log.info({ reason }, 'delivery skipped');
        return { status: 'skipped', reason };
      };

      if (!profile) {
        waitForProfile(request.userId, 'no profile yet');
        return skip('no profile for this customer (identify was never called)');
      }
      // The first channel the customer can be reached on and has not said no to.
      const passedOver: PassedOver[] = [...(request.passedOver ?? [])];
      let mayArrive = false;
      const choose = async (candidates: DeliveryRequest[]) => {
        for (const attempt of candidates) {
          const candidate = channelFor(attempt.channel ?? DEFAULT_CHANNEL);
          const reach = await candidate.address(profile, attempt);
          if (reach.kind === 'unreachable') {
            mayArrive ||= reach.mayArrive;
            passedOver.push({ channel: candidate.id, reason: reach.reason });
            continue;
          }
          const consent = await consentOf(profile, attempt, candidate.id);
          if (!consent.allowed) {
            passedOver.push({ channel: candidate.id, reason: consent.reason });
            continue;
          }
          return { channel: candidate, request: attempt, address: reach.address };
        }
        return undefined;
      };
      let chosen = await choose(attempts);
      if (!chosen) {
        if (mayArrive) waitForProfile(request.userId, 'no address yet');
        return skip(describePassedOver(passedOver));
      }
      // The channel may add rules of its own to the campaign's timing (quiet hours for SMS).
      const timingOn = (on: NonNullable<typeof chosen>) => {
        const channelTiming = on.channel.timing?.(on.request, loaded.definition);
        return decideTiming(channelTiming ? { ...request, timing: channelTiming } : request, profile, activityNow());
      };
      let timing = timingOn(chosen);
      // Not now: hand the step back to the journey, which sleeps durably until then (no claim is made).
      if (timing.kind === 'defer') return timing.outcome;
      for (;;) {
        const ctx: SendContext<unknown> = { request: chosen.request, profile, address: chosen.address, definition: loaded.definition, now: new Date() };
        const rendered = await chosen.channel.render(ctx);
        await record('sending', { locale: rendered.locale, channel: chosen.channel.id, ...chosen.channel.target(chosen.request), sendingAt: new Date() });
        const answer = await chosen.channel.send(rendered.message, ctx);
        if (answer.kind === 'unreachable') {
          // Nothing went out on this channel: a retry (or the next channel) chooses afresh.
          await models.Delivery.updateOne({ _id: request.key }, { $unset: { channel: 1, provider: 1, endpoint: 1, sendingAt: 1 } });
          passedOver.push({ channel: chosen.channel.id, reason: answer.reason });
          log.info({ channel: chosen.channel.id, reason: answer.reason }, 'customer unreachable on this channel after all');
          const all = attemptsOf(request, undefined);
          const at = all.findIndex((r) => (r.channel ?? DEFAULT_CHANNEL) === chosen!.channel.id);
          chosen = await choose(all.slice(at + 1));
          if (!chosen) return skip(describePassedOver(passedOver));
          // The next channel's own timing rules (SMS's quiet hours) hold for it too.
          timing = timingOn(chosen);
          if (timing.kind === 'defer') return timing.outcome;
          continue;
        }
        // Only a request that names fallbacks (or whose channels the journey passed over) is told which channel took it.
        const choice = request.fallback || request.passedOver ? { channel: chosen.channel.id, ...(passedOver.length > 0 ? { passedOver } : {}) } : {};
        switch (answer.kind) {
          case 'sent':
            await record('sent', { sentAt: new Date(), ...(answer.providerMessageId ? { providerMessageId: answer.providerMessageId } : {}) });
            log.info({ provider: answer.provider }, 'message delivered');
            return {
              status: 'sent',
              provider: answer.provider,
              ...(answer.providerMessageId ? { providerMessageId: answer.providerMessageId } : {}),
              ...(timing.localTime ? { localTime: timing.localTime } : {}),
              ...(timing.reason ? { reason: timing.reason } : {}),
              ...choice,
            };
          case 'failed':
            await record('failed', { error: answer.reason });
            log.warn({ status: answer.status, error: answer.reason }, 'delivery rejected by the provider');
            throw ApplicationFailure.nonRetryable(answer.reason, 'DeliveryRejected');
          case 'retry':
            // The provider answered, or was never reached: it does not have the message, so the retry need not look.
            if (answer.reached === 'not-sent') await models.Delivery.updateOne({ _id: request.key }, { $unset: { sendingAt: 1 } });
            log.warn({ status: answer.status, error: answer.reason, retryAfterMs: answer.afterMs }, 'delivery will be retried');
            throw ApplicationFailure.create({ message: answer.reason, type: 'DeliveryDeferred', ...(answer.afterMs ? { nextRetryDelay: answer.afterMs } : {}) });
          default:
            return unreachable(answer);
        }
      }
    },
  };
}

/**
 * The request as each channel it may go on sees it, in order: its own channel, then its fallbacks (each with
 * its own options, and its own template when it names one). Once an attempt chose one (`chosen`), only it.
 */
function attemptsOf(request: DeliveryRequest, chosen: string | undefined): DeliveryRequest[] {
  const { channel, endpoint, options, fallback, passedOver: _passedOver, ...base } = request;
  const own: FallbackRouting = { channel: channel ?? DEFAULT_CHANNEL, ...(endpoint !== undefined ? { endpoint } : {}), ...(options ? { options } : {}) };
  const all = [own, ...(fallback ?? [])].map(
    (r): DeliveryRequest => ({
      ...base,
      ...(r.channel !== DEFAULT_CHANNEL ? { channel: r.channel } : {}),
      ...(r.endpoint !== undefined ? { endpoint: r.endpoint } : {}),
      ...(r.options ? { options: r.options } : {}),
      template: r.template ?? base.template,
    }),
  );
  const kept = chosen === undefined ? undefined : all.find((r) => (r.channel ?? DEFAULT_CHANNEL) === chosen);
  return kept ? [kept] : all;
}

function unreachable(value: never): never {
  throw new Error(`unhandled send answer ${JSON.stringify(value)}`);
}

/**
 * Ids go into queries as `_id` values; anything but a string there (say `{ "$ne": null }` from a JSON body)
 * would be read as a query operator and match another customer's profile or delivery.
 */
function assertId(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw ApplicationFailure.nonRetryable(`${what} must be a non-empty string, got ${JSON.stringify(value)}`, 'InvalidInput');
  }
}

export type JourneyActivities = ReturnType<typeof createJourneyActivities>;
