/**
 * The read model (recordJourney) and the KPIs over it (computeKpis, GET /v1/kpis) against the real
 * MongoDB-compatible server (embedded FerretDB). Nothing of ours is mocked.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { pino } from 'pino';
import { createReadModelActivities } from '../../activities/read-model-activities.js';
import { createApp } from '../../src/api/app.js';
import { CustomerService } from '../../src/api/customer-service.js';
import type { Scope } from '../../src/config/config.js';
import type { JourneyFact, JourneySnapshot, ReadModelBatch } from '../../src/core/journey-facts.js';
import { computeKpis } from '../../src/kpis/compute-kpis.js';
import { queriesTo, startTestDatabase, type TestDatabase } from '../support/database.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const DAY = 86_400_000;

function snapshot(userId: string, over: Partial<JourneySnapshot> = {}): JourneySnapshot {
  return {
    userId,
    seq: 1,
    definitionVersion: 'v1',
    stage: 'trial',
    stageEnteredAt: T0,
    plan: null,
    segments: [],
    counters: { events: 1 },
    payments: 0,
    everLoyal: false,
    reactivations: 0,
    lastActivityAt: null,
    startedAt: T0,
    ...over,
  };
}

/** Fact factories: ids `<userId>/<seq>` as journeys make them. */
let factSeq = 0;
const message = (userId: string, campaignId: string, variant: string | null, status: 'sent' | 'skipped' | 'failed' | 'cancelled'): JourneyFact => ({
  kind: 'message',
  id: `${userId}/${++factSeq}`,
  userId,
  at: T0 + factSeq,
  key: `customer-${userId}/${campaignId}/1`,
  campaignId,
  variant,
  messageKind: 'marketing',
  status,
  ...(status === 'skipped' && variant === 'holdout' ? { reason: 'holdout' } : {}),
});
const conversion = (userId: string, campaignId: string, variant: string | null): JourneyFact => ({
  kind: 'conversion',
  id: `${userId}/${++factSeq}`,
  userId,
  at: T0 + DAY + factSeq,
  campaignId,
  variant,
  goalEvent: 'Subscription Started',
  messageKey: `customer-${userId}/${campaignId}/1`,
});
/** What SendGrid reported for the message of `message(userId, campaignId, …)`, as the journey records it (first of each kind). */
const email = (userId: string, campaignId: string, variant: string | null, event: Extract<JourneyFact, { kind: 'email' }>['event']): JourneyFact => ({
  kind: 'email',
  id: `${userId}/${++factSeq}`,
  userId,
  at: T0 + factSeq,
  key: `customer-${userId}/${campaignId}/1`,
  campaignId,
  variant,
  event,
});
const assignment = (userId: string, campaignId: string, variant: string): JourneyFact => ({
  kind: 'assignment',
  id: `${userId}/${++factSeq}`,
  userId,
  at: T0 + factSeq,
  campaignId,
  variant,
});
const stageFact = (userId: string, stage: string, from: string | null): JourneyFact => ({
  kind: 'stage',
  id: `${userId}/${++factSeq}`,
  userId,
  at: T0 + factSeq,
  stage,
  from,
  cause: from === null ? { kind: 'start' } : { kind: 'event', event: 'Subscription Started', messageId: `m-${factSeq}` },
});
const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

describe('read model', () => {
  let db: TestDatabase & { stopServer(): Promise<void> };
  let activities: ReturnType<typeof createReadModelActivities>;

  before(async () => {
    db = await startTestDatabase('activities_read_model');
    activities = createReadModelActivities({ models: db.models, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await db?.teardown();
  });
  beforeEach(async () => {
    await db.models.JourneyRecord.deleteMany({});
    await db.models.JourneyFactRecord.deleteMany({});
  });

  test('the same batch recorded twice writes each fact once; a retry with one more fact adds only that one', async () => {
    const facts = [stageFact('ada', 'trial', null), message('ada', 'welcome', null, 'sent'), stageFact('ada', 'subscriber', 'trial')];
    const batch: ReadModelBatch = { snapshot: snapshot('ada', { seq: 3, stage: 'subscriber', payments: 1, lastActivityAt: T0 + DAY }), facts };
    await activities.recordJourney(batch);
    await activities.recordJourney(batch);
    assert.equal(await db.models.JourneyFactRecord.countDocuments({}), 3);
    assert.equal(await db.models.JourneyRecord.countDocuments({}), 1);

    // The first write of a fact stands: a later copy with other content does not replace it.
    const changed = { ...facts[1]!, status: 'failed' } as JourneyFact;
    const extra = conversion('ada', 'welcome', null);
    await activities.recordJourney({ snapshot: snapshot('ada', { seq: 4, stage: 'subscriber', payments: 1 }), facts: [changed, extra] });
    assert.equal(await db.models.JourneyFactRecord.countDocuments({}), 4);
    const stored = await db.models.JourneyFactRecord.findById(facts[1]!.id).lean();
    assert.equal((stored as { status?: string }).status, 'sent');

    const start = await db.models.JourneyFactRecord.findById(facts[0]!.id).lean();
    assert.ok(start!.at instanceof Date);
    assert.equal(start!.at.getTime(), facts[0]!.at);
    assert.deepEqual((start as { cause?: unknown }).cause, { kind: 'start' });
    assert.equal((start as { from?: unknown }).from, null);

    const journey = await db.models.JourneyRecord.findById('ada').lean();
    assert.equal(journey!.seq, 4);
    assert.ok(journey!.stageEnteredAt instanceof Date && journey!.startedAt instanceof Date);
    assert.equal(journey!.stageEnteredAt.getTime(), T0);
    assert.equal(journey!.lastActivityAt, null, 'seq 4 said no activity yet, and it replaced seq 3');
    assert.deepEqual(journey!.counters, { events: 1 });
  });

  test('a stale snapshot (lower or equal seq) does not overwrite a newer one; a newer one does', async () => {
    await activities.recordJourney({ snapshot: snapshot('bo', { seq: 5, stage: 'subscriber', plan: 'full', payments: 1 }), facts: [] });
    await activities.recordJourney({ snapshot: snapshot('bo', { seq: 3, stage: 'trial' }), facts: [] });
    await activities.recordJourney({ snapshot: snapshot('bo', { seq: 5, stage: 'churned' }), facts: [] });
    let stored = await db.models.JourneyRecord.findById('bo').lean();
    assert.equal(stored!.seq, 5);
    assert.equal(stored!.stage, 'subscriber');
    assert.equal(stored!.plan, 'full');

    await activities.recordJourney({ snapshot: snapshot('bo', { seq: 6, stage: 'loyal', plan: 'full', payments: 2, everLoyal: true }), facts: [] });
    stored = await db.models.JourneyRecord.findById('bo').lean();
    assert.equal(stored!.seq, 6);
    assert.equal(stored!.stage, 'loyal');
    assert.equal(stored!.everLoyal, true);
  });

  test('overlapping writes of one journey (in one worker) keep the highest seq', async () => {
    for (let round = 0; round < 5; round++) {
      const userId = `race-${round}`;
      const seqs = round % 2 === 0 ? [1, 2, 3] : [3, 2, 1];
      await Promise.all(seqs.map((seq) => activities.recordJourney({ snapshot: snapshot(userId, { seq, stage: `s${seq}` }), facts: [] })));
      const stored = await db.models.JourneyRecord.findById(userId).lean();
      assert.equal(stored!.seq, 3, `round ${round}`);
      assert.equal(stored!.stage, 's3', `round ${round}`);
    }
  });

  test('fresh (a new journey’s opening pass): created without a read; a record already there is compared by seq as always', async () => {
    const { queries: calls } = await queriesTo(db.models.JourneyRecord, () =>
      activities.recordJourney({ snapshot: snapshot('new-1', { seq: 2, stage: 'trial' }), facts: [] }, { fresh: true }),
    );
    assert.deepEqual(calls.map((c) => c.split(' ')[0]), ['insertOne'], calls.join('; '));
    assert.equal((await db.models.JourneyRecord.findById('new-1').lean())!.seq, 2);

    // Not new after all: a newer record stays, an older one is replaced.
    await activities.recordJourney({ snapshot: snapshot('new-1', { seq: 1, stage: 'prospect' }), facts: [] }, { fresh: true });
    assert.deepEqual([(await db.models.JourneyRecord.findById('new-1').lean())!.stage], ['trial']);
    await activities.recordJourney({ snapshot: snapshot('new-1', { seq: 7, stage: 'subscriber' }), facts: [] }, { fresh: true });
    const stored = await db.models.JourneyRecord.findById('new-1').lean();
    assert.deepEqual([stored!.seq, stored!.stage], [7, 'subscriber']);
    assert.equal(await db.models.JourneyRecord.countDocuments({}), 1);
  });

  test('a malformed batch is refused without retries', async () => {
    await assert.rejects(
      activities.recordJourney({ snapshot: snapshot(''), facts: [] }),
      (err: Error & { type?: string; nonRetryable?: boolean }) => err.type === 'InvalidInput' && err.nonRetryable === true,
    );
  });

  test('computeKpis over a hand-built read model: stages, rates, and campaigns with a holdout', async () => {
    const journeys: Partial<JourneySnapshot>[] = [
      { userId: 'u1', stage: 'prospect' },
      { userId: 'u2', stage: 'trial' },
      { userId: 'u3', stage: 'trial' },
      { userId: 'u4', stage: 'subscriber', payments: 1 },
      { userId: 'u5', stage: 'subscriber', payments: 1, reactivations: 1 },
      { userId: 'u6', stage: 'subscriber', payments: 2 },
      { userId: 'u7', stage: 'loyal', payments: 3, everLoyal: true },
      { userId: 'u8', stage: 'loyal', payments: 5, everLoyal: true, reactivations: 2 },
    ];
    const facts: JourneyFact[] = [
      // winback, an A/B test with a holdout: A 3/10 = 30 %, B 1/5 = 20 %, holdout 1/4 = 25 %.
      ...times(10, (i) => message(`wa${i}`, 'winback', 'A', 'sent')),
      message('wa-x', 'winback', 'A', 'skipped'),
      message('wa-y', 'winback', 'A', 'failed'),
      ...times(3, (i) => conversion(`wa${i}`, 'winback', 'A')),
      ...times(5, (i) => message(`wb${i}`, 'winback', 'B', 'sent')),
      conversion('wb0', 'winback', 'B'),
      ...times(4, (i) => message(`wh${i}`, 'winback', 'holdout', 'skipped')),
      conversion('wh0', 'winback', 'holdout'),
      ...times(3, (i) => assignment(`wa${i}`, 'winback', 'A')),
      // What SendGrid reported for winback A: 8 of 10 delivered (2 bounced), 4 opened, 1 clicked; dropped, spam reports and unsubscribes are not counted here.
      ...times(8, (i) => email(`wa${i}`, 'winback', 'A', 'delivered')),
      ...times(2, (i) => email(`wa${i + 8}`, 'winback', 'A', 'bounced')),
      ...times(4, (i) => email(`wa${i}`, 'winback', 'A', 'opened')),
      email('wa0', 'winback', 'A', 'clicked'),
      email('wa1', 'winback', 'A', 'spamreport'),
      email('wa2', 'winback', 'A', 'unsubscribed'),
      email('wa-x', 'winback', 'A', 'dropped'),
      // welcome: a delivery without a variant counts on the default row.
      email('w0', 'welcome', null, 'delivered'),
      // welcome, no experiment: 1/4 = 25 %, no lift.
      ...times(4, (i) => message(`w${i}`, 'welcome', null, 'sent')),
      message('w-c', 'welcome', null, 'cancelled'),
      conversion('w0', 'welcome', null),
      // upsell: a holdout that never converts gives no lift; 2/3 = 66.7 %.
      ...times(3, (i) => message(`ua${i}`, 'upsell', 'A', 'sent')),
      ...times(2, (i) => conversion(`ua${i}`, 'upsell', 'A')),
      ...times(3, (i) => message(`uh${i}`, 'upsell', 'holdout', 'skipped')),
      // Stage facts count for nothing here.
      stageFact('u7', 'loyal', 'subscriber'),
    ];
    for (const j of journeys) await activities.recordJourney({ snapshot: snapshot(j.userId!, j), facts: [] });
    await activities.recordJourney({ snapshot: snapshot('u1', { stage: 'prospect' }), facts });
    await activities.recordJourney({ snapshot: snapshot('u1', { stage: 'prospect' }), facts }); // a retry changes nothing

    const kpis = await computeKpis(db.models);
    const notEnough = (against: string) => ({ against, enoughData: false, minimumGroupSize: 30 });
    const row = (variant: string, r: Record<string, number | null>, extra: { interval: [number, number]; comparisons?: string[] }) => ({
      variant,
      sent: 0,
      skipped: 0,
      failed: 0,
      cancelled: 0,
      holdout: 0,
      converted: 0,
      ...r,
      delivered: r.delivered ?? 0,
      bounced: r.bounced ?? 0,
      opened: r.opened ?? 0,
      clicked: r.clicked ?? 0,
      deliveryRate: r.deliveryRate ?? (r.sent ? 0 : null),
      openRate: r.openRate ?? null,
      clickRate: r.clickRate ?? null,
      conversionRateInterval: { low: extra.interval[0], high: extra.interval[1] },
      // Groups this small are "not enough data": no probability, no intervals of the comparison.
      probabilityToBeatHoldout: null,
      comparisons: (extra.comparisons ?? []).map(notEnough),
    });
    assert.deepEqual(kpis, {
      customers: 8,
      customersPerStage: { loyal: 2, prospect: 1, subscriber: 3, trial: 2 },
      rates: { activation: 62.5, repeatCustomer: 60, loyalCustomer: 66.7 },
      counts: { paying: 5, repeat: 3, loyal: 2, reactivated: 2 },
      campaigns: [
        {
          campaignId: 'upsell',
          variants: [
            row('A', { sent: 3, converted: 2, conversionRate: 66.7, lift: null }, { interval: [20.8, 93.9], comparisons: ['holdout'] }),
            row('holdout', { skipped: 3, holdout: 3, conversionRate: 0, lift: null }, { interval: [0, 56.1] }),
          ],
        },
        {
          campaignId: 'welcome',
          variants: [row('default', { sent: 4, cancelled: 1, converted: 1, conversionRate: 25, lift: null, delivered: 1, deliveryRate: 25, openRate: 0, clickRate: 0 }, { interval: [4.6, 69.9] })],
        },
        {
          campaignId: 'winback',
          variants: [
            row('A', {
              sent: 10,
              skipped: 1,
              failed: 1,
              converted: 3,
              conversionRate: 30,
              lift: 20,
              delivered: 8,
              bounced: 2,
              opened: 4,
              clicked: 1,
              deliveryRate: 80,
              openRate: 50,
              clickRate: 12.5,
            }, { interval: [10.8, 60.3], comparisons: ['holdout', 'B'] }),
            row('B', { sent: 5, converted: 1, conversionRate: 20, lift: -20 }, { interval: [3.6, 62.4], comparisons: ['holdout', 'A'] }),
            row('holdout', { skipped: 4, holdout: 4, converted: 1, conversionRate: 25, lift: null }, { interval: [4.6, 69.9] }),
          ],
        },
      ],
    });
  });

  test('computeKpis over an empty read model: zero counts and null rates', async () => {
    assert.deepEqual(await computeKpis(db.models), {
      customers: 0,
      customersPerStage: {},
      rates: { activation: null, repeatCustomer: null, loyalCustomer: null },
      counts: { paying: 0, repeat: 0, loyal: 0, reactivated: 0 },
      campaigns: [],
    });
  });

  test('GET /v1/kpis needs customers:read, answers the KPIs, and 503 when MongoDB is gone; recordJourney then throws', async () => {
    await activities.recordJourney({ snapshot: snapshot('k1', { stage: 'subscriber', payments: 1 }), facts: [message('k1', 'welcome', null, 'sent')] });
    const customers = new CustomerService({
      client: undefined as unknown as Client, // kpis() never touches Temporal
      models: db.models,
      taskQueue: 'read-model-test',
      definition: { id: 'test' },
      upstreamTimeoutMs: 1_000,
    });
    const apiKeys = new Map<string, Set<Scope>>([
      ['reader-key-0123456789', new Set<Scope>(['customers:read'])],
      ['writer-key-0123456789', new Set<Scope>(['events:write'])],
    ]);
    const app = createApp({ customers, apiKeys, logger: pino({ level: 'silent' }), temporalUiUrl: 'http://ui', namespace: 'default' });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = async (key?: string) => {
      const res = await fetch(`${base}/v1/kpis`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      assert.equal((await get()).status, 401);
      assert.equal((await get('writer-key-0123456789')).status, 403);
      const ok = await get('reader-key-0123456789');
      assert.equal(ok.status, 200);
      assert.ok(!Number.isNaN(Date.parse(ok.body.generatedAt as string)));
      assert.equal(ok.body.customers, 1);
      assert.deepEqual(ok.body.rates, { activation: 100, repeatCustomer: 0, loyalCustomer: null });
      assert.deepEqual(ok.body.campaigns, [
        {
          campaignId: 'welcome',
          variants: [
            {
              variant: 'default',
              sent: 1,
              skipped: 0,
              failed: 0,
              cancelled: 0,
              holdout: 0,
              converted: 0,
              conversionRate: 0,
              // Wilson's 95% interval of 0 of 1: [0, z²/(1+z²)] = [0, 79.3%]; no holdout, nothing to compare.
              conversionRateInterval: { low: 0, high: 79.3 },
              probabilityToBeatHoldout: null,
              comparisons: [],
              lift: null,
              delivered: 0,
              bounced: 0,
              opened: 0,
              clicked: 0,
              deliveryRate: 0,
              openRate: null,
              clickRate: null,
            },
          ],
        },
      ]);

      await db.stopServer();
      const down = await get('reader-key-0123456789');
      assert.equal(down.status, 503);
      assert.equal(down.headers.get('retry-after'), '5');
      assert.equal((down.body.error as { upstream: string }).upstream, 'mongodb');
      await assert.rejects(
        activities.recordJourney({ snapshot: snapshot('k2'), facts: [message('k2', 'welcome', null, 'sent')] }),
        (err: Error & { nonRetryable?: boolean }) => !err.nonRetryable,
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
