import type { JourneyPlan } from './journey-definition.js';
import type { ReadModelBatch } from './journey-facts.js';
import type { ComputedValue, JourneyCommand, JourneyInput, StepResult } from './journey-state.js';
import { startJourney, step } from './journey-reducer.js';
import { unreachable } from './unreachable.js';

/** A pass's computed traits, as one write: every change of the pass merged, as of its newest. */
export interface TraitsWrite {
  traits: Record<string, ComputedValue>;
  at: number;
}

/** A pass's read-model writes as one: its facts in order, the newest snapshot. */
export function mergeRecords(pending: ReadModelBatch | undefined, batch: ReadModelBatch): ReadModelBatch {
  return { snapshot: batch.snapshot, facts: [...(pending?.facts ?? []), ...batch.facts] };
}

/** A pass's computed-trait writes as one: merged, as of the newest. */
export function mergeTraits(pending: TraitsWrite | undefined, traits: Record<string, ComputedValue>, at: number): TraitsWrite {
  return { traits: { ...pending?.traits, ...traits }, at };
}

/** What a pass sends out at its end besides deliveries: one read-model write, one profile update (traits, then segments). */
export interface PassOutbox {
  record?: ReadModelBatch;
  traits?: TraitsWrite;
  /** The pass asked for the customer's segments (a traits write asks for them too). */
  evaluate: boolean;
}

/** Gather a pass's commands into what goes out at its end (as a lean run's workflow gathers them; deliveries are not part of it). */
export function passOutbox(commands: JourneyCommand[], outbox: PassOutbox = { evaluate: false }): PassOutbox {
  let { record, traits, evaluate } = outbox;
  for (const command of commands) {
    switch (command.type) {
      case 'record':
        record = mergeRecords(record, command.batch);
        break;
      case 'syncComputedTraits':
        traits = mergeTraits(traits, command.traits, command.at);
        break;
      case 'evaluateSegments':
        evaluate = true;
        break;
      case 'deliver':
        break;
      default:
        unreachable(command);
    }
  }
  return { ...(record ? { record } : {}), ...(traits ? { traits } : {}), evaluate };
}

/**
 * A journey's start and the inputs it was started with (signal-with-start), as one pass. From journey code
 * version 11 the workflow and the openJourney activity both compute it: the activity to send the pass's
 * profile work and read-model write ahead (in the local activity that loads the plan), the workflow to know
 * its state, carry out its deliveries, and check that what was sent ahead is what it would have sent.
 */
export function openingPass(plan: JourneyPlan, userId: string, now: number, inputs: readonly JourneyInput[]): StepResult {
  const started = startJourney(plan, userId, now);
  let state = started.state;
  const commands = [...started.commands];
  for (const input of inputs) {
    const result = step(plan, state, input);
    state = result.state;
    commands.push(...result.commands);
  }
  return { state, commands };
}

/** The segments input of an opening pass whose profile work was sent ahead: at the pass's own time. */
export function openingSegments(now: number, segments: string[]): JourneyInput {
  return { type: 'segments', now, segments };
}
