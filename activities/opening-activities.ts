import { tagPlan } from '../src/core/definition-tags.js';
import type { DefinitionRef, JourneyPlan } from '../src/core/journey-definition.js';
import type { ReadModelBatch } from '../src/core/journey-facts.js';
import type { JourneyInput } from '../src/core/journey-state.js';
import { step } from '../src/core/journey-reducer.js';
import { mergeRecords, openingPass, openingSegments, passOutbox, type TraitsWrite } from '../src/core/opening-pass.js';
import type { JourneyActivities } from './journey-activities.js';
import type { ReadModelActivities } from './read-model-activities.js';

export interface OpenJourneyInput {
  ref: DefinitionRef;
  userId: string;
  /** The journey time of the opening pass (the workflow's clock when it asked). */
  now: number;
  /** The inputs the journey was started with, in order. */
  inputs: JourneyInput[];
}

/** The plan, and what of the opening pass was sent ahead: the workflow takes what matches its own pass. */
export interface OpenedJourney {
  plan: JourneyPlan;
  /**
   * The pass's time and inputs, echoed: the workflow builds its pass from these, as the marker recorded them.
   * Its own clock and inbox at the start (the inputs' times are the clock's when they arrived) can differ on
   * replay: a replay after a worker restart mid-openJourney can start at a later workflow task's time.
   */
  now: number;
  inputs: JourneyInput[];
  /** The profile work sent (traits written, then segments evaluated); absent when the pass asked for none. */
  profile?: { traits?: TraitsWrite; segments: string[] };
  /** The read-model write sent, segments applied; absent when the pass wrote none. */
  recorded?: ReadModelBatch;
}

/** The activities openJourney is made of: the same a later pass calls one by one. */
export type OpeningParts = Pick<JourneyActivities, 'loadJourneyPlan' | 'syncProfile'> & Pick<ReadModelActivities, 'recordJourney'>;

/** Where openJourney says a part was left out (the worker's pino logger fits). */
export interface OpeningLog {
  warn(attributes: object, message: string): void;
}

/**
 * A new journey's plan and its opening pass in one local activity (journey code version 11): load the plan,
 * compute the opening pass (the start and the inputs it came with, src/core/opening-pass.ts) as the workflow
 * will, and send its profile work (computed traits, then segments) and its read-model write (with those
 * segments). Before, the workflow loaded the plan, then sent the profile work, then the write: each answer was
 * an activation of the workflow, and a worker's CPU goes by activations. Each part is idempotent as it is
 * when called alone (traits by compare-and-set of their time, the snapshot by its seq, facts by id), so a
 * retry, or the workflow sending a part again because its own pass came out otherwise, changes nothing.
 */
export function createOpeningActivities(parts: OpeningParts, logger: OpeningLog) {
  /**
   * The plan exactly as the workflow will have it: through the payload converter (JSON), tagged. Made once per
   * loaded plan (the definition store keeps one object per version; the core never changes a plan), where it
   * used to be made for every new journey: about 0.3 ms of the worker's CPU each for CoachingLive's 17 KB.
   */
  const asRecorded = new WeakMap<JourneyPlan, JourneyPlan>();
  const recordedForm = (loaded: JourneyPlan): JourneyPlan => {
    let plan = asRecorded.get(loaded);
    if (!plan) {
      plan = tagPlan(JSON.parse(JSON.stringify(loaded)) as JourneyPlan);
      asRecorded.set(loaded, plan);
    }
    return plan;
  };
  return {
    async openJourney(input: OpenJourneyInput): Promise<OpenedJourney> {
      const loaded = await parts.loadJourneyPlan(input.ref);
      const plan = recordedForm(loaded);
      const pass = openingPass(plan, input.userId, input.now, input.inputs);
      const outbox = passOutbox(pass.commands);
      const opened: OpenedJourney = { plan: loaded, now: input.now, inputs: input.inputs };
      // What is sent ahead never holds the journey's start (its queries answer "starting" until this returns):
      // a part that fails is left out, and the workflow sends it itself, with the retries of its own activities.
      const leftOut = (part: string) => (err: unknown) => {
        logger.warn({ userId: input.userId, err: err instanceof Error ? err.message : String(err) }, `opening pass: ${part} not sent ahead; the journey sends it`);
        return undefined;
      };
      let recorded = outbox.record;
      if (outbox.traits || outbox.evaluate) {
        const segments = await parts.syncProfile({ userId: input.userId, definition: pass.state.definition, ...(outbox.traits ?? {}) }).catch(leftOut('profile work'));
        // Without its segments the pass's record is not what the workflow will write either.
        if (!segments) return opened;
        opened.profile = { ...(outbox.traits ? { traits: outbox.traits } : {}), segments };
        const after = passOutbox(step(plan, pass.state, openingSegments(input.now, segments)).commands);
        if (after.record) recorded = mergeRecords(recorded, after.record);
      }
      if (recorded && (await parts.recordJourney(recorded, { fresh: true }).then(() => true, leftOut('record')))) opened.recorded = recorded;
      return opened;
    },
  };
}

export type OpeningActivities = ReturnType<typeof createOpeningActivities>;
