import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { timelineOf } from '../../src/core/journey-timeline.js';
import {
  applyPatch,
  applyPreferenceChange,
  emptyPreferences,
  preferenceBlock,
  preferenceDeltas,
  preferencesOf,
  PREFERENCE_CHANGES_KEPT,
  type Preferences,
} from '../../src/core/preferences.js';
import { linkSecrets, loadConfig, publicUrl, ConfigError } from '../../src/config/config.js';
import { DefinitionError, loadDefinitionFile, parseDefinition } from '../../src/definition-store/load-definition.js';
import type { ChannelProfile } from '../../src/channels/channel.js';
import { preferenceConsent } from '../../src/preferences/preference-consent.js';
import { withPreferenceFooter } from '../../src/preferences/email-footer.js';
import { LinkSigner, listUnsubscribeHeaders, preferenceLinks } from '../../src/preferences/preference-links.js';
import { preferenceStrings, topicText } from '../../src/preferences/preference-strings.js';
import { COACHINGLIVE_PATH, minimalDefinition } from './fixtures.js';

const prefs = (p: Partial<Preferences>): Preferences => ({ ...emptyPreferences(), ...p });

describe('the preference rule', () => {
  const marketing = { kind: 'marketing' as const, topic: 'offers', channel: 'email' };

  test('a marketing message is held back when its topic, its channel or all marketing is off, with the reason', () => {
    assert.equal(preferenceBlock(marketing, prefs({ topics: { offers: false } })), 'the customer turned topic offers off');
    assert.equal(preferenceBlock(marketing, prefs({ channels: { email: false } })), 'the customer turned marketing by email off');
    assert.equal(preferenceBlock(marketing, prefs({ marketing: false })), 'the customer turned all marketing off');
    assert.equal(preferenceBlock({ ...marketing, channel: 'webhook' }, prefs({ channels: { email: false } })), undefined, 'another channel still goes');
    assert.equal(preferenceBlock(marketing, prefs({ topics: { tips: false, offers: true } })), undefined, 'another topic off, this one on');
    assert.equal(preferenceBlock(marketing, prefs({})), undefined, 'what was never chosen is on');
    assert.equal(preferenceBlock(marketing, undefined), undefined);
  });

  test('a transactional message is never held back by marketing preferences', () => {
    const everythingOff = prefs({ marketing: false, topics: { offers: false }, channels: { email: false, webhook: false, push: false } });
    assert.equal(preferenceBlock({ kind: 'transactional', channel: 'email' }, everythingOff), undefined);
    assert.equal(preferenceBlock({ kind: 'transactional', channel: 'webhook' }, everythingOff), undefined);
    assert.equal(preferenceBlock({ kind: 'transactional', channel: 'push' }, everythingOff), undefined);
  });

  test('the consent hook skips with the reason, after consent, and lets transactional messages go all the same', async () => {
    const loaded = parseDefinition(
      minimalDefinition({
        topics: [{ id: 'offers', label: { en: 'Offers' } }, { id: 'tips', label: { en: 'Tips' } }],
        campaigns: [
          { id: 'promo', name: 'Promo', kind: 'marketing', topic: 'offers', trigger: { event: 'Signed Up' }, message: { template: 'hello' } },
          { id: 'tip', name: 'Tip', kind: 'marketing', topic: 'tips', trigger: { event: 'Signed Up' }, message: { template: 'hello' } },
          { id: 'hello', name: 'Hello', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 'hello' } },
        ],
      }),
      'test',
    );
    const consent = preferenceConsent({ get: async () => loaded });
    const request = (campaignId: string, kind: DeliveryRequest['kind'] = 'marketing'): DeliveryRequest => ({
      key: `customer-ada/${campaignId}/1`,
      userId: 'ada',
      campaignId,
      occurrence: 1,
      kind,
      template: 'hello',
      segments: [],
      definition: { id: 'mini', version: loaded.version },
      summary: 'send',
    });
    const profile = { _id: 'ada', traits: {}, email: 'ada@example.com', preferences: { topics: { offers: false } } } as unknown as ChannelProfile;
    assert.deepEqual(await consent(profile, request('promo'), 'email'), { allowed: false, reason: 'preferences: the customer turned topic offers off' });
    assert.deepEqual(await consent(profile, request('tip'), 'email'), { allowed: true });
    const allOff = { ...profile, preferences: { marketing: false, channels: { email: false } } } as ChannelProfile;
    assert.deepEqual(await consent(allOff, request('hello', 'transactional'), 'email'), { allowed: true });
    assert.deepEqual(await consent({ ...allOff, preferences: { channels: { email: false } } } as ChannelProfile, request('tip'), 'webhook'), { allowed: true });
    // Consent comes first: an unsubscribed customer is told apart from one who turned a topic off.
    assert.deepEqual(await consent({ ...profile, marketingConsent: false } as ChannelProfile, request('promo'), 'email'), { allowed: false, reason: 'no consent for marketing' });
  });

  test('stored values are read leniently: anything but a boolean counts as not chosen', () => {
    assert.deepEqual(preferencesOf({ topics: { offers: false, tips: 'no' }, channels: null, marketing: 'x' }), { topics: { offers: false }, channels: {} });
    assert.deepEqual(preferencesOf(undefined), emptyPreferences());
    assert.deepEqual(applyPatch(prefs({ topics: { offers: false } }), { topics: { tips: false }, marketing: true }), { marketing: true, topics: { offers: false, tips: false }, channels: {} });
  });
});

describe('preference changes in the journey', () => {
  test('each change that moved a switch is kept with its source; a repeated signal records nothing', () => {
    const state: Parameters<typeof applyPreferenceChange>[0] = {};
    const off = prefs({ topics: { offers: false } });
    assert.equal(applyPreferenceChange(state, { source: 'one-click', at: 1_000, preferences: off }, 2_000), true);
    assert.equal(applyPreferenceChange(state, { source: 'one-click', at: 1_000, preferences: off }, 3_000), false, 'a retry');
    assert.equal(applyPreferenceChange(state, { source: 'preference-page', at: 5_000, preferences: prefs({ topics: { offers: true }, channels: { email: false } }) }, 4_000), true);
    assert.deepEqual(state.preferenceChanges, [
      { at: 1_000, source: 'one-click', changes: [{ kind: 'topic', id: 'offers', on: false }] },
      // A change stamped after the journey's now is placed at now.
      { at: 4_000, source: 'preference-page', changes: [{ kind: 'topic', id: 'offers', on: true }, { kind: 'channel', id: 'email', on: false }] },
    ]);
    assert.deepEqual(preferenceDeltas(undefined, prefs({ topics: { offers: true } })), [], 'turning on what was on moves nothing');
    for (let i = 0; i < PREFERENCE_CHANGES_KEPT + 5; i++) applyPreferenceChange(state, { source: 'api', at: i, preferences: prefs({ marketing: i % 2 === 0 }) }, 10_000);
    assert.equal(state.preferenceChanges!.length, PREFERENCE_CHANGES_KEPT);
  });

  test('the timeline tells each change and where it came from', () => {
    const timeline = timelineOf({
      stages: [],
      pending: [],
      audit: [],
      messages: [],
      preferenceChanges: [{ at: '2026-01-02T10:00:00.000Z', source: 'one-click', changes: ['topic offers off'] }],
    });
    assert.deepEqual(timeline, [{ at: '2026-01-02T10:00:00.000Z', kind: 'preference', text: 'preferences: topic offers off (by one-click unsubscribe)', status: 'one-click' }]);
  });
});

describe('signed links', () => {
  const secret = randomBytes(32);
  const signer = new LinkSigner([secret]);

  test('a link verifies for its purpose only, carries its customer and topic, and never expires', () => {
    const token = signer.sign('unsubscribe', { userId: 'ada', topic: 'offers' });
    assert.deepEqual(signer.verify('unsubscribe', token), { userId: 'ada', topic: 'offers' });
    assert.equal(signer.verify('preferences', token), undefined, 'an unsubscribe link does not open the preference page');
    assert.deepEqual(signer.verify('preferences', signer.sign('preferences', { userId: 'ada' })), { userId: 'ada' });
  });

  test('a tampered, truncated or foreign token is refused', () => {
    const token = signer.sign('unsubscribe', { userId: 'ada' });
    const [v, payload, mac] = token.split('.') as [string, string, string];
    const other = Buffer.from(JSON.stringify({ u: 'bob' })).toString('base64url');
    for (const bad of [`${v}.${other}.${mac}`, `${v}.${payload}.${mac.slice(0, -2)}`, `v2.${payload}.${mac}`, '', 'x', `${v}.${payload}`, `${v}.${payload}.${mac}.x`]) {
      assert.equal(signer.verify('unsubscribe', bad), undefined, bad);
    }
    assert.equal(new LinkSigner([randomBytes(32)]).verify('unsubscribe', token), undefined, 'another secret');
  });

  test('rotation: a new secret signs, the old one still verifies links in old mail', () => {
    const old = signer.sign('unsubscribe', { userId: 'ada' });
    const rotated = new LinkSigner([randomBytes(32), secret]);
    assert.deepEqual(rotated.verify('unsubscribe', old), { userId: 'ada' });
    assert.equal(signer.verify('unsubscribe', rotated.sign('unsubscribe', { userId: 'ada' })), undefined);
  });

  test('the RFC 8058 headers and the URLs under PUBLIC_URL', () => {
    const links = preferenceLinks(signer, 'https://lifecycle.example.com/');
    const url = links.unsubscribeUrl({ userId: 'ada', topic: 'offers' });
    assert.match(url, /^https:\/\/lifecycle\.example\.com\/u\/v1\.[\w-]+\.[\w-]+$/);
    assert.match(links.preferencesUrl('ada'), /^https:\/\/lifecycle\.example\.com\/preferences\/v1\./);
    assert.deepEqual(listUnsubscribeHeaders(url), { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' });
  });

  test('the secrets come from LINK_SECRETS, else from the payload keys; without either the process stops', () => {
    const k = (n: number) => `k${n}:${Buffer.alloc(32, n).toString('base64')}`;
    const [one] = linkSecrets(loadConfig({ PAYLOAD_KEYS: `${k(1)},${k(2)}` }));
    const rotated = linkSecrets(loadConfig({ PAYLOAD_KEYS: `${k(3)},${k(1)}` }));
    assert.equal(rotated.length, 2);
    assert.deepEqual(rotated[1], one, 'the old payload key still verifies after a rotation');
    assert.equal(linkSecrets(loadConfig({ LINK_SECRETS: 'a'.repeat(32), PAYLOAD_KEYS: k(1) })).length, 1);
    assert.throws(() => linkSecrets(loadConfig({ PAYLOAD_ENCRYPTION: 'off' })), ConfigError);
    assert.throws(() => loadConfig({ LINK_SECRETS: 'short' }), /LINK_SECRETS: secret 1: at least 32 characters/);
    assert.equal(publicUrl(loadConfig({ API_PORT: '4000' })), 'http://localhost:4000');
    assert.equal(publicUrl(loadConfig({ PUBLIC_URL: 'https://x.example/' })), 'https://x.example');
  });
});

describe('topics in the definition', () => {
  const topics = [{ id: 'offers', label: { en: 'Offers', de: 'Angebote' } }];
  const withCampaign = (campaign: Record<string, unknown>, extra: Record<string, unknown> = { topics }) =>
    minimalDefinition({
      ...extra,
      campaigns: [{ id: 'promo', name: 'Promo', kind: 'marketing', trigger: { event: 'Signed Up' }, message: { template: 'hello' }, ...campaign } as never],
    });
  const violations = (raw: unknown) => {
    try {
      parseDefinition(raw, 'test');
      return [];
    } catch (err) {
      if (!(err instanceof DefinitionError)) throw err;
      return err.violations.map((v) => `${v.path}: ${v.message}`);
    }
  };

  test('a campaign naming an unknown topic is refused with a clear message', () => {
    assert.deepEqual(violations(withCampaign({ topic: 'ofers' })), ['campaigns[0].topic: campaign "promo" names unknown topic "ofers" (declared topics: offers)']);
    assert.deepEqual(violations(withCampaign({ topic: 'offers' }, {})), ['campaigns[0].topic: campaign "promo" names unknown topic "offers" (the definition declares no `topics`)']);
  });

  test('with topics declared, each marketing campaign names one; a transactional one names none', () => {
    assert.deepEqual(violations(withCampaign({})), [
      'campaigns[0].topic: marketing campaign "promo" names no topic; the definition declares topics (offers), so each marketing campaign says which it belongs to',
    ]);
    assert.deepEqual(violations(withCampaign({ kind: 'transactional', topic: 'offers' })), [
      'campaigns[0].topic: campaign "promo" is transactional and has no topic: preferences never hold back a transactional message',
    ]);
    assert.deepEqual(violations(withCampaign({ topic: 'offers' })), []);
  });

  test('a topic needs a label in the default locale, and ids are unique', () => {
    const bad = [{ id: 'offers', label: { de: 'Angebote' } }, { id: 'offers', label: { en: 'Offers' } }];
    assert.deepEqual(violations(withCampaign({ topic: 'offers' }, { topics: bad })), ['topics: "offers" is declared more than once', 'topics[0].label: topic "offers" has no "en" label (the default locale)']);
  });

  test('definitions without topics keep their version; the shipped one declares them and every marketing campaign names one', async () => {
    const plain = parseDefinition(minimalDefinition(), 'test');
    assert.equal(plain.version, '33b4673cde47', 'the version it had before topics existed');
    assert.equal('topics' in plain.definition, false);
    const shipped = (await loadDefinitionFile(COACHINGLIVE_PATH)).definition;
    assert.deepEqual(shipped.topics?.map((t) => t.id), ['tips', 'offers', 'product_news', 'community']);
    for (const c of shipped.campaigns) assert.equal(c.topic !== undefined, c.kind === 'marketing', c.id);
    assert.equal(topicText(shipped, 'offers', 'de-AT').label, 'Angebote und Erinnerungen');
    assert.equal(topicText(shipped, 'offers', 'fr').label, 'Offers and reminders', 'falls back to the default locale');
  });
});

describe('the footer of a marketing email', () => {
  const links = { preferences: 'https://x.example/preferences/v1.a.b', unsubscribe: 'https://x.example/u/v1.c.d' };

  test('links the preference page and unsubscribe in the message’s language, in html and text', () => {
    const de = withPreferenceFooter({ locale: 'de', subject: 's', html: '<p>Hallo</p>', text: 'Hallo' }, links);
    assert.match(de.html, /Du möchtest diese E-Mails nicht mehr\? <a href="https:\/\/x\.example\/preferences\/v1\.a\.b">Alle Einstellungen verwalten<\/a> · <a href="https:\/\/x\.example\/u\/v1\.c\.d">Abmelden<\/a>/);
    assert.match(de.text!, /Abmelden: https:\/\/x\.example\/u\/v1\.c\.d/);
    assert.equal(preferenceStrings('pt-BR').lang, 'en');
  });

  test('is left out when the template shows the preference link itself', () => {
    const own = { locale: 'en', subject: 's', html: `<a href="${links.preferences}">prefs</a>` };
    assert.deepEqual(withPreferenceFooter(own, links), own);
  });
});
