import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { DefinitionRef } from '../core/definition.js';
import { workflowIdFor } from '../core/lifecycle.js';
import type { Models } from '../db/models.js';
import { computeKpis, type Kpis } from '../kpis/compute-kpis.js';
import type { customerJourney } from '../../workflows/customer-journey.js';
import {
  getJourneyQuery,
  identifyCustomerSignal,
  supportActionUpdate,
  type SupportRequest,
  trackEventSignal,
  type CustomerJourneyInput,
  type JourneyView,
  type TrackedEvent,
} from '../../workflows/messages.js';
import { HttpError, UpstreamUnavailable, viaMongo } from './errors.js';
import { KnownTraits, type CustomerListQuery, type IdentifyBody, type TrackBody } from './schemas.js';

export interface CustomerServiceDeps {
  client: Client;
  models: Models;
  taskQueue: string;
  definition: DefinitionRef;
  upstreamTimeoutMs: number;
}

const KNOWN = Object.keys(KnownTraits.shape);

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
  async track(body: TrackBody): Promise<{ workflowId: string }> {
    const workflowId = workflowIdFor(body.userId);
    const input: CustomerJourneyInput = { schemaVersion: 1, userId: body.userId, definition: { id: this.deps.definition.id } };
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
  async identify(body: IdentifyBody): Promise<{ created: boolean; journey: 'signalled' | 'not started' }> {
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
          $setOnInsert: Object.keys(set).some((k) => k.startsWith('traits.')) ? {} : { traits: {} },
        },
        { upsert: true, strict: false },
      ),
    );
    const changed = [...Object.keys(set), ...Object.keys(unset)].map((k) => k.replace(/^traits\./, '')).sort();
    try {
      await this.viaTemporal(() =>
        this.deps.client.workflow.getHandle(workflowIdFor(body.userId)).signal(identifyCustomerSignal, {
          traits: changed,
          ...(body.messageId ? { messageId: body.messageId } : {}),
          ...(body.timestamp ? { timestamp: body.timestamp } : {}),
        }),
      );
      return { created: result.upsertedCount > 0, journey: 'signalled' };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { created: result.upsertedCount > 0, journey: 'not started' };
      throw err;
    }
  }

  async getCustomer(userId: string): Promise<{ profile: Record<string, unknown> | null; journey: (JourneyView & { status: string }) | null } | null> {
    const profile = await viaMongo(() => this.deps.models.Customer.findById(userId).lean());
    let journey: (JourneyView & { status: string }) | null = null;
    try {
      const handle = this.deps.client.workflow.getHandle(workflowIdFor(userId));
      const [description, view] = await Promise.all([
        this.viaTemporal(() => handle.describe()),
        this.viaTemporal(() => handle.query(getJourneyQuery)),
      ]);
      journey = { ...view, status: description.status.name };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
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
            createdAt: profile.createdAt,
            updatedAt: profile.updatedAt,
          }
        : null,
      journey,
    };
  }

  /**
   * Apply a support action to the journey as a Temporal Update: the workflow's validator refuses what does
   * not apply (422, nothing written to history); the answer is the journey after the action.
   */
  async support(userId: string, request: SupportRequest): Promise<JourneyView> {
    try {
      return await this.viaTemporal(() => this.deps.client.workflow.getHandle(workflowIdFor(userId)).executeUpdate(supportActionUpdate, { args: [request] }));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new HttpError(404, 'not_found', `no journey for customer ${userId}`);
      if (err instanceof WorkflowUpdateFailedError) throw new HttpError(422, 'refused', err.cause?.message ?? err.message);
      throw err;
    }
  }

  /** Customers by stage, plan and segment, from Temporal visibility (search attributes), a page at a time. */
  async list(query: CustomerListQuery): Promise<{ customers: Array<Record<string, unknown>>; nextCursor: string | null }> {
    const clauses = ['WorkflowType = "customerJourney"', 'ExecutionStatus = "Running"'];
    if (query.stage) clauses.push(`LifecycleStage = "${query.stage}"`);
    if (query.plan) clauses.push(`Plan = "${query.plan}"`);
    if (query.segment) clauses.push(`Segments = "${query.segment}"`);
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
          userId: workflowId.replace(/^customer-/, ''),
          workflowId,
          stage: attr(fields, 'LifecycleStage'),
          plan: attr(fields, 'Plan'),
          segments: attr(fields, 'Segments') ?? [],
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
