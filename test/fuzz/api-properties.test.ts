import { AUTH_CHALLENGE } from '../../src/http/auth.js';
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { ApiOperation } from '../../src/api/api-operation.js';
import { API_OPERATIONS } from '../../src/api/openapi.js';
import { ErrorBody } from '../../src/api/response-schemas.js';
import { SIGNATURE_CHALLENGE } from '../../src/api/sendgrid-webhook.js';
import { INBOX_CHALLENGE, INBOX_PATH } from '../../src/api/inbox-routes.js';
import { workflowIdFor } from '../../src/temporal/contract.js';
import { waitFor } from '../support/processes.js';
import { signEventWebhook } from '../support/sendgrid-event-webhook.js';
import { historyLength, snapshot, startFuzzStack, type FuzzStack, type StackSnapshot } from './fuzz-stack.js';
import { fromPlain, hostileJson, hostileKey, hostileString, JsonObject, mutate, mutation, toJsonText, type Json } from './json-text.js';

/** The WWW-Authenticate challenge a route answers a refused caller with: a SendGrid signature, an inbox token, or an API key. */
function challengeOf(target: string): string {
  const path = target.split('?')[0]!;
  if (path === '/v1/webhooks/sendgrid') return SIGNATURE_CHALLENGE;
  if (path === INBOX_PATH || path.startsWith(`${INBOX_PATH}/`)) return INBOX_CHALLENGE;
  return AUTH_CHALLENGE;
}

/**
 * Our own property-based fuzzer of the API, over every documented operation: hostile bodies (valid
 * examples with one hostile change, arbitrary JSON with keys such as $where and __proto__, numbers such as
 * 1e309, lone surrogates, nesting 30,000 levels deep, 70 KB strings, malformed text, odd content types and
 * encodings), odd query strings and path segments, and methods a path does not have. Properties: never a
 * 5xx; every 4xx is the structured Error with the request's id; and a refused request wrote nothing, in
 * MongoDB or in Temporal.
 *
 * The worker is left out, so the API is the only writer and a snapshot between two requests changes only
 * by what the request wrote. Without a worker a journey cannot answer a query or an update, so the routes
 * about one customer are called with ids that never get a journey (the `s-` ids); their accepted paths are
 * tested end to end in test/e2e.
 */
const LONG = process.env.FUZZ_LONG === '1';
const SEED = Number(process.env.FUZZ_SEED ?? 20261126);
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? (LONG ? 10_000 : 1_000));
/**
 * The `path` of a reported failure: with its seed, replays just that request on a fresh stack
 * (FUZZ_SEED=… FUZZ_PATH=…); a failure that needs the requests before it reproduces with the seed alone.
 */
const PATH = process.env.FUZZ_PATH;

/** Customer ids that are odd but valid: they start journeys, and must come back exactly as sent. */
const ODD_VALID_IDS = ['émile', '王小明', '👩‍👩‍👧', '{{ 7*7 }}', '$where', '__proto__', 'constructor', 'a.b', ' padded ', 'x'.repeat(200), '\u202eevil', 'e\u0301', 'customer-x', 'ada"; drop'];

/** A documented example with its customer ids (and its batch items') replaced. */
function withUserId(body: Json, id: string): Json {
  if (!(body instanceof JsonObject)) return body;
  return new JsonObject(
    body.entries.map(([k, v]): [string, Json] => [k, k === 'userId' ? id : k === 'batch' && Array.isArray(v) ? v.map((item) => withUserId(item, id)) : v]),
  );
}

/** Bodies of the event routes shaped as the API expects, with plain and odd content: most are accepted. */
const traitKey = fc.oneof(
  fc.constantFrom('email', 'name', 'firstName', 'lastName', 'locale', 'timezone', 'marketingConsent', 'unsubscribed'),
  fc.constantFrom('goal', 'plan', 'nickname', 'score', 'preferredHour', 'constructor', 'toString', 'émoji👍', 'with space', '0'),
  fc.string({ minLength: 1, maxLength: 10 }),
);
const traitValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.constantFrom<Json>('', 'strength', 0, 7, -1.5, true, false, 'ada@example.com', 'de-DE', 'Europe/Berlin', 'Mars/Olympus') },
  { weight: 1, arbitrary: hostileJson },
);
const shapedTraits = fc.array(fc.tuple(traitKey, traitValue), { maxLength: 6 }).map((e) => new JsonObject(e));
const shapedUserId = fc.oneof(fc.constantFrom('ada', 'cy', ...ODD_VALID_IDS), hostileString);
const shapedIdentify = fc
  .record({ userId: shapedUserId, traits: shapedTraits, messageId: fc.option(fc.uuid(), { nil: undefined }) })
  .map(({ userId, traits, messageId }): Json => new JsonObject([['userId', userId], ['traits', traits], ...(messageId ? [['messageId', messageId] as [string, Json]] : [])]));
const shapedTrack = fc
  .record({
    userId: shapedUserId,
    event: fc.oneof(fc.constantFrom('Signed Up', 'Trial Started', 'Subscription Started', 'Workout Completed', 'Paywall Viewed'), hostileString),
    messageId: fc.oneof(fc.uuid(), hostileString),
    properties: fc.option(shapedTraits, { nil: undefined }),
  })
  .map(({ userId, event, messageId, properties }): Json =>
    new JsonObject([['userId', userId], ['event', event], ['messageId', messageId], ...(properties ? [['properties', properties] as [string, Json]] : [])]),
  );
const shapedBatch = fc
  .array(fc.oneof(shapedTrack.map((b) => ['track', b] as const), shapedIdentify.map((b) => ['identify', b] as const)), { minLength: 1, maxLength: 5 })
  .map((items): Json => new JsonObject([['batch', items.map(([type, b]) => new JsonObject([['type', type], ...(b as JsonObject).entries]))]]));
const SHAPED: Record<string, fc.Arbitrary<Json>> = { '/v1/track': shapedTrack, '/v1/identify': shapedIdentify, '/v1/batch': shapedBatch };

const SUPPORT_IDS = ['s-ada', 's-bo', 's-émile', 's-王', 's-👩‍👩‍👧', ' s-ada ', 's-{{ 7*7 }}'];

interface FuzzRequest {
  label: string;
  method: string;
  path: string;
  /** The customer in the path, when the operation has one (decoded). */
  pathUserId?: string;
  headers: Record<string, string>;
  body?: string;
  /** Sign the body as SendGrid's Event Webhook does (the operations it authenticates). */
  sign?: boolean;
}

/** Percent-encode a path segment or query value; lone surrogates become the (invalid) bytes of their code unit. */
function encode(text: string): string {
  return [...text]
    .map((ch) => {
      try {
        return encodeURIComponent(ch);
      } catch {
        const cu = ch.charCodeAt(0);
        return [0xe0 | (cu >> 12), 0x80 | ((cu >> 6) & 0x3f), 0x80 | (cu & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
      }
    })
    .join('');
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined; // the API refuses it (400) before any customer is looked up
  }
}

const rawSegment = fc.constantFrom('%', '%E0%A4%A', '%00', '%2F', '..', '%2e%2e', '%20', '%20ada%20', '%FF', 'a%2Fb', '%u0041');
const pathSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SUPPORT_IDS).map((id) => ({ text: encode(id), id })) },
  { weight: 2, arbitrary: hostileString.map((s) => ({ text: encode(s), id: s })) },
  { weight: 1, arbitrary: rawSegment.map((text) => ({ text, id: decoded(text) })) },
);

const queryKey = (op: ApiOperation) => {
  const known = ['stage', 'plan', 'segment', 'limit', 'cursor', 'userId', 'interval', 'from', 'to'];
  return fc.oneof(fc.constantFrom(...known), hostileKey, fc.constantFrom('stage[]', 'stage[$ne]', 'a[b][c]', '__proto__[x]', op.path));
};
const queryValue = fc.oneof(
  hostileString.map(encode),
  fc.constantFrom('trial', 'full', '0', '-1', '101', '1e309', 'NaN', '2026-11-25', '2026-02-30', 'day', 'week', 'AAAA', 'a%', '%ZZ', '%E0%A4%A'),
);
const queryString = (op: ApiOperation) =>
  fc.oneof(
    fc.constantFrom('', '?', '?&&', '?=x', '?stage'),
    fc.array(fc.tuple(queryKey(op).map(encode), queryValue), { maxLength: 5 }).map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
  );

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/json; charset=utf-8',
      'text/plain',
      'application/vnd.lifecycle+json',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      '',
    ),
  },
);
const contentEncoding = fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'x-evil') });
const requestId = fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('ok-1', 'a'.repeat(101), '{{x}}', '$where', 'x y', '') });
const garbage = fc.oneof(
  fc.constantFrom('{', '{"userId":', 'null', '[]', '"str"', '1e309', '\u0000', '{"a":1}{"b":2}', '', '{"a":1,}', "{'a':1}", '\ufeff{}', '[' .repeat(100_000)),
  fc.string({ maxLength: 50 }),
);

function examplesOf(op: ApiOperation): Json[] {
  // JSON routes, and Twilio's form-encoded ones (sent as JSON here: refused all the same).
  const content = op.operation.requestBody?.content ?? {};
  const media = content['application/json'] ?? Object.values(content)[0];
  return Object.values((media?.examples ?? {}) as Record<string, { value: unknown }>).map((e) => fromPlain(e.value));
}

function fuzzRequest(op: ApiOperation): fc.Arbitrary<FuzzRequest> {
  const label = `${op.method.toUpperCase()} ${op.path}`;
  const hasUser = op.path.includes(':userId');
  const examples = examplesOf(op);
  const body: fc.Arbitrary<string | undefined> = op.operation.requestBody
    ? fc.oneof(
        { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...examples), mutation).map(([base, m]) => toJsonText(mutate(base, m))) },
        { weight: SHAPED[op.path] ? 4 : 0, arbitrary: (SHAPED[op.path] ?? fc.constant(null)).map(toJsonText) },
        { weight: 1, arbitrary: fc.constantFrom(...examples).map(toJsonText) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...examples), fc.constantFrom(...ODD_VALID_IDS)).map(([base, id]) => toJsonText(withUserId(base, id))) },
        { weight: 2, arbitrary: hostileJson.map(toJsonText) },
        { weight: 1, arbitrary: garbage },
      )
    : fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: hostileJson.map(toJsonText) });
  const method = fc.oneof(
    { weight: 9, arbitrary: fc.constant(op.method.toUpperCase()) },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE') },
  );
  return fc
    .record({
      method,
      segment: hasUser ? pathSegment : fc.constant(undefined),
      query: op.method === 'get' ? queryString(op) : fc.constant(''),
      body,
      type: contentType,
      encoding: contentEncoding,
      id: requestId,
      // SendGrid's webhook: mostly signed, so hostile batches get past the signature to the parser and the events.
      sign: op.auth === 'sendgridSignature' ? fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) : fc.constant(false),
    })
    .map(({ method, segment, query, body, type, encoding, id, sign }) => ({
      label,
      method,
      path: (segment ? op.path.replace(':userId', segment.text) : op.path) + query,
      ...(segment?.id !== undefined ? { pathUserId: segment.id.trim() } : {}),
      headers: {
        ...(body !== undefined && type ? { 'content-type': type } : {}),
        ...(encoding ? { 'content-encoding': encoding } : {}),
        ...(id !== undefined ? { 'x-request-id': id } : {}),
      },
      ...(body !== undefined ? { body } : {}),
      ...(sign ? { sign } : {}),
    }));
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function send(base: string, key: string, req: FuzzRequest, webhookKey: KeyObject): Promise<Answer> {
  const url = new URL(base);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = req.sign
    ? { 'x-twilio-email-event-webhook-signature': signEventWebhook(webhookKey, req.body ?? '', timestamp), 'x-twilio-email-event-webhook-timestamp': timestamp }
    : {};
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers: { authorization: `Bearer ${key}`, ...signature, ...req.headers, ...(req.body !== undefined ? { 'content-length': Buffer.byteLength(req.body) } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Every customer id the request names, as the API would trim it: the journeys it could start or signal. */
function userIdsIn(req: FuzzRequest): string[] {
  let parsed: unknown;
  try {
    parsed = req.body === undefined ? undefined : JSON.parse(req.body);
  } catch {
    parsed = undefined;
  }
  const bodies = [parsed, ...(Array.isArray((parsed as { batch?: unknown })?.batch) ? (parsed as { batch: unknown[] }).batch : [])];
  const ids = bodies.map((b) => (b as { userId?: unknown } | null)?.userId).filter((id): id is string => typeof id === 'string');
  // An id with a lone surrogate cannot name a workflow (Temporal wants UTF-8); the API refuses it anyway.
  return [...new Set([...ids, ...(req.pathUserId !== undefined ? [req.pathUserId] : [])].map((id) => id.trim()))].filter((id) => !/[\ud800-\udfff]/u.test(id));
}

describe('property: bad input to any operation is refused cleanly and writes nothing', () => {
  let stack: FuzzStack;

  before(async () => {
    stack = await startFuzzStack('api-properties', { worker: false });
  });
  after(async () => {
    await stack?.stop();
  });

  // The long run outlasts scripts/test.sh's 10-minute default per test.
  test(`${NUM_RUNS} hostile requests over every documented operation (seed ${SEED})`, { ...(LONG ? { timeout: 6 * 3_600_000 } : {}) }, async (t) => {
    const operations = API_OPERATIONS;
    assert.ok(operations.length >= 17, 'every documented operation is fuzzed');
    let baseline: StackSnapshot = await snapshot(stack);
    /** Customers whose journey exists: a route about one of them would wait for a worker that is not there. */
    const journeys = new Set<string>();
    const statuses = new Map<string, number>();
    let rejected = 0;
    let accepted = 0;
    const started = Date.now();

    /** After an accepted request: wait until Temporal shows all it did, then take the next baseline. */
    const settle = async (ids: string[], erased: boolean) => {
      for (const id of ids) {
        if (erased) journeys.delete(id);
        else if ((await historyLength(stack, workflowIdFor(id))) > 0) journeys.add(id);
      }
      // Visibility lists a new journey a moment after it started, and Temporal deletes an erased one in the
      // background: the next request is compared with a snapshot taken once both are done.
      await waitFor('visibility to list every journey and no erased one', async () => {
        const listed = new Set<string>();
        for await (const wf of stack.client.workflow.list({ query: '' })) listed.add(wf.workflowId);
        const gone = !erased || ids.every((id) => !listed.has(workflowIdFor(id)));
        return gone && [...journeys].every((id) => listed.has(workflowIdFor(id)));
      });
      let previous = await snapshot(stack);
      for (;;) {
        const next = await snapshot(stack);
        if (JSON.stringify(next) === JSON.stringify(previous)) return next;
        previous = next;
      }
    };

    const outcome = await fc.check(
      // The event routes are drawn six times as often as the reads, the other routes with a body three times.
      fc.asyncProperty(fc.oneof(...operations.map((op) => ({ weight: SHAPED[op.path] ? 6 : op.operation.requestBody ? 3 : 1, arbitrary: fuzzRequest(op) }))), async (req) => {
        const named = userIdsIn(req);
        // Without a worker a journey cannot answer: leave its customer out of the routes that ask it.
        fc.pre(req.pathUserId === undefined || !journeys.has(req.pathUserId));
        const res = await send(stack.base, stack.key, req, stack.sendgridWebhookKey);
        const where = `${req.method} ${req.path.slice(0, 300)} ${req.body?.slice(0, 300) ?? ''} -> ${res.status} ${res.text.slice(0, 500)}`;
        statuses.set(`${req.label} ${res.status}`, (statuses.get(`${req.label} ${res.status}`) ?? 0) + 1);
        if (res.status >= 500) {
          // pino writes asynchronously: give the error line a moment to arrive for the report.
          const logged = await waitFor('the error in the API log', async () => stack.api.output().split('\n').filter((l) => l.includes('"level":50')).at(-1), 2_000).catch(() => '(none)');
          assert.fail(`a 5xx: ${where}\nAPI log: ${logged.slice(0, 3_000)}`);
        }
        assert.ok(res.headers['x-request-id'], `no x-request-id: ${where}`);
        if (res.status < 400) {
          accepted++;
          // A visitor's call (anonymousId) reaches the customer it is linked to: the answer names them.
          const resolved = (() => {
            try {
              const answer = JSON.parse(res.text) as { userId?: unknown };
              return typeof answer.userId === 'string' ? [answer.userId] : [];
            } catch {
              return [];
            }
          })();
          baseline = await settle([...new Set([...named, ...resolved])], req.method === 'DELETE');
          return;
        }
        rejected++;
        if (req.method !== 'HEAD') {
          assert.match(String(res.headers['content-type']), /^application\/json/, `not JSON: ${where}`);
          const body = ErrorBody.safeParse(JSON.parse(res.text));
          assert.ok(body.success, `not the Error object: ${where}: ${JSON.stringify(body.error?.issues)}`);
          assert.equal(body.data.requestId, res.headers['x-request-id'], where);
        }
        if (res.status === 405) assert.ok(res.headers.allow, `405 without Allow: ${where}`);
        if (res.status === 401) assert.equal(res.headers['www-authenticate'], challengeOf(req.path), where);
        // Nothing written: every collection and every journey as before, and no journey for a customer it named.
        assert.deepEqual(await snapshot(stack), baseline, `a refused request wrote something: ${where}`);
        for (const id of named) if (!journeys.has(id)) assert.equal(await historyLength(stack, workflowIdFor(id)), 0, `a refused request started ${id}: ${where}`);
      }),
      { seed: SEED, numRuns: NUM_RUNS, endOnFailure: true, ...(PATH ? { path: PATH } : {}) },
    );
    if (outcome.failed) assert.fail(`${fc.defaultReportMessage(outcome)}\n${String((outcome.errorInstance as Error)?.message ?? outcome.errorInstance)}`);
    const seconds = Math.round((Date.now() - started) / 1000);
    t.diagnostic(`fast-check: ${accepted + rejected} requests (${accepted} accepted, ${rejected} refused), ${journeys.size} journeys, ${seconds} s, seed ${SEED}`);
    t.diagnostic([...statuses].sort().map(([k, n]) => `${k}: ${n}`).join('; '));
    if (!PATH) {
      assert.ok(rejected > accepted, 'most generated requests are hostile');
      assert.ok(accepted > 0, 'some requests were valid and accepted, so the snapshot follows real writes');
    }
    assert.doesNotMatch(stack.api.output(), /"level":50/, `the API logged an error:\n${stack.api.output().slice(-5_000)}`);
  });
});
