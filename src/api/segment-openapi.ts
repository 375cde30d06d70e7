import type { ZodOpenApiResponseObject } from 'zod-openapi';
import type { z } from 'zod';
import type { ApiOperation } from './api-operation.js';
import { IdentifyAccepted, RejectedList, Replayed, BatchResult, TrackAccepted } from './response-schemas.js';
import { BatchBody, CALL_SCHEMAS, CALL_TYPES, type CallType } from './segment-spec.js';
import { RejectedParams, RejectedQuery } from './segment-routes.js';

type Ref = { $ref: string };
export interface OpenApiHelpers {
  ok(description: string, schema: z.ZodType, headers?: Record<string, Ref>): ZodOpenApiResponseObject;
  jsonBody(schema: z.ZodType, limit: string, examples: Record<string, { summary: string; value: unknown }>): unknown;
  ref(name: string): Ref;
  bodyRefusals: Record<number, Ref>;
  keyRefusals: Record<number, Ref>;
  retryAfterHeader: Record<string, Ref>;
}

const SUMMARY: Record<CallType, string> = {
  track: 'Record a customer event (Segment track)',
  identify: 'Create or update a customer profile (Segment identify)',
  page: 'Record a page view (Segment page)',
  screen: 'Record a screen view in an app (Segment screen)',
  group: 'Put the customer in an account, with its traits (Segment group)',
  alias: 'Join two ids of one customer (Segment alias)',
};
const DESCRIPTION: Record<CallType, string> = {
  track:
    '202 once the event is durably in the customer’s journey (signal-with-start of workflow customer-<userId>). The same messageId is applied once, also across continue-as-new.',
  identify:
    'Upserts the profile in MongoDB (null removes a trait) and tells the journey, if one runs, which traits changed: names only, personal data stays out of workflow histories. With userId and anonymousId, links the visitor to the customer: the calls the anonymousId made before join the journey in timestamp order, once, and later calls with that anonymousId reach the customer.',
  page: 'A page view is an event named by its `name` (name and category are also among its properties): a journey triggers, counts and filters on it with `call: page`. It counts as activity. 202 as for track.',
  screen: 'A screen view (mobile apps), as a page view with `call: screen`. 202 as for track.',
  group: 'Keeps the account on the profile (`group.id`, `group.traits`; every account in `groupIds`) so segments can filter on it, and tells a running journey.',
  alias: 'Links previousId (an anonymousId or an older id) to userId: its kept calls join the customer’s journey in timestamp order, once. The first link of an id wins.',
};
const EXAMPLES: Record<CallType, Record<string, { summary: string; value: unknown }>> = {
  track: {
    trialStarted: { summary: 'A trial starts', value: { userId: 'ada', event: 'Trial Started', messageId: 'ada-2', timestamp: '2026-11-25T10:00:00Z', properties: { source: 'ios' } } },
    anonymous: { summary: 'A visitor, before signing up', value: { anonymousId: 'v-41f0', event: 'Paywall Viewed', messageId: 'v-41f0-1' } },
  },
  identify: {
    profile: { summary: 'A new customer', value: { userId: 'ada', anonymousId: 'v-41f0', traits: { email: 'ada@example.com', firstName: 'Ada', locale: 'de-DE', timezone: 'Europe/Berlin' } } },
  },
  page: { pricing: { summary: 'The pricing page', value: { userId: 'ada', name: 'Pricing', properties: { path: '/pricing' }, messageId: 'ada-p1' } } },
  screen: { workout: { summary: 'The workout screen', value: { userId: 'ada', name: 'Workout', messageId: 'ada-s1' } } },
  group: { account: { summary: 'A team account', value: { userId: 'ada', groupId: 'acme', traits: { plan: 'enterprise', seats: 40 } } } },
  alias: { join: { summary: 'A visitor becomes a customer', value: { previousId: 'v-41f0', userId: 'ada' } } },
};

const COMMON_NOTE =
  'Any client of the Segment HTTP API works unchanged: Basic auth with the key as the user name, gzip or deflate bodies (limits apply after decoding), every field of the spec. A top-level field the spec does not define is left out and listed in `warnings`; a missing messageId is derived from the call’s content; with sentAt, timestamp is corrected by receivedAt - sentAt.';

/** The Segment API's operations, for the OpenAPI document. */
export function segmentOperations(h: OpenApiHelpers): ApiOperation[] {
  const calls = CALL_TYPES.map(
    (type): ApiOperation => ({
      method: 'post',
      path: `/v1/${type}`,
      scope: 'events:write',
      operation: {
        operationId: type,
        tags: ['events'],
        summary: SUMMARY[type],
        description: `${DESCRIPTION[type]} ${COMMON_NOTE}`,
        requestBody: h.jsonBody(CALL_SCHEMAS[type], '32 KB', EXAMPLES[type]) as never,
        responses: {
          ...(type === 'track' || type === 'page' || type === 'screen'
            ? { 202: h.ok('Accepted (in the journey, or kept for the visitor)', TrackAccepted) }
            : { 200: h.ok('Accepted', IdentifyAccepted) }),
          ...h.bodyRefusals,
          503: h.ref('Unavailable'),
        },
      },
    }),
  );
  const batches = (['/v1/batch', '/v1/import'] as const).map(
    (path): ApiOperation => ({
      method: 'post',
      path,
      scope: 'events:write',
      operation: {
        operationId: path === '/v1/batch' ? 'batch' : 'import',
        tags: ['events'],
        summary: path === '/v1/batch' ? 'Record up to 500 calls of any type' : 'Segment’s alias of /v1/batch (historical imports)',
        description:
          'Each item (a call with its `type`) is validated and applied on its own; the answer says per item accepted, rejected (kept in the rejected store: `rejectedId`), unavailable or rate_limited. One customer’s items keep their order. 200 when every item was accepted or rejected; when any item is unavailable the answer is 503 (any rate_limited: 429) with Retry-After, so a client retries the whole batch: items applied already are dropped by messageId, rejected ones are kept once. ' +
          COMMON_NOTE,
        requestBody: h.jsonBody(BatchBody, '500 KB', {
          mixed: {
            summary: 'A profile, a page view and an event',
            value: {
              batch: [
                { type: 'identify', userId: 'cy', traits: { email: 'cy@example.com', firstName: 'Cy' } },
                { type: 'page', userId: 'cy', name: 'Pricing', messageId: 'cy-0' },
                { type: 'track', userId: 'cy', event: 'Signed Up', messageId: 'cy-1' },
              ],
              sentAt: '2026-11-25T10:00:00Z',
            },
          },
        }) as never,
        responses: {
          200: h.ok('Each item’s outcome: accepted or rejected (and kept)', BatchResult),
          ...h.bodyRefusals,
          429: h.ok('Some item’s customer is over their events per second; retry the batch after Retry-After', BatchResult, h.retryAfterHeader),
          503: h.ok('Some item could not be applied (an outage); retry the batch after Retry-After', BatchResult, h.retryAfterHeader),
        },
      },
    }),
  );
  return [
    ...calls,
    ...batches,
    {
      method: 'get',
      path: '/v1/rejected',
      scope: 'events:read',
      orScope: 'events:write',
      operation: {
        operationId: 'listRejected',
        tags: ['events'],
        summary: 'Batch items that were refused, newest first',
        description:
          'Every item a batch answered as rejected is kept with its original body (encrypted as journeys’ payloads are), the reason, the key and the time, for REJECTED_RETENTION_DAYS (30). Filter by reason, userId or anonymousId; page with nextCursor. A key with events:write may read them too.',
        requestParams: { query: RejectedQuery },
        responses: { 200: h.ok('A page of refused items', RejectedList), 400: h.ref('BadRequest'), ...h.keyRefusals, 503: h.ref('Unavailable') },
      },
    },
    {
      method: 'post',
      path: '/v1/rejected/:id/replay',
      scope: 'events:write',
      operation: {
        operationId: 'replayRejected',
        tags: ['events'],
        summary: 'Apply a refused item again, once',
        description:
          'After a fix (a definition change, a corrected key scope), applies the item as it was sent. Once: a second replay is 409. Refused again: 422 with the issues, and the item stays replayable.',
        requestParams: { path: RejectedParams },
        responses: {
          200: h.ok('Applied', Replayed),
          400: h.ref('BadRequest'),
          ...h.keyRefusals,
          404: h.ref('NotFound'),
          409: h.ref('AlreadyReplayed'),
          422: h.ref('Refused'),
          503: h.ref('Unavailable'),
        },
      },
    },
  ];
}
