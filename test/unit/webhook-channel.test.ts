/**
 * The webhook channel's pure parts: signing and verification, what each answer means, Retry-After, the
 * message, the campaign schema and graph check, the worker's configuration, the core's request and the
 * delivery rules for a channel without an address.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadConfig, webhookEndpoints } from '../../src/config/config.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { describeChannels } from '../../src/core/channel-ids.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { DefinitionError, loadDefinitionFile, parseDefinition } from '../../src/definition-store/load-definition.js';
import { decideDelivery } from '../../src/delivery/delivery-rules.js';
import { answerKind, retryAfterMs, webhookMessage } from '../../src/delivery/webhook-channel.js';
import { signWebhook, verifyWebhookSignature } from '../../src/delivery/webhook-signature.js';
import { COACHINGLIVE_PATH, T0, configProblems, ev, minimalDefinition, planOf } from './fixtures.js';

const SECRET = 'whsec_test_0123456789abcdef';
const BODY = '{"deliveryKey":"customer-u1/push/1","title":"Class starts soon"}';
const T = 1_900_000_000;

describe('webhook signature', () => {
  test('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, and verifies', () => {
    const header = signWebhook(SECRET, BODY, T);
    const expected = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex');
    assert.equal(header, `t=${T},v1=${expected}`);
    assert.deepEqual(verifyWebhookSignature(header, BODY, SECRET, { nowSeconds: T + 10 }), { ok: true, timestamp: T });
  });

  test('a changed body, another secret, a stale or future timestamp, or a mangled header is refused', () => {
    const header = signWebhook(SECRET, BODY, T);
    const refused = (h: string | undefined, body: string, secret: string, now = T) => {
      const check = verifyWebhookSignature(h, body, secret, { nowSeconds: now });
      assert.equal(check.ok, false);
      return (check as { reason: string }).reason;
    };
    assert.equal(refused(header, BODY.replace('soon', 'now!'), SECRET), 'signature does not match');
    assert.equal(refused(header, BODY, 'whsec_another_secret_000000'), 'signature does not match');
    assert.match(refused(header, BODY, SECRET, T + 301), /more than 300 s from now/);
    assert.match(refused(header, BODY, SECRET, T - 301), /more than 300 s from now/);
    assert.equal(refused(undefined, BODY, SECRET), 'no X-Lifecycle-Signature header');
    assert.equal(refused(`v1=${header.split('v1=')[1]}`, BODY, SECRET), 'malformed signature header');
    assert.equal(refused(`t=${T},v1=abc`, BODY, SECRET), 'signature does not match');
    // A re-signed timestamp does not make an old signature valid.
    assert.equal(refused(header.replace(`t=${T}`, `t=${T + 5}`), BODY, SECRET), 'signature does not match');
  });

  test('the tolerance is the receiver\'s to choose, and any of several v1 values may match (secret rotation)', () => {
    const header = signWebhook(SECRET, BODY, T);
    assert.equal(verifyWebhookSignature(header, BODY, SECRET, { nowSeconds: T + 1_000, toleranceSeconds: 1_800 }).ok, true);
    const rotated = `${signWebhook('whsec_new_secret_0000000000', BODY, T)},v1=${header.split('v1=')[1]}`;
    assert.equal(verifyWebhookSignature(rotated, BODY, SECRET, { nowSeconds: T }).ok, true);
  });
});

describe('webhook answers', () => {
  test('2xx sent; 408, 429, 5xx, 401 and 403 retried; any other 4xx and a redirect rejected', () => {
    const table: Array<[number, string]> = [
      [200, 'sent'], [201, 'sent'], [202, 'sent'], [204, 'sent'],
      [408, 'retry'], [429, 'retry'], [500, 'retry'], [502, 'retry'], [503, 'retry'], [504, 'retry'], [401, 'retry'], [403, 'retry'],
      [400, 'rejected'], [404, 'rejected'], [409, 'rejected'], [410, 'rejected'], [413, 'rejected'], [422, 'rejected'],
      [301, 'rejected'], [302, 'rejected'], [307, 'rejected'],
    ];
    assert.deepEqual(table.map(([status]) => [status, answerKind(status)]), table);
  });

  test('Retry-After in seconds or as an HTTP date; anything else is no advice', () => {
    const now = Date.UTC(2030, 0, 1, 12, 0, 0);
    assert.equal(retryAfterMs('7', now), 7_000);
    assert.equal(retryAfterMs(' 0 ', now), 0);
    assert.equal(retryAfterMs('Tue, 01 Jan 2030 12:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Tue, 01 Jan 2030 11:00:00 GMT', now), 0, 'a date in the past: at once');
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs('-5', now), undefined);
    assert.equal(retryAfterMs(null, now), undefined);
  });

  test('the message carries ids, kind, locale and the rendered title and body; no address', () => {
    const request = {
      key: 'customer-u1/class_starting/3',
      userId: 'u1',
      campaignId: 'class_starting',
      occurrence: 3,
      kind: 'transactional',
      template: 'class_starting_push',
      segments: [],
      definition: { id: 'd', version: 'v' },
      summary: 'send Class starting',
      channel: 'webhook',
      endpoint: 'push',
    } satisfies DeliveryRequest;
    const sentAt = new Date(Date.UTC(2030, 0, 1, 7, 45));
    assert.deepEqual(webhookMessage(request, { locale: 'de', subject: 'Gleich geht es los', html: '<p>x</p>', text: 'Dein Kurs beginnt um 8:00' }, sentAt), {
      deliveryKey: 'customer-u1/class_starting/3',
      userId: 'u1',
      campaignId: 'class_starting',
      variant: null,
      kind: 'transactional',
      locale: 'de',
      title: 'Gleich geht es los',
      body: 'Dein Kurs beginnt um 8:00',
      sentAt: '2030-01-01T07:45:00.000Z',
    });
    assert.equal(webhookMessage({ ...request, variant: 'short' }, { locale: 'en', subject: 's', html: 'h', text: 't' }, sentAt).variant, 'short');
  });
});

describe('webhook campaigns in a definition', () => {
  const pushTemplate = { id: 'push', locales: { en: { subject: 'Starts soon', html: '<p>Starts soon</p>', text: 'Your class starts in 15 minutes' } } };
  const webhookCampaign = { id: 'nudge', name: 'Nudge', kind: 'marketing' as const, trigger: { event: 'Booked' }, message: { channel: 'webhook' as const, endpoint: 'push', template: 'push' } };
  const violations = (raw: unknown) => {
    try {
      parseDefinition(raw, 'test');
    } catch (err) {
      assert.ok(err instanceof DefinitionError, String(err));
      return err.violations;
    }
    assert.fail('the definition was accepted');
  };

  test('a webhook message names its endpoint; an email message stays as it was (channel defaults to email)', () => {
    const def = minimalDefinition();
    const loaded = parseDefinition({ ...def, campaigns: [...def.campaigns!, webhookCampaign], templates: [...def.templates!, pushTemplate] });
    assert.deepEqual(loaded.plan.campaigns.map((c) => c.message), [
      { channel: 'email', template: 'hello' },
      { channel: 'webhook', endpoint: 'push', template: 'push' },
    ]);
    // The version of a definition without webhooks does not change with this schema.
    assert.equal(parseDefinition(minimalDefinition()).version, parseDefinition({ ...def, campaigns: [{ ...def.campaigns![0]!, message: { channel: 'email', template: 'hello' } }] }).version);
  });

  test('a webhook message without an endpoint, or another channel, is refused with a clear message', () => {
    const def = minimalDefinition({ templates: [...minimalDefinition().templates!, pushTemplate] });
    assert.deepEqual(violations({ ...def, campaigns: [{ ...webhookCampaign, message: { channel: 'webhook', template: 'push' } }] }), [
      { path: 'campaigns.0.message.endpoint', message: 'Invalid input: expected string, received undefined' },
    ]);
    assert.deepEqual(violations({ ...def, campaigns: [{ ...webhookCampaign, message: { channel: 'fax', template: 'push' } }] }), [
      { path: 'campaigns.0.message.channel', message: `channel is ${describeChannels()}` },
    ]);
    assert.deepEqual(violations({ ...def, campaigns: [{ ...webhookCampaign, message: { template: 'push', endpoint: 'push' } }] }), [
      { path: 'campaigns.0.message', message: 'Unrecognized key: "endpoint"' },
    ]);
  });

  test('every template a webhook campaign may send needs `text` in every locale', () => {
    const noGermanText = { id: 'push', locales: { ...pushTemplate.locales, de: { subject: 'Gleich', html: '<p>Gleich</p>' } } };
    const variantTemplate = { id: 'push_b', locales: { en: { subject: 'B', html: '<p>B</p>' } } };
    const def = minimalDefinition();
    const campaign = { ...webhookCampaign, experiment: { variants: [{ id: 'a' }, { id: 'b', template: 'push_b' }] } };
    assert.deepEqual(violations({ ...def, campaigns: [campaign], templates: [...def.templates!, noGermanText, variantTemplate] }), [
      { path: 'campaigns[0].message', message: 'template "push" is sent to webhook endpoint "push" and needs `text` (the message body) in every locale; missing in de' },
      { path: 'campaigns[0].message', message: 'template "push_b" is sent to webhook endpoint "push" and needs `text` (the message body) in every locale; missing in en' },
    ]);
    // The same templates are fine for email.
    assert.doesNotThrow(() => parseDefinition({ ...def, campaigns: [{ ...campaign, message: { template: 'push' } }], templates: [...def.templates!, noGermanText, variantTemplate] }));
  });

  test('the shipped journey pushes a booked live class to the `push` endpoint; every other campaign is email', async () => {
    const { plan } = await loadDefinitionFile(COACHINGLIVE_PATH);
    const webhooks = plan.campaigns.filter((c) => c.message.channel === 'webhook');
    assert.deepEqual(webhooks.map((c) => [c.id, c.kind, c.trigger, c.message]), [
      ['class_booked_push', 'transactional', [{ kind: 'event', event: 'Live Class Booked' }], { channel: 'webhook', endpoint: 'push', template: 'class_booked_push' }],
    ]);
  });

  test('the core asks for a webhook delivery with its endpoint; an email request has neither field', () => {
    const def = minimalDefinition();
    const plan = planOf({ ...def, campaigns: [...def.campaigns!, { ...webhookCampaign, kind: 'transactional', trigger: { event: 'Signed Up' } }], templates: [...def.templates!, pushTemplate] });
    const started = startJourney(plan, 'u1', T0);
    const { commands } = step(plan, started.state, ev('Signed Up', T0 + 1_000));
    const requests = commands.flatMap((c) => (c.type === 'deliver' ? [c.request] : []));
    assert.deepEqual(requests.map((r) => [r.campaignId, r.channel, r.endpoint, 'channel' in r, 'endpoint' in r]), [
      ['hello', undefined, undefined, false, false],
      ['nudge', 'webhook', 'push', true, true],
    ]);
  });
});

describe('delivery rules for the webhook channel', () => {
  const base = {
    key: 'k',
    userId: 'u1',
    campaignId: 'c',
    occurrence: 1,
    kind: 'marketing',
    template: 't',
    segments: [],
    definition: { id: 'd', version: 'v' },
    summary: 's',
    channel: 'webhook',
    endpoint: 'push',
  } satisfies DeliveryRequest;
  const now = Date.UTC(2030, 0, 1, 12);

  test('needs a profile but no email address; consent applies to marketing', () => {
    assert.deepEqual(decideDelivery(base, { marketingConsent: true }, now), { kind: 'send', channel: 'webhook', profile: { marketingConsent: true } });
    assert.deepEqual(decideDelivery(base, null, now), { kind: 'skip', reason: 'no profile for this customer (identify was never called)', noAddress: true });
    assert.deepEqual(decideDelivery(base, { marketingConsent: false }, now), { kind: 'skip', reason: 'no consent for marketing', noAddress: false });
    assert.deepEqual(decideDelivery({ ...base, kind: 'transactional' }, { marketingConsent: false }, now), { kind: 'send', channel: 'webhook', profile: { marketingConsent: false } });
    // Email still needs its address.
    const { channel: _c, endpoint: _e, ...email } = base;
    assert.deepEqual(decideDelivery(email, { marketingConsent: true }, now), { kind: 'skip', reason: 'no email address on the profile', noAddress: true });
  });

  test('timing applies: outside the window the step goes back to the journey', () => {
    const decision = decideDelivery({ ...base, timing: { window: { from: '09:00', to: '17:00' }, optimise: false, defaultTimezone: 'UTC' } }, { timezone: 'UTC' }, Date.UTC(2030, 0, 1, 20));
    assert.equal(decision.kind, 'defer');
    assert.equal((decision as { outcome: { until: number } }).outcome.until, Date.UTC(2030, 0, 2, 9));
  });
});

describe('webhook configuration', () => {
  const problems = configProblems;

  test('endpoints and secrets pair up by name', () => {
    const config = loadConfig({ WEBHOOK_ENDPOINTS: 'push=https://push.example.com/hook, sms=http://127.0.0.1:9999/sms', WEBHOOK_SECRETS: 'push=whsec_0123456789abcdef,sms=c2VjcmV0LXNlY3JldC1zZWNyZXQ=' });
    assert.deepEqual(webhookEndpoints(config), [
      { id: 'push', url: 'https://push.example.com/hook', secret: 'whsec_0123456789abcdef' },
      { id: 'sms', url: 'http://127.0.0.1:9999/sms', secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=' },
    ]);
    assert.equal(config.WEBHOOK_TIMEOUT_MS, 10_000);
    assert.deepEqual(webhookEndpoints(loadConfig({})), []);
  });

  test('a bad URL, plain http to another host, credentials in the URL, a missing or short secret are each named', () => {
    assert.deepEqual(problems({ WEBHOOK_ENDPOINTS: 'push=not a url', WEBHOOK_SECRETS: 'push=whsec_0123456789abcdef' }), ['WEBHOOK_ENDPOINTS: endpoint "push": "not a url" is not a URL']);
    assert.deepEqual(problems({ WEBHOOK_ENDPOINTS: 'push=http://push.example.com/hook', WEBHOOK_SECRETS: 'push=whsec_0123456789abcdef' }), [
      'WEBHOOK_ENDPOINTS: endpoint "push": "http://push.example.com/hook" must be https:// (plain http only to 127.0.0.1, localhost or [::1])',
    ]);
    assert.deepEqual(problems({ WEBHOOK_ENDPOINTS: 'push=https://u:p@push.example.com/hook', WEBHOOK_SECRETS: 'push=whsec_0123456789abcdef' }), [
      'WEBHOOK_ENDPOINTS: endpoint "push": put no credentials in the URL (messages are signed with WEBHOOK_SECRETS)',
    ]);
    assert.deepEqual(problems({ WEBHOOK_ENDPOINTS: 'push=https://push.example.com/hook,sms=https://sms.example.com' }), ['WEBHOOK_SECRETS: endpoint "push" has no secret: add push=<secret>', 'WEBHOOK_SECRETS: endpoint "sms" has no secret: add sms=<secret>']);
    assert.deepEqual(problems({ WEBHOOK_ENDPOINTS: 'push=https://push.example.com/hook', WEBHOOK_SECRETS: 'push=short,inapp=whsec_0123456789abcdef' }), ['WEBHOOK_SECRETS: secret of "push": at least 16 characters (openssl rand -hex 32)']);
    assert.deepEqual(problems({ WEBHOOK_ENDPOINTS: 'Push=https://push.example.com/hook' }), ['WEBHOOK_ENDPOINTS: entry "Push…": write name=https://host/path, with a name of lower-case letters, digits and _']);
  });

  test('a secret never appears in an error', () => {
    const secret = 'whsec_do_not_print_me';
    const listed = problems({ WEBHOOK_ENDPOINTS: 'push=https://push.example.com/hook', WEBHOOK_SECRETS: `sms=${secret}` });
    assert.deepEqual(listed, ['WEBHOOK_SECRETS: endpoint "push" has no secret: add push=<secret>', 'WEBHOOK_SECRETS: "sms" is not an endpoint in WEBHOOK_ENDPOINTS']);
    assert.ok(!listed.join('\n').includes(secret));
  });
});
