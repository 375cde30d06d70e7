import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Client } from '@sendgrid/client';
import eventWebhook from '@sendgrid/eventwebhook';
import { MailService } from '@sendgrid/mail';
import { publicKeyBase64 } from './sendgrid-event-webhook.js';
import { startSendgridServer, type SendgridServer } from './sendgrid-server.js';

const API_KEY = 'SG.test-key';

/** A fresh client + mail service (no global singleton state) pointed at the local server. */
function mailerFor(server: SendgridServer, apiKey = API_KEY): MailService {
  const client = new Client();
  client.setApiKey(apiKey); // NB: setApiKey resets baseUrl to api.sendgrid.com, so set baseUrl afterwards
  client.setDefaultRequest('baseUrl', server.url);
  const mail = new MailService();
  mail.setClient(client);
  return mail;
}

interface SgError {
  code: number;
  message: string;
  response: { headers: Record<string, string>; body: { errors: { message: string; field: string | null; help: string | null }[] } };
}

/** Runs `fn`, asserting it rejects with a @sendgrid ResponseError; returns it. */
async function responseError(fn: () => Promise<unknown>): Promise<SgError> {
  try {
    await fn();
  } catch (e) {
    assert.equal((e as Error).constructor.name, 'ResponseError', `expected ResponseError, got ${String(e)}`);
    return e as SgError;
  }
  assert.fail('expected the send to be rejected');
}

const validMail = {
  to: 'alice@example.com',
  from: { email: 'noreply@example.com', name: 'Lifecycle' },
  subject: 'Welcome!',
  text: 'Hello Alice',
  html: '<p>Hello Alice</p>',
  categories: ['welcome'],
  customArgs: { journey_id: 'j-1' },
};

async function withServer(fn: (server: SendgridServer) => Promise<void>, apiKey: string | undefined = API_KEY) {
  const server = await startSendgridServer({ apiKey });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

test('valid send is accepted once and recorded with custom_args', () =>
  withServer(async (server) => {
    const mail = mailerFor(server);
    const [res] = await mail.send({
      ...validMail,
      personalizations: [{ to: [{ email: 'alice@example.com' }], customArgs: { step_id: 's-1' } }],
    });
    assert.equal(res.statusCode, 202);
    const id = res.headers['x-message-id'];
    assert.match(String(id), /^[A-Za-z0-9_-]{22}$/);

    const [msg, ...rest] = await server.waitForMessages(1, 1000);
    assert.equal(rest.length, 0);
    assert.ok(msg);
    assert.equal(server.requests, 1);
    assert.equal(msg.id, id);
    assert.equal(msg.to, 'alice@example.com');
    assert.equal(msg.subject, 'Welcome!');
    assert.deepEqual(msg.categories, ['welcome']);
    assert.deepEqual(msg.customArgs, { journey_id: 'j-1', step_id: 's-1' });
    assert.deepEqual(msg.body.from, { email: 'noreply@example.com', name: 'Lifecycle' });
    assert.deepEqual(msg.body.content, [
      { type: 'text/plain', value: 'Hello Alice' },
      { type: 'text/html', value: '<p>Hello Alice</p>' },
    ]);

    // also visible over HTTP for cross-process tests
    const inbox = (await (await fetch(`${server.url}/__inbox`)).json()) as { id: string }[];
    assert.deepEqual(
      inbox.map((m) => m.id),
      [id],
    );
  }));

test('invalid send (missing from) surfaces as ResponseError 400 with the error list', () =>
  withServer(async (server) => {
    const mail = mailerFor(server);
    const { from: _from, ...noFrom } = validMail;
    const e = await responseError(() => mail.send({ ...noFrom, subject: '' } as never));
    assert.equal(e.code, 400);
    const fields = e.response.body.errors.map((x) => x.field);
    assert.deepEqual(fields, ['from.email', 'subject']);
    for (const x of e.response.body.errors) {
      assert.equal(typeof x.message, 'string');
      assert.equal(x.help, null);
    }
    assert.equal(server.messages.length, 0);
    assert.equal(server.requests, 1);
  }));

test('validation reports every problem (bad to, missing content, non-string custom_args)', () =>
  withServer(async (server) => {
    const res = await fetch(`${server.url}/v3/mail/send`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        from: { email: 'not-an-email' },
        personalizations: [{ to: [{ email: 'bob@' }], subject: 'hi', custom_args: { n: 1 } }],
      }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { errors: { field: string }[] };
    assert.deepEqual(
      body.errors.map((x) => x.field),
      ['from.email', 'personalizations.0.to.0.email', 'personalizations.0.custom_args.n', 'content'],
    );
    // template sends need neither subject nor content
    const ok = await fetch(`${server.url}/v3/mail/send`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        from: { email: 'a@example.com' },
        template_id: 'd-123',
        personalizations: [{ to: [{ email: 'b@example.com' }] }],
      }),
    });
    assert.equal(ok.status, 202);
    assert.ok(ok.headers.get('x-message-id'));
  }));

test('injected 429 surfaces as code 429 with a readable reset header, then recovers', () =>
  withServer(async (server) => {
    const mail = mailerFor(server);
    server.injectFaults([{ status: 429, resetSeconds: 5 }]);
    const before = Math.floor(Date.now() / 1000);
    const e = await responseError(() => mail.send(validMail));
    assert.equal(e.code, 429);
    assert.equal(e.response.headers['x-ratelimit-remaining'], '0');
    assert.ok(Number(e.response.headers['x-ratelimit-limit']) > 0);
    const reset = Number(e.response.headers['x-ratelimit-reset']);
    assert.ok(reset >= before + 5 && reset <= before + 6, `reset=${reset} before=${before}`);
    assert.equal(e.response.body.errors[0]?.message, 'too many requests');
    assert.equal(server.messages.length, 0);

    const [res] = await mail.send(validMail); // fault consumed: next send is accepted
    assert.equal(res.statusCode, 202);
    assert.equal(server.messages.length, 1);
    assert.equal(server.requests, 2);
  }));

test('injected 500 surfaces as code 500; faults apply in order', () =>
  withServer(async (server) => {
    const mail = mailerFor(server);
    server.injectFaults([{ status: 500 }, { status: 503 }, { status: 400, message: 'nope' }]);
    assert.equal((await responseError(() => mail.send(validMail))).code, 500);
    assert.equal((await responseError(() => mail.send(validMail))).code, 503);
    const e400 = await responseError(() => mail.send(validMail));
    assert.equal(e400.code, 400);
    assert.equal(e400.response.body.errors[0]?.message, 'nope');
    await mail.send(validMail);
    assert.equal(server.messages.length, 1);
  }));

test('hang fault past the client timeout is not recorded; faults can be posted over HTTP', () =>
  withServer(async (server) => {
    const mail = mailerFor(server);
    mail.setTimeout(100);
    const r = await fetch(`${server.url}/__faults`, { method: 'POST', body: JSON.stringify([{ status: 'hang', ms: 400 }]) });
    assert.equal(r.status, 200);
    await assert.rejects(mail.send(validMail), /timeout/i);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(server.messages.length, 0);
    await mail.send(validMail);
    assert.equal(server.messages.length, 1);
    assert.equal((await fetch(`${server.url}/__inbox`, { method: 'DELETE' })).status, 204);
    assert.equal(server.messages.length, 0);
  }));

test('wrong API key is rejected with 401', () =>
  withServer(async (server) => {
    const e = await responseError(() => mailerFor(server, 'SG.wrong').send(validMail));
    assert.equal(e.code, 401);
    assert.equal(e.response.body.errors[0]?.field, null);
    assert.match(e.response.body.errors[0]?.message ?? '', /authorization grant is invalid/);
    assert.equal(server.messages.length, 0);
    assert.equal(server.requests, 1);
  }));

test('unknown routes 404, oversized bodies 413', () =>
  withServer(async (server) => {
    assert.equal((await fetch(`${server.url}/v3/nope`)).status, 404);
    const big = await fetch(`${server.url}/v3/mail/send`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: 'x'.repeat(30 * 1024 * 1024 + 1),
    });
    assert.equal(big.status, 413);
  }));

test('waitForMessages times out with a clear error listing what arrived', () =>
  withServer(async (server) => {
    await mailerFor(server).send(validMail);
    await assert.rejects(server.waitForMessages(2, 200), (e: Error) => {
      assert.match(e.message, /timed out after 200ms waiting for 2 message\(s\); 1 accepted/);
      assert.match(e.message, /to=alice@example\.com subject="Welcome!"/);
      return true;
    });
  }));

test('activity feed: finds a message by its custom arg with the real client, after the lag; auth, 404 switch, bad queries', () =>
  withServer(async (server) => {
    const client = new Client();
    client.setApiKey(API_KEY);
    client.setDefaultRequest('baseUrl', server.url);
    const feed = async (query: string, limit?: number) => {
      const [res] = await client.request({ method: 'GET', url: '/v3/messages', qs: { query, ...(limit ? { limit } : {}) } });
      return res.body as { messages: Array<Record<string, unknown>> };
    };
    const mail = new MailService();
    mail.setClient(client);
    const [sent] = await mail.send({ ...validMail, customArgs: { delivery_key: 'customer-a/welcome/1' } });
    await mail.send({ ...validMail, customArgs: { delivery_key: 'customer-b/welcome/1' } });
    const id = String(sent.headers['x-message-id']);

    const found = await feed(`unique_args['delivery_key']="customer-a/welcome/1"`, 1);
    assert.equal(found.messages.length, 1);
    const [m] = found.messages;
    assert.deepEqual(Object.keys(m!).sort(), ['clicks_count', 'from_email', 'last_event_time', 'msg_id', 'opens_count', 'status', 'subject', 'to_email']);
    assert.ok(String(m!.msg_id).startsWith(`${id}.`), 'msg_id begins with the X-Message-Id');
    assert.equal(m!.to_email, 'alice@example.com');
    assert.equal(m!.from_email, 'noreply@example.com');
    assert.equal(m!.subject, 'Welcome!');
    assert.equal(m!.status, 'delivered');
    assert.deepEqual((await feed(`msg_id LIKE '${id}%'`)).messages.map((x) => x.msg_id), [m!.msg_id]);
    assert.equal((await feed(`unique_args['delivery_key']="customer-c/welcome/1"`)).messages.length, 0);
    assert.equal((await feed(`unique_args['journey_id']="j-1"`)).messages.length, 0, 'the mail-level custom args were replaced');
    assert.equal(server.requests, 2, 'feed requests are counted apart');
    assert.equal(server.activityRequests, 4);

    server.setActivityFeed({ lagMs: 3_600_000 });
    assert.equal((await feed(`unique_args['delivery_key']="customer-a/welcome/1"`)).messages.length, 0, 'not listed before the lag has passed');
    server.setActivityFeed({ lagMs: 0, available: false });
    assert.equal((await responseError(() => feed(`unique_args['delivery_key']="customer-a/welcome/1"`))).code, 404);
    server.setActivityFeed({ available: true });
    assert.equal((await responseError(() => feed(`to_email="alice@example.com"`))).code, 400);
    assert.equal((await responseError(() => feed(`msg_id="x"`, 1001))).code, 400);

    const wrongKey = new Client();
    wrongKey.setApiKey('SG.wrong');
    wrongKey.setDefaultRequest('baseUrl', server.url);
    assert.equal((await responseError(() => wrongKey.request({ method: 'GET', url: '/v3/messages', qs: { query: 'msg_id="x"' } }))).code, 401);
  }));

test('event webhook: signed batches about accepted messages, as SendGrid posts them; SendGrid’s own package verifies them', () =>
  withServer(async (server) => {
    const [res] = await mailerFor(server).send({ ...validMail, personalizations: [{ to: [{ email: 'alice@example.com' }], customArgs: { delivery_key: 'customer-a/welcome/1' } }] });
    const [message] = await server.waitForMessages(1, 1000);
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    const receiver = http.createServer((req, reply) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        reply.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const at = Date.UTC(2026, 10, 25, 10, 0, 0, 700);
      const posted = await server.eventWebhook({ url, privateKey }).post([
        { message: message!, event: 'delivered', at },
        { message: message!, event: 'open', at: at + 60_000, machineOpen: true },
        { message: message!, event: 'blocked', at: at + 120_000 },
      ]);
      assert.deepEqual([posted.status, posted.body], [200, { ok: true }]);
      const [{ headers, body }] = received as [{ headers: http.IncomingHttpHeaders; body: string }];
      assert.equal(body, posted.payload);
      assert.match(body, /^\[\{.*\},\r\n\{.*\},\r\n\{.*\}\]\r\n$/s, 'events separated by CRLF, ended by CRLF');
      assert.equal(headers['content-type'], 'application/json');
      const webhook = new eventWebhook.EventWebhook();
      const signature = String(headers['x-twilio-email-event-webhook-signature']);
      const timestamp = String(headers['x-twilio-email-event-webhook-timestamp']);
      assert.ok(webhook.verifySignature(webhook.convertPublicKeyToECDSA(publicKeyBase64(publicKey)), body, signature, timestamp));
      assert.ok(!webhook.verifySignature(webhook.convertPublicKeyToECDSA(publicKeyBase64(publicKey)), body.replace('open', 'opem'), signature, timestamp));

      const events = JSON.parse(body) as Array<Record<string, unknown>>;
      assert.deepEqual(
        events.map((e) => [e.event, e.type ?? null, e.timestamp, e.sg_machine_open ?? null, e.delivery_key, e.journey_id, e.category, e.email]),
        [
          ['delivered', null, Math.floor(at / 1000), null, 'customer-a/welcome/1', 'j-1', 'welcome', 'alice@example.com'],
          ['open', null, Math.floor(at / 1000) + 60, true, 'customer-a/welcome/1', 'j-1', 'welcome', 'alice@example.com'],
          ['bounce', 'blocked', Math.floor(at / 1000) + 120, null, 'customer-a/welcome/1', 'j-1', 'welcome', 'alice@example.com'],
        ],
        'the message’s custom args (the mail’s and the personalization’s), as top-level fields',
      );
      for (const e of events) {
        assert.ok(String(e.sg_message_id).startsWith(`${res.headers['x-message-id']}.filter`), 'sg_message_id begins with the X-Message-Id');
        assert.match(String(e.sg_event_id), /^[A-Za-z0-9_-]{32}$/);
      }
      assert.equal(new Set(events.map((e) => e.sg_event_id)).size, 3);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  }));

test('a plan rate answers 429 with rate-limit headers beyond one second of sends, counts them, and refills over time', async () => {
  const server = await startSendgridServer({ apiKey: API_KEY, planRate: 5 });
  try {
    const mail = mailerFor(server);
    for (let i = 0; i < 5; i++) await mail.send(validMail);
    const refused = await responseError(() => mail.send(validMail));
    assert.equal(refused.code, 429);
    assert.equal(refused.response.headers['x-ratelimit-limit'], '5');
    assert.equal(server.rateLimited, 1);
    assert.equal(server.messages.length, 5, 'the refused send is not accepted');
    await new Promise((r) => setTimeout(r, 450)); // two sends' worth at 5 a second
    await mail.send(validMail);
    await mail.send(validMail);
    assert.equal((await responseError(() => mail.send(validMail))).code, 429);
    server.setPlanRate(undefined);
    for (let i = 0; i < 20; i++) await mail.send(validMail);
    assert.equal(server.rateLimited, 2);
    assert.equal(server.messages.length, 27);
  } finally {
    await server.close();
  }
});
