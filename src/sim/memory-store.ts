import siftModule from 'sift';
import type { JourneyPlan } from '../core/journey-definition.js';
import type { JourneyFact, JourneySnapshot } from '../core/journey-facts.js';
import type { CustomerDoc } from '../db/models.js';
import type { FactGroup, JourneyGroup } from '../kpis/compute-kpis.js';

/** sift is CommonJS: its tester is the module's default export, which ESM and TypeScript see one level apart. */
const sift = ((siftModule as unknown as { default?: unknown }).default ?? siftModule) as (query: unknown) => (doc: unknown) => boolean;

export interface SimDelivery {
  status: 'sent' | 'skipped' | 'failed';
  userId: string;
  campaignId: string;
  kind: 'transactional' | 'marketing';
  template: string;
  variant?: string;
  /** When it was decided (sent or skipped). */
  at: number;
  /** For a message sent with a timing: the customer's local time it went out at (ISO 8601 with offset). */
  localTime?: string;
  locale?: string;
  subject?: string;
  error?: string;
}

/**
 * What MongoDB holds in production, in memory for one simulation run: profiles, delivery claims, and the
 * read model (journey snapshots and facts) the KPIs are computed from. The in-memory activities keep the
 * real ones' rules: deliveries by their idempotency key, facts by their id, a snapshot only over an
 * older one.
 */
export class SimStore {
  readonly profiles = new Map<string, CustomerDoc>();
  readonly deliveries = new Map<string, SimDelivery>();
  readonly facts = new Map<string, JourneyFact>();
  readonly journeys = new Map<string, JourneySnapshot>();
  /** Events sent to journeys, by name. */
  readonly events = new Map<string, number>();
  /** Activity calls by name. */
  readonly calls = new Map<string, number>();
  readonly broadcasts = { runs: new Set<string>(), signalled: 0, withoutJourney: 0 };
  private readonly matchers = new Map<string, (doc: unknown) => boolean>();

  /** Does the profile match the segment's filter (a MongoDB query, evaluated by sift as MongoDB would)? */
  inSegment(plan: JourneyPlan, segmentId: string, userId: string): boolean {
    const profile = this.profiles.get(userId);
    if (!profile) return false;
    const key = `${plan.version}/${segmentId}`;
    let test = this.matchers.get(key);
    if (!test) {
      const segment = plan.segments.find((s) => s.id === segmentId);
      if (!segment) throw new Error(`segment "${segmentId}" is not in ${plan.id}@${plan.version}`);
      test = sift(segment.filter);
      this.matchers.set(key, test);
    }
    return test(profile);
  }

  addFacts(facts: JourneyFact[]): void {
    for (const fact of facts) if (!this.facts.has(fact.id)) this.facts.set(fact.id, fact);
  }

  /** Replace the stored snapshot when this one is newer; 'stale' otherwise (as the real read model does). */
  writeSnapshot(snapshot: JourneySnapshot): 'written' | 'stale' {
    const stored = this.journeys.get(snapshot.userId);
    if (stored && stored.seq >= snapshot.seq) return 'stale';
    this.journeys.set(snapshot.userId, snapshot);
    return 'written';
  }

  /** Everything this store holds, as plain data a worker thread can post (structured clone). */
  dump(): SimStoreDump {
    return {
      profiles: [...this.profiles],
      deliveries: [...this.deliveries],
      facts: [...this.facts],
      journeys: [...this.journeys],
      events: [...this.events],
      calls: [...this.calls],
      broadcasts: { runs: [...this.broadcasts.runs], signalled: this.broadcasts.signalled, withoutJourney: this.broadcasts.withoutJourney },
    };
  }

  /** Take in a store of other customers (another thread's share): entries add up, broadcast runs are the same runs. */
  absorb(d: SimStoreDump): void {
    for (const [k, v] of d.profiles) this.profiles.set(k, v);
    for (const [k, v] of d.deliveries) this.deliveries.set(k, v);
    for (const [k, v] of d.facts) this.facts.set(k, v);
    for (const [k, v] of d.journeys) this.journeys.set(k, v);
    for (const [k, n] of d.events) this.events.set(k, (this.events.get(k) ?? 0) + n);
    for (const [k, n] of d.calls) this.calls.set(k, (this.calls.get(k) ?? 0) + n);
    for (const run of d.broadcasts.runs) this.broadcasts.runs.add(run);
    this.broadcasts.signalled += d.broadcasts.signalled;
    this.broadcasts.withoutJourney += d.broadcasts.withoutJourney;
  }

  countEvent(name: string): void {
    this.events.set(name, (this.events.get(name) ?? 0) + 1);
  }

  /** What a report needs, as plain data that adds up across stores of disjoint customers (see mergeSummaries). */
  summary(): SimSummary {
    const reached: Record<string, string[]> = {};
    const seen = new Set<string>();
    for (const f of this.facts.values()) {
      if (f.kind !== 'stage' || seen.has(`${f.stage}\u0000${f.userId}`)) continue;
      seen.add(`${f.stage}\u0000${f.userId}`);
      (reached[f.stage] ??= []).push(f.userId);
    }
    return {
      ...this.kpiGroups(),
      reached: Object.fromEntries(Object.entries(reached).map(([stage, users]) => [stage, users.length])),
      events: Object.fromEntries(this.events),
      broadcastRuns: [...this.broadcasts.runs].sort(),
      broadcastSignalled: this.broadcasts.signalled,
      signedUp: this.profiles.size,
    };
  }

  /** The groups GET /v1/kpis aggregates in MongoDB, built from memory. */
  kpiGroups(): { journeyGroups: JourneyGroup[]; reactivated: number; factGroups: FactGroup[] } {
    const journeys = new Map<string, JourneyGroup>();
    let reactivated = 0;
    for (const s of this.journeys.values()) {
      const key = `${s.stage}\u0000${s.payments}`;
      const group = journeys.get(key) ?? { _id: { stage: s.stage, payments: s.payments }, n: 0 };
      group.n += 1;
      journeys.set(key, group);
      if (s.reactivations >= 1) reactivated += 1;
    }
    const facts = new Map<string, FactGroup>();
    for (const f of this.facts.values()) {
      if (f.kind !== 'message' && f.kind !== 'conversion') continue;
      const id: FactGroup['_id'] = { kind: f.kind, campaignId: f.campaignId, variant: f.variant ?? null, status: f.kind === 'message' ? f.status : null };
      const key = JSON.stringify(id);
      const group = facts.get(key) ?? { _id: id, n: 0 };
      group.n += 1;
      facts.set(key, group);
    }
    return { journeyGroups: [...journeys.values()], reactivated, factGroups: [...facts.values()] };
  }
}

export interface SimStoreDump {
  profiles: Array<[string, CustomerDoc]>;
  deliveries: Array<[string, SimDelivery]>;
  facts: Array<[string, JourneyFact]>;
  journeys: Array<[string, JourneySnapshot]>;
  events: Array<[string, number]>;
  calls: Array<[string, number]>;
  broadcasts: { runs: string[]; signalled: number; withoutJourney: number };
}

/** A store's contribution to a report. */
export interface SimSummary {
  journeyGroups: JourneyGroup[];
  reactivated: number;
  factGroups: FactGroup[];
  /** Customers who ever reached each stage. */
  reached: Record<string, number>;
  events: Record<string, number>;
  broadcastRuns: string[];
  broadcastSignalled: number;
  signedUp: number;
}

function addGroups<T extends { _id: unknown; n: number }>(a: T[], b: T[]): T[] {
  const merged = new Map<string, T>();
  for (const g of [...a, ...b]) {
    const key = JSON.stringify(g._id);
    const known = merged.get(key);
    merged.set(key, known ? { ...known, n: known.n + g.n } : { ...g });
  }
  return [...merged.values()];
}

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const sum = { ...a };
  for (const [k, n] of Object.entries(b)) sum[k] = (sum[k] ?? 0) + n;
  return sum;
}

/** Summaries of disjoint sets of customers, added up (broadcast runs are the same runs in every part). */
export function mergeSummaries(parts: SimSummary[]): SimSummary {
  return parts.reduce((a, b) => ({
    journeyGroups: addGroups(a.journeyGroups, b.journeyGroups),
    reactivated: a.reactivated + b.reactivated,
    factGroups: addGroups(a.factGroups, b.factGroups),
    reached: addCounts(a.reached, b.reached),
    events: addCounts(a.events, b.events),
    broadcastRuns: [...new Set([...a.broadcastRuns, ...b.broadcastRuns])].sort(),
    broadcastSignalled: a.broadcastSignalled + b.broadcastSignalled,
    signedUp: a.signedUp + b.signedUp,
  }));
}
