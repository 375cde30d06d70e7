import { createRequire } from 'node:module';
import { AUTH_CHALLENGE } from '../http/auth.js';
import { z } from 'zod';
import {
  createDocument,
  createSchema,
  type CreateDocumentOptions,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
} from 'zod-openapi';
import type { ApiOperation } from './api-operation.js';
import { KpiTimeseriesQuery } from '../kpis/kpi-report.js';
import {
  Customer,
  CustomerList,
  Erasure,
  ErrorBody,
  Health,
  JourneyView,
  Kpis,
  KpiTimeseries,
  OpenApiDocument,
  OutboxList,
  CustomerPreferences,
  InboxMessage,
  InboxPage,
  InboxTokenAnswer,
  PushSubscriptionList,
  PushSubscriptionShown,
  Readiness,
  VapidPublicKey,
  SendgridEventsApplied,
} from './response-schemas.js';
import { AliasBody, BatchBody, BatchItem, GroupBody, IdentifyBody, IdentifyTraits, PageBody, TrackBody } from './segment-spec.js';
import { segmentOperations } from './segment-openapi.js';
import {
  CorrectProfileBody,
  CustomerListQuery,
  CustomerParams,
  ExtendTrialBody,
  FREE_FORM_OBJECTS,
  InboxMessageParams,
  InboxQuery,
  InboxReportBody,
  KnownTraits,
  MarketingBody,
  OutboxQuery,
  PreferencesBody,
  PushSubscriptionParams,
  PushSubscriptionQuery,
  SupportHeaders,
} from './schemas.js';
import { PushSubscriptionBody } from '../push/push-subscriptions.js';
import { CODEC_SIGN_IN_PREFIX, CodecPayloads } from './codec-routes.js';
import { INBOX_CHALLENGE } from './inbox-routes.js';
import {
  CheckDefinitionBody,
  DefinitionCheck,
  DefinitionList,
  DefinitionShown,
  DefinitionVersionParams,
  PublishDefinitionBody,
  PublishGate,
  RollbackDefinitionBody,
  SimulateDefinitionBody,
} from './definition-schemas.js';
import { SendgridEvent } from './sendgrid-events.js';
import { INBOX_ACTIONS } from '../core/inbox-states.js';
import { PREFERENCES_PATH, UNSUBSCRIBE_PATH } from '../preferences/preference-links.js';
import { MAX_SKEW_SECONDS, SENDGRID_WEBHOOK_PATH, SIGNATURE_CHALLENGE } from './sendgrid-webhook.js';
import { TWILIO_INBOUND_PATH, TWILIO_STATUS_PATH, TwilioInboundMessage, TwilioStatusApplied, TwilioStatusCallback, TwilioStatusQuery } from './twilio-webhooks.js';

/**
 * The API's OpenAPI 3.1 document, generated from the zod schemas the routes parse with. Each route the
 * Express app registers is listed here once; a unit test walks the app's router and fails when the two
 * differ, and another checks every documented scope and example against the running code.
 */

/** Routes the app serves that are pages, not API: the rendered reference, the dashboard and the codec's sign-in. */
export const UNDOCUMENTED_PREFIXES = ['/docs', '/dashboard', CODEC_SIGN_IN_PREFIX, `${UNSUBSCRIBE_PATH}/`, `${PREFERENCES_PATH}/`];

const ref = (name: string) => ({ $ref: `#/components/responses/${name}` });
const requestIdHeader = { 'x-request-id': { $ref: '#/components/headers/RequestId' } };
const retryAfterHeader = { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } };
/** A batch that was partly applied says when to retry only if some item was unavailable. */

function ok(description: string, schema: z.ZodType, headers: Record<string, { $ref: string }> = {}): ZodOpenApiResponseObject {
  return { description, headers: { ...requestIdHeader, ...headers }, content: { 'application/json': { schema } } };
}

function jsonBody(schema: z.ZodType, limit: string, examples: Record<string, { summary: string; value: unknown }>, required = true) {
  return {
    required,
    description: `JSON (application/json or application/*+json), at most ${limit}.`,
    content: { 'application/json': { schema, examples } },
  };
}

/** Refusals every route with a JSON body and a scope can answer, before its own. */
const BODY_REFUSALS = { 400: ref('BadRequest'), 401: ref('Unauthenticated'), 403: ref('Forbidden'), 413: ref('PayloadTooLarge'), 415: ref('UnsupportedMediaType') };
const KEY_REFUSALS = { 401: ref('Unauthenticated'), 403: ref('Forbidden') };

const JOURNEY_ACTION_REFUSALS = {
  ...BODY_REFUSALS,
  404: ref('NotFound'),
  422: ref('Refused'),
  503: ref('Unavailable'),
};


const INBOX_ACTION_TEXT = {
  seen: 'The customer saw the message (the app showed it). Counts as an open: engagement for the journey, the KPIs’ opened and the learned send hour.',
  clicked: 'The customer tapped the message (the app opens its `url`). Counts as a click, and as seen when it was not reported before.',
  dismissed: 'The customer dismissed the message: it leaves the list (GET /v1/inbox?dismissed=true still shows it). Recorded on the delivery; not engagement.',
} as const;

/** The in-app inbox: minted by the backend with a key, read by the customer's app with the token (src/api/inbox-routes.ts). */
const INBOX_OPERATIONS: ApiOperation[] = [
  {
    method: 'post',
    path: '/v1/customers/:userId/inbox-token',
    scope: 'customers:write',
    operation: {
      operationId: 'mintInboxToken',
      tags: ['inbox'],
      summary: 'A short-lived token for the customer’s app to read their in-app inbox',
      description:
        'Your backend calls this for a signed-in customer and hands the token to their app, which sends it as `Authorization: Bearer <token>` to /v1/inbox (an API key is never needed on a device). Signed with LINK_SECRETS under a purpose of its own (a preference or unsubscribe link is no inbox token), valid INBOX_TOKEN_TTL_SECONDS. No body. The customer need not have a profile yet.',
      requestParams: { path: CustomerParams },
      responses: { 200: ok('The token', InboxTokenAnswer), 400: ref('BadRequest'), ...KEY_REFUSALS, 404: ref('NotConfigured') },
    },
  },
  {
    method: 'get',
    path: '/v1/inbox',
    auth: 'inboxToken',
    operation: {
      operationId: 'listInbox',
      tags: ['inbox'],
      summary: 'The customer’s in-app messages, newest first',
      description:
        'The messages journeys put in this customer’s inbox that have not expired, newest first, a page at a time; dismissed ones only with `dismissed=true`. Reading also marks the customer’s unread messages past their expiry as expired. CORS: the origins in INBOX_CORS_ORIGINS.',
      requestParams: { query: InboxQuery },
      responses: { 200: ok('A page of messages', InboxPage), 400: ref('BadRequest'), 401: ref('InboxTokenRefused'), 404: ref('NotConfigured'), 429: ref('RateLimited'), 503: ref('Unavailable') },
    },
  },
  ...INBOX_ACTIONS.map(
    (action): ApiOperation => ({
      method: 'post',
      path: `/v1/inbox/:messageId/${action}`,
      auth: 'inboxToken',
      operation: {
        operationId: `inboxMessage${action[0]!.toUpperCase()}${action.slice(1)}`,
        tags: ['inbox'],
        summary: `Report the message ${action}`,
        description: `${INBOX_ACTION_TEXT[action]} Idempotent: each step is recorded once (its first time) and told to the journey once; a repeat answers the message as it is. Another customer’s message, an unknown or an expired one: 404. The body may be left out.`,
        requestParams: { path: InboxMessageParams },
        requestBody: jsonBody(InboxReportBody, '4 KB', { now: { summary: 'It happened now', value: {} }, offline: { summary: 'Reported after being offline', value: { at: '2026-11-25T10:00:00Z' } } }, false),
        responses: {
          200: ok('The message after the report', InboxMessage),
          400: ref('BadRequest'),
          401: ref('InboxTokenRefused'),
          404: ref('NotFound'),
          413: ref('PayloadTooLarge'),
          429: ref('RateLimited'),
          503: ref('Unavailable'),
        },
      },
    }),
  ),
];

export const API_OPERATIONS: ApiOperation[] = [
  {
    method: 'get',
    path: '/healthz',
    operation: {
      operationId: 'health',
      tags: ['operations'],
      summary: 'Liveness',
      description: 'The process answers HTTP. Says nothing about Temporal or MongoDB (see /readyz).',
      responses: { 200: ok('Alive', Health) },
    },
  },
  {
    method: 'get',
    path: '/readyz',
    operation: {
      operationId: 'ready',
      tags: ['operations'],
      summary: 'Readiness: Temporal and MongoDB reachable',
      responses: {
        200: ok('Both reachable', Readiness),
        503: ok('One of them is not (the body says which)', Readiness, retryAfterHeader),
      },
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operation: {
      operationId: 'openApiDocument',
      tags: ['operations'],
      summary: 'This document',
      description: 'Public: it describes the API and holds no data. The rendered reference is at /docs.',
      responses: { 200: ok('The OpenAPI 3.1 document', OpenApiDocument) },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    scope: 'metrics:read',
    operation: {
      operationId: 'metrics',
      tags: ['operations'],
      summary: 'Prometheus metrics of this API process',
      description:
        'HTTP requests by route pattern and status, events accepted and rejected, deliveries recorded in MongoDB by status, and process metrics, in the Prometheus text format. Give Prometheus a key with the scope metrics:read. Each worker serves its own metrics (with the Temporal SDK’s) on WORKER_METRICS_PORT.',
      responses: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          headers: requestIdHeader,
          content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } },
        },
        ...KEY_REFUSALS,
      },
    },
  },
  ...segmentOperations({
    ok,
    jsonBody,
    ref,
    bodyRefusals: BODY_REFUSALS,
    keyRefusals: KEY_REFUSALS,
    retryAfterHeader,
  }),
  {
    method: 'get',
    path: '/v1/customers',
    scope: 'customers:read',
    operation: {
      operationId: 'listCustomers',
      tags: ['customers'],
      summary: 'Customers in a stage, plan or segment',
      description: 'From Temporal visibility (the LifecycleStage, Plan and Segments search attributes), running journeys only, a page at a time.',
      requestParams: { query: CustomerListQuery },
      responses: { 200: ok('A page of customers', CustomerList), 400: ref('BadRequest'), ...KEY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'get',
    path: '/v1/customers/:userId',
    scope: 'customers:read',
    operation: {
      operationId: 'getCustomer',
      tags: ['customers'],
      summary: 'A customer’s profile and journey',
      description: 'Stage, plan, every stage change with its cause, pending timers and campaign steps, messages with their outcome, support actions, and a link to the Web UI.',
      requestParams: { path: CustomerParams },
      responses: { 200: ok('The customer', Customer), 400: ref('BadRequest'), ...KEY_REFUSALS, 404: ref('NotFound'), 503: ref('Unavailable') },
    },
  },
  {
    method: 'delete',
    path: '/v1/customers/:userId',
    scope: 'customers:write',
    operation: {
      operationId: 'eraseCustomer',
      tags: ['customers'],
      summary: 'Erase a customer (right to erasure)',
      description:
        'Terminates the journey if it runs, deletes every run of it from Temporal (Temporal finishes the deletion in the background, up to a minute on the dev server; the API answers 404 for the journey at once), then the profile, delivery records, outbox messages, SendGrid events and read-model records (journeys, journey_facts) from MongoDB; SendGrid events still arriving for the customer’s messages are then ignored. Workflow histories hold no personal data in plain text (ids in, profile read at send time; every payload encrypted). Idempotent: a repeated call answers 200 with zero counts. Events that arrive afterwards start a new journey.',
      requestParams: { path: CustomerParams },
      responses: { 200: ok('What was erased', Erasure), 400: ref('BadRequest'), ...KEY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'get',
    path: '/v1/customers/:userId/preferences',
    scope: 'customers:read',
    operation: {
      operationId: 'getPreferences',
      tags: ['customers'],
      summary: 'What marketing the customer wants, per topic and channel',
      description:
        'Every topic of the live journey definition and every channel, on or off (what the customer never chose is on). Marketing whose topic or channel is off is skipped with the reason; transactional messages always go. The same preferences the customer sets on the hosted preference page and with the one-click unsubscribe of a marketing email (docs/channels.md).',
      requestParams: { path: CustomerParams },
      responses: { 200: ok('The preferences', CustomerPreferences), 400: ref('BadRequest'), ...KEY_REFUSALS, 404: ref('NotFound'), 503: ref('Unavailable') },
    },
  },
  {
    method: 'put',
    path: '/v1/customers/:userId/preferences',
    scope: 'customers:write',
    operation: {
      operationId: 'putPreferences',
      tags: ['customers'],
      summary: 'Change the customer’s preferences',
      description:
        'Only what the body names changes. A topic the live definition does not declare, or an unknown channel, is refused with 400 and nothing changes. Applies to the next message at once (the delivery rules read the profile), and the journey, if one runs, is told: its timeline shows the change with source `api`. Creates the profile when identify has not yet. Repeating the call is harmless.',
      requestParams: { path: CustomerParams },
      requestBody: jsonBody(PreferencesBody, '16 KB', {
        topic: { summary: 'No more offers', value: { topics: { offers: false } } },
        all: { summary: 'No marketing at all', value: { marketing: false } },
      }),
      responses: { 200: ok('The preferences after the change', CustomerPreferences), ...BODY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  ...INBOX_OPERATIONS,
  {
    method: 'get',
    path: '/v1/push/vapid-public-key',
    operation: {
      operationId: 'getVapidPublicKey',
      tags: ['customers'],
      summary: 'The VAPID public key apps subscribe with',
      description:
        'Public, like the key: a browser app passes it as `applicationServerKey` to `pushManager.subscribe()`, then hands the subscription to its backend, which registers it. 404 `not_configured` without VAPID_PUBLIC_KEY.',
      responses: { 200: ok('The key', VapidPublicKey), 404: ref('NotFound') },
    },
  },
  {
    method: 'post',
    path: '/v1/customers/:userId/push-subscriptions',
    scope: 'customers:write',
    operation: {
      operationId: 'registerPushSubscription',
      tags: ['customers'],
      summary: 'Register a browser’s web push subscription for the customer',
      description:
        'The body is the browser’s `PushSubscription` as `JSON.stringify(subscription)` gives it. The endpoint must be https and on a push service this deployment sends to (WEB_PUSH_SERVICES), else 400 and nothing is stored. Idempotent by endpoint: the same endpoint again answers 200 and takes the new keys and owner (a shared device signed in as someone else); a new one answers 201. Push messages then go to every subscription the customer has; one the push service answers 404/410 for is removed (docs/channels.md).',
      requestParams: { path: CustomerParams },
      requestBody: jsonBody(PushSubscriptionBody, '16 KB', {
        chrome: {
          summary: 'A Chrome subscription (FCM)',
          value: {
            endpoint: 'https://fcm.googleapis.com/fcm/send/dN2x0example',
            expirationTime: null,
            keys: { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' },
          },
        },
      }),
      responses: { 200: ok('Already registered (keys and owner updated)', PushSubscriptionShown), 201: ok('Registered', PushSubscriptionShown), ...BODY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'get',
    path: '/v1/customers/:userId/push-subscriptions',
    scope: 'customers:read',
    operation: {
      operationId: 'listPushSubscriptions',
      tags: ['customers'],
      summary: 'The customer’s web push subscriptions',
      description: 'Oldest first; keys are never shown. An empty list for a customer without any (or unknown).',
      requestParams: { path: CustomerParams },
      responses: { 200: ok('The subscriptions', PushSubscriptionList), 400: ref('BadRequest'), ...KEY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'delete',
    path: '/v1/customers/:userId/push-subscriptions',
    scope: 'customers:write',
    operation: {
      operationId: 'removePushSubscriptionByEndpoint',
      tags: ['customers'],
      summary: 'Remove a subscription by its endpoint',
      description: 'For a backend told of a browser’s `unsubscribe()`: the endpoint as the subscription had it. 204, or 404 when the customer has no subscription with it.',
      requestParams: { path: CustomerParams, query: PushSubscriptionQuery },
      responses: { 204: { description: 'Removed', headers: requestIdHeader }, 400: ref('BadRequest'), ...KEY_REFUSALS, 404: ref('NotFound'), 503: ref('Unavailable') },
    },
  },
  {
    method: 'delete',
    path: '/v1/customers/:userId/push-subscriptions/:subscriptionId',
    scope: 'customers:write',
    operation: {
      operationId: 'removePushSubscription',
      tags: ['customers'],
      summary: 'Remove a subscription by id',
      description: '204, or 404 when the customer has no subscription with this id.',
      requestParams: { path: PushSubscriptionParams },
      responses: { 204: { description: 'Removed', headers: requestIdHeader }, 400: ref('BadRequest'), ...KEY_REFUSALS, 404: ref('NotFound'), 503: ref('Unavailable') },
    },
  },
  {
    method: 'post',
    path: '/v1/customers/:userId/extend-trial',
    scope: 'customers:write',
    operation: {
      operationId: 'extendTrial',
      tags: ['support'],
      summary: 'Move the trial end by 1-90 days',
      description: 'A validated Temporal Update: refused with 422 (history untouched) when the journey has no running trial. Audited with the key and reason.',
      requestParams: { path: CustomerParams, header: SupportHeaders },
      requestBody: jsonBody(ExtendTrialBody, '16 KB', { outage: { summary: 'A week for an outage', value: { days: 7, reason: 'app outage' } } }),
      responses: { 200: ok('The journey after the action', JourneyView), ...JOURNEY_ACTION_REFUSALS },
    },
  },
  {
    method: 'post',
    path: '/v1/customers/:userId/pause-marketing',
    scope: 'customers:write',
    operation: {
      operationId: 'pauseMarketing',
      tags: ['support'],
      summary: 'Skip marketing steps until resumed',
      description: 'Transactional messages go on. The body is optional; without a JSON content type it is ignored.',
      requestParams: { path: CustomerParams, header: SupportHeaders },
      requestBody: jsonBody(MarketingBody, '16 KB', { asked: { summary: 'With a reason', value: { reason: 'customer asked on the phone' } } }, false),
      responses: { 200: ok('The journey after the action', JourneyView), ...JOURNEY_ACTION_REFUSALS },
    },
  },
  {
    method: 'post',
    path: '/v1/customers/:userId/resume-marketing',
    scope: 'customers:write',
    operation: {
      operationId: 'resumeMarketing',
      tags: ['support'],
      summary: 'Resume marketing after a pause',
      description: 'The body is optional; without a JSON content type it is ignored.',
      requestParams: { path: CustomerParams, header: SupportHeaders },
      requestBody: jsonBody(MarketingBody, '16 KB', { plain: { summary: 'Without a reason', value: {} } }, false),
      responses: { 200: ok('The journey after the action', JourneyView), ...JOURNEY_ACTION_REFUSALS },
    },
  },
  {
    method: 'patch',
    path: '/v1/customers/:userId/profile',
    scope: 'customers:write',
    operation: {
      operationId: 'correctProfile',
      tags: ['support'],
      summary: 'Correct the profile’s time zone or locale',
      description: 'At least one of timezone and locale. Audited in the journey.',
      requestParams: { path: CustomerParams, header: SupportHeaders },
      requestBody: jsonBody(CorrectProfileBody, '16 KB', { moved: { summary: 'The customer moved', value: { timezone: 'America/Chicago', reason: 'moved to Chicago' } } }),
      responses: { 200: ok('The journey after the action', JourneyView), ...JOURNEY_ACTION_REFUSALS },
    },
  },
  {
    method: 'get',
    path: '/v1/outbox',
    scope: 'customers:read',
    operation: {
      operationId: 'listOutbox',
      tags: ['customers'],
      summary: 'Messages delivered to the local outbox',
      description: 'Without SENDGRID_API_KEY, messages go to this outbox instead of SendGrid.',
      requestParams: { query: OutboxQuery },
      responses: { 200: ok('Outbox messages', OutboxList), 400: ref('BadRequest'), ...KEY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'get',
    path: '/v1/kpis',
    scope: 'customers:read',
    operation: {
      operationId: 'getKpis',
      tags: ['customers'],
      summary: 'Lifecycle and campaign KPIs',
      description: 'Customers per stage, the activation, repeat-customer and loyal-customer rates, and per campaign and variant: sent, converted, rate and lift over the holdout, and what SendGrid reported (delivered, bounced, opened, clicked, with the delivery, open and click rates).',
      responses: { 200: ok('The KPIs now', Kpis), ...KEY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'get',
    path: '/v1/kpis/timeseries',
    scope: 'customers:read',
    operation: {
      operationId: 'getKpiTimeseries',
      tags: ['customers'],
      summary: 'The lifecycle rates over time',
      description: 'Per day or week (UTC) between from and to (dates or date-times with offset; to defaults to now).',
      requestParams: { query: KpiTimeseriesQuery },
      responses: { 200: ok('The series', KpiTimeseries), 400: ref('BadRequest'), ...KEY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'post',
    path: SENDGRID_WEBHOOK_PATH,
    auth: 'sendgridSignature',
    operation: {
      operationId: 'sendgridEvents',
      tags: ['webhooks'],
      summary: 'SendGrid Event Webhook: what happened to the emails we sent',
      description: [
        'Point SendGrid’s Event Webhook here with the Signed Event Webhook on, and set SENDGRID_WEBHOOK_PUBLIC_KEY to its verification key (without it: 404 not_configured). No API key: the request is authenticated by the ECDSA signature over the X-Twilio-Email-Event-Webhook-Timestamp header followed by the raw body; unsigned, badly signed, or signed more than ' +
          `${MAX_SKEW_SECONDS / 60} minutes from the API’s clock: 401, nothing stored or signalled. Not rate-limited (a 429 would only make SendGrid send the batch again).`,
        'Each event is applied once, keyed by sg_event_id, and matched to the message by our delivery_key custom arg: stored (email_events), marked on the message’s delivery record, and told to the customer’s journey (ids and types only; for open and click with the hour in the customer’s time zone). Events without a delivery key we issued are ignored, not refused. When Temporal or MongoDB cannot be reached: 503 with Retry-After, and SendGrid sends the batch again; what was applied is then a duplicate, what was stored but not yet told to the journey is told.',
      ].join('\n\n'),
      requestBody: {
        required: true,
        description: 'The batch exactly as SendGrid posts it (any content type), at most 5 MB. Fields we do not read are allowed.',
        content: {
          'application/json': {
            schema: z.array(SendgridEvent),
            examples: {
              opened: {
                summary: 'Delivered, then opened (SendGrid separates events with CRLF)',
                value: [
                  {
                    email: 'ada@example.com',
                    timestamp: 1764064800,
                    'smtp-id': '<14c5d75ce93.dfd.64b469@ismtpd-555>',
                    event: 'delivered',
                    ip: '168.1.1.1',
                    response: '250 OK',
                    sg_event_id: 'ZGVsaXZlcmVkLTAtMTIzNDU2Nzg5MA',
                    sg_message_id: 'xVW6UbVxQqaQhS2mQpvD7g.filterdrecv-5645d9c87f-9cf7z-1-6925B0A0-1.0',
                    delivery_key: 'customer-ada/welcome/1',
                    user_id: 'ada',
                    campaign_id: 'welcome',
                  },
                  {
                    email: 'ada@example.com',
                    timestamp: 1764065100,
                    event: 'open',
                    sg_machine_open: false,
                    useragent: 'Mozilla/5.0',
                    ip: '203.0.113.7',
                    sg_event_id: 'b3Blbi0wLTEyMzQ1Njc4OTA',
                    sg_message_id: 'xVW6UbVxQqaQhS2mQpvD7g.filterdrecv-5645d9c87f-9cf7z-1-6925B0A0-1.0',
                    delivery_key: 'customer-ada/welcome/1',
                    user_id: 'ada',
                    campaign_id: 'welcome',
                  },
                ],
              },
            },
          },
        },
      },
      responses: {
        200: ok('The batch is applied (also when every event was ignored or a duplicate)', SendgridEventsApplied),
        400: ref('BadRequest'),
        401: ref('SignatureRefused'),
        404: ref('NotConfigured'),
        413: ref('PayloadTooLarge'),
        503: ref('Unavailable'),
      },
    },
  },
  {
    method: 'post',
    path: TWILIO_STATUS_PATH,
    auth: 'twilioSignature',
    operation: {
      operationId: 'twilioStatusCallback',
      tags: ['webhooks'],
      summary: 'Twilio status callback: what became of a text message we sent',
      description: [
        'Twilio posts here for each text message the SMS channel sent (its StatusCallback, PUBLIC_URL + this path with our delivery key as `key`). Authenticated by X-Twilio-Signature over PUBLIC_URL + path and query and the form parameters, with TWILIO_AUTH_TOKEN (without it: 404 not_configured); missing or wrong: 403, nothing changes.',
        'Each message status is applied once (by MessageSid and MessageStatus): stored (channel_events), marked on the delivery record, and told to the customer’s journey: delivered; undelivered or failed with an error code that says the number can never take a text (30005, 30006, 21211, 21610, ...) suppresses SMS for the customer, any other undelivered or failed is counted. When MongoDB or Temporal cannot be reached: 503 with Retry-After (Twilio retries a callback that fails).',
      ].join('\n\n'),
      requestParams: { query: TwilioStatusQuery },
      requestBody: {
        required: true,
        description: 'Twilio’s form parameters (application/x-www-form-urlencoded), at most 64 KB. Parameters we do not read are allowed.',
        content: {
          'application/x-www-form-urlencoded': {
            schema: TwilioStatusCallback,
            examples: {
              delivered: {
                summary: 'Delivered',
                value: { MessageSid: 'SM0123456789abcdef0123456789abcdef', MessageStatus: 'delivered', AccountSid: 'AC0123456789abcdef0123456789abcdef', To: '+4915123456789' },
              },
            },
          },
        },
      },
      responses: {
        200: ok('Applied, a duplicate, or ignored', TwilioStatusApplied),
        400: ref('BadRequest'),
        403: ref('TwilioSignatureRefused'),
        404: ref('TwilioNotConfigured'),
        413: ref('PayloadTooLarge'),
        503: ref('Unavailable'),
      },
    },
  },
  {
    method: 'post',
    path: TWILIO_INBOUND_PATH,
    auth: 'twilioSignature',
    operation: {
      operationId: 'twilioInboundMessage',
      tags: ['webhooks'],
      summary: 'Twilio inbound message: STOP, START and HELP from customers',
      description: [
        'Set as the incoming-message webhook of the sending number or Messaging Service. Authenticated by X-Twilio-Signature as the status callback is; missing or wrong: 403, nothing changes.',
        'STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE) stops every text message to the customers whose `phone` trait is the sender’s number and turns their `sms` channel preference off; START (UNSTOP, YES) lifts both; HELP (INFO) is answered with SMS_HELP_TEXT. Each change shows in the journey’s timeline (source `sms-stop`). The answer is TwiML: a confirmation message, or none when Twilio’s Advanced Opt-Out already answered (OptOutType set) or the message is not a keyword. MongoDB unreachable: 503 with Retry-After; Temporal unreachable: the profile is changed all the same and the answer is 200.',
      ].join('\n\n'),
      requestBody: {
        required: true,
        description: 'Twilio’s form parameters (application/x-www-form-urlencoded), at most 64 KB. Parameters we do not read are allowed.',
        content: {
          'application/x-www-form-urlencoded': {
            schema: TwilioInboundMessage,
            examples: { stop: { summary: 'A STOP', value: { MessageSid: 'SM0123456789abcdef0123456789abcdef', From: '+4915123456789', To: '+15005550006', Body: 'STOP' } } },
          },
        },
      },
      responses: {
        200: {
          description: 'TwiML: the reply to send, or an empty Response',
          headers: requestIdHeader,
          content: { 'text/xml': { schema: z.string().meta({ example: '<?xml version="1.0" encoding="UTF-8"?><Response><Message>You are unsubscribed …</Message></Response>' }) } },
        },
        400: ref('BadRequest'),
        403: ref('TwilioSignatureRefused'),
        404: ref('TwilioNotConfigured'),
        413: ref('PayloadTooLarge'),
        503: ref('Unavailable'),
      },
    },
  },
  ...(['decode', 'encode'] as const).map(
    (direction): ApiOperation => ({
      method: 'post',
      path: `/codec/${direction}`,
      scope: 'codec:decode',
      operation: {
        operationId: `codec${direction === 'decode' ? 'Decode' : 'Encode'}`,
        tags: ['codec'],
        summary: direction === 'decode' ? 'Decrypt Temporal payloads (codec server)' : 'Encrypt Temporal payloads (codec server)',
        description: [
          direction === 'decode'
            ? 'The Temporal codec server protocol, for the Web UI and the CLI (temporal workflow show --codec-endpoint <api>/codec --codec-auth "Bearer <key>"): payloads encrypted by the workers come back as they were written; payloads that are not encrypted come back unchanged.'
            : 'The Temporal codec server protocol: encrypts payloads with the primary payload key, as the workers do (the Web UI uses it to start or signal a workflow).',
          'In a browser, the key may instead come from the sign-in cookie of /codec/sign-in (the Web UI’s "Include cross-origin credentials"). CORS answers only the configured Web UI origins (CODEC_CORS_ORIGINS); the X-Namespace header is accepted and not needed. A payload that cannot be converted (an unknown key id, altered data) refuses the call with 400 and names it in issues.',
        ].join(' '),
        requestBody: jsonBody(CodecPayloads, '8 MB', {
          plain: { summary: 'A JSON payload ("ada")', value: { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'ImFkYSI=' }] } },
        }),
        responses: { 200: ok(direction === 'decode' ? 'The payloads, decrypted' : 'The payloads, encrypted', CodecPayloads), ...BODY_REFUSALS },
      },
    }),
  ),
  {
    method: 'get',
    path: '/v1/definitions',
    scope: 'definitions:read',
    operation: {
      operationId: 'listDefinitions',
      tags: ['definitions'],
      summary: 'Every stored version of the journey definition',
      description: 'Newest first, each with every time it was made live: who (API key id, or DEFINITION_FILE for the seed), when, why (the note) and from which version.',
      responses: { 200: ok('The versions', DefinitionList), ...KEY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'get',
    path: '/v1/definitions/versions/:version',
    scope: 'definitions:read',
    operation: {
      operationId: 'showDefinition',
      tags: ['definitions'],
      summary: 'One stored version, as authored',
      requestParams: { path: DefinitionVersionParams },
      responses: { 200: ok('The version', DefinitionShown), 400: ref('BadRequest'), ...KEY_REFUSALS, 404: ref('NotFound'), 503: ref('Unavailable') },
    },
  },
  {
    method: 'post',
    path: '/v1/definitions/check',
    scope: 'definitions:read',
    operation: {
      operationId: 'checkDefinition',
      tags: ['definitions'],
      summary: 'Check a definition: every violation',
      description: 'Answers 200 either way: valid with its version, or every violation the loader finds (schema, graph and template checks). Nothing is stored.',
      requestBody: jsonBody(CheckDefinitionBody, '1mb', { empty: { summary: 'A definition with violations', value: { definition: { id: 'x', name: 'X', initialStage: 'a', stages: [] } } } }),
      responses: { 200: ok('The check', DefinitionCheck), ...BODY_REFUSALS, 503: ref('Unavailable') },
    },
  },
  {
    method: 'post',
    path: '/v1/definitions/simulate',
    scope: 'definitions:read',
    operation: {
      operationId: 'simulateDefinition',
      tags: ['definitions'],
      summary: 'The definition and the live version side by side on the same synthetic customers',
      description: 'The changes against the live version with the live journeys each reaches, and the KPIs of both runs (stage counts and rates, per campaign and variant: sent, converted, rate, lift). Nothing is stored. 422 with every violation when the definition is invalid.',
      requestBody: jsonBody(SimulateDefinitionBody, '1mb', {
        small: {
          summary: 'A definition (as authored) on 50 customers over 60 days',
          value: { definition: { id: 'other_journey', name: 'Other', initialStage: 'a', stages: [{ id: 'a' }] }, simulation: { customers: 50, days: 60, seed: 7 } },
        },
      }),
      responses: { 200: ok('Both runs', PublishGate), ...BODY_REFUSALS, 422: ref('Refused'), 503: ref('Unavailable') },
    },
  },
  {
    method: 'post',
    path: '/v1/definitions/publish',
    scope: 'definitions:write',
    operation: {
      operationId: 'publishDefinition',
      tags: ['definitions'],
      summary: 'Publish a definition through the gate',
      description:
        'Without `confirm`: the preview (changes, live journeys each reaches, both versions simulated side by side) and a confirmToken; nothing changes. With the token: the version becomes live at once for new journeys and for running ones at their next continue-as-new (201). Refused with 409 and every reason when running journeys could not move to it (a stage they stand in removed, an attribute type changed), or when the live version moved since the preview; 422 with every violation when it is invalid.',
      requestBody: jsonBody(PublishDefinitionBody, '1mb', {
        preview: { summary: 'Preview a publish (then send the answer’s confirmToken as confirm)', value: { definition: { id: 'other_journey', name: 'Other', initialStage: 'a', stages: [{ id: 'a' }] }, note: 'one trial reminder is enough' } },
      }),
      responses: {
        200: ok('The preview (or unchanged: it is live already)', PublishGate),
        201: ok('Published', PublishGate),
        ...BODY_REFUSALS,
        409: ref('Conflict'),
        422: ref('Refused'),
        503: ref('Unavailable'),
      },
    },
  },
  {
    method: 'post',
    path: '/v1/definitions/rollback',
    scope: 'definitions:write',
    operation: {
      operationId: 'rollbackDefinition',
      tags: ['definitions'],
      summary: 'Publish an earlier stored version again, through the same gate',
      requestBody: jsonBody(RollbackDefinitionBody, '16kb', { rollback: { summary: 'Preview a rollback', value: { version: '8683f87a5967', note: 'the new reminder converts worse' } } }),
      responses: {
        200: ok('The preview (or unchanged)', PublishGate),
        201: ok('Published again', PublishGate),
        ...BODY_REFUSALS,
        404: ref('NotFound'),
        409: ref('Conflict'),
        503: ref('Unavailable'),
      },
    },
  },
];

/** `/v1/customers/:userId` -> `/v1/customers/{userId}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:(\w+)/g, '{$1}');
}

// The JavaScript white space String.prototype.trim removes, spelled out so every regex engine reads it alike.
const WS = String.raw`\u0009-\u000d\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff`;
const CONTROL = String.raw`\u0000-\u001f\u007f`;
const NO_CONTROL_SOURCE = String.raw`^[^\u0000-\u001f\u007f]*$`;

/**
 * A string zod trims before checking its length (and, with noControl, that it holds no control
 * characters), as one pattern: length limits on the untrimmed text would refuse what the API accepts.
 */
export function trimmedPattern(max: number, noControl: boolean): string {
  const edge = noControl ? `[^${WS}${CONTROL}]` : `[^${WS}]`;
  const inner = noControl ? `[^${CONTROL}]` : `(?:[^${WS}]|[${WS}])`;
  return `^[${WS}]*(?:${edge}|${edge}${inner}{0,${max - 2}}${edge})[${WS}]*$`;
}

/** Keys refused at every depth of properties and traits: empty, __proto__, constructor, prototype, starting with $, white space at either end, holding . or NUL. */
const KEY_END = String.raw`[^.\u0000${WS}\u0085]`;
const KEY_PATTERN = String.raw`^(?!\$)(?!(?:__proto__|constructor|prototype)$)(?:${KEY_END}|${KEY_END}[^.\u0000]*${KEY_END})$`;

interface ZodDef {
  type: string;
  checks?: Array<{ _zod: { def: { check: string; tx?: (s: string) => string; minimum?: number; maximum?: number; pattern?: RegExp } } }>;
}

/** Rules the zod schemas check in code (trim, refinements, nested keys), written into the JSON Schema. */
const override: NonNullable<CreateDocumentOptions['override']> = ({ jsonSchema, zodSchema, io }) => {
  if (io !== 'input') return;
  const def = (zodSchema as unknown as { _zod: { def: ZodDef } })._zod.def;
  const checks = (def.checks ?? []).map((c) => c._zod.def);
  if (def.type === 'string' && checks.some((c) => c.check === 'overwrite' && c.tx?.(' a ') === 'a')) {
    const min = checks.find((c) => c.check === 'min_length')?.minimum ?? 0;
    const max = checks.find((c) => c.check === 'max_length')?.maximum;
    const pattern = checks.find((c) => c.check === 'string_format')?.pattern?.source;
    if (min === 1 && max !== undefined && max >= 2 && (pattern === undefined || pattern === NO_CONTROL_SOURCE)) {
      delete jsonSchema.minLength;
      delete jsonSchema.maxLength;
      jsonSchema.pattern = trimmedPattern(max, pattern !== undefined);
      jsonSchema.description = [
        jsonSchema.description,
        `Leading and trailing white space is trimmed; then 1-${max} characters${pattern ? ', no control characters' : ''}.`,
      ]
        .filter(Boolean)
        .join(' ');
    }
    return;
  }
  if (zodSchema === IdentifyTraits) {
    const known = createSchema(KnownTraits, { io: 'input', opts: { override } }).schema as { properties?: Record<string, unknown> };
    for (const key of Object.keys(jsonSchema)) delete (jsonSchema as Record<string, unknown>)[key];
    Object.assign(jsonSchema, {
      type: 'object',
      properties: known.properties,
      additionalProperties: {},
      propertyNames: { type: 'string', pattern: KEY_PATTERN },
      description:
        'The known traits below have a meaning of their own (null removes one); any other trait is kept as a free trait for segments and templates. At most 32 KB as JSON, 8 levels deep; no key, at any depth, may be empty, be __proto__, constructor or prototype, start with $, start or end with white space, or contain . or NUL; keys and strings must be well-formed Unicode (no lone surrogate); numbers must be finite; no array directly inside an array (FerretDB cannot store one).',
    });
    return;
  }
  if (FREE_FORM_OBJECTS.has(zodSchema)) {
    jsonSchema.propertyNames = { type: 'string', pattern: KEY_PATTERN };
    jsonSchema.description = 'At most 16 KB as JSON, 8 levels deep; no key, at any depth, may be empty, be __proto__, constructor or prototype, start with $, start or end with white space, or contain . or NUL; keys and strings must be well-formed Unicode (no lone surrogate); numbers must be finite.';
    return;
  }
  if (zodSchema === BatchBody.shape.batch) {
    jsonSchema.items = { description: 'Each item is validated on its own as a BatchItem (see components); an invalid item is rejected in the answer, not the batch.' };
    return;
  }
  if (zodSchema === CorrectProfileBody) {
    jsonSchema.anyOf = [{ required: ['timezone'] }, { required: ['locale'] }];
  }
};

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const errorResponse = (description: string, headers: Record<string, { $ref: string }> = {}): ZodOpenApiResponseObject => ({
  description,
  headers: { ...requestIdHeader, ...headers },
  content: { 'application/json': { schema: ErrorBody } },
});

/** The document, built once per process (it depends only on the code). */
let built: ReturnType<typeof createDocument> | undefined;

export function openApiDocument(): ReturnType<typeof createDocument> {
  if (built) return built;
  const paths: ZodOpenApiPathsObject = {};
  for (const { method, path, scope, orScope, auth, operation } of API_OPERATIONS) {
    const security = scope ? [{ apiKey: [scope] }, ...(orScope ? [{ apiKey: [orScope] }] : [])] : auth ? [{ [auth]: [] }] : [];
    const signer = auth === 'twilioSignature' ? 'Twilio’s' : 'SendGrid’s';
    const access = scope
      ? `Scope: \`${scope}\`${orScope ? ` or \`${orScope}\`` : ''}.`
      : auth === 'inboxToken'
        ? 'No API key: an inbox token (POST /v1/customers/{userId}/inbox-token) authenticates the customer.'
        : auth
          ? `No API key: ${signer} signature authenticates the request.`
          : 'Public: no key needed.';
    const description = [operation.description, access].filter(Boolean).join('\n\n');
    paths[openApiPath(path)] = {
      ...paths[openApiPath(path)],
      [method]: {
        ...operation,
        description,
        security,
        // Every route behind a key counts against the key's rate limit (track and identify also the customer's).
        responses: { ...operation.responses, ...(scope ? { 429: ref('RateLimited') } : {}) },
        ...(scope ? { 'x-required-scope': scope } : {}),
        parameters: [{ $ref: '#/components/parameters/RequestId' }, ...(operation.parameters ?? [])],
      },
    };
  }
  built = createDocument(
    {
      openapi: '3.1.0',
      info: {
        title: 'Lifecycle orchestrator API',
        version,
        description: [
          'Customer lifecycle journeys on Temporal. Field names follow the Segment HTTP tracking spec.',
          'Authentication: `Authorization: Bearer <key>`, or HTTP Basic with the key as the user name and an empty password (a Segment write key), keys from API_KEYS, each with scopes (events:write, events:read, customers:read, customers:write, metrics:read, codec:decode, definitions:read, definitions:write). Each operation names the scope it needs; a missing or unknown key is 401, a key without the scope 403, checked before the body is read.',
          'Rate limits: requests per API key (RATE_LIMIT_PER_KEY, a batch is one request) and events per customer (CUSTOMER_EVENTS_PER_SECOND: track, identify and each batch item). Over a limit: 429 with Retry-After in seconds; a batch marks the refused items rate_limited instead.',
          'Errors: every 4xx and 5xx answer is an Error object with a machine-readable code and the request id. Bad input is 400 with every problem listed and nothing written. When Temporal or MongoDB cannot be reached: 503 with Retry-After, never a 202 for an event that was not stored. A path that does not exist is 404; a path asked with a method it does not have is 405 with Allow (OPTIONS answers 204 with Allow); a request line and headers over 16 KB in all are 431, on any operation. Strings must be well-formed Unicode: a lone surrogate (\\ud800 in JSON) is refused, as MongoDB and Temporal would not store it as sent.',
          'Every answer carries x-request-id: the caller’s own (1-100 characters of letters, digits, _ . : -) or a generated one.',
        ].join('\n\n'),
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      tags: [
        { name: 'events', description: 'Backends send customer events and profiles (scope events:write).' },
        { name: 'customers', description: 'Read customers, journeys, the outbox and KPIs (scope customers:read).' },
        { name: 'support', description: 'Support actions on a journey, as validated Temporal Updates (scope customers:write).' },
        { name: 'operations', description: 'Health, readiness, metrics and this document.' },
        { name: 'webhooks', description: 'Providers reporting back, each authenticated by its signature: SendGrid’s Event Webhook (see docs/sendgrid-events.md), Twilio’s status callbacks and inbound messages (see docs/channels.md).' },
        { name: 'definitions', description: 'The journey definition’s versions: list, check, simulate, publish through the gate, roll back (scopes definitions:read, definitions:write).' },
        { name: 'inbox', description: 'The customer’s in-app inbox, read by their app with an inbox token your backend mints (see docs/channels.md).' },
        { name: 'codec', description: 'The payload codec for the Temporal Web UI and CLI (scope codec:decode); see docs/security.md.' },
      ],
      paths,
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key from API_KEYS. The scopes listed in an operation’s security requirement are the ones the key must have.',
          },
          inboxToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'An inbox token from POST /v1/customers/{userId}/inbox-token: one customer’s in-app inbox, until it expires (INBOX_TOKEN_TTL_SECONDS). An API key is refused here.',
          },
          twilioSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Twilio-Signature',
            description: 'Twilio’s request signature: base64 HMAC-SHA1, keyed with TWILIO_AUTH_TOKEN, of PUBLIC_URL + path and query followed by each form parameter’s name and value in name order (the twilio SDK’s validateRequest).',
          },
          sendgridSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Twilio-Email-Event-Webhook-Signature',
            description:
              'SendGrid’s Signed Event Webhook: base64 DER ECDSA (P-256, SHA-256) signature over the X-Twilio-Email-Event-Webhook-Timestamp header (Unix seconds, within ' +
              `${MAX_SKEW_SECONDS / 60} minutes of the API’s clock) followed by the raw body, verified with SENDGRID_WEBHOOK_PUBLIC_KEY. Both headers are required.`,
          },
        },
        // BatchItem is not a body of its own (a batch item is checked in code), so it is rendered as an input here.
        schemas: {
          TrackCall: TrackBody,
          IdentifyCall: IdentifyBody,
          PageCall: PageBody,
          GroupCall: GroupBody,
          AliasCall: AliasBody,
          BatchItem: BatchItem.meta({ unusedIO: 'input' }),
        },
        parameters: {
          RequestId: {
            in: 'header',
            name: 'x-request-id',
            required: false,
            description: 'Your id for this request (1-100 characters of letters, digits, _ . : -), echoed back and logged; any other value is replaced by a generated one.',
            schema: { type: 'string' },
          },
        },
        headers: {
          RequestId: { description: 'The request id, as logged', required: true, schema: { type: 'string' } },
          RetryAfter: { description: 'Seconds to wait before retrying', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } },
          WwwAuthenticate: { description: 'The schemes a key may come in: Bearer, and Basic as the Segment HTTP API defines it (the key as the user name, an empty password)', required: true, schema: { type: 'string', const: AUTH_CHALLENGE } },
          InboxChallenge: { description: 'An inbox token is wanted, not an API key', required: true, schema: { type: 'string', const: INBOX_CHALLENGE } },
          SignatureChallenge: { description: 'A SendGrid signature is wanted, not an API key', required: true, schema: { type: 'string', const: SIGNATURE_CHALLENGE } },
        },
        responses: {
          BadRequest: errorResponse(
            'invalid_request: the input is invalid (every problem in issues, nothing written); malformed_json: the body is not JSON; bad_request: the body or the path could not be read.',
          ),
          Unauthenticated: errorResponse('unauthenticated: no key, or not one of API_KEYS', { 'WWW-Authenticate': { $ref: '#/components/headers/WwwAuthenticate' } }),
          Forbidden: errorResponse('forbidden: the key lacks the scope this operation needs'),
          SignatureRefused: errorResponse('unauthenticated: not signed by SendGrid with the configured key, or the signature’s timestamp is too far from the API’s clock; nothing stored or signalled', {
            'WWW-Authenticate': { $ref: '#/components/headers/SignatureChallenge' },
          }),
          TwilioSignatureRefused: errorResponse('forbidden: no X-Twilio-Signature, or one that does not match PUBLIC_URL + path, the parameters and TWILIO_AUTH_TOKEN; nothing changes'),
          TwilioNotConfigured: errorResponse('not_configured: TWILIO_AUTH_TOKEN is not set on this API, so it takes no Twilio callbacks'),
          NotConfigured: errorResponse('not_configured: SENDGRID_WEBHOOK_PUBLIC_KEY is not set on this API, so it takes no SendGrid events (or: this API was built without an in-app inbox)'),
          InboxTokenRefused: errorResponse('unauthenticated: no inbox token, not one of ours, minted for another purpose, or expired; mint a new one', {
            'WWW-Authenticate': { $ref: '#/components/headers/InboxChallenge' },
          }),
          NotFound: errorResponse('not_found: no such customer or journey'),
          PayloadTooLarge: errorResponse('payload_too_large: the body is over the route’s limit'),
          UnsupportedMediaType: errorResponse('bad_request: a JSON body in a charset other than UTF-8, or a Content-Encoding the API does not decode'),
          Conflict: errorResponse('refused: running journeys could not move to this version (every reason in issues, with the live journeys each reaches); live_version_moved: another publish changed the live version since the preview'),
          AlreadyReplayed: errorResponse('already_replayed: the rejected item was replayed already (each is applied once)'),
          Refused: errorResponse('refused: the journey’s validator refused the action (history untouched); the message says why'),
          RateLimited: errorResponse('rate_limited: over the key’s requests per second, or (track, identify) the customer’s events per second. Retry after Retry-After.', retryAfterHeader),
          Unavailable: errorResponse('upstream_unavailable: Temporal or MongoDB could not be reached; nothing was acknowledged. Retry after Retry-After.', retryAfterHeader),
        },
      },
    },
    { override },
  );
  return built;
}
