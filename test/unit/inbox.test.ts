/**
 * The in-app inbox in the pure parts: the inbox token (signed, bound to its purpose, expiring, rotating),
 * the message states and the feedback each step becomes, the channel's options in a definition, and in the
 * core: a seen or clicked in-app message is engagement and a KPI fact, and stops a series that says
 * `exitOn.engaged` (journey code version 7; an older run sees the plan without it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { expiresUnread, inboxFeedbackOf, inboxStateOf, isExpired, stampsOf, type InboxTimes } from '../../src/core/inbox-states.js';
import { startJourney, step, withoutEngagementExits } from '../../src/core/journey-reducer.js';
import type { JourneyInput, JourneyState } from '../../src/core/journey-state.js';
import type { JourneyDefinitionInput, JourneyPlan } from '../../src/core/journey-definition.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { InboxTokens } from '../../src/inbox/inbox-tokens.js';
import { LinkSigner } from '../../src/preferences/preference-links.js';
import { runHas } from '../../src/temporal/contract.js';
import { DAY, HOUR, T0, ev, minimalDefinition, planOf, violations } from './fixtures.js';

const text = (id: string) => ({ id, locales: { en: { subject: `${id} title`, html: `<p>${id}</p>`, text: `${id} body` } } });

describe('inbox tokens', () => {
  const signer = new LinkSigner([randomBytes(32)]);
  const tokens = new InboxTokens(signer, 3_600);

  test('a token names its customer until it expires, then nothing', () => {
    const minted = tokens.mint('ada', T0);
    assert.equal(minted.expiresAt.getTime(), T0 + HOUR);
    assert.equal(tokens.customerOf(minted.token, T0), 'ada');
    assert.equal(tokens.customerOf(minted.token, T0 + HOUR - 1_000), 'ada');
    assert.equal(tokens.customerOf(minted.token, T0 + HOUR), undefined, 'expired at expiresAt');
  });

  test('bound to its purpose: a preference or unsubscribe link is no inbox token, an inbox token opens no page', () => {
    assert.equal(tokens.customerOf(signer.sign('preferences', { userId: 'ada' }), T0), undefined);
    assert.equal(tokens.customerOf(signer.sign('unsubscribe', { userId: 'ada' }), T0), undefined);
    const inbox = tokens.mint('ada', T0).token;
    assert.equal(signer.verify('preferences', inbox, T0), undefined);
    assert.equal(signer.verify('unsubscribe', inbox, T0), undefined);
    // An inbox signature without an expiry (made by hand) is refused as well.
    assert.equal(tokens.customerOf(signer.sign('inbox', { userId: 'ada' }), T0), undefined);
  });

  test('tampered, foreign or malformed tokens are refused; a rotated secret still verifies', () => {
    const minted = tokens.mint('ada', T0).token;
    const [v, payload, mac] = minted.split('.') as [string, string, string];
    const bob = Buffer.from(JSON.stringify({ u: 'bob', x: Math.floor(T0 / 1000) + 3_600 })).toString('base64url');
    const later = Buffer.from(JSON.stringify({ u: 'ada', x: Math.floor(T0 / 1000) + 999_999 })).toString('base64url');
    for (const bad of [`${v}.${bob}.${mac}`, `${v}.${later}.${mac}`, `${v}.${payload}.${mac.slice(1)}`, `v2.${payload}.${mac}`, 'nonsense', '', undefined]) {
      assert.equal(tokens.customerOf(bad, T0), undefined, String(bad));
    }
    assert.equal(new InboxTokens(new LinkSigner([randomBytes(32)]), 3_600).customerOf(minted, T0), undefined, 'another secret');
    const secrets = [randomBytes(32), randomBytes(32)];
    const old = new InboxTokens(new LinkSigner([secrets[1]!]), 3_600).mint('ada', T0).token;
    assert.equal(new InboxTokens(new LinkSigner(secrets), 3_600).customerOf(old, T0), 'ada', 'a token of the old secret verifies after rotation');
  });
});

describe('inbox states', () => {
  const fresh: InboxTimes = { expiresAt: T0 + DAY };

  test('unread, seen, clicked, dismissed; a click is also a sighting; each time is set once', () => {
    assert.equal(inboxStateOf(fresh), 'unread');
    assert.deepEqual(stampsOf(fresh, 'seen', T0), { seenAt: T0 });
    const seen = { ...fresh, seenAt: T0 };
    assert.equal(inboxStateOf(seen), 'seen');
    assert.deepEqual(stampsOf(seen, 'seen', T0 + 1), {}, 'a repeated report sets nothing');
    assert.deepEqual(stampsOf(fresh, 'clicked', T0), { seenAt: T0, clickedAt: T0 });
    assert.deepEqual(stampsOf(seen, 'clicked', T0 + 5), { clickedAt: T0 + 5 });
    const clicked = { ...seen, clickedAt: T0 + 5 };
    assert.equal(inboxStateOf(clicked), 'clicked');
    const dismissed = { ...clicked, dismissedAt: T0 + 9 };
    assert.equal(inboxStateOf(dismissed), 'dismissed');
    assert.deepEqual(stampsOf(dismissed, 'dismissed', T0 + 10), {});
  });

  test('expiry: gone at expiresAt; only a message never touched expires unread', () => {
    assert.equal(isExpired(fresh, T0 + DAY - 1), false);
    assert.equal(isExpired(fresh, T0 + DAY), true);
    assert.equal(expiresUnread(fresh, T0 + DAY), true);
    assert.equal(expiresUnread({ ...fresh, seenAt: T0 }, T0 + DAY), false);
    assert.equal(expiresUnread({ ...fresh, dismissedAt: T0 }, T0 + DAY), false);
    assert.equal(expiresUnread({ ...fresh, expiredAt: T0 + DAY }, T0 + 2 * DAY), false, 'marked once');
    assert.equal(inboxStateOf({ ...fresh, expiredAt: T0 + DAY }), 'expired');
  });

  test('each step is one feedback with its own id: seen is an open, clicked a click', () => {
    assert.deepEqual(inboxFeedbackOf('customer-ada/tip/1', { expiresAt: T0 + DAY, seenAt: T0, clickedAt: T0 + 5, dismissedAt: T0 + 9 }), [
      { id: 'customer-ada/tip/1/seen', type: 'opened', at: T0 },
      { id: 'customer-ada/tip/1/clicked', type: 'clicked', at: T0 + 5 },
      { id: 'customer-ada/tip/1/dismissed', type: 'dismissed', at: T0 + 9 },
    ]);
    assert.deepEqual(inboxFeedbackOf('k', { expiresAt: T0, expiredAt: T0 }), [{ id: 'k/expired', type: 'expired', at: T0 }]);
  });
});

/** A series of two in-app review prompts a day apart, stopped by engagement when `engaged`. */
function promptDefinition(exitOn: Record<string, unknown> = {}, message: Record<string, unknown> = {}): JourneyDefinitionInput {
  return minimalDefinition({
    campaigns: [
      {
        id: 'review',
        name: 'Review prompt',
        kind: 'marketing',
        trigger: { event: 'Booked' },
        steps: [{ after: '0 days' }, { after: '1 day' }],
        exitOn: exitOn as never,
        message: { channel: 'inapp', template: 'review', ...message } as never,
      },
    ],
    templates: [text('review')],
  });
}


describe('in-app messages in a definition', () => {
  test('expiresAfter is carried in milliseconds on the request, with the url', () => {
    const plan = planOf(promptDefinition({}, { expiresAfter: '14 days', url: 'coachinglive://review' }));
    assert.deepEqual(plan.campaigns[0]!.message, { channel: 'inapp', template: 'review', expiresAfter: 14 * DAY, url: 'coachinglive://review' });
    const started = step(plan, startJourney(plan, 'u1', T0).state, ev('Booked', T0 + HOUR));
    const request = started.commands.flatMap((c) => (c.type === 'deliver' ? [c.request] : []))[0]!;
    assert.deepEqual([request.channel, request.options], ['inapp', { expiresAfter: 14 * DAY, url: 'coachinglive://review' }]);
  });

  test('a template without text, a bad expiry, a script url are refused with clear messages', () => {
    const noText = { ...promptDefinition(), templates: [{ id: 'review', locales: { en: { subject: 's', html: '<p>h</p>' } } }] };
    assert.deepEqual(violations(noText), [{ path: 'campaigns[0].message', message: 'template "review" is sent by inapp and needs `text` (the message body) in every locale; missing in en' }]);
    assert.match(violations(promptDefinition({}, { expiresAfter: 'forever' }))[0]!.message, /not a duration between a minute and a year/);
    assert.equal(violations(promptDefinition({}, { url: 'javascript:alert(1)' }))[0]!.path, 'campaigns.0.message.url');
  });

  test('exitOn.engaged is absent unless written: definitions without it keep their version', () => {
    const def = promptDefinition();
    assert.equal(parseDefinition(def).version, parseDefinition(promptDefinition({ events: [] })).version);
    assert.equal(parseDefinition(promptDefinition({ engaged: true })).plan.campaigns[0]!.exitOn.engaged, true);
  });
});

describe('in-app engagement in the journey', () => {
  /** Start the series and deliver its first message; answers the state and the first message's key. */
  function firstSent(plan: JourneyPlan): { state: JourneyState; key: string } {
    let state = step(plan, startJourney(plan, 'u1', T0).state, ev('Booked', T0 + HOUR)).state;
    const key = state.deadlines.length > 0 ? `customer-u1/review/1` : '';
    state = step(plan, state, { type: 'delivery', now: T0 + HOUR, key, outcome: { status: 'sent', provider: 'inbox', channel: 'inapp' } }).state;
    return { state, key };
  }
  const seen = (key: string, at: number, type: 'opened' | 'clicked' = 'opened'): JourneyInput => ({
    type: 'channelFeedback',
    now: at,
    feedback: { id: `${key}/${type === 'opened' ? 'seen' : 'clicked'}`, channel: 'inapp', type, deliveryKey: key, at, localHour: 10 },
  });

  test('seen is an open: on the message, in engagement, and one opened fact for the KPIs', () => {
    const plan = planOf(promptDefinition());
    const { state, key } = firstSent(plan);
    assert.equal(state.messages[0]!.status, 'sent');
    const after = step(plan, state, seen(key, T0 + 2 * HOUR));
    assert.equal(after.state.messages[0]!.openedAt, T0 + 2 * HOUR);
    assert.equal(after.state.engagement?.opens, 1);
    const facts = after.commands.flatMap((c) => (c.type === 'record' ? c.batch.facts : []));
    assert.deepEqual(
      facts.filter((f) => f.kind === 'email').map((f) => [f.kind, (f as { event: string }).event, (f as { channel?: string }).channel]),
      [['email', 'opened', 'inapp']],
    );
    // The same report again changes nothing.
    assert.equal(step(plan, after.state, seen(key, T0 + 2 * HOUR)).state.stats.duplicates, after.state.stats.duplicates + 1);
  });

  test('with exitOn.engaged a seen message stops the series: the next step is cancelled with the reason', () => {
    const plan = planOf(promptDefinition({ engaged: true }));
    const { state, key } = firstSent(plan);
    assert.ok(state.deadlines.some((d) => d.kind === 'campaign' && d.campaignId === 'review'), 'the second step is pending');
    const after = step(plan, state, seen(key, T0 + 2 * HOUR)).state;
    assert.equal(after.deadlines.filter((d) => d.kind === 'campaign').length, 0);
    const cancelled = after.messages.at(-1)!;
    assert.deepEqual([cancelled.key, cancelled.status, cancelled.reason], ['customer-u1/review/2', 'cancelled', 'exited: in-app message seen (customer-u1/review/1)']);
  });

  test('without it (or in a run before code version 7) the series goes on', () => {
    for (const plan of [planOf(promptDefinition()), withoutEngagementExits(planOf(promptDefinition({ engaged: true })))]) {
      const { state, key } = firstSent(plan);
      const after = step(plan, state, seen(key, T0 + 2 * HOUR, 'clicked')).state;
      assert.equal(after.deadlines.filter((d) => d.kind === 'campaign').length, 1);
      assert.equal(after.engagement?.clicks, 1);
    }
    assert.equal(runHas({ codeVersion: 6 }, 'engagementExit'), false);
    assert.equal(runHas({ codeVersion: 7 }, 'engagementExit'), true);
  });
});
