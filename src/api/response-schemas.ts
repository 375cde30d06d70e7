import { PREFERENCE_SOURCES } from '../core/preferences.js';
import { INBOX_STATES } from '../core/inbox-states.js';
import { z } from 'zod';
import { CALL_TYPES } from './segment-spec.js';

/**
 * What the API answers, as zod schemas: the OpenAPI document is generated from them, and the end-to-end
 * tests parse real answers with them, so the document says what the code does. Objects are strict where
 * the answer is built field by field here; the KPIs stay open, as they grow with the read model.
 */
const Time = z.iso.datetime().meta({ description: 'ISO 8601, UTC', example: '2026-11-25T10:00:00.000Z' });
const Count = z.number().int().min(0);

export const Issue = z
  .strictObject({
    path: z.string().meta({ description: 'Dotted path of the field, empty for the object itself', example: 'messageId' }),
    message: z.string().meta({ example: 'Invalid input: expected string, received undefined' }),
    code: z.string().meta({ description: 'The zod issue code, or the API error code for an item refused by the API', example: 'invalid_type' }),
  })
  .meta({ id: 'Issue', description: 'One problem with the input.' });

export const ErrorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.string().meta({
        description:
          'invalid_request (with issues), malformed_json, bad_request (the body could not be read), unauthenticated, forbidden, not_found, not_configured (POST /v1/webhooks/sendgrid without SENDGRID_WEBHOOK_PUBLIC_KEY), method_not_allowed (with Allow), payload_too_large, headers_too_large (431: request line and headers over 16 KB), refused, live_version_moved (409: another publish changed the live journey definition since the preview), rate_limited (with Retry-After), upstream_unavailable (with upstream), internal',
        example: 'invalid_request',
      }),
      message: z.string().meta({ example: 'the track call is invalid' }),
      issues: z.array(Issue).optional().meta({ description: 'Every problem with the input (invalid_request only).' }),
      upstream: z.enum(['temporal', 'mongodb']).optional().meta({ description: 'Which service could not be reached (upstream_unavailable only).' }),
    }),
    requestId: z.string().meta({ description: 'The x-request-id of this request, as in the logs.', example: '6f1c2d1e-8a0b-4c55-9a55-0b7f6f2f3b1a' }),
  })
  .meta({ id: 'Error', description: 'Every 4xx and 5xx answer (but a batch, which answers per item, and /readyz).' });

const Warnings = z
  .array(z.string())
  .optional()
  .meta({ description: 'Top-level fields the Segment spec does not define: left out of the journey, never a failure (counted in lifecycle_unknown_fields_total).' });
const CallOutcome = {
  status: z.literal('accepted'),
  type: z.enum(CALL_TYPES),
  messageId: z.string().meta({ description: 'As sent, or derived from the call’s content when it had none.', example: 'ada-2' }),
  userId: z.string().optional().meta({ example: 'ada' }),
  heldForAnonymousId: z.string().optional().meta({ description: 'A visitor’s call, kept until identify or alias says whose it is; then it joins the customer’s journey.' }),
  warnings: Warnings,
};

export const TrackAccepted = z
  .strictObject({
    ...CallOutcome,
    workflowId: z.string().optional().meta({ description: 'The customer journey the event is now durably in.', example: 'customer-ada' }),
  })
  .meta({ id: 'TrackAccepted' });

export const IdentifyAccepted = z
  .strictObject({
    ...CallOutcome,
    created: z.boolean().optional().meta({ description: 'true when this call created the profile' }),
    journey: z.enum(['signalled', 'not started']).optional().meta({ description: 'Whether a running journey was told which traits changed.' }),
    joins: z.string().optional().meta({ description: 'The visitor (anonymousId, or the alias’s previousId) whose calls now join the customer’s journey: by Temporal, in timestamp order, each once.' }),
    linkedTo: z.string().optional().meta({ description: 'The anonymousId belongs to this other customer already; it was not moved.' }),
  })
  .meta({ id: 'CallAccepted' });

export const BatchItemResult = z
  .discriminatedUnion('status', [
    z.strictObject({ index: Count, status: z.literal('accepted'), type: z.enum(CALL_TYPES), messageId: z.string(), warnings: Warnings }),
    z.strictObject({
      index: Count,
      status: z.literal('rejected'),
      issues: z.array(Issue),
      rejectedId: z.string().optional().meta({ description: 'Where the item is kept: GET /v1/rejected, POST /v1/rejected/{id}/replay.' }),
      warnings: Warnings,
    }),
    z.strictObject({ index: Count, status: z.literal('unavailable'), message: z.string().meta({ description: 'Retry this item (and the customer’s later ones) after Retry-After.' }) }),
    z.strictObject({
      index: Count,
      status: z.literal('rate_limited'),
      message: z.string().meta({ description: 'The customer is over their events per second; this item and the customer’s later ones were not applied.' }),
      retryAfterSeconds: z.number().int().min(1).meta({ description: 'Retry this item (and the customer’s later ones) after this many seconds.' }),
    }),
  ])
  .meta({ id: 'BatchItemResult' });

export const BatchResult = z
  .strictObject({
    accepted: Count,
    rejected: Count,
    unavailable: Count,
    rateLimited: Count,
    warnings: Warnings,
    results: z.array(BatchItemResult).meta({ description: 'One per item, in the order of the batch.' }),
  })
  .meta({ id: 'BatchResult' });

export const RejectedItem = z
  .strictObject({
    id: z.string(),
    receivedAt: Time,
    keyId: z.string().meta({ description: 'The key that sent it: the first 8 hex digits of its SHA-256.' }),
    route: z.string().meta({ example: '/v1/batch' }),
    type: z.string().meta({ description: 'The call type, or unknown' }),
    reason: z.string().meta({ description: '<field>:<problem> of the first issue', example: 'event:too_small' }),
    issues: z.array(Issue),
    userId: z.string().nullable(),
    anonymousId: z.string().nullable(),
    messageId: z.string().nullable(),
    replayedAt: Time.nullable(),
  })
  .meta({ id: 'RejectedItem' });
export const RejectedList = z
  .strictObject({ items: z.array(RejectedItem), nextCursor: z.string().nullable() })
  .meta({ id: 'RejectedList', description: 'Newest first; the body itself stays encrypted in the store and is never listed.' });
export const Replayed = z
  .strictObject({ id: z.string(), status: z.literal('replayed'), result: IdentifyAccepted.extend({ workflowId: z.string().optional() }) })
  .meta({ id: 'Replayed' });

export const JourneyView = z
  .strictObject({
    userId: z.string(),
    workflowId: z.string(),
    definition: z.strictObject({ id: z.string(), version: z.string() }),
    stage: z.string().meta({ example: 'trial' }),
    stageLabel: z.string(),
    stageEnteredAt: Time,
    attributes: z.record(z.string(), z.string()),
    plan: z.string().nullable(),
    segments: z.array(z.string()),
    lastActivityAt: Time.nullable(),
    summary: z.string().meta({ description: 'The journey’s current details line, as the Temporal Web UI shows it.' }),
    stages: z.array(z.strictObject({ stage: z.string(), from: z.string().nullable(), at: Time, why: z.string() })),
    pending: z.array(
      z.strictObject({
        kind: z.enum(['timer', 'campaign', 'traits']).meta({ description: 'traits: a computed trait’s window ends (the journey wakes up to update it).' }),
        what: z.string(),
        at: Time,
        because: z.string().optional(),
        deferred: z.string().optional(),
      }),
    ),
    messages: z.array(
      z.strictObject({
        key: z.string(),
        campaignId: z.string(),
        occurrence: z.number().int(),
        kind: z.enum(['transactional', 'marketing']),
        status: z.enum(['pending', 'sent', 'skipped', 'failed', 'cancelled', 'holdout']),
        dueAt: Time,
        at: Time,
        reason: z.string().optional(),
        providerMessageId: z.string().optional(),
        variant: z.string().optional(),
        localTime: z.string().optional(),
        convertedAt: Time.optional(),
        deliveredAt: Time.optional().meta({ description: 'What SendGrid reported (Event Webhook), each the first time: delivered, bounced, dropped, opened, clicked, reported as spam, unsubscribed.' }),
        bouncedAt: Time.optional(),
        bounce: z.enum(['hard', 'soft']).optional().meta({ description: 'hard: the address does not exist (email is suppressed); soft: blocked this time.' }),
        droppedAt: Time.optional(),
        openedAt: Time.optional(),
        clickedAt: Time.optional(),
        complainedAt: Time.optional(),
        unsubscribedAt: Time.optional(),
      }),
    ),
    counters: z.record(z.string(), z.number()),
    experiments: z.record(z.string(), z.string()),
    marketing: z.enum(['allowed', 'unsubscribed', 'paused']),
    email: z
      .union([z.strictObject({ status: z.literal('allowed') }), z.strictObject({ status: z.literal('suppressed'), reason: z.string(), since: Time })])
      .meta({ description: 'Email is suppressed after a hard bounce, a drop or a spam report SendGrid reported; other channels still go.', example: { status: 'allowed' } }),
    engagement: z
      .strictObject({
        opens: Count,
        clicks: Count,
        lastEngagedAt: Time.nullable(),
        samples: Count.meta({ description: 'Opens and clicks the send hour is learned from (one per message).' }),
        learnedHour: z.number().int().min(0).max(23).nullable().meta({ description: 'The local hour optimised timing uses; null until 3 opens or clicks are known.' }),
        sendTime: z.string().meta({ description: 'What optimised timing does for this customer, and why.' }),
      })
      .meta({ description: 'The customer’s opens and clicks (not machine opens), and the send hour learned from them.' }),
    computed: z
      .record(z.string(), z.union([z.boolean(), z.number(), z.string(), z.null()]))
      .meta({ description: 'The computed traits (definition computedTraits), as kept on the profile under computed.<id>.', example: { engaged: true, favourite_programme: 'yoga' } }),
    audit: z.array(z.strictObject({ at: Time, actor: z.string(), action: z.string(), reason: z.string().optional() })),
    preferenceChanges: z
      .array(
        z.strictObject({
          at: Time,
          source: z.enum(PREFERENCE_SOURCES),
          changes: z.array(z.string()).meta({ example: ['topic offers off'] }),
        }),
      )
      .meta({ description: 'Each change of the customer’s preferences the journey was told of, with where it came from (api, one-click, preference-page, sms-stop, support).' }),
    stats: z.strictObject({ events: Count, duplicates: Count, runs: Count, reactivations: Count, everLoyal: z.boolean() }),
  })
  .meta({ id: 'Journey', description: 'The journey as the workflow reports it (its query or the answer to a support Update).' });

const Profile = z
  .strictObject({
    userId: z.string(),
    email: z.string().nullable(),
    name: z.string().nullable(),
    firstName: z.string().nullable(),
    lastName: z.string().nullable(),
    locale: z.string().nullable(),
    timezone: z.string().nullable(),
    marketingConsent: z.boolean().nullable(),
    unsubscribedAt: Time.nullable(),
    traits: z.record(z.string(), z.unknown()),
    group: z
      .strictObject({ id: z.string(), traits: z.record(z.string(), z.unknown()) })
      .nullable()
      .meta({ description: 'The account of the last group call (Segment group); segments filter on group.traits.<name>.' }),
    computed: z.record(z.string(), z.unknown()).meta({ description: 'Computed by the journey (definition computedTraits); segments filter on computed.<id>.' }),
    createdAt: Time,
    updatedAt: Time,
  })
  .meta({ id: 'Profile' });

const Status = z.string().meta({ description: 'The workflow execution status (UNKNOWN when only the read model knows the journey)', example: 'RUNNING' });

const RecordedJourney = z
  .strictObject({
    source: z.literal('read-model'),
    status: Status,
    userId: z.string(),
    workflowId: z.string(),
    definitionVersion: z.string(),
    stage: z.string(),
    stageEnteredAt: Time,
    plan: z.string().nullable(),
    segments: z.array(z.string()),
    counters: z.record(z.string(), z.number()),
    lastActivityAt: Time.nullable(),
    startedAt: Time,
    stages: JourneyView.shape.stages,
    messages: JourneyView.shape.messages,
    experiments: z.record(z.string(), z.string()),
    pending: JourneyView.shape.pending,
    audit: JourneyView.shape.audit,
  })
  .meta({ id: 'RecordedJourney', description: 'A closed journey no worker could answer for, told from the read model.' });

const TimelineEntry = z
  .strictObject({
    at: Time,
    kind: z
      .enum(['stage', 'message', 'email', 'conversion', 'support', 'preference', 'pending'])
      .meta({ description: 'email: what SendGrid reported about a message (status: delivered, bounced, dropped, opened, clicked, spamreport, unsubscribed); preference: the customer changed their preferences (status: the source).' }),
    text: z.string(),
    campaignId: z.string().optional(),
    variant: z.string().optional(),
    status: z.string().optional(),
  })
  .meta({ id: 'TimelineEntry' });

export const Customer = z
  .strictObject({
    userId: z.string(),
    profile: Profile.nullable().meta({ description: 'null until identify was called for the customer' }),
    journey: z
      .discriminatedUnion('source', [JourneyView.extend({ source: z.literal('workflow'), status: Status }), RecordedJourney])
      .nullable()
      .meta({ description: 'null until an event started a journey; from the workflow (its query, also for a closed journey a worker can replay) or from the read model' }),
    timeline: z.array(TimelineEntry).meta({ description: 'The journey’s story oldest first, then what is still to come; empty without a journey.' }),
    links: z.strictObject({ temporalUi: z.url().meta({ description: 'The journey in the Temporal Web UI' }) }),
  })
  .meta({ id: 'Customer' });

export const CustomerList = z
  .strictObject({
    customers: z.array(
      z.strictObject({
        userId: z.string(),
        workflowId: z.string(),
        stage: z.string().nullable(),
        plan: z.string().nullable(),
        segments: z.array(z.string()),
        startedAt: Time.nullable(),
      }),
    ),
    nextCursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last page.' }),
  })
  .meta({ id: 'CustomerList' });

export const PushSubscriptionShown = z
  .strictObject({
    id: z.string().meta({ description: 'The subscription’s id (a hash of its endpoint): DELETE …/push-subscriptions/{id}.', example: 'Qm3yq0pX2bGJ7c1lZk9QrA' }),
    endpoint: z.string().meta({ example: 'https://fcm.googleapis.com/fcm/send/dN2x…' }),
    expirationTime: z.number().nullable().meta({ description: 'When the browser says it ends (ms since the epoch); null: it did not say.' }),
    createdAt: Time,
    updatedAt: Time,
  })
  .meta({ id: 'PushSubscription', description: 'A browser’s web push subscription (its keys are never shown).' });

export const PushSubscriptionList = z
  .strictObject({ userId: z.string(), subscriptions: z.array(PushSubscriptionShown) })
  .meta({ id: 'PushSubscriptionList', description: 'The customer’s push subscriptions, oldest first.' });

export const VapidPublicKey = z
  .strictObject({ publicKey: z.string().meta({ description: 'The applicationServerKey for pushManager.subscribe() (base64url).', example: 'BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U' }) })
  .meta({ id: 'VapidPublicKey' });

export const CustomerPreferences = z
  .strictObject({
    userId: z.string(),
    marketing: z.boolean().meta({ description: 'false: the customer turned all marketing off.' }),
    topics: z.record(z.string(), z.boolean()).meta({ description: 'Every topic the live journey definition declares: on or off.', example: { tips: true, offers: false } }),
    channels: z.record(z.string(), z.boolean()).meta({ description: 'Every channel: whether marketing may use it.', example: { email: true, webhook: true, push: true } }),
    updatedAt: Time.nullable().meta({ description: 'When they last changed; null: never.' }),
    journey: z
      .enum(['signalled', 'not started'])
      .optional()
      .meta({ description: 'PUT: whether the running journey was told (its timeline shows the change), or none runs yet.' }),
  })
  .meta({ id: 'CustomerPreferences', description: 'What marketing the customer wants, per topic and channel. Transactional messages are never held back by it.' });

export const OutboxList = z
  .strictObject({
    messages: z.array(
      z.strictObject({
        deliveryKey: z.string().meta({ example: 'customer-ada/welcome/1' }),
        userId: z.string(),
        campaignId: z.string(),
        to: z.string(),
        from: z.string(),
        subject: z.string(),
        html: z.string(),
        text: z.string().optional(),
        locale: z.string().optional(),
        customArgs: z.record(z.string(), z.string()),
        headers: z
          .record(z.string(), z.string())
          .optional()
          .meta({ description: 'The message headers as they would go to SendGrid: a marketing email has List-Unsubscribe and List-Unsubscribe-Post (RFC 8058).' }),
        createdAt: Time,
      }),
    ),
  })
  .meta({ id: 'OutboxList', description: 'Newest first.' });

const Rate = z.number().nullable().meta({ description: 'Percent to 1 decimal; null without a denominator.' });
const PercentInterval = z.strictObject({ low: z.number(), high: z.number() }).meta({ description: '95% interval, percent (or percentage points) to 1 decimal.' });
const Comparison = z
  .discriminatedUnion('enoughData', [
    z.strictObject({
      against: z.string().meta({ description: "The other group: 'holdout' or another variant." }),
      enoughData: z.literal(false).meta({ description: 'Not enough data: either group has fewer than minimumGroupSize customers.' }),
      minimumGroupSize: Count,
    }),
    z.strictObject({
      against: z.string(),
      enoughData: z.literal(true),
      minimumGroupSize: Count,
      difference: z.number().meta({ description: 'This rate minus the other, percentage points to 1 decimal.' }),
      differenceInterval: PercentInterval.meta({ description: "95% interval of the difference: Newcombe's hybrid score interval (1998, method 10)." }),
      lift: z.number().nullable().meta({ description: '(rate / other rate - 1) x 100, 1 decimal; null when the other rate is 0.' }),
      liftInterval: z
        .strictObject({ low: z.number(), high: z.number().nullable() })
        .nullable()
        .meta({ description: '95% interval of the lift: MOVER-R on the two Wilson intervals (Donner and Zou 2012); high null when unbounded; null without a lift.' }),
      probabilityToBeat: z.number().min(0).max(1).meta({ description: "P(this group's true rate > the other's): independent Beta posteriors, uniform Beta(1, 1) prior, exact (Evan Miller's closed form), 3 decimals." }),
    }),
  ])
  .meta({ id: 'ExperimentComparison' });
export const Kpis = z
  .looseObject({
    generatedAt: Time,
    customers: Count,
    customersPerStage: z.record(z.string(), Count),
    rates: z.strictObject({ activation: Rate, repeatCustomer: Rate, loyalCustomer: Rate }),
    counts: z.strictObject({ paying: Count, repeat: Count, loyal: Count, reactivated: Count }),
    campaigns: z.array(
      z.strictObject({
        campaignId: z.string(),
        variants: z.array(
          z.strictObject({
            variant: z.string(),
            sent: Count,
            skipped: Count,
            failed: Count,
            cancelled: Count,
            holdout: Count,
            converted: Count,
            conversionRate: Rate,
            lift: z.number().nullable(),
            conversionRateInterval: PercentInterval.nullable().meta({ description: 'The 95% Wilson score interval of the conversion rate, percent; null without a denominator.' }),
            probabilityToBeatHoldout: z
              .number()
              .min(0)
              .max(1)
              .nullable()
              .meta({
                description:
                  "For an experiment variant: the probability that its true conversion rate beats the holdout's (Beta-Binomial, uniform Beta(1, 1) prior, exact), 3 decimals; null without a holdout, on the holdout and default rows, and when either group has fewer than 30 customers (not enough data: see comparisons).",
              }),
            comparisons: z.array(Comparison).meta({ description: 'An experiment variant against the holdout (first) and each other variant; empty on the holdout and default rows.' }),
            delivered: Count.meta({ description: 'Messages SendGrid reported delivered (its Event Webhook); each message once.' }),
            bounced: Count.meta({ description: 'Messages that bounced (hard bounce or blocked).' }),
            opened: Count.meta({ description: 'Messages opened at least once.' }),
            clicked: Count.meta({ description: 'Messages with at least one click.' }),
            deliveryRate: Rate.meta({ description: 'delivered / sent, percent to 1 decimal; null when nothing was sent.' }),
            openRate: Rate.meta({ description: 'opened / delivered, percent to 1 decimal; null when nothing was delivered.' }),
            clickRate: Rate.meta({ description: 'clicked / delivered, percent to 1 decimal; null when nothing was delivered.' }),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'Kpis' });

export const KpiTimeseries = z
  .looseObject({ generatedAt: Time })
  .meta({ id: 'KpiTimeseries', description: 'The lifecycle rates per day or week over the range asked for.' });

export const Erasure = z
  .strictObject({
    userId: z.string().meta({ example: 'ada' }),
    erasedAt: Time,
    anonymous: z
      .array(z.strictObject({ anonymousId: z.string(), workflowId: z.string(), terminated: z.boolean(), runsDeleted: Count }))
      .optional()
      .meta({ description: 'The visitors joined to the customer (identify, alias): their histories deleted from Temporal.' }),
    temporal: z.strictObject({
      workflowId: z.string().meta({ example: 'customer-ada' }),
      terminated: z.boolean().meta({ description: 'The journey was running and was terminated.' }),
      runsDeleted: Count.meta({
        description: 'Runs of the journey whose deletion Temporal accepted (every continue-as-new run, and earlier journeys under the same id). Temporal deletes them in the background, within seconds.',
      }),
    }),
    mongodb: z
      .strictObject({
        profiles: Count,
        deliveries: Count,
        outbox: Count,
        journeys: Count,
        journeyFacts: Count,
        emailEvents: Count,
        channelEvents: Count,
        inboxMessages: Count,
        pushSubscriptions: Count,
        pushSends: Count,
        identityLinks: Count.optional(),
        rejectedCalls: Count.optional(),
      })
      .meta({ description: 'Documents deleted from each collection: the profile, delivery records, outbox messages, SendGrid events (email_events), other channels’ provider events (channel_events), in-app inbox messages (inbox), web push subscriptions and their per-message results (push_subscriptions, push_sends) and the read model (journeys, journey_facts).' }),
  })
  .meta({ id: 'Erasure', description: 'What was erased; all zero when nothing was left (a repeated DELETE).' });

export const SendgridEventsApplied = z
  .strictObject({
    received: Count.meta({ description: 'Events in the batch.' }),
    applied: Count.meta({ description: 'Applied now: stored, marked on the message’s delivery record and (but processed and deferred) told to the customer’s journey.' }),
    duplicates: Count.meta({ description: 'Applied before (SendGrid sent the batch again), or twice in this batch: nothing done again.' }),
    ignored: Count.meta({
      description: 'Not ours or not readable: without our delivery_key custom arg, a key that is malformed or names no message we sent (or an erased customer’s), an event kind we do not handle, a malformed event.',
    }),
    orphaned: Count.meta({ description: 'For a message whose journey no longer runs: stored, not signalled.' }),
  })
  .meta({ id: 'SendgridEventsApplied', description: 'What became of the batch; received is the sum of the others.' });

export const Health = z.strictObject({ status: z.literal('ok') });
export const Readiness = z
  .strictObject({ status: z.enum(['ready', 'unavailable']), temporal: z.boolean(), mongodb: z.boolean() })
  .meta({ id: 'Readiness' });

export const OpenApiDocument = z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) });

export const InboxTokenAnswer = z
  .strictObject({
    token: z.string().meta({ description: 'Hand it to the customer’s app: `Authorization: Bearer <token>` on /v1/inbox.' }),
    expiresAt: Time.meta({ description: 'When it stops working (INBOX_TOKEN_TTL_SECONDS after minting): mint a new one before.' }),
  })
  .meta({ id: 'InboxToken', description: 'A short-lived token for one customer’s in-app inbox.' });

export const InboxMessage = z
  .strictObject({
    id: z.string().meta({ description: 'Opaque and URL-safe: the path segment of POST /v1/inbox/{messageId}/….', example: 'Y3VzdG9tZXItYWRhL3Jldmlld19wcm9tcHQvMQ' }),
    campaignId: z.string(),
    title: z.string().meta({ description: 'The template’s subject, rendered for the customer (plain text).' }),
    body: z.string().meta({ description: 'The template’s text, rendered for the customer (plain text).' }),
    url: z.string().optional().meta({ description: 'What the app opens when the customer taps the message (the campaign’s `url`).' }),
    locale: z.string(),
    state: z.enum(INBOX_STATES).meta({ description: 'unread, seen, clicked, dismissed (listed only with dismissed=true), or expired (never listed).' }),
    createdAt: Time,
    expiresAt: Time,
    seenAt: Time.optional(),
    clickedAt: Time.optional(),
    dismissedAt: Time.optional(),
  })
  .meta({ id: 'InboxMessage', description: 'One message in the customer’s in-app inbox.' });

export const InboxPage = z
  .strictObject({
    messages: z.array(InboxMessage).meta({ description: 'Newest first.' }),
    unread: Count.meta({ description: 'Unread messages that have not expired, over all pages (a badge count).' }),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last.' }),
  })
  .meta({ id: 'InboxPage' });
