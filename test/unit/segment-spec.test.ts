import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { presentedKey } from '../../src/http/auth.js';
import { rejectionReason } from '../../src/api/segment-routes.js';
import { derivedMessageId, normalizeCall, type Normalized } from '../../src/api/segment-spec.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import type { JourneyInput } from '../../src/core/journey-state.js';
import { minimalDefinition, planOf, T0 } from './fixtures.js';

const receipt = { receivedAt: new Date('2026-11-25T10:00:10.000Z') };
const accepted = (n: Normalized) => {
  assert.ok(n.ok, JSON.stringify(n));
  return n;
};

describe('the Segment spec envelope', () => {
  test('Basic carries the key as the user name (password ignored); Bearer as before; anything else is no key', () => {
    assert.equal(presentedKey(`Basic ${Buffer.from('wk-123:').toString('base64')}`), 'wk-123');
    assert.equal(presentedKey(`Basic ${Buffer.from('wk-123:ignored').toString('base64')}`), 'wk-123');
    assert.equal(presentedKey('Bearer wk-123'), 'wk-123');
    assert.equal(presentedKey(`Basic ${Buffer.from(':pw').toString('base64')}`), undefined);
    assert.equal(presentedKey('Digest x'), undefined);
    assert.equal(presentedKey(undefined), undefined);
  });

  test('a type nested thousands deep is refused by kind, not serialized (it overflowed the stack: a 500)', () => {
    let deep: unknown = 'identify';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const batch = normalizeCall({ type: deep, userId: 'cy' }, undefined, receipt);
    assert.equal(batch.ok, false);
    assert.match(JSON.stringify(batch.issues), /type must be one of .* \(got an array\)/);
    const routed = normalizeCall({ type: { nested: deep }, userId: 'cy', event: 'E' }, 'track', receipt);
    assert.equal(routed.ok, false);
    assert.match(JSON.stringify(routed.issues), /this is \/v1\/track; type says an object|nests deeper/);
    assert.match(JSON.stringify(normalizeCall({ type: 'trak', userId: 'cy' }, undefined, receipt)), /\(got \\"trak\\"\)/);
  });

  test('every common field is accepted; an unknown top-level field is a warning, kept out of the call', () => {
    const n = accepted(
      normalizeCall(
        {
          userId: 'ada', event: 'Signed Up', messageId: 'm1', context: { ip: '1.2.3.4' }, integrations: { All: true }, _metadata: { nodeVersion: '22' },
          channel: 'server', version: 2, anonymousId: 'a1', writeKey: 'k', originalTimestamp: '2026-11-25T10:00:00Z', propertiez: { x: 1 },
        },
        'track',
        receipt,
      ),
    );
    assert.deepEqual(n.warnings, ['unknown field "propertiez" ignored: the Segment spec does not define it for track']);
    assert.deepEqual(n.call, { type: 'track', userId: 'ada', anonymousId: 'a1', messageId: 'm1', event: 'Signed Up', timestamp: '2026-11-25T10:00:00.000Z' });
  });

  test('a missing messageId is derived from the content: the same for a retry (new sentAt, other key order), another for other content', () => {
    const a = accepted(normalizeCall({ userId: 'ada', event: 'E', properties: { a: 1, b: 2 }, sentAt: '2026-11-25T10:00:00Z' }, 'track', receipt));
    const retry = accepted(normalizeCall({ sentAt: '2026-11-25T10:00:05Z', properties: { b: 2, a: 1 }, event: 'E', userId: 'ada' }, 'track', receipt));
    const other = accepted(normalizeCall({ userId: 'ada', event: 'E', properties: { a: 2, b: 2 } }, 'track', receipt));
    assert.equal(a.call.messageId, retry.call.messageId);
    assert.notEqual(a.call.messageId, other.call.messageId);
    assert.match(a.call.messageId, /^auto-[\w-]{32}$/);
    assert.notEqual(derivedMessageId('page', { userId: 'ada' }), derivedMessageId('screen', { userId: 'ada' }));
  });

  test('sentAt corrects timestamp for the client clock skew (receivedAt - sentAt); the batch sentAt applies to its items', () => {
    // The client's clock is 1 hour behind: it says it sent at 09:00:10 what we received at 10:00:10.
    const own = accepted(normalizeCall({ userId: 'ada', event: 'E', timestamp: '2026-11-25T09:00:00Z', sentAt: '2026-11-25T09:00:10Z' }, 'track', receipt));
    assert.equal(own.call.timestamp, '2026-11-25T10:00:00.000Z');
    const batch = accepted(normalizeCall({ type: 'track', userId: 'ada', event: 'E', originalTimestamp: '2026-11-25T09:00:00Z' }, undefined, { ...receipt, sentAt: '2026-11-25T09:00:10Z' }));
    assert.equal(batch.call.timestamp, '2026-11-25T10:00:00.000Z');
    const none = accepted(normalizeCall({ userId: 'ada', event: 'E' }, 'track', receipt));
    assert.equal(none.call.timestamp, undefined, 'no timestamp: applied at the time it arrives');
  });

  test('each call type: page and screen are events named by their name; group keeps traits; alias needs both ids; anonymous calls are accepted', () => {
    assert.deepEqual(accepted(normalizeCall({ userId: 'u', name: 'Pricing', category: 'Docs', properties: { path: '/p' }, messageId: 'p' }, 'page', receipt)).call, {
      type: 'page', userId: 'u', messageId: 'p', event: 'Pricing', properties: { name: 'Pricing', category: 'Docs', path: '/p' },
    });
    assert.equal(accepted(normalizeCall({ type: 'screen', anonymousId: 'v', name: 'Home' }, undefined, receipt)).call.type, 'screen');
    assert.deepEqual(accepted(normalizeCall({ userId: 'u', groupId: 'acme', traits: { seats: 4 }, messageId: 'g' }, 'group', receipt)).call, {
      type: 'group', userId: 'u', messageId: 'g', groupId: 'acme', traits: { seats: 4 },
    });
    const alias = normalizeCall({ previousId: 'v' }, 'alias', receipt);
    assert.ok(!alias.ok && alias.issues.some((i) => i.path === 'userId'));
    const nobody = normalizeCall({ event: 'E' }, 'track', receipt);
    assert.ok(!nobody.ok);
    assert.deepEqual(nobody.issues, [{ path: 'userId', message: 'userId or anonymousId is required', code: 'custom' }]);
    assert.equal(rejectionReason(nobody.issues), 'userId:custom');
  });

  test('refused: a wrong or missing type in a batch, a type that contradicts the route, a call over 32 KB', () => {
    const missing = normalizeCall({ userId: 'u' }, undefined, receipt);
    assert.ok(!missing.ok && missing.issues[0]!.path === 'type');
    assert.ok(!normalizeCall({ type: 'track', userId: 'u', event: 'E' }, 'page', receipt).ok);
    const big = normalizeCall({ userId: 'u', event: 'E', properties: { s: 'x'.repeat(33_000) } }, 'track', receipt);
    assert.ok(!big.ok && big.issues[0]!.code === 'too_big');
    assert.equal(rejectionReason(big.issues), 'call:too_big');
    // 30,000 levels: refused without overflowing the stack, and still given a stable id.
    let inner: Record<string, unknown> = {};
    const deep = inner;
    for (let i = 0; i < 30_000; i++) inner = (inner.x = {}) as Record<string, unknown>;
    const tooDeep = normalizeCall({ type: 'track', userId: 'u', event: 'E', properties: deep }, undefined, receipt);
    assert.ok(!tooDeep.ok && tooDeep.issues[0]!.message.includes('deeper'));
    assert.equal(tooDeep.messageId, (normalizeCall({ type: 'track', userId: 'u', event: 'E', properties: deep }, undefined, receipt) as { messageId?: string }).messageId);
  });
});

describe('page and screen views in a journey', () => {
  const plan = planOf(
    minimalDefinition({
      transitions: [{ from: ['lead'], on: { event: 'Pricing', call: 'page' }, to: 'customer' }],
      campaigns: [
        { id: 'hello', name: 'Hello', kind: 'transactional', trigger: { event: 'Workout', call: 'screen', where: { level: 'hard' } }, message: { template: 'hello' } },
      ],
    }),
  );
  const view = (type: 'page' | 'screen' | undefined, event: string, properties?: Record<string, unknown>): JourneyInput => ({
    type: 'event',
    now: T0,
    event: { messageId: `${type}-${event}-${JSON.stringify(properties)}`, event, ...(type ? { type } : {}), ...(properties ? { properties } : {}) },
  });

  test('a definition matches page and screen views by name and properties, and a track call of the same name does not', () => {
    let state = startJourney(plan, 'u', T0).state;
    state = step(plan, state, view(undefined, 'Pricing')).state;
    assert.equal(state.stage, 'lead', 'a track call named Pricing is not a page view');
    state = step(plan, state, view('page', 'Pricing')).state;
    assert.equal(state.stage, 'customer');
    assert.equal(state.lastActivityAt, T0, 'a view is activity');
    const easy = step(plan, state, view('screen', 'Workout', { level: 'easy' }));
    assert.ok(!easy.commands.some((c) => c.type === 'deliver'));
    const hard = step(plan, easy.state, view('screen', 'Workout', { level: 'hard' }));
    assert.equal(hard.state.deadlines.filter((d) => d.kind === 'campaign').length + hard.state.messages.length > 0, true, 'the campaign started');
  });
});
