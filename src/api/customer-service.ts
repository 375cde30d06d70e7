import { createHash } from 'node:crypto';
import { isGrpcServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { DefinitionRef } from '../core/journey-definition.js';
import type { Models } from '../db/models.js';
import { computeKpis, type Kpis } from '../kpis/compute-kpis.js';
import type { customerJourney } from '../../workflows/customer-journey.js';
import {
  newRunInput,
  getJourneyQuery,
  identifyCustomerSignal,
  userIdOfWorkflow,
  WORKFLOW_TYPES,
  workflowIdFor,
  supportActionUpdate,
  type SupportRequest,
  trackEventSignal,
  type CustomerJourneyInput,
  type JourneyView,
  type TrackedEvent,
} from '../temporal/contract.js';
import { queryJourney } from '../temporal/client.js';
import { LifecycleStageKey, SegmentsKey } from '../temporal/search-attribute-keys.js';
import { recordedJourney, timelineOf, type RecordedJourney, type TimelineEntry } from '../core/journey-timeline.js';
import type { JourneyFact, JourneySnapshot } from '../core/journey-facts.js';
import { HttpError, UpstreamUnavailable, viaMongo } from '../http/errors.js';
import { KnownTraits, type CustomerListQuery } from './schemas.js';

/** An event for a customer's journey: a track call, or a page or screen view (`type`; absent: track). */
export interface CustomerEvent {
  userId: string;
  type?: 'track' | 'page' | 'screen';
  event: string;
  messageId: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
}
export interface ProfileUpdate {
  userId: string;
  traits: Record<string, unknown>;
  messageId?: string;
  timestamp?: string;
}

export interface CustomerServiceDeps {
  client: Client;
  models: Models;
  taskQueue: string;
  definition: DefinitionRef;
  upstreamTimeoutMs: number;
  /** The search attribute the definition feeds from its `plan` attribute (searchAttributeOf), for `?plan=`. */
  planSearchAttribute?: string;
}

const KNOWN = Object.keys(KnownTraits.shape);
/** A closed journey's query needs a worker to replay it; past this, the read model answers instead. */
const CLOSED_QUERY_TIMEOUT_MS = 5_000;
/** A recorded journey tells at most this many facts (the latest). */
const RECORDED_FACTS_LIMIT = 5_000;

/** gRPC NOT_FOUND: a run already deleted, or never there. */
const NOT_FOUND = 5;
/** The termination reason of an erased journey: how a read knows the run is on its way out. */
const ERASED = 'erased at the customer’s request';

/** What DELETE /v1/customers/:userId erased: counts of 0 everywhere mean nothing was left. */
export interface Erasure {
  userId: string;
  erasedAt: string;
  temporal: {
    workflowId: string;
    /** The journey was running and was terminated. */
    terminated: boolean;
    /** Runs of the journey (continue-as-new, earlier journeys) whose deletion Temporal accepted; it deletes them in the background. */
    runsDeleted: number;
  };
  mongodb: { profiles: number; deliveries: number; outbox: number; journeys: number; journeyFacts: number; emailEvents: number; channelEvents: number; inboxMessages: number; pushSubscriptions: number; pushSends: number };
}

/** The journey as the API tells it: live from the workflow, or from the read model once it has closed. */
export type CustomerJourney = ((JourneyView & { source: 'workflow' }) | RecordedJourney) & { status: string };

/**
 * What the API does, without HTTP: record events in journeys, keep profiles, answer questions about a
 * customer. Outages surface as UpstreamUnavailable; the edge turns them into 503 + Retry-After.
 */
export class CustomerService {
  constructor(private readonly deps: CustomerServiceDeps) {}

  private async viaTemporal<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.deps.client.connection.withDeadline(Date.now() + this.deps.upstreamTimeoutMs, fn);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || err instanceof WorkflowUpdateFailedError) throw err;
      throw new UpstreamUnavailable('temporal', err);
    }
  }

  /** Resolves once the event is durably in the customer's journey history (signal-with-start). */
  async track(body: CustomerEvent): Promise<{ workflowId: string }> {
    const workflowId = workflowIdFor(body.userId);
    const input: CustomerJourneyInput = newRunInput(body.userId, this.deps.definition.id);
    await this.viaTemporal(() =>
      this.deps.client.workflow.signalWithStart<typeof customerJourney, [TrackedEvent]>('customerJourney', {
        workflowId,
        taskQueue: this.deps.taskQueue,
        args: [input],
        signal: trackEventSignal,
        signalArgs: [
          {
            messageId: body.messageId,
            event: body.event,
            ...(body.type && body.type !== 'track' ? { type: body.type } : {}),
            ...(body.timestamp ? { timestamp: body.timestamp } : {}),
            ...(body.properties ? { properties: body.properties } : {}),
          },
        ],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `Lifecycle journey of customer ${body.userId}`,
      }),
    );
    return { workflowId };
  }

  /** Upsert the profile in MongoDB, then tell the journey (if one runs) which traits changed. */
  async identify(body: ProfileUpdate): Promise<{ created: boolean; journey: 'signalled' | 'not started' }> {
    const set: Record<string, unknown> = {};
    const unset: Record<string, ''> = {};
    const put = (path: string, value: unknown) => {
      if (value === null) unset[path] = '';
      else if (value !== undefined) set[path] = value;
    };
    const { unsubscribed, ...traits } = body.traits as Record<string, unknown> & { unsubscribed?: boolean };
    for (const [key, value] of Object.entries(traits)) put(KNOWN.includes(key) ? key : `traits.${key}`, value);
    if (unsubscribed === true) set.unsubscribedAt = body.timestamp ? new Date(body.timestamp) : new Date();
    if (unsubscribed === false) unset.unsubscribedAt = '';

    const result = await viaMongo(() =>
      this.deps.models.Customer.updateOne(
        { _id: body.userId },
        {
          ...(Object.keys(set).length ? { $set: set } : {}),
          ...(Object.keys(unset).length ? { $unset: unset } : {}),
          // traits: {} only when no trait is set or removed: MongoDB refuses an update that names traits and traits.<x>.
          $setOnInsert: [...Object.keys(set), ...Object.keys(unset)].some((k) => k.startsWith('traits.')) ? {} : { traits: {} },
        },
        { upsert: true, strict: false },
      ),
    );
    const changed = [...Object.keys(set), ...Object.keys(unset)].map((k) => k.replace(/^traits\./, '')).sort();
    return { created: result.upsertedCount > 0, journey: await this.profileChanged(body.userId, changed, body) };
  }

  /**
   * Segment "group": the account's traits on the profile (`group.id`, `group.traits.<name>`; every account
   * the customer joined in `groupIds`), so segments can filter on them; the journey, if one runs, is told.
   */
  async group(body: { userId: string; groupId: string; traits: Record<string, unknown>; messageId?: string; timestamp?: string }) {
    const result = await viaMongo(() =>
      this.deps.models.Customer.updateOne(
        { _id: body.userId },
        { $set: { group: { id: body.groupId, traits: body.traits } }, $addToSet: { groupIds: body.groupId }, $setOnInsert: { traits: {} } },
        { upsert: true, strict: false },
      ),
    );
    return { created: result.upsertedCount > 0, journey: await this.profileChanged(body.userId, ['group'], body) };
  }

  private async profileChanged(userId: string, changed: string[], body: { messageId?: string; timestamp?: string }): Promise<'signalled' | 'not started'> {
    try {
      await this.viaTemporal(() =>
        this.deps.client.workflow.getHandle(workflowIdFor(userId)).signal(identifyCustomerSignal, {
          traits: changed,
          ...(body.messageId ? { messageId: body.messageId } : {}),
          ...(body.timestamp ? { timestamp: body.timestamp } : {}),
        }),
      );
      return 'signalled';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'not started';
      throw err;
    }
  }

  /**
   * The profile, the journey and its timeline. A running journey answers its query; a closed one is
   * asked too (a worker replays its history to answer), and when no worker can, or its history has
   * passed the namespace's retention, the journey is told from the read model (`source: 'read-model'`).
   */
  async getCustomer(userId: string): Promise<{ profile: Record<string, unknown> | null; journey: CustomerJourney | null; timeline: TimelineEntry[] } | null> {
    const profile = await viaMongo(() => this.deps.models.Customer.findById(userId).lean());
    const journey = await this.journeyOf(userId);
    if (!profile && !journey) return null;
    return {
      profile: profile
        ? {
            userId: profile._id,
            email: profile.email ?? null,
            name: profile.name ?? null,
            firstName: profile.firstName ?? null,
            lastName: profile.lastName ?? null,
            locale: profile.locale ?? null,
            timezone: profile.timezone ?? null,
            marketingConsent: profile.marketingConsent ?? null,
            unsubscribedAt: profile.unsubscribedAt ?? null,
            traits: profile.traits ?? {},
            group: (profile as { group?: { id: string; traits: Record<string, unknown> } }).group ?? null,
            computed: profile.computed ?? {},
            createdAt: profile.createdAt,
            updatedAt: profile.updatedAt,
          }
        : null,
      journey,
      timeline: journey ? timelineOf(journey) : [],
    };
  }

  private async journeyOf(userId: string): Promise<CustomerJourney | null> {
    const handle = this.deps.client.workflow.getHandle(workflowIdFor(userId));
    let status: string | null = null;
    try {
      const described = await this.viaTemporal(() => handle.describe());
      status = described.status.name;
      if (status === 'TERMINATED' && (await this.erasedRun(handle.workflowId, described.runId))) return null;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    if (status === 'RUNNING') {
      const view = await this.viaTemporal(() => queryJourney(handle, Date.now() + this.deps.upstreamTimeoutMs));
      return { ...view, status, source: 'workflow' };
    }
    if (status !== null) {
      const answer = await this.deps.client.connection
        .withDeadline(Date.now() + Math.min(this.deps.upstreamTimeoutMs, CLOSED_QUERY_TIMEOUT_MS), () => handle.query(getJourneyQuery))
        .then((view) => view, () => null);
      if (answer) return { ...answer, status, source: 'workflow' };
    }
    const recorded = await this.recorded(userId);
    return recorded ? { ...recorded, status: status ?? 'UNKNOWN' } : null;
  }

  /**
   * Whether a terminated run was ended by an erasure. Temporal deletes an erased journey in the background
   * (up to a minute on the dev server); until it has, the API already answers as if it were gone.
   */
  private async erasedRun(workflowId: string, runId: string): Promise<boolean> {
    const { client } = this.deps;
    const last = await this.viaTemporal(() =>
      client.workflowService
        .getWorkflowExecutionHistoryReverse({ namespace: client.options.namespace, execution: { workflowId, runId }, maximumPageSize: 1 })
        .then(
          (page) => page.history?.events?.[0],
          (err: unknown) => {
            if (isGrpcServiceError(err) && err.code === NOT_FOUND) return 'deleted' as const;
            throw err;
          },
        ),
    );
    return last === 'deleted' || last?.workflowExecutionTerminatedEventAttributes?.reason === ERASED;
  }

  private async recorded(userId: string): Promise<RecordedJourney | null> {
    const [doc, facts] = await viaMongo(() =>
      Promise.all([
        this.deps.models.JourneyRecord.findById(userId).lean(),
        this.deps.models.JourneyFactRecord.find({ userId }).sort({ at: -1 }).limit(RECORDED_FACTS_LIMIT).lean(),
      ]),
    );
    if (!doc) return null;
    const ms = (d: Date | null | undefined) => (d ? new Date(d).getTime() : null);
    const snapshot: JourneySnapshot = {
      userId: doc._id,
      seq: doc.seq,
      definitionVersion: doc.definitionVersion,
      stage: doc.stage,
      stageEnteredAt: ms(doc.stageEnteredAt) ?? 0,
      plan: doc.plan ?? null,
      segments: doc.segments ?? [],
      counters: doc.counters ?? {},
      payments: doc.payments ?? 0,
      everLoyal: doc.everLoyal ?? false,
      reactivations: doc.reactivations ?? 0,
      lastActivityAt: ms(doc.lastActivityAt),
      startedAt: ms(doc.startedAt) ?? 0,
    };
    const asFacts = (facts as unknown as Array<Record<string, unknown> & { _id: string; at: Date }>).map(
      ({ _id, at, ...rest }) => ({ ...rest, id: _id, at: new Date(at).getTime() }) as unknown as JourneyFact,
    );
    return recordedJourney(snapshot, asFacts);
  }

  /**
   * Apply a support action to the journey as a Temporal Update: the workflow's validator refuses what does
   * not apply (422, nothing written to history); the answer is the journey after the action. With an
   * idempotency key the update's id is named by it (supportUpdateId), so a retry of a request the API
   * stopped waiting for (503) joins the update Temporal already took and answers with its outcome.
   */
  async support(userId: string, request: SupportRequest, idempotencyKey?: string): Promise<JourneyView> {
    const updateId = idempotencyKey === undefined ? undefined : supportUpdateId(request, idempotencyKey);
    try {
      return await this.viaTemporal(() =>
        this.deps.client.workflow.getHandle(workflowIdFor(userId)).executeUpdate(supportActionUpdate, { args: [request], ...(updateId ? { updateId } : {}) }),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new HttpError(404, 'not_found', `no journey for customer ${userId}`);
      if (err instanceof WorkflowUpdateFailedError) throw new HttpError(422, 'refused', err.cause?.message ?? err.message);
      throw err;
    }
  }

  /**
   * End a workflow (so it writes nothing more) and delete every run of it from Temporal: a customer's
   * journey, or the history of an anonymous visitor joined to them.
   */
  async eraseWorkflow(workflowId: string): Promise<{ terminated: boolean; runsDeleted: number }> {
    const { client } = this.deps;
    const namespace = client.options.namespace;
    const handle = client.workflow.getHandle(workflowId);
    const runs = new Set<string>();
    let terminated = false;
    try {
      const current = await this.viaTemporal(() => handle.describe());
      runs.add(current.runId);
      if (current.status.name === 'RUNNING') {
        await this.viaTemporal(() => handle.terminate(ERASED));
        terminated = true;
      }
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    // Earlier runs: continued as new, or journeys that ended and started again under the same id.
    const query = `WorkflowId = "${workflowId.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    let nextPageToken: Uint8Array | undefined;
    do {
      const token = nextPageToken;
      const page = await this.viaTemporal(() =>
        client.workflowService.listWorkflowExecutions({ namespace, query, pageSize: 1_000, ...(token ? { nextPageToken: token } : {}) }),
      );
      for (const e of page.executions ?? []) if (e.execution?.runId) runs.add(e.execution.runId);
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken);
    let runsDeleted = 0;
    for (const runId of runs) {
      const deleted = await this.viaTemporal(() =>
        client.workflowService.deleteWorkflowExecution({ namespace, workflowExecution: { workflowId, runId } }).then(
          () => true,
          (err: unknown) => {
            if (isGrpcServiceError(err) && err.code === NOT_FOUND) return false;
            throw err;
          },
        ),
      );
      if (deleted) runsDeleted += 1;
    }
    return { terminated, runsDeleted };
  }

  /**
   * Right to erasure: end the journey (so it writes nothing more), delete every run of it from Temporal,
   * then the profile, deliveries, outbox messages, SendGrid events, push subscriptions and read-model records from MongoDB. Once
   * the deliveries are gone, SendGrid events still arriving for the customer's messages are ignored. Idempotent: a second
   * call finds nothing and says so with zero counts.
   */
  async erase(userId: string): Promise<Erasure> {
    const workflowId = workflowIdFor(userId);
    const { terminated, runsDeleted } = await this.eraseWorkflow(workflowId);
    const { Customer, Delivery, Outbox, JourneyRecord, JourneyFactRecord, EmailEvent, ChannelEvent, InboxEntry, PushSubscription, PushSend } = this.deps.models;
    const [profiles, deliveries, outbox, journeys, journeyFacts, emailEvents, channelEvents, inboxMessages, pushSubscriptions, pushSends] = await viaMongo(() =>
      Promise.all([
        Customer.deleteOne({ _id: userId }),
        Delivery.deleteMany({ userId }),
        Outbox.deleteMany({ userId }),
        JourneyRecord.deleteOne({ _id: userId }),
        JourneyFactRecord.deleteMany({ userId }),
        EmailEvent.deleteMany({ userId }),
        ChannelEvent.deleteMany({ userId }),
        InboxEntry.deleteMany({ userId }),
        PushSubscription.deleteMany({ userId }),
        PushSend.deleteMany({ userId }),
      ]),
    );
    return {
      userId,
      erasedAt: new Date().toISOString(),
      temporal: { workflowId, terminated, runsDeleted },
      mongodb: {
        profiles: profiles.deletedCount,
        deliveries: deliveries.deletedCount,
        outbox: outbox.deletedCount,
        journeys: journeys.deletedCount,
        journeyFacts: journeyFacts.deletedCount,
        emailEvents: emailEvents.deletedCount,
        channelEvents: channelEvents.deletedCount,
        inboxMessages: inboxMessages.deletedCount,
        pushSubscriptions: pushSubscriptions.deletedCount,
        pushSends: pushSends.deletedCount,
      },
    };
  }

  /** Customers by stage, plan and segment, from Temporal visibility (search attributes), a page at a time. */
  async list(query: CustomerListQuery): Promise<{ customers: Array<Record<string, unknown>>; nextCursor: string | null }> {
    const planAttribute = this.deps.planSearchAttribute;
    const clauses = [`WorkflowType = "${WORKFLOW_TYPES.customerJourney}"`, 'ExecutionStatus = "Running"'];
    if (query.stage) clauses.push(`${LifecycleStageKey.name} = "${query.stage}"`);
    if (query.plan) {
      if (!planAttribute) throw new HttpError(400, 'invalid_request', 'this journey keeps no search attribute for its plan (attributes: plan, searchAttribute)');
      clauses.push(`${planAttribute} = "${query.plan}"`);
    }
    if (query.segment) clauses.push(`${SegmentsKey.name} = "${query.segment}"`);
    const page = await this.viaTemporal(() =>
      this.deps.client.workflowService.listWorkflowExecutions({
        namespace: this.deps.client.options.namespace,
        query: clauses.join(' AND '),
        pageSize: query.limit,
        ...(query.cursor ? { nextPageToken: Buffer.from(query.cursor, 'base64url') } : {}),
      }),
    );
    const attr = (fields: Record<string, { data?: Uint8Array | null }> | null | undefined, name: string): unknown => {
      const data = fields?.[name]?.data;
      return data ? JSON.parse(Buffer.from(data).toString('utf8')) : null;
    };
    return {
      customers: (page.executions ?? []).map((e) => {
        const fields = e.searchAttributes?.indexedFields as Record<string, { data?: Uint8Array | null }> | undefined;
        const workflowId = e.execution?.workflowId ?? '';
        return {
          userId: userIdOfWorkflow(workflowId) ?? workflowId,
          workflowId,
          stage: attr(fields, LifecycleStageKey.name),
          plan: planAttribute ? attr(fields, planAttribute) : null,
          segments: attr(fields, SegmentsKey.name) ?? [],
          startedAt: e.startTime?.seconds ? new Date(Number(e.startTime.seconds) * 1000).toISOString() : null,
        };
      }),
      nextCursor: page.nextPageToken && page.nextPageToken.length > 0 ? Buffer.from(page.nextPageToken).toString('base64url') : null,
    };
  }

  async outbox(query: { userId?: string; limit: number }) {
    const docs = await viaMongo(() =>
      this.deps.models.Outbox.find(query.userId ? { userId: query.userId } : {})
        .sort({ createdAt: -1 })
        .limit(query.limit)
        .lean(),
    );
    return docs.map(({ _id, ...rest }) => ({ deliveryKey: _id, ...rest }));
  }

  /** Lifecycle and campaign KPIs over the read model in MongoDB. */
  async kpis(): Promise<Kpis> {
    return viaMongo(() => computeKpis(this.deps.models));
  }

  async readiness(): Promise<{ temporal: boolean; mongodb: boolean }> {
    const [temporal, mongodb] = await Promise.all([
      this.deps.client.connection
        .withDeadline(Date.now() + 2_000, () => this.deps.client.workflowService.getSystemInfo({}))
        .then(() => true, () => false),
      viaMongo(async () => {
        const db = this.deps.models.Customer.db.db;
        if (!db) return false;
        await db.admin().ping({ maxTimeMS: 2_000 });
        return true;
      }).catch(() => false),
    ]);
    return { temporal, mongodb };
  }
}

/**
 * The Temporal update id of a support request sent with an idempotency key. Temporal takes an update once
 * per id in a run and answers a repeated id with the first one's outcome (or waits for it), so a retried
 * request is not applied twice. The id digests the key with the whole request, the actor among it: the same
 * key with another request (or from another API key) is another action, never answered with one it did not ask for.
 */
export function supportUpdateId(request: SupportRequest, idempotencyKey: string): string {
  const digest = createHash('sha256').update(JSON.stringify([idempotencyKey, canonical(request)])).digest('base64url');
  return `support-${request.action}-${digest}`;
}

/** The request with its keys in order, so equal requests digest alike whatever order their fields came in. */
function canonical(request: SupportRequest): Array<[string, unknown]> {
  return Object.entries(request).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
