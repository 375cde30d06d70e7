import { ApplicationFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { JourneyFact, JourneySnapshot, ReadModelBatch } from '../src/core/journey-facts.js';
import { oneAtATimePerKey } from '../src/util/one-at-a-time.js';
import { compareAndSetFilter, serverFlavour, type JourneyDoc, type JourneyFactDoc, type Models } from '../src/db/models.js';

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

  /** Snapshot writes of one customer run one at a time in this process (see oneAtATimePerKey). */
  const oneAtATime = oneAtATimePerKey();

  async function insertFacts(facts: JourneyFact[]): Promise<void> {
    if (facts.length === 0) return;
    try {
      await models.JourneyFactRecord.insertMany(facts.map(factDoc), { ordered: false });
    } catch (err) {
      if (!onlyDuplicates(err)) throw err; // the others were inserted (ordered: false)
    }
  }

  /**
   * Replace the stored journey when ours is newer; a stored one with the same or a higher seq stays.
   * Compare-and-set by primary key: read the stored seq by `_id`, then update `{ _id, seq: <what was read> }`
   * and try again if another write got there first (MongoDB applies that filter atomically). Every lookup
   * starts from `_id` alone because FerretDB 1.x hands the database only a filter that is exactly `{ _id }`:
   * anything more (`$or`, `seq: { $lt }`) made it scan every journey on each write. On FerretDB, whose
   * update is itself a read then a write, the writes of one customer are also serialised in this process.
   */
  async function writeSnapshot(snapshot: JourneySnapshot, fresh: boolean): Promise<'written' | 'stale'> {
    const fields = journeyFields(snapshot);
    const flavour = await serverFlavour(models.JourneyRecord.db);
    for (let attempt = 0; attempt < 5; attempt++) {
      // A new journey's record is created without reading first (one round trip); one already there is compared as always.
      const stored = fresh && attempt === 0 ? null : await models.JourneyRecord.findById(snapshot.userId, { seq: 1 }).lean();
      if (!stored) {
        try {
          await models.JourneyRecord.create({ _id: snapshot.userId, ...fields });
          return 'written';
        } catch (err) {
          if (!onlyDuplicates(err)) throw err;
          continue; // created meanwhile: compare with it
        }
      }
      if (typeof stored.seq === 'number' && stored.seq >= snapshot.seq) return 'stale';
      const result = await models.JourneyRecord.updateOne(
        compareAndSetFilter(flavour, snapshot.userId, { seq: stored.seq }),
        { $set: fields },
      );
      if (result.matchedCount > 0) return 'written';
    }
    throw new Error(`journey snapshot of ${snapshot.userId} kept changing underneath; will retry`);
  }

  return {
    /**
     * `fresh`: the caller expects no record yet (a new journey's opening pass, activities/opening-activities.ts),
     * so the snapshot is created without reading the stored one first; if one is there after all, it is
     * compared as always. Journeys call this with the batch alone.
     */
    async recordJourney(batch: ReadModelBatch, options: { fresh?: boolean } = {}): Promise<void> {
      assertBatch(batch);
      await insertFacts(batch.facts);
      const outcome = await oneAtATime(batch.snapshot.userId, () => writeSnapshot(batch.snapshot, options.fresh === true));
      logger.debug({ userId: batch.snapshot.userId, seq: batch.snapshot.seq, facts: batch.facts.length, snapshot: outcome }, 'read model recorded');
    },
  };
}

export type ReadModelActivities = ReturnType<typeof createReadModelActivities>;
