import type { IdentityStore } from '../ingest/identity-store.js';
import type { AnonymousHistories } from './anonymous-histories.js';
import type { CustomerService } from './customer-service.js';
import { HttpError, UpstreamUnavailable, viaMongo } from '../http/errors.js';
import type { CallType, SegmentCall } from './segment-spec.js';

export interface Applied {
  type: CallType;
  messageId: string;
  userId?: string;
  /** The journey a track, page or screen call is now durably in. */
  workflowId?: string;
  /** Kept under its anonymousId until identify or alias says whose it is. */
  heldForAnonymousId?: string;
  /** identify (with anonymousId) and alias: the visitor whose history joins the customer's journey (by Temporal, in timestamp order, once). */
  joins?: string;
  /** identify and group: whether a running journey was told. */
  journey?: 'signalled' | 'not started';
  created?: boolean;
  /** The anonymousId belongs to another customer already; it was not moved. */
  linkedTo?: string;
}

/**
 * Applies a call of the Segment spec: events to the customer's journey, profiles and accounts to MongoDB,
 * anonymous calls kept until their visitor is identified, then joined to the customer in timestamp order
 * (each applied once: the journey drops a messageId it has seen).
 */
export class SegmentIngest {
  constructor(
    private readonly deps: {
      customers: CustomerService;
      /** Links (MongoDB) and visitors' histories (Temporal); without them (unit tests) anonymous calls answer 503. */
      identities?: IdentityStore;
      anonymous?: AnonymousHistories;
      /** The customer's events-per-second limit: throws RateLimited before anything is written. */
      customerEvent?: (userId: string) => void;
    },
  ) {}

  private get identities(): IdentityStore {
    if (!this.deps.identities) throw new UpstreamUnavailable('mongodb', new Error('no identity store in this process'));
    return this.deps.identities;
  }

  private resolve(anonymousId: string | undefined): Promise<string | undefined> {
    return anonymousId ? viaMongo(() => this.identities.userFor(anonymousId)) : Promise.resolve(undefined);
  }

  async apply(call: SegmentCall): Promise<Applied> {
    if (call.type === 'alias') {
      this.deps.customerEvent?.(call.userId);
      return { type: call.type, messageId: call.messageId, userId: call.userId, ...(await this.linkAndJoin(call.previousId, call.userId, 'alias')) };
    }
    const userId = call.userId ?? (await this.resolve(call.anonymousId));
    if (!userId) return this.hold(call, call.anonymousId!);
    this.deps.customerEvent?.(userId);
    const applied = await this.applyFor(userId, call);
    if (call.type === 'identify' && call.userId && call.anonymousId) return { ...applied, ...(await this.linkAndJoin(call.anonymousId, call.userId, 'identify')) };
    return applied;
  }

  private async applyFor(userId: string, call: Exclude<SegmentCall, { type: 'alias' }>): Promise<Applied> {
    const { customers } = this.deps;
    const base = { type: call.type, messageId: call.messageId, userId };
    const when = { messageId: call.messageId, ...(call.timestamp ? { timestamp: call.timestamp } : {}) };
    switch (call.type) {
      case 'track':
      case 'page':
      case 'screen': {
        const { workflowId } = await customers.track({ userId, type: call.type, event: call.event, ...when, ...(call.properties ? { properties: call.properties } : {}) });
        return { ...base, workflowId };
      }
      case 'identify':
        return { ...base, ...(await customers.identify({ userId, traits: call.traits, ...when })) };
      case 'group':
        return { ...base, ...(await customers.group({ userId, groupId: call.groupId, traits: call.traits, ...when })) };
    }
  }

  private get anonymous(): AnonymousHistories {
    if (!this.deps.anonymous) throw new UpstreamUnavailable('temporal', new Error('no Temporal client for visitors in this process'));
    return this.deps.anonymous;
  }

  /**
   * A visitor's call: kept in their anonymousHistory workflow until identify or alias links the anonymousId.
   * Events only: an anonymous identify or group has no profile to go to, and is refused (send the traits
   * with the identify that names the customer).
   */
  private async hold(call: Exclude<SegmentCall, { type: 'alias' }>, anonymousId: string): Promise<Applied> {
    if (call.type === 'identify' || call.type === 'group') {
      throw new HttpError(400, 'invalid_request', `an anonymous ${call.type} is not kept: send the traits with the identify that has the userId`, [
        { path: 'userId', message: `${call.type} needs a userId, or an anonymousId already linked to one`, code: 'custom' },
      ]);
    }
    const event = { messageId: call.messageId, event: call.event, ...(call.type !== 'track' ? { type: call.type } : {}), ...(call.properties ? { properties: call.properties } : {}) };
    // A visitor's event gets its time now when it has none: the join orders by it.
    await this.anonymous.keep(anonymousId, { ...event, timestamp: call.timestamp ?? new Date().toISOString() });
    return { type: call.type, messageId: call.messageId, heldForAnonymousId: anonymousId };
  }

  /** Link the id to the customer (MongoDB, for routing later calls), then tell the visitor's history (Temporal), which joins it. */
  private async linkAndJoin(anonymousId: string, userId: string, via: 'identify' | 'alias'): Promise<Pick<Applied, 'joins' | 'linkedTo'>> {
    const owner = await viaMongo(() => this.identities.link(anonymousId, userId, via));
    if (owner !== userId) return { linkedTo: owner };
    await this.anonymous.link(anonymousId, { userId, via });
    return { joins: anonymousId };
  }
}
