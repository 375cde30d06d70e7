/**
 * The in-app inbox through the whole stack as processes (Temporal dev server, FerretDB, our worker and
 * API): a backend mints a customer's inbox token with its key, the customer's app lists and reports with
 * the token over real HTTP, and the journey hears each step (engagement, KPIs). Wrong tokens are 401,
 * another customer's message 404, a bad body 400 with nothing changed, an expired message is gone, and
 * CORS answers the configured web app's origin only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { linkSecrets, loadConfig } from '../../src/config/config.js';
import { connectDatabase, type Database } from '../../src/db/models.js';
import { LinkSigner } from '../../src/preferences/preference-links.js';
import { freePort } from '../../src/servers/local-servers.js';
import { InboxMessage, InboxPage, InboxTokenAnswer } from '../../src/api/response-schemas.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';

const WRITE_KEY = 'e2e-inbox-writer-0123456789';
const READ_KEY = 'e2e-inbox-reader-0123456789';
const ADMIN_KEY = 'e2e-inbox-admin-01234567890';
const LINK_SECRET = 'e2e-inbox-link-secret-0123456789abcdefgh';
const APP_ORIGIN = 'https://app.coachinglive.example';

describe('the in-app inbox through the whole stack', () => {
  let servers: LocalServers;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  let db: Database;
  const call = apiCaller(() => base);
  const withOutput = (err: unknown) => new Error(`${(err as Error).message}\nAPI output:\n${api?.output()}\nworker output:\n${worker?.output()}`);

  /** The customer's app: an inbox token as its bearer, never an API key. */
  const app = (method: string, path: string, token: string | undefined, opts: { body?: unknown; raw?: string } = {}) => call(method, path, { ...(token ? { key: token } : {}), ...opts });

  before(async () => {
    servers = await startLocalServers('lifecycle-e2e-inbox-', 'SG.unused');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      MONGODB_URI: servers.ferret.uri('lifecycle_e2e_inbox'),
      TASK_QUEUE: 'lifecycle-e2e-inbox',
      DEFINITION_FILE: 'test/fixtures/inbox-demo.yaml',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read,${ADMIN_KEY}=customers:read|customers:write`,
      LINK_SECRETS: LINK_SECRET,
      INBOX_TOKEN_TTL_SECONDS: '600',
      INBOX_CORS_ORIGINS: APP_ORIGIN,
      UPSTREAM_TIMEOUT_MS: '3000',
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw withOutput(err);
    });
    db = await connectDatabase(servers.ferret.uri('lifecycle_e2e_inbox'));
  });

  after(async () => {
    await db?.close();
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  const mint = async (userId: string): Promise<string> => {
    const res = await call('POST', `/v1/customers/${userId}/inbox-token`, { key: ADMIN_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const answer = InboxTokenAnswer.parse(res.body);
    const ttl = new Date(answer.expiresAt).getTime() - Date.now();
    assert.ok(ttl > 590_000 && ttl <= 600_000, `expires in INBOX_TOKEN_TTL_SECONDS: ${ttl}`);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return answer.token;
  };
  const listed = async (token: string, query = '') => {
    const res = await app('GET', `/v1/inbox${query}`, token);
    assert.equal(res.status, 200, `GET /v1/inbox${query}: ${JSON.stringify(res.body)}`);
    return InboxPage.parse(res.body);
  };
  const inboxHas = (token: string, campaignId: string) =>
    waitFor(`${campaignId} in the inbox`, async () => (await listed(token)).messages.find((m) => m.campaignId === campaignId), 60_000).catch((err) => {
      throw withOutput(err);
    });

  test('mint a token, read the inbox, report seen and clicked: the journey counts them once, in its timeline and the KPIs', async () => {
    assert.equal((await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'ada', traits: { firstName: 'Ada', locale: 'de-DE' } } })).status, 200);
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'ada', event: 'Class Completed', properties: { className: 'HIIT 45' }, messageId: 'ada-1' } })).status, 202);
    assert.equal((await call('POST', '/v1/customers/ada/inbox-token', { key: READ_KEY })).status, 403, 'minting needs customers:write');
    const token = await mint('ada');

    const message = await inboxHas(token, 'review_prompt');
    assert.deepEqual([message.title, message.body, message.url, message.locale, message.state], ['Wie war HIIT 45?', 'Ada, bewerte deinen Kurs.', 'https://coachinglive.example/review', 'de', 'unread']);
    assert.equal((await listed(token)).unread, 1);

    const seen = await app('POST', `/v1/inbox/${message.id}/seen`, token);
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.equal(InboxMessage.parse(seen.body).state, 'seen');
    const again = await app('POST', `/v1/inbox/${message.id}/seen`, token, { body: {} });
    assert.equal(again.body.seenAt, seen.body.seenAt, 'idempotent: the first time stays');
    const clicked = await app('POST', `/v1/inbox/${message.id}/clicked`, token);
    assert.deepEqual([clicked.status, clicked.body.state], [200, 'clicked']);
    assert.equal((await listed(token)).unread, 0);

    const journey = await waitFor('the journey to hear both', async () => {
      const res = await call('GET', '/v1/customers/ada', { key: READ_KEY });
      const m = res.body?.journey?.messages?.find((x: { campaignId: string }) => x.campaignId === 'review_prompt');
      return m?.openedAt && m?.clickedAt && res.body;
    }, 60_000).catch((err) => {
      throw withOutput(err);
    });
    assert.deepEqual([journey.journey.engagement.opens, journey.journey.engagement.clicks], [1, 1]);
    const told = journey.timeline.filter((e: { campaignId?: string; kind: string }) => e.campaignId === 'review_prompt' && e.kind === 'email').map((e: { status: string }) => e.status);
    assert.deepEqual(told, ['opened', 'clicked']);
    const kpis = await waitFor('the KPIs to count them', async () => {
      const k = (await call('GET', '/v1/kpis', { key: READ_KEY })).body;
      const v = k?.campaigns?.find((c: { campaignId: string }) => c.campaignId === 'review_prompt')?.variants?.[0];
      return v?.opened === 1 && v?.clicked === 1 && v;
    }, 60_000).catch((err) => {
      throw withOutput(err);
    });
    assert.equal(kpis.sent, 1);
  });

  test('wrong tokens are 401, another customer’s message 404, a bad body 400 and nothing changes; dismissed leaves the list', async () => {
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'ada', event: 'Browsed', messageId: 'ada-2' } })).status, 202);
    const ada = await mint('ada');
    const tip = await inboxHas(ada, 'tip');

    const signer = new LinkSigner(linkSecrets(loadConfig({ LINK_SECRETS: LINK_SECRET })));
    for (const [what, token] of [
      ['none', undefined],
      ['an API key', ADMIN_KEY],
      ['a preference link', signer.sign('preferences', { userId: 'ada' })],
      ['an expired token', signer.sign('inbox', { userId: 'ada', expiresAt: Math.floor(Date.now() / 1000) - 1 })],
      ['a forged one', `${ada.slice(0, -3)}abc`],
    ] as const) {
      const res = await app('GET', '/v1/inbox', token);
      assert.equal(res.status, 401, what);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="inbox"');
      assert.equal(res.body.error.code, 'unauthenticated');
      assert.equal((await app('POST', `/v1/inbox/${tip.id}/seen`, token)).status, 401, what);
    }

    const bob = await mint('bob');
    assert.equal((await listed(bob)).messages.length, 0);
    assert.equal((await app('POST', `/v1/inbox/${tip.id}/seen`, bob)).status, 404, 'another customer’s message');
    assert.equal((await app('POST', `/v1/inbox/${Buffer.from('customer-ada/nothing/1').toString('base64url')}/seen`, ada)).status, 404, 'unknown');
    assert.equal((await app('POST', '/v1/inbox/not%20an%20id/seen', ada)).status, 400);

    for (const body of [{ at: 'yesterday' }, { at: '2026-11-25T10:00:00Z', extra: 1 }]) {
      const res = await app('POST', `/v1/inbox/${tip.id}/seen`, ada, { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, 'invalid_request');
    }
    assert.equal((await app('POST', `/v1/inbox/${tip.id}/seen`, ada, { raw: '{"at":' })).status, 400);
    assert.equal((await app('GET', '/v1/inbox?limit=0', ada)).status, 400);
    assert.equal((await app('GET', '/v1/inbox?cursor=abc', ada)).status, 400);
    const untouched = (await listed(ada)).messages.find((m) => m.id === tip.id)!;
    assert.equal(untouched.state, 'unread', 'nothing changed');
    assert.equal((await db.models.ChannelEvent.countDocuments({ deliveryKey: 'customer-ada/tip/1' })), 0);

    const dismissed = await app('POST', `/v1/inbox/${tip.id}/dismissed`, ada);
    assert.deepEqual([dismissed.status, dismissed.body.state], [200, 'dismissed']);
    assert.equal((await listed(ada)).messages.some((m) => m.id === tip.id), false);
    assert.equal((await listed(ada, '?dismissed=true')).messages.some((m) => m.id === tip.id), true);
    // Paging: one at a time, newest first, every message once.
    const first = await listed(ada, '?dismissed=true&limit=1');
    const second = await listed(ada, `?dismissed=true&limit=1&cursor=${first.nextCursor}`);
    assert.deepEqual([first.messages[0]!.campaignId, second.messages[0]!.campaignId, second.nextCursor], ['tip', 'review_prompt', null]);
  });

  test('an expired message is not listed and cannot be reported; its delivery record says expired', async () => {
    assert.equal((await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'cy', traits: { firstName: 'Cy' } } })).status, 200);
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'cy', event: 'Browsed', messageId: 'cy-1' } })).status, 202);
    const cy = await mint('cy');
    const tip = await inboxHas(cy, 'tip');
    await db.models.InboxEntry.updateOne({ _id: 'customer-cy/tip/1' }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });
    const page = await listed(cy);
    assert.deepEqual([page.messages.length, page.unread], [0, 0]);
    assert.equal((await app('POST', `/v1/inbox/${tip.id}/clicked`, cy)).status, 404);
    const delivery = await db.models.Delivery.findById('customer-cy/tip/1').lean();
    assert.deepEqual(delivery!.events, ['expired']);
  });

  test('CORS: the configured web app’s origin may call the inbox (preflight too); any other origin is refused', async () => {
    const cy = await mint('cy');
    const preflight = await fetch(`${base}/v1/inbox`, { method: 'OPTIONS', headers: { origin: APP_ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), APP_ORIGIN);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), null, 'no cookies: the token is a header');
    const other = await fetch(`${base}/v1/inbox`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const read = await fetch(`${base}/v1/inbox`, { headers: { origin: APP_ORIGIN, authorization: `Bearer ${cy}` } });
    assert.deepEqual([read.status, read.headers.get('access-control-allow-origin')], [200, APP_ORIGIN]);
    // Only the inbox routes: the rest of the API answers no CORS to the app's origin.
    const elsewhere = await fetch(`${base}/v1/kpis`, { headers: { origin: APP_ORIGIN, authorization: `Bearer ${READ_KEY}` } });
    assert.equal(elsewhere.headers.get('access-control-allow-origin'), null);
  });
});
