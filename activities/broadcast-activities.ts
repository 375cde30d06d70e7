import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Logger } from 'pino';
import type { DefinitionRef } from '../src/core/journey-definition.js';
import type { Models } from '../src/db/models.js';
import type { DefinitionStore } from '../src/definition-store/definition-store.js';
import { acceptBroadcastUpdate, deliverBroadcastSignal, deliveryTaskQueue, workflowIdFor, type BroadcastDelivery } from '../src/temporal/contract.js';
import { FanOutWindow, type FanOutWindowOptions, type FanOutWindowState } from './fan-out-window.js';

export interface BroadcastDeps {
  models: Models;
  definitions: DefinitionStore;
  /** Signals journeys; the worker hands in its own client. */
  client: Client;
  logger: Logger;
  /** The journeys' task queue (the marketing deliveries' queue is named after it). */
  journeyTaskQueue?: string;
  /**
   * Signal the next journeys only while fewer marketing deliveries than this wait on their queue (a bounded
   * backlog: the fan-out keeps pace with the send rate). Absent: as fast as the signals go.
   */
  maxBacklog?: number | undefined;
  /** Signal the next journeys only while fewer workflow tasks than this wait on the journeys' queue. Absent: not bounded. */
  maxJourneyBacklog?: number | undefined;
  /**
   * The marketing queue's send rate, when it has one: the fan-out signals no faster, so the journeys it wakes
   * are about as many as the sends can take, not a flood of workflow tasks ahead of everyone else's.
   */
  marketingPerSecond?: number | undefined;
  /**
   * Reach each journey by the acceptBroadcast update and wait on at most this window of them at once (see
   * FanOutWindow). Absent, or a most of 0: signals, as fast as the bounds above allow.
   */
  inFlight?: FanOutWindowOptions | undefined;
  /** Told the window's state, when there is one (the worker's /metrics). */
  watchWindow?: ((state: () => FanOutWindowState) => void) | undefined;
  /** A journey that has not answered the update after this long is signalled and counts as late (default ANSWER_WAIT_MS). */
  answerWaitMs?: number | undefined;
  /**
   * This worker's own task queue for fan-out pages (it keeps the audience cursors): a page that leaves one open
   * names it, and the broadcast runs its next page there while this worker takes it (see broadcastCampaign).
   */
  resumeOn?: string | undefined;
}

/** Signals a fan-out sends at once; between two such chunks it checks the backlog and keeps its pace. */
const SIGNAL_CHUNK = 8;
/** A page returns what it reached after this long (waiting on the backlog), well inside the activity's 5 minutes. */
const PAGE_BUDGET_MS = 120_000;
/**
 * A journey that has not answered after this long is signalled (durable at once), no longer waited on, and counts as
 * reached and as congestion.
 */
const ANSWER_WAIT_MS = 30_000;

export interface FanOutPage {
  campaignId: string;
  broadcastId: string;
  definition: DefinitionRef;
  /** Resume after this customer id (pages go in _id order). */
  after?: string;
  pageSize?: number;
}

export interface FanOutResult {
  /** Where the next page starts; absent when every candidate was reached. */
  next?: string;
  candidates: number;
  signalled: number;
  /** Candidates without a running journey (a broadcast reaches journeys; it does not start them). */
  withoutJourney: number;
  /** With `next`: the task queue of the worker that keeps this broadcast's cursor open for it. */
  resumeOn?: string;
}

/** Signal one customer's journey that a broadcast reached them; false when the customer has no running journey. */
async function signalJourney(client: Client, userId: string, broadcast: BroadcastDelivery): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowIdFor(userId)).signal(deliverBroadcastSignal, broadcast);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * Tell each customer's journey that a broadcast page reached them, 32 signals at a time; a customer without
 * a journey is counted, not an error. Shared with the simulator's in-memory fan-out.
 */
export async function signalBroadcast(client: Client, userIds: readonly string[], campaignId: string, broadcastId: string): Promise<{ signalled: number; withoutJourney: number }> {
  let signalled = 0;
  let withoutJourney = 0;
  for (let i = 0; i < userIds.length; i += 32) {
    const results = await Promise.all(userIds.slice(i, i + 32).map((userId) => signalJourney(client, userId, { campaignId, broadcastId })));
    signalled += results.filter(Boolean).length;
    withoutJourney += results.filter((r) => !r).length;
  }
  return { signalled, withoutJourney };
}

/**
 * Reach one journey and wait (up to `answerWaitMs`: then 'late') until it has taken the broadcast in. A run that cannot
 * take the update (a worker from before it, a run continuing as new meanwhile) gets the signal instead: the
 * journey applies one broadcast id once, so reaching it twice is harmless. A late journey gets the signal too, and
 * the update's wait is abandoned: an update is durable only once the journey accepts it, and a wait per late
 * journey (a long poll each) would otherwise go on for as long as the journey takes.
 */
async function reachJourney(client: Client, userId: string, broadcast: BroadcastDelivery, answerWaitMs: number): Promise<'answered' | 'late' | 'signalled' | 'withoutJourney'> {
  const handle = client.workflow.getHandle(workflowIdFor(userId));
  const abandon = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let outcome: 'answered' | 'late';
  try {
    const update = client.withAbortSignal(abandon.signal, () => handle.executeUpdate(acceptBroadcastUpdate, { args: [broadcast] }));
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), answerWaitMs)));
    update.catch(() => undefined); // an abandoned update's end is not waited for
    outcome = await Promise.race([update.then(() => 'answered' as const), late]);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'withoutJourney';
    return (await signalJourney(client, userId, broadcast)) ? 'signalled' : 'withoutJourney';
  } finally {
    clearTimeout(timer);
  }
  if (outcome === 'late') {
    abandon.abort();
    await signalJourney(client, userId, broadcast);
  }
  return outcome;
}

/** Ids from a cursor of `{ _id }` documents, in the cursor's order. */
async function* idsOf(cursor: AsyncIterable<{ _id: unknown }>): AsyncGenerator<string> {
  for await (const doc of cursor) yield String(doc._id);
}

/** The order of string `_id`s in MongoDB and FerretDB: their UTF-8 bytes (JavaScript compares UTF-16 units). */
function compareIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * A broadcast's audience in `_id` order, read in one pass: the ids every source yields (each source sorted by
 * `_id`; one source: its ids; two: the ids in both, merged as they stream). Its pages come one after the other
 * from the same cursors.
 */
export class AudienceCursor {
  /** Each source's current id (undefined: the source ended); empty until the first id is asked for. */
  private readonly heads: Array<string | undefined> = [];
  private readonly putBackIds: string[] = [];

  constructor(private readonly sources: Array<AsyncGenerator<string>>) {}

  /** The next `size` ids of the audience (fewer at its end). */
  async nextPage(size: number): Promise<string[]> {
    const ids = this.putBackIds.splice(0, size);
    while (ids.length < size) {
      const id = await this.nextId();
      if (id === undefined) break;
      ids.push(id);
    }
    return ids;
  }

  /** Ids taken but not reached: the next page starts with them. */
  putBack(ids: string[]): void {
    this.putBackIds.unshift(...ids);
  }

  async close(): Promise<void> {
    await Promise.all(this.sources.map((source) => source.return(undefined)));
  }

  private async advance(i: number): Promise<void> {
    const next = await this.sources[i]!.next();
    this.heads[i] = next.done ? undefined : next.value;
  }

  private async nextId(): Promise<string | undefined> {
    if (this.heads.length === 0) {
      for (let i = 0; i < this.sources.length; i++) await this.advance(i);
    }
    for (;;) {
      if (this.heads.some((h) => h === undefined)) return undefined;
      const heads = this.heads as string[];
      const highest = heads.reduce((a, b) => (compareIds(a, b) >= 0 ? a : b));
      const behind = heads.findIndex((h) => h !== highest);
      if (behind < 0) {
        for (let i = 0; i < this.sources.length; i++) await this.advance(i);
        return highest;
      }
      await this.advance(behind);
    }
  }
}

/** Open audiences between a broadcast's pages, a few at most, each for a while; one used again is taken out. */
class OpenAudiences {
  private readonly open = new Map<string, { after: string; audience: AudienceCursor; at: number }>();

  constructor(
    private readonly max = 4,
    private readonly idleMs = 5 * 60_000,
  ) {}

  /** The audience whose last page ended at `after`, if this worker still has it open. */
  take(key: string, after: string | undefined): AudienceCursor | undefined {
    const entry = this.open.get(key);
    if (!entry || after === undefined || entry.after !== after) return undefined;
    this.open.delete(key);
    return entry.audience;
  }

  keep(key: string, after: string, audience: AudienceCursor): void {
    const now = Date.now();
    const replaced = this.open.get(key);
    if (replaced && replaced.audience !== audience) void replaced.audience.close();
    this.open.set(key, { after, audience, at: now });
    for (const [k, entry] of this.open) {
      if (this.open.size <= this.max && now - entry.at < this.idleMs) continue;
      if (k === key) continue;
      this.open.delete(k);
      void entry.audience.close();
    }
  }
}

/**
 * Reaching a broadcast's audience, a page at a time. Candidates come from the read model (stage, when the
 * campaign names stages) and the profiles (segments); each journey then decides for itself (it re-checks
 * stage, consent, caps and timing), so a customer who no longer matches is skipped there, with the reason.
 */
export function createBroadcastActivities(deps: BroadcastDeps) {
  const { models, definitions, client, logger } = deps;
  /**
   * A broadcast's pages continue one query (one cursor per source) instead of one query a page. FerretDB 1.x
   * pushes neither `_id: { $gt }` nor a sort on `_id` down to SQLite, so each page's query read and sorted every
   * profile and journey: a page of 500 at 100,000 profiles took 8.4 s, one pass over all of them 10.2 s.
   */
  const audiences = new OpenAudiences();
  const window = deps.inFlight && deps.inFlight.max > 0 ? new FanOutWindow(deps.inFlight) : undefined;
  if (window) deps.watchWindow?.(() => window.state);
  const marketingQueue = deps.journeyTaskQueue === undefined ? undefined : deliveryTaskQueue(deps.journeyTaskQueue, 'marketing');
  /** Tasks waiting on a queue (Temporal's approximate backlog count); undefined when the server cannot tell. */
  const backlogOf = async (name: string, type: proto.temporal.api.enums.v1.TaskQueueType): Promise<number | undefined> => {
    try {
      const res = await client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: type,
        reportStats: true,
      });
      return Number(res.stats?.approximateBacklogCount ?? 0);
    } catch (err) {
      logger.warn({ err: String(err), taskQueue: name }, 'cannot read a task queue backlog; the fan-out goes on without it');
      return undefined;
    }
  };
  /**
   * Wait while the marketing queue holds maxBacklog deliveries or more, or the journeys' queue maxJourneyBacklog
   * workflow tasks or more. The journeys a broadcast wakes queue their workflow tasks before they schedule any
   * delivery, and a new customer's first task (its welcome) waits behind all of them on the same queue: bounding
   * the marketing deliveries alone let a fan-out faster than the worker queue thousands (a welcome's p99 went from
   * 264 ms idle to 69 s during a broadcast of 20,000 at a plan rate of 100/s).
   */
  const bounds: Array<[string, proto.temporal.api.enums.v1.TaskQueueType, number]> = [];
  if (marketingQueue && deps.maxBacklog !== undefined) bounds.push([marketingQueue, proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, deps.maxBacklog]);
  if (deps.journeyTaskQueue && deps.maxJourneyBacklog !== undefined) bounds.push([deps.journeyTaskQueue, proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, deps.maxJourneyBacklog]);
  const roomInBacklog = async (): Promise<void> => {
    for (const [name, type, bound] of bounds) {
      for (;;) {
        const backlog = await backlogOf(name, type);
        if (backlog === undefined || backlog < bound) break;
        Context.current().heartbeat();
        await Context.current().sleep(250);
      }
    }
  };
  return {
    async fanOutBroadcast(page: FanOutPage): Promise<FanOutResult> {
      const plan = await definitions.plan(page.definition);
      const campaign = plan.campaigns.find((c) => c.id === page.campaignId);
      if (!campaign) throw ApplicationFailure.nonRetryable(`campaign ${page.campaignId} is not in ${plan.id}@${plan.version}`, 'UnknownCampaign');
      const size = Math.min(Math.max(page.pageSize ?? 500, 1), 2_000);
      const segmentFilters = (campaign.audience.segments ?? []).map((id) => plan.segments.find((s) => s.id === id)!.filter);

      // The page after `after`: from the cursor the previous page of this broadcast left open, or a new one.
      const key = `${page.broadcastId}\u0000${page.campaignId}`;
      let audience = audiences.take(key, page.after);
      if (!audience) {
        const after = page.after === undefined ? {} : { _id: { $gt: page.after } };
        const profiles = () => models.Customer.find({ $and: [after, ...segmentFilters] }, { _id: 1 }).sort({ _id: 1 }).lean().cursor({ batchSize: size });
        const journeys = (stages: string[]) => models.JourneyRecord.find({ ...after, stage: { $in: stages } }, { _id: 1 }).sort({ _id: 1 }).lean().cursor({ batchSize: size });
        // A campaign naming stages: its journeys in those stages, and (with segments) the profiles in them, both by _id, intersected.
        const sources = campaign.audience.stages ? [journeys(campaign.audience.stages), ...(segmentFilters.length > 0 ? [profiles()] : [])] : [profiles()];
        audience = new AudienceCursor(sources.map((cursor) => idsOf(cursor)));
      }
      let ids = await audience.nextPage(size);
      let next = ids.length === size ? ids[ids.length - 1] : undefined;
      if (next === undefined) await audience.close();
      else audiences.keep(key, next, audience);

      let signalled = 0;
      let withoutJourney = 0;
      const began = Date.now();
      const gapMs = deps.marketingPerSecond ? (SIGNAL_CHUNK / deps.marketingPerSecond) * 1000 : 0;
      const broadcast: BroadcastDelivery = { campaignId: campaign.id, broadcastId: page.broadcastId };
      const waitingOn = new Set<Promise<void>>();
      let failure: { err: unknown } | undefined;
      for (let i = 0; i < ids.length && !failure; i += SIGNAL_CHUNK) {
        const due = began + (i / SIGNAL_CHUNK) * gapMs;
        if (due > Date.now()) await Context.current().sleep(due - Date.now());
        if (i > 0 && Date.now() - began > PAGE_BUDGET_MS) {
          // Out of time for this page: the next one starts after the last customer reached (the rest stays with the cursor).
          next = ids[i - 1]!;
          audience.putBack(ids.slice(i));
          audiences.keep(key, next, audience);
          ids = ids.slice(0, i);
          break;
        }
        await roomInBacklog();
        const chunk = ids.slice(i, i + SIGNAL_CHUNK);
        if (!window) {
          const reached = await signalBroadcast(client, chunk, campaign.id, page.broadcastId);
          signalled += reached.signalled;
          withoutJourney += reached.withoutJourney;
          continue;
        }
        for (const userId of chunk) {
          const leave = await window.enter();
          if (failure) {
            leave(true);
            break;
          }
          const reaching: Promise<void> = reachJourney(client, userId, broadcast, deps.answerWaitMs ?? ANSWER_WAIT_MS).then(
            (outcome) => {
              leave(outcome !== 'late');
              if (outcome === 'withoutJourney') withoutJourney += 1;
              else signalled += 1;
            },
            (err: unknown) => {
              leave(false);
              failure ??= { err };
            },
          );
          waitingOn.add(reaching);
          void reaching.finally(() => waitingOn.delete(reaching));
        }
        Context.current().heartbeat();
      }
      await Promise.all(waitingOn);
      if (failure) throw failure.err;
      logger.info({ campaignId: campaign.id, broadcastId: page.broadcastId, signalled, withoutJourney, ...(window ? { window: window.state } : {}), seconds: Math.round((Date.now() - began) / 1000) }, 'broadcast page');
      return { ...(next ? { next, ...(deps.resumeOn ? { resumeOn: deps.resumeOn } : {}) } : {}), candidates: ids.length, signalled, withoutJourney };
    },
  };
}

export type BroadcastActivities = ReturnType<typeof createBroadcastActivities>;
