import { ApplicationFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { JourneyFact, JourneySnapshot, ReadModelBatch } from '../src/core/journey-facts.js';
import type { JourneyDoc, JourneyFactDoc, Models } from '../src/db/models.js';

const DUPLICATE_KEY = 11000;

export interface ReadModelDeps {
  models: Models;
  logger: Logger;
}

interface WriteError {
  code?: number;
  writeErrors?: { code?: number }[] | { code?: number };
}

/** A duplicate-key refusal and nothing else (for a bulk insert: every one of its write errors). */
function onlyDuplicates(err: unknown): boolean {
  const e = err as WriteError | undefined;
  if (!e) return false;
  if (e.writeErrors !== undefined) {
    const errors = Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
    return errors.length > 0 && errors.every((w) => w.code === DUPLICATE_KEY);
  }
  return e.code === DUPLICATE_KEY;
}

function factDoc(fact: JourneyFact): JourneyFactDoc {
  const { id, at, ...rest } = fact;
  return { _id: id, at: new Date(at), ...rest } as JourneyFactDoc;
}

function journeyFields(s: JourneySnapshot): Omit<JourneyDoc, '_id'> {
  return {
    seq: s.seq,
    definitionVersion: s.definitionVersion,
    stage: s.stage,
    stageEnteredAt: new Date(s.stageEnteredAt),
    plan: s.plan,
    segments: s.segments,
    counters: s.counters,
    payments: s.payments,
    everLoyal: s.everLoyal,
    reactivations: s.reactivations,
    lastActivityAt: s.lastActivityAt === null ? null : new Date(s.lastActivityAt),
    startedAt: new Date(s.startedAt),
  };
}

function assertBatch(batch: ReadModelBatch): void {
  const { snapshot, facts } = batch ?? ({} as ReadModelBatch);
  const bad = (what: string) => ApplicationFailure.nonRetryable(`read model batch: ${what}`, 'InvalidInput');
  if (!snapshot || typeof snapshot.userId !== 'string' || snapshot.userId.length === 0) throw bad('snapshot.userId must be a non-empty string');
  if (!Number.isFinite(snapshot.seq)) throw bad(`snapshot.seq must be a number, got ${JSON.stringify(snapshot.seq)}`);
  if (!Array.isArray(facts)) throw bad('facts must be an array');
  for (const fact of facts) {
    if (typeof fact?.id !== 'string' || fact.id.length === 0) throw bad(`fact id must be a non-empty string, got ${JSON.stringify(fact?.id)}`);
  }
}

/**
 * Writes what journeys report into the read model (`journeys`, `journey_facts`) for analytics and KPIs.
 * Idempotent, so Temporal may retry freely: facts land once by their deterministic id, and a snapshot
 * only replaces a stored one with a lower `seq`. Outages throw and are retried. Create one instance per
 * worker: it serialises the snapshot writes of each customer.
 */
export function createReadModelActivities(deps: ReadModelDeps) {
  const { models, logger } = deps;

  /**
   * Snapshot writes of one customer run one at a time in this process. MongoDB applies the conditional
   * update atomically, but FerretDB 1.x reads and then writes, so two overlapping writes (a timed-out
   * attempt still running beside its retry, say) could let the older snapshot land last.
   */
  const writing = new Map<string, Promise<unknown>>();
  function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (writing.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    writing.set(key, tail);
    void tail.then(() => {
      if (writing.get(key) === tail) writing.delete(key);
    });
    return run;
  }

  async function insertFacts(facts: JourneyFact[]): Promise<void> {
    if (facts.length === 0) return;
    try {
      await models.JourneyFactRecord.insertMany(facts.map(factDoc), { ordered: false });
    } catch (err) {
      if (!onlyDuplicates(err)) throw err; // the others were inserted (ordered: false)
    }
  }

  /** Replace the stored journey when ours is newer; a stored one with the same or a higher seq stays. */
  async function writeSnapshot(snapshot: JourneySnapshot): Promise<'written' | 'stale'> {
    const fields = journeyFields(snapshot);
    try {
      const result = await models.JourneyRecord.updateOne(
        { _id: snapshot.userId, $or: [{ seq: { $lt: snapshot.seq } }, { seq: { $exists: false } }] },
        { $set: fields },
        { upsert: true },
      );
      return result.matchedCount + result.upsertedCount > 0 ? 'written' : 'stale';
    } catch (err) {
      if (!onlyDuplicates(err)) throw err;
    }
    // The upsert collided with a stored journey: it is newer, or a concurrent first write just created it
    // (then ours may still be the newer one). One plain conditional update settles it.
    const retry = await models.JourneyRecord.updateOne({ _id: snapshot.userId, seq: { $lt: snapshot.seq } }, { $set: fields });
    return retry.matchedCount > 0 ? 'written' : 'stale';
  }

  return {
    async recordJourney(batch: ReadModelBatch): Promise<void> {
      assertBatch(batch);
      await insertFacts(batch.facts);
      const outcome = await oneAtATime(batch.snapshot.userId, () => writeSnapshot(batch.snapshot));
      logger.debug({ userId: batch.snapshot.userId, seq: batch.snapshot.seq, facts: batch.facts.length, snapshot: outcome }, 'read model recorded');
    },
  };
}

export type ReadModelActivities = ReturnType<typeof createReadModelActivities>;
