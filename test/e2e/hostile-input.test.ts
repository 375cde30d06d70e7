import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { waitFor } from '../support/processes.js';
import type { SendgridMessage } from '../support/sendgrid-server.js';
import { apiCaller } from '../support/stack.js';
import { startFuzzStack, type FuzzStack } from '../fuzz/fuzz-stack.js';

/**
 * Hostile data inside valid requests, through the whole stack (API, Temporal dev server, worker,
 * FerretDB, the SendGrid-compatible server): template syntax, HTML, operator-looking values, 10 KB
 * strings and odd Unicode in traits and event properties are stored exactly as sent, rendered as text
 * (HTML-escaped in the HTML body, never evaluated), and never move a customer into a segment.
 *
 * The journey is a small definition written for this test: a transactional "echo" on Signed Up that prints
 * traits and event properties into subject, HTML and text, and a "gold_note" for segment gold only.
 */
const DEFINITION = {
  id: 'hostile_input',
  name: 'Hostile input (test)',
  initialStage: 'prospect',
  stages: [{ id: 'prospect', label: 'Prospect' }],
  segments: [
    { id: 'reachable_by_email', filter: { email: { $exists: true } } },
    { id: 'gold', filter: { 'traits.tier': 'gold' } },
    { id: 'high_score', filter: { 'traits.score': { $gt: 10 } } },
    { id: 'opted_in', filter: { 'traits.optIn': true } },
    { id: 'tagged', filter: { 'traits.tags': { $in: ['vip'] } } },
  ],
  campaigns: [
    { id: 'echo', name: 'Echo', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 'echo' } },
    { id: 'gold_note', name: 'Gold note', kind: 'transactional', trigger: { event: 'Signed Up' }, audience: { segments: ['gold'] }, message: { template: 'gold_note' } },
  ],
  templates: [
    {
      id: 'echo',
      locales: {
        en: {
          subject: 'Hi {{ profile.firstName }} {{ profile.traits.nickname }}',
          html: '<p>{{ profile.firstName }}</p><p>{{ profile.traits.nickname }}</p><p>{{ profile.traits.bio }}</p><p>{{ event.properties.note }}</p>',
          text: '{{ profile.firstName }}|{{ profile.traits.nickname }}|{{ profile.traits.bio }}|{{ event.properties.note }}',
        },
      },
    },
    { id: 'gold_note', locales: { en: { subject: 'Gold', html: '<p>gold</p>' } } },
  ],
};

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');

const ODD = '\u202eevil\u202c a\u200bb\u200d e\u0301\u0301 👩‍👩‍👧‍👦 \ufeff 王小明 🏳️‍🌈';
const OTHER_SECRET = 'OTHER-SECRET-7f3a';

/** Traits with every kind of hostile text, all valid: the API must store them and give them back as they are. */
const hostileTraits = {
  email: 'hostile@example.com',
  firstName: '{{ 7*7 }}',
  nickname: '{% raw %}{{ profile.email }}{% endraw %} {{ "a" | upcase }}',
  bio: `<script>alert("x")</script> & {{ profile.traits.secret }} {% include 'package.json' %} ${ODD} ${'x'.repeat(10_000)}`,
  tier: '{"$gt": ""}',
  score: '$gt',
  optIn: 'true',
  tags: ['$in', 'VIP', { vip: true }],
  nested: { a: { b: ['$ne', { c: '{{ 7*7 }}', d: null }] }, 'gt': 10, where: 'function () { return true }' },
  toString: 'not a function',
  valueOf: { hasOwnProperty: 'no' },
  unicode: ODD,
  big: 'y'.repeat(10_000),
  numbers: [0, -1.5, 1e300, 2 ** 53, -(2 ** 31) - 1],
};

describe('hostile data inside valid requests, through the whole stack', () => {
  let stack: FuzzStack;
  let dir: string;
  const call = apiCaller(() => stack.base);
  const as = (key: string) => ({ key });

  before(async () => {
    parseDefinition(DEFINITION, 'hostile-input definition');
    dir = mkdtempSync(join(tmpdir(), 'lifecycle-hostile-'));
    writeFileSync(join(dir, 'hostile.yaml'), JSON.stringify(DEFINITION));
    stack = await startFuzzStack('hostile-input', { worker: true, env: { DEFINITION_FILE: join(dir, 'hostile.yaml') } });
  });

  after(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const customer = async (userId: string) => call('GET', `/v1/customers/${encodeURIComponent(userId)}`, as(stack.key));
  const settled = (userId: string, campaigns: string[]) =>
    waitFor(
      `the journey of ${userId} to settle ${campaigns.join(', ')}`,
      async () => {
        const res = await customer(userId);
        const messages = (res.body?.journey?.messages ?? []) as Array<{ campaignId: string; status: string; reason?: string }>;
        const done = campaigns.every((c) => messages.some((m) => m.campaignId === c && m.status !== 'pending'));
        return done ? res.body : undefined;
      },
      60_000,
    );
  const mailTo = (userId: string, campaign: string): Promise<SendgridMessage> =>
    waitFor(`the ${campaign} email to ${userId}`, async () =>
      stack.servers.sendgrid.messages.find((m) => m.customArgs.user_id === userId && m.customArgs.campaign_id === campaign),
    );

  test('operator-looking keys are refused and nothing is stored', async () => {
    for (const traits of [{ tier: { $gt: '' } }, { $where: 'sleep(1000)' }, { 'a.b': 1 }, { nested: { $ne: null } }, JSON.parse('{"__proto__": {"tier": "gold"}}'), { constructor: { prototype: { tier: 'gold' } } }, { a: { prototype: 1 } }]) {
      const res = await call('POST', '/v1/identify', { ...as(stack.key), body: { userId: 'refused-1', traits } });
      assert.equal(res.status, 400, JSON.stringify(traits));
      assert.equal(res.body.error.code, 'invalid_request');
      assert.deepEqual([...new Set(res.body.error.issues.map((i: { path: string }) => i.path))], ['traits']);
    }
    assert.equal((await customer('refused-1')).status, 404, 'no profile was written');
    const track = await call('POST', '/v1/track', { ...as(stack.key), body: { userId: 'refused-1', event: 'Signed Up', messageId: 'r-1', properties: { $where: '1' } } });
    assert.equal(track.status, 400);
    assert.equal((await customer('refused-1')).status, 404, 'no journey was started');
  });

  test('hostile traits round-trip exactly, render as text, and put the customer in no segment', async () => {
    const userId = '{{ 7*7 }} \u202e👩‍👩‍👧 $where';
    const other = 'other-customer';
    const control = 'gold-control';
    const note = `{{ profile.traits.secret }} <img src=x onerror=alert(1)> ${OTHER_SECRET.slice(0, 5)}… {{ 7*7 }}`;

    for (const [id, traits] of [
      [userId, hostileTraits],
      [other, { email: 'other@example.com', firstName: 'Other', secret: OTHER_SECRET }],
      [control, { email: 'gold@example.com', firstName: 'Goldie', tier: 'gold', score: 11, optIn: true, tags: ['vip'] }],
    ] as const) {
      const res = await call('POST', '/v1/identify', { ...as(stack.key), body: { userId: id, traits } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.userId, id);
    }

    // Stored exactly as sent: the known traits in their fields, every other trait in traits.
    const stored = (await customer(userId)).body;
    const { email, firstName, ...free } = hostileTraits;
    assert.equal(stored.userId, userId);
    assert.equal(stored.profile.email, email);
    assert.equal(stored.profile.firstName, firstName);
    assert.deepEqual(stored.profile.traits, JSON.parse(JSON.stringify(free)));

    for (const [id, props] of [
      [userId, { note }],
      [other, {}],
      [control, {}],
    ] as const) {
      const res = await call('POST', '/v1/track', { ...as(stack.key), body: { userId: id, event: 'Signed Up', messageId: `${id}-1`, properties: props } });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.workflowId, `customer-${id}`);
    }

    // The control customer is in every segment, so the segments can match; the hostile one only where it should be.
    const controlJourney = (await settled(control, ['echo', 'gold_note'])).journey;
    assert.deepEqual(controlJourney.segments, ['gold', 'high_score', 'opted_in', 'reachable_by_email', 'tagged']);
    assert.equal(controlJourney.messages.find((m: { campaignId: string }) => m.campaignId === 'gold_note').status, 'sent');
    await mailTo(control, 'gold_note');

    const journey = (await settled(userId, ['echo', 'gold_note'])).journey;
    assert.deepEqual(journey.segments, ['reachable_by_email'], 'operator-looking values are plain values');
    const goldNote = journey.messages.find((m: { campaignId: string }) => m.campaignId === 'gold_note');
    assert.deepEqual([goldNote.status, goldNote.reason], ['skipped', 'not in segment gold']);

    // The email shows the text as written: HTML-escaped in HTML, literal in subject and text, nothing evaluated.
    const mail = await mailTo(userId, 'echo');
    const content = mail.body.content as Array<{ type: string; value: string }>;
    const html = content.find((c) => c.type === 'text/html')!.value;
    const text = content.find((c) => c.type === 'text/plain')!.value;
    const { nickname, bio } = hostileTraits;
    assert.equal(mail.to, 'hostile@example.com');
    assert.equal(mail.subject, `Hi ${firstName} ${nickname}`.trim());
    assert.equal(html, `<p>${escapeHtml(firstName)}</p><p>${escapeHtml(nickname)}</p><p>${escapeHtml(bio)}</p><p>${escapeHtml(note)}</p>`);
    assert.equal(text, `${firstName}|${nickname}|${bio}|${note}`);
    for (const rendered of [mail.subject!, html, text]) {
      assert.doesNotMatch(rendered, /\b49\b/, 'no expression was evaluated');
      assert.ok(!rendered.includes(OTHER_SECRET) && !rendered.includes('other@example.com'), 'no other customer’s data');
      assert.ok(!rendered.includes('"name": "lifecycle-orchestrator"'), 'no file was included');
    }
    assert.ok(!html.includes('<script>') && !html.includes('<img'), 'no markup from the data');
    assert.equal(mail.customArgs.user_id, userId);

    // The profile still reads back exactly after the journey ran (nothing rewrote it).
    assert.deepEqual((await customer(userId)).body.profile.traits, JSON.parse(JSON.stringify(free)));
  });

  test('odd Unicode and long strings in ids, events and properties are kept exactly', async () => {
    const userId = `${ODD} ${'z'.repeat(120)}`.slice(0, 200);
    const event = `Workout {{ 7*7 }} ${ODD}`.slice(0, 200);
    const res = await call('POST', '/v1/track', {
      ...as(stack.key),
      body: { userId, event, messageId: `${ODD}-m`, properties: { long: 'w'.repeat(10_000), odd: ODD, tmpl: '{% raw %}' } },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.workflowId, `customer-${userId}`);
    const listed = await waitFor('the journey with the odd id', async () => {
      const ids: string[] = [];
      for await (const wf of stack.client.workflow.list({ query: `WorkflowId = "customer-${userId.replace(/"/g, '\\"')}"` })) ids.push(wf.workflowId);
      return ids.length === 1 ? ids : undefined;
    });
    assert.deepEqual(listed, [`customer-${userId}`]);
    const journey = await waitFor('the event in the journey', async () => {
      const body = (await customer(userId)).body;
      return body?.journey?.stats?.events === 1 ? body.journey : undefined;
    });
    assert.equal(journey.userId, userId);
    assert.equal(journey.stage, 'prospect');
  });

  test('nothing crashed: no error in the API or the worker', () => {
    assert.doesNotMatch(stack.api.output(), /"level":50/, stack.api.output().slice(-3_000));
    assert.doesNotMatch(stack.worker!.output(), /"level":50/, stack.worker!.output().slice(-3_000));
  });
});
