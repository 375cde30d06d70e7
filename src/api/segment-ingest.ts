import type { IdentityStore } from '../ingest/identity-store.js';
import type { CustomerService } from './customer-service.js';
import { UpstreamUnavailable, viaMongo } from './errors.js';
import type { CallType, SegmentCall } from './segment-spec.js';

export interface Applied {
  type: CallType;
  messageId: string;
  userId?: string;
  /** The journey a track, page or screen call is now durably in. */
  workflowId?: string;
  /** Kept under its anonymousId until identify or alias says whose it is. */
  heldForAnonymousId?: string;
  /** Calls of the anonymousId this call joined to the customer (identify, alias). */
  joined?: number;
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
      /** Links and a visitor's kept calls; without it (unit tests) anonymous calls answer 503. */
      identities?: IdentityStore;
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

  /** A visitor's call: kept (encrypted) until identify or alias links the anonymousId to a customer. */
  private async hold(call: Exclude<SegmentCall, { type: 'alias' }>, anonymousId: string): Promise<Applied> {
    const at = call.timestamp ? new Date(call.timestamp) : new Date();
    await viaMongo(() => this.identities.keep(anonymousId, at, call));
    // Linked meanwhile (an identify racing this call): join now, so nothing waits for a link that came already.
    const userId = await this.resolve(anonymousId);
    if (userId) await this.join(anonymousId, userId);
    return { type: call.type, messageId: call.messageId, heldForAnonymousId: anonymousId };
  }

  private async linkAndJoin(anonymousId: string, userId: string, via: string): Promise<Pick<Applied, 'joined' | 'linkedTo'>> {
    const owner = await viaMongo(() => this.identities.link(anonymousId, userId, via));
    if (owner !== userId) return { linkedTo: owner, joined: 0 };
    return { joined: await this.join(anonymousId, userId) };
  }

  /**
   * Apply every call kept for the anonymousId to the customer, oldest first, then forget them. A crash
   * part-way leaves the rest kept; the next call of that visitor (or the client's retry) finishes the join,
   * and what was applied already is dropped by messageId in the journey.
   */
  private async join(anonymousId: string, userId: string): Promise<number> {
    const waiting = await viaMongo(() => this.identities.waiting<Exclude<SegmentCall, { type: 'alias' }>>(anonymousId));
    for (const { call } of waiting) await this.applyFor(userId, { ...call, userId });
    await viaMongo(() => this.identities.applied(waiting.map((w) => w.id)));
    return waiting.length;
  }
}
