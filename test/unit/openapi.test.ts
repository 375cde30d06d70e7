import { AUTH_CHALLENGE } from '../../src/http/auth.js';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import fc from 'fast-check';
import { pino } from 'pino';
import type { z } from 'zod';
import { createApp } from '../../src/api/app.js';
import type { CustomerService } from '../../src/api/customer-service.js';
import { UpstreamUnavailable } from '../../src/http/errors.js';
import { API_OPERATIONS, openApiDocument, openApiPath, trimmedPattern, UNDOCUMENTED_PREFIXES } from '../../src/api/openapi.js';
import { ErrorBody } from '../../src/api/response-schemas.js';
import { UserId } from '../../src/api/schemas.js';
import { BatchItem, TrackBody } from '../../src/api/segment-spec.js';
import { SCOPES, type Scope } from '../../src/config/config.js';
import type { KpiReport } from '../../src/kpis/kpi-report.js';
import type { Models } from '../../src/db/models.js';
import { PushSubscriptions } from '../../src/push/push-subscriptions.js';

const KEY_PREFIX = 'openapi-test-key-';
/** One key per scope, and one per "every scope but this one". */
const keys = new Map<string, Set<Scope>>();
for (const scope of SCOPES) {
  keys.set(`${KEY_PREFIX}only-${scope}`, new Set([scope]));
  keys.set(`${KEY_PREFIX}all-but-${scope}`, new Set(SCOPES.filter((s) => s !== scope)));
  for (const other of SCOPES) if (other !== scope) keys.set(`${KEY_PREFIX}all-but-${scope}-${other}`, new Set(SCOPES.filter((s) => s !== scope && s !== other)));
}
const allBut = (scope: Scope, or?: Scope) => `${KEY_PREFIX}all-but-${scope}${or ? `-${or}` : ''}`;

/**
 * Answers without I/O: ready, and "Temporal is down" for every other call, so a request that gets past
 * its key and scope ends in a 503 (or a 400 for its body), never a 401 or 403.
 */
const customers = new Proxy(
  { readiness: async () => ({ temporal: true, mongodb: true }) },
  {
    get: (target, name) =>
      name in target
        ? target[name as keyof typeof target]
        : async () => {
            throw new UpstreamUnavailable('temporal', new Error('not in unit tests'));
          },
  },
) as unknown as CustomerService;
const reports = { plan: { name: 'Test journey', stages: [] } } as unknown as KpiReport;

function app() {
  // Push with a public key only (its other routes reach no database here: any answer but 401/403 is "allowed").
  const push = { subscriptions: new PushSubscriptions({} as Models), services: [], vapidPublicKey: 'BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U' };
  return createApp({ customers, apiKeys: keys, logger: pino({ level: 'silent' }), temporalUiUrl: 'http://ui', namespace: 'default', reports, push });
}

interface RouterLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
  rawPath?: string;
}

/** Every METHOD /path the app routes, walking mounted routers; pages under the undocumented prefixes left out. */
function routesOf(stack: RouterLayer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      return paths.flatMap((p) => Object.keys(layer.route!.methods).filter((m) => m !== '_all').map((m) => `${m.toUpperCase()} ${prefix}${p}`));
    }
    if (layer.handle?.stack) return routesOf(layer.handle.stack, `${prefix}${layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : ''}`);
    return [];
  });
}

describe('the OpenAPI document', () => {
  const doc = openApiDocument();

  test('is OpenAPI 3.1 and valid against the 3.1 schema', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc as never);
    assert.deepEqual(result, { valid: true });
  });

  test('documents exactly the routes the app serves', () => {
    const served = routesOf((app() as unknown as { router: { stack: RouterLayer[] } }).router.stack);
    assert.ok(served.includes('GET /docs/api-reference.js'), 'the walk reaches routes of mounted routers');
    const api = served.filter((r) => !UNDOCUMENTED_PREFIXES.some((p) => r.split(' ')[1]!.startsWith(p))).sort();
    const documented = Object.entries(doc.paths ?? {})
      .flatMap(([path, item]) => Object.keys(item as object).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(api.map((r) => r.replace(/:(\w+)/g, '{$1}')), documented);
    assert.equal(new Set(api).size, api.length, 'no route registered twice');
  });

  test('every 4xx and 5xx answer is the Error object, but the batch and readiness bodies; 503 and 429 say when to retry', () => {
    const resolve = (r: { $ref?: string }) => (r.$ref ? (doc.components!.responses![r.$ref.split('/').pop()!] as unknown as Record<string, unknown>) : r);
    for (const { method, path, scope, auth } of API_OPERATIONS) {
      const op = (doc.paths![openApiPath(path)] as Record<string, { responses: Record<string, { $ref?: string }> }>)[method]!;
      assert.equal(op.responses['429'] !== undefined, scope !== undefined || auth === 'inboxToken', `${method} ${path}: 429 on every route behind a key or an inbox token`);
      for (const [status, raw] of Object.entries(op.responses)) {
        const response = resolve(raw) as { headers: Record<string, { $ref: string }>; content?: Record<string, { schema: { $ref?: string } }> };
        assert.ok(response.headers['x-request-id'], `${method} ${path} ${status}: x-request-id`);
        if (status === '503' || status === '429') assert.ok(response.headers['Retry-After'], `${method} ${path} ${status}: Retry-After`);
        if (Number(status) < 400) continue;
        const schema = response.content!['application/json']!.schema.$ref;
        const own = ((path === '/v1/batch' || path === '/v1/import' || path === '/readyz') && status === '503') || ((path === '/v1/batch' || path === '/v1/import') && status === '429');
        assert.equal(schema, own ? schema : '#/components/schemas/Error', `${method} ${path} ${status}`);
      }
    }
  });

  test('every example request body is accepted by the schema its route parses with', () => {
    let checked = 0;
    for (const { method, path, operation } of API_OPERATIONS) {
      const media = operation.requestBody?.content['application/json'];
      for (const [name, example] of Object.entries((media?.examples ?? {}) as Record<string, { value: unknown }>)) {
        const parsed = (media!.schema as z.ZodType).safeParse(example.value);
        assert.ok(parsed.success, `${method} ${path} example ${name}: ${JSON.stringify(parsed.error?.issues)}`);
        if (path === '/v1/batch' || path === '/v1/import') {
          for (const item of (example.value as { batch: unknown[] }).batch) assert.ok(BatchItem.safeParse(item).success, `batch item ${JSON.stringify(item)}`);
        }
        checked++;
      }
    }
    assert.equal(checked, 29);
  });

  test('the pattern written for a trimmed id accepts exactly what zod accepts', () => {
    const pattern = new RegExp(trimmedPattern(200, true));
    const chars = fc.constantFrom('a', 'Z', '7', ' ', '\t', '\n', '\u0000', '\u001f', '\u007f', '\u00a0', '\u2028', '\ufeff', 'é', '-', '\u200b');
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 12 }), fc.nat({ max: 230 }), (parts, padding) => {
        const text = parts.join('').replace('a', 'a'.repeat(padding));
        assert.equal(pattern.test(text), UserId.safeParse(text).success, JSON.stringify(text));
      }),
      { numRuns: 3_000 },
    );
  });

  test('the key rule written for properties accepts exactly the keys the API accepts', () => {
    const doc = openApiDocument() as unknown as { components: { schemas: { TrackCall: { properties: { properties: { propertyNames: { pattern: string } } } } } } };
    const keyPattern = new RegExp(doc.components.schemas.TrackCall.properties.properties.propertyNames.pattern);
    const keyChars = fc.constantFrom('a', '$', '.', '\u0000', '_', 'p', 'r', 'o', 't', ' ', '\t', '\u00a0', '\u0085', '\u2028', '\ufeff');
    fc.assert(
      fc.property(fc.oneof(fc.array(keyChars, { maxLength: 6 }).map((c) => c.join('')), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString'), fc.constant('')), (key) => {
        const body = JSON.parse(`{"userId":"u","event":"e","messageId":"m","properties":{${JSON.stringify(key)}:1}}`);
        assert.equal(keyPattern.test(key), TrackBody.safeParse(body).success, JSON.stringify(key));
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('the documented security, against the app', () => {
  let base: string;
  let close: () => void;
  before(async () => {
    const server = app().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(() => close());

  const call = (method: string, path: string, key?: string) =>
    fetch(`${base}${path.replace(/:userId/g, 'ada')}`, {
      method: method.toUpperCase(),
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
      ...(method === 'get' ? {} : { body: '{}' }),
    });

  test('each operation with a scope: no key is 401 (WWW-Authenticate: Bearer), a key with every other scope is 403', async () => {
    const scoped = API_OPERATIONS.filter((o) => o.scope);
    assert.ok(scoped.length >= 12);
    for (const { method, path, scope, orScope } of scoped) {
      const anonymous = await call(method, path);
      assert.equal(anonymous.status, 401, `${method} ${path}`);
      assert.equal(anonymous.headers.get('www-authenticate'), AUTH_CHALLENGE);
      assert.ok(anonymous.headers.get('x-request-id'));
      ErrorBody.parse(await anonymous.json());
      const wrong = await call(method, path, allBut(scope!, orScope));
      assert.equal(wrong.status, 403, `${method} ${path} without ${scope}`);
      assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'forbidden');
    }
  });

  test('the scope matrix: every operation with no key, and with a key of each single scope', async () => {
    const outcomes: string[] = [];
    for (const { method, path, scope, orScope } of API_OPERATIONS.filter((o) => o.scope)) {
      const anonymous = await call(method, path);
      outcomes.push(`${method} ${path} none ${anonymous.status}`);
      for (const held of SCOPES) {
        const res = await call(method, path, `${KEY_PREFIX}only-${held}`);
        await res.arrayBuffer();
        const expected = held === scope || held === orScope ? 'allowed' : '403';
        const got = res.status === 401 || res.status === 403 ? String(res.status) : 'allowed';
        outcomes.push(`${method} ${path} ${held} ${got === expected ? 'as documented' : `${res.status}, documented ${scope}`}`);
      }
    }
    const wrong = outcomes.filter((o) => !o.endsWith(' 401') && !o.endsWith('as documented'));
    assert.deepEqual(wrong, []);
    assert.equal(outcomes.length, API_OPERATIONS.filter((o) => o.scope).length * (SCOPES.length + 1));
    assert.ok(SCOPES.includes('codec:decode'));
  });

  test('the public operations answer without a key, as documented', async () => {
    const open = API_OPERATIONS.filter((o) => !o.scope && !o.auth).map((o) => `${o.method} ${o.path}`);
    assert.deepEqual(open, ['get /healthz', 'get /readyz', 'get /openapi.json', 'get /v1/push/vapid-public-key']);
    for (const entry of open) {
      const [method, path] = entry.split(' ') as [string, string];
      assert.equal((await call(method, path)).status, 200, entry);
    }
    const served = (await (await call('get', '/openapi.json')).json()) as { paths: object };
    assert.deepEqual(served, JSON.parse(JSON.stringify(openApiDocument())));
  });

  test('the operations authenticated otherwise than by key take no key: SendGrid’s and Twilio’s webhooks and the inbox, not configured here, are 404 with any key or none', async () => {
    const signed = API_OPERATIONS.filter((o) => o.auth).map((o) => `${o.method} ${o.path} ${o.auth}`);
    assert.deepEqual(signed, [
      'get /v1/inbox inboxToken',
      'post /v1/inbox/:messageId/seen inboxToken',
      'post /v1/inbox/:messageId/clicked inboxToken',
      'post /v1/inbox/:messageId/dismissed inboxToken',
      'post /v1/webhooks/sendgrid sendgridSignature',
      'post /v1/webhooks/twilio/status twilioSignature',
      'post /v1/webhooks/twilio/inbound twilioSignature',
    ]);
    const security = (doc: { paths: Record<string, Record<string, { security: unknown }>> }, path: string) => doc.paths[path]!.post!.security;
    assert.deepEqual(security(openApiDocument() as never, '/v1/webhooks/sendgrid'), [{ sendgridSignature: [] }]);
    assert.deepEqual(security(openApiDocument() as never, '/v1/webhooks/twilio/status'), [{ twilioSignature: [] }]);
    for (const { method, path } of API_OPERATIONS.filter((o) => o.auth)) {
      for (const key of [undefined, ...SCOPES.map((s) => `${KEY_PREFIX}only-${s}`)]) {
        const res = await call(method, path, key);
        assert.equal(res.status, 404, `${method} ${path} ${String(key)}`);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_configured');
      }
    }
  });

  test('/metrics takes a key with metrics:read and nothing else does', async () => {
    const res = await call('get', '/metrics', `${KEY_PREFIX}only-metrics:read`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    assert.match(await res.text(), /^# HELP http_requests_total /m);
    assert.equal((await call('get', '/v1/kpis', `${KEY_PREFIX}only-metrics:read`)).status, 403);
  });
});
