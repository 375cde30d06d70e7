/**
 * fanOutBroadcast against the real MongoDB-compatible server (embedded FerretDB): a broadcast's audience (its
 * journeys in the campaign's stages, intersected with the profiles in its segments) is reached once each, in
 * `_id` order, page after page, with one query per source for the whole broadcast. FerretDB 1.x cannot start a
 * query after an `_id` without reading every document, so a query a page made each page cost a full scan.
 * The journeys' side is where Temporal starts: here the signals are recorded as they are sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { pino } from 'pino';
import { createBroadcastActivities, type FanOutPage, type FanOutResult } from '../../activities/broadcast-activities.js';
import { DefinitionStore } from '../../src/definition-store/definition-store.js';
import { loadDefinitionFile, type LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';

const CUSTOMERS = 600;
const T0 = new Date(Date.UTC(2026, 0, 1));

describe('fanOutBroadcast', () => {
  let db: TestDatabase;
  let coaching: LoadedDefinition;
  let store: DefinitionStore;
  /** The collection queries the activities sent (mongoose's debug hook: one per query, not per batch of a cursor). */
  const queries: string[] = [];
  const signalled: string[] = [];
  /** daily_brief: journeys in prospect whose profile asked for the brief. */
  const expected: string[] = [];

  before(async () => {
    db = await startTestDatabase('activities_broadcast');
    coaching = await loadDefinitionFile('definitions/coachinglive.yaml');
    store = new DefinitionStore(db.models, coaching);
    await store.publish();
    // Ids whose string order is not their number's, and one whose UTF-8 order is not JavaScript's.
    const ids = [...Array.from({ length: CUSTOMERS }, (_, i) => `fo-${i}`), 'fo-\u{1F600}', 'fo-\uFF5E'];
    await db.models.Customer.insertMany(ids.map((id, i) => ({ _id: id, email: `${i}@example.com`, traits: { dailyBrief: i % 2 === 0 } })));
    // A journey for all but every fifth customer, in prospect or (every third) churned.
    const journeys = ids.filter((_, i) => i % 5 !== 0);
    await db.models.JourneyRecord.insertMany(
      journeys.map((id) => {
        const i = ids.indexOf(id);
        return { _id: id, seq: 1, definitionVersion: coaching.version, stage: i % 3 === 0 ? 'churned' : 'prospect', stageEnteredAt: T0, startedAt: T0 };
      }),
    );
    expected.push(
      ...ids
        .filter((id, i) => i % 5 !== 0 && i % 3 !== 0 && i % 2 === 0)
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    db.connection.set('debug', (collection: string, method: string) => void queries.push(`${collection}.${method}`));
  });
  after(async () => {
    await db?.teardown();
  });

  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        signal: async () => void signalled.push(workflowId.replace(/^customer-/, '')),
      }),
    },
  } as unknown as Client;
  const activities = () => createBroadcastActivities({ models: db.models, definitions: store, client, logger: pino({ level: 'silent' }) });
  const finds = () => queries.filter((q) => q.endsWith('.find')).sort();

  /** Every page of a broadcast, one after the other: how many pages, the journeys they reached or found without one, and the queue each named. */
  async function reachAll(fanOut: ReturnType<typeof activities>['fanOutBroadcast'], page: Omit<FanOutPage, 'after'>, from?: string) {
    const env = new MockActivityEnvironment();
    let after = from;
    const reached = { pages: 0, signalled: 0, withoutJourney: 0, resumeOn: [] as Array<string | undefined> };
    for (;;) {
      const result = (await env.run(fanOut, { ...page, ...(after ? { after } : {}) })) as FanOutResult;
      reached.pages += 1;
      reached.resumeOn.push(result.resumeOn);
      reached.signalled += result.signalled;
      reached.withoutJourney += result.withoutJourney;
      if (!result.next) return reached;
      after = result.next;
    }
  }

  test("every customer in the audience once, in _id order, page after page, with one query per source for the whole broadcast", async () => {
    queries.length = 0;
    signalled.length = 0;
    const { fanOutBroadcast } = activities();
    const { pages } = await reachAll(fanOutBroadcast, { campaignId: 'daily_brief', broadcastId: 'b1', definition: { id: 'coachinglive' }, pageSize: 25 });
    assert.ok(expected.length > 150 && pages === Math.ceil(expected.length / 25) + (expected.length % 25 === 0 ? 1 : 0), `${pages} pages for ${expected.length}`);
    assert.deepEqual(signalled, expected);
    assert.deepEqual(finds(), ['customers.find', 'journeys.find'], 'one query of the journeys and one of the profiles, not one a page');
  });

  test('a page this worker has no cursor for (another worker, a restart) starts a query after its id; two broadcasts at once keep a cursor each', async () => {
    queries.length = 0;
    signalled.length = 0;
    const from = expected[100]!;
    await reachAll(activities().fanOutBroadcast, { campaignId: 'daily_brief', broadcastId: 'b2', definition: { id: 'coachinglive' }, pageSize: 40 }, from);
    assert.deepEqual(signalled, expected.slice(101));
    assert.deepEqual(finds(), ['customers.find', 'journeys.find']);

    // Two broadcasts at once keep a cursor each.
    queries.length = 0;
    signalled.length = 0;
    const { fanOutBroadcast } = activities();
    const env = new MockActivityEnvironment();
    const page = async (broadcastId: string, after?: string): Promise<FanOutResult> => env.run(fanOutBroadcast, { campaignId: 'daily_brief', broadcastId, definition: { id: 'coachinglive' }, pageSize: 30, ...(after ? { after } : {}) });
    let [a, b] = [await page('b3'), await page('b4')];
    while (a.next || b.next) {
      if (a.next) a = await page('b3', a.next);
      if (b.next) b = await page('b4', b.next);
    }
    assert.equal(signalled.length, expected.length * 2);
    assert.deepEqual([...new Set(signalled)].sort(), [...expected].sort());
    assert.equal(finds().length, 4, 'two queries for each broadcast');
  });

  test("a page that leaves the audience's cursor open names the worker's own queue; the last page names none", async () => {
    signalled.length = 0;
    const { fanOutBroadcast } = createBroadcastActivities({ models: db.models, definitions: store, client, logger: pino({ level: 'silent' }), resumeOn: 'lifecycle-fan-out-w1' });
    const { pages, resumeOn } = await reachAll(fanOutBroadcast, { campaignId: 'daily_brief', broadcastId: 'b7', definition: { id: 'coachinglive' }, pageSize: 100 });
    assert.ok(pages > 1);
    assert.deepEqual(resumeOn, [...Array.from({ length: pages - 1 }, () => 'lifecycle-fan-out-w1'), undefined]);
    assert.deepEqual(signalled, expected);
  });

  test('with a window, each journey is reached by an update and no more are waited on at once than the window; a run that refuses the update gets the signal', async () => {
    const answered: string[] = [];
    const refused: string[] = [];
    const signalledAfterRefusal: string[] = [];
    let inFlight = 0;
    let most = 0;
    const updating = {
      withAbortSignal: <R>(_signal: AbortSignal, fn: () => Promise<R>) => fn(),
      workflow: {
        getHandle: (workflowId: string) => {
          const userId = workflowId.replace(/^customer-/, '');
          const n = expected.indexOf(userId);
          return {
            signal: async () => void signalledAfterRefusal.push(userId),
            executeUpdate: async () => {
              inFlight += 1;
              most = Math.max(most, inFlight);
              await new Promise((resolve) => setTimeout(resolve, 2));
              inFlight -= 1;
              // Every tenth journey runs on a worker without the handler; every 25th has ended meanwhile.
              if (n % 25 === 7) throw new WorkflowNotFoundError('gone', workflowId, undefined);
              if (n % 10 === 3) {
                refused.push(userId);
                throw new WorkflowUpdateFailedError('Workflow Update failed', new Error('No registered handler for update: acceptBroadcast'));
              }
              answered.push(userId);
            },
          };
        },
      },
    } as unknown as Client;
    const { fanOutBroadcast } = createBroadcastActivities({ models: db.models, definitions: store, client: updating, logger: pino({ level: 'silent' }), inFlight: { max: 6, targetMs: 1_000, initial: 2 } });
    const { signalled: reached, withoutJourney } = await reachAll(fanOutBroadcast, { campaignId: 'daily_brief', broadcastId: 'b5', definition: { id: 'coachinglive' }, pageSize: 50 });
    const gone = expected.filter((_, n) => n % 25 === 7);
    assert.equal(withoutJourney, gone.length);
    assert.equal(reached, expected.length - gone.length);
    assert.deepEqual(signalledAfterRefusal.sort(), refused.sort(), 'each refusal, and only those, signalled instead');
    assert.deepEqual([...answered, ...refused, ...gone].sort(), [...expected].sort(), 'every journey asked once');
    assert.equal(most, 6, 'the window grew to its most and never beyond it');
  });

  test("a journey that does not answer in time is signalled, and the update's wait for it abandoned", async () => {
    const answered: string[] = [];
    const signalledLate: string[] = [];
    const abandoned: string[] = [];
    let waiting = 0;
    /** The abort signal of the call being made (the real client's withAbortSignal scopes its calls the same way). */
    let scope: AbortSignal | undefined;
    const slow = (userId: string) => expected.indexOf(userId) % 9 === 4;
    const updating = {
      withAbortSignal: <R>(signal: AbortSignal, fn: () => Promise<R>) => {
        scope = signal;
        try {
          return fn();
        } finally {
          scope = undefined;
        }
      },
      workflow: {
        getHandle: (workflowId: string) => {
          const userId = workflowId.replace(/^customer-/, '');
          return {
            signal: async () => void signalledLate.push(userId),
            executeUpdate: async () => {
              const signal = scope;
              if (!slow(userId)) return void answered.push(userId);
              // A congested journey: no answer until the caller gives up on it.
              waiting += 1;
              await new Promise<void>((_, reject) =>
                signal?.addEventListener('abort', () => {
                  waiting -= 1;
                  abandoned.push(userId);
                  reject(new Error('cancelled'));
                }),
              );
            },
          };
        },
      },
    } as unknown as Client;
    const { fanOutBroadcast } = createBroadcastActivities({ models: db.models, definitions: store, client: updating, logger: pino({ level: 'silent' }), inFlight: { max: 8, targetMs: 1_000, initial: 8 }, answerWaitMs: 50 });
    const { signalled: reached, withoutJourney } = await reachAll(fanOutBroadcast, { campaignId: 'daily_brief', broadcastId: 'b6', definition: { id: 'coachinglive' }, pageSize: 100 });
    const late = expected.filter(slow);
    assert.ok(late.length > 10);
    assert.equal(reached, expected.length, 'a late journey counts as reached');
    assert.equal(withoutJourney, 0);
    assert.deepEqual(signalledLate.sort(), [...late].sort(), 'each late journey, and only those, signalled');
    assert.deepEqual(abandoned.sort(), [...late].sort(), "each late journey's wait abandoned");
    assert.equal(waiting, 0, 'no wait left behind');
    assert.deepEqual([...answered, ...late].sort(), [...expected].sort());
  });
});
