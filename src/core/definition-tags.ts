import type { ComputedTrait, JourneyDefinition, JourneyPlan, TimerAnchor, Transition, Trigger } from './journey-definition.js';

/**
 * The `kind` tags of the unions the core dispatches on (campaign triggers, what a transition happens on,
 * computed traits, what a timer counts from) are derived from each variant's own field when a definition is parsed. Two places see
 * definitions without them, and this module (without zod, so workflow code may import it) serves both:
 * - a plan recorded in a journey's history before the tags existed (the loadJourneyPlan result replays as
 *   recorded) gets them from `tagPlan`, so every saved history replays through the same code;
 * - the definition's version hashes the form without tags (`untagDefinition`), so the same YAML keeps
 *   the version it had, and journeys pinned to it keep finding it.
 * Telling variants apart by which field they have is right only here, where the tag does not exist yet.
 */

type Untagged<T> = T extends { kind: unknown } ? Omit<T, 'kind'> & { kind?: T['kind'] } : T;

const TRIGGER_KINDS = ['event', 'stageEntry', 'timer', 'counter', 'broadcast'] as const satisfies readonly Trigger['kind'][];
const TRANSITION_KINDS = ['event', 'activity', 'timer'] as const satisfies readonly Transition['on']['kind'][];
const TRAIT_KINDS = ['activeWithin', 'emailEngagedWithin', 'eventCount', 'inStage', 'mostFrequent'] as const satisfies readonly ComputedTrait['kind'][];

function withKind<T extends { kind: string }>(value: Untagged<T>, kinds: readonly T['kind'][]): T {
  if (value.kind !== undefined) return value as unknown as T;
  const kind = kinds.find((k) => k in value);
  if (kind === undefined) throw new Error(`cannot tell what ${JSON.stringify(value)} is (expected one of ${kinds.join(', ')})`);
  return { kind, ...value } as unknown as T;
}

function withoutKind<T extends { kind: string }>({ kind: _kind, ...rest }: T): Omit<T, 'kind'> {
  return rest;
}

/** A timer's anchor as written before the tag: `stageEntry`, `lastActivity`, or an event match. */
type UntaggedAnchor = 'stageEntry' | 'lastActivity' | Untagged<Extract<TimerAnchor, { kind: 'event' }>> | TimerAnchor;

function taggedAnchor(anchor: UntaggedAnchor): TimerAnchor {
  if (typeof anchor === 'string') return { kind: anchor };
  if (anchor.kind !== undefined) return anchor as TimerAnchor;
  if (!('event' in anchor)) throw new Error(`cannot tell what timer anchor ${JSON.stringify(anchor)} is (expected stageEntry, lastActivity or an event)`);
  return { kind: 'event', ...anchor };
}

function untaggedAnchor(anchor: TimerAnchor): unknown {
  return anchor.kind === 'event' ? withoutKind(anchor) : anchor.kind;
}

/** The plan with every tag in place; a plan that has them is returned as it is. */
export function tagPlan(plan: JourneyPlan): JourneyPlan {
  const needs =
    plan.transitions.some((t) => t.on.kind === undefined) ||
    plan.campaigns.some((c) => c.trigger.some((t) => t.kind === undefined)) ||
    (plan.computedTraits ?? []).some((t) => t.kind === undefined) ||
    plan.timers.some((t) => (t.anchor as UntaggedAnchor) !== taggedAnchor(t.anchor as UntaggedAnchor));
  if (!needs) return plan;
  return {
    ...plan,
    transitions: plan.transitions.map((t) => ({ ...t, on: withKind<Transition['on']>(t.on, TRANSITION_KINDS) })),
    campaigns: plan.campaigns.map((c) => ({ ...c, trigger: c.trigger.map((t) => withKind<Trigger>(t, TRIGGER_KINDS)) })),
    timers: plan.timers.map((t) => ({ ...t, anchor: taggedAnchor(t.anchor as UntaggedAnchor) })),
    ...(plan.computedTraits ? { computedTraits: plan.computedTraits.map((t) => withKind<ComputedTrait>(t, TRAIT_KINDS)) } : {}),
  };
}

/** The definition as it was before it carried tags: what its version is the hash of. */
export function untagDefinition(definition: JourneyDefinition): unknown {
  return {
    ...definition,
    transitions: definition.transitions.map((t) => ({ ...t, on: withoutKind(t.on) })),
    campaigns: definition.campaigns.map((c) => ({ ...c, trigger: c.trigger.map(withoutKind) })),
    timers: definition.timers.map((t) => ({ ...t, anchor: untaggedAnchor(t.anchor) })),
    ...(definition.computedTraits ? { computedTraits: definition.computedTraits.map(withoutKind) } : {}),
  };
}
