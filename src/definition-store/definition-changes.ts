import type { Campaign, JourneyDefinition, Timer, Transition } from '../core/journey-definition.js';

/** What a change is about; the dashboard's side-by-side view and the publish gate name them alike. */
export type ChangeSubject = 'stage' | 'transition' | 'timer' | 'campaign' | 'attribute' | 'counter' | 'segment' | 'settings';

export interface DefinitionChange {
  subject: ChangeSubject;
  id: string;
  change: 'added' | 'removed' | 'changed';
  description: string;
  /** The stages whose journeys the change reaches; `*` for every journey. */
  stages: string[] | '*';
  /** Why running journeys could not be moved to the candidate (then the publish is refused), when they could not. */
  blocks?: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function transitionKey(t: Transition): string {
  const on = 'timer' in t.on ? `timer ${t.on.timer}` : 'activity' in t.on ? 'any activity' : `event ${t.on.event}${t.on.where ? ` ${JSON.stringify(t.on.where)}` : ''}`;
  return `${t.from === '*' ? '*' : t.from.join('|')} -> ${t.to} on ${on}`;
}

/** The stages a campaign starts from: its stage-entry triggers, its audience, else its timers' stages; `*` when any. */
export function campaignStages(c: Campaign, timers: Timer[]): string[] | '*' {
  const stages = new Set<string>(c.audience.stages ?? []);
  for (const t of c.trigger) {
    if ('stageEntry' in t) stages.add(t.stageEntry);
    else if ('timer' in t) for (const s of timers.find((x) => x.id === t.timer)?.whileIn ?? []) stages.add(s);
  }
  return stages.size === 0 ? '*' : [...stages];
}

function keyed<T>(list: T[], key: (x: T) => string): Map<string, T> {
  return new Map(list.map((x) => [key(x), x]));
}

function diffList<T>(
  subject: ChangeSubject,
  before: T[],
  after: T[],
  key: (x: T) => string,
  stagesOf: (x: T) => string[] | '*',
  out: DefinitionChange[],
  blocks?: (b: T | undefined, a: T | undefined) => string | undefined,
): void {
  const a = keyed(before, key);
  const b = keyed(after, key);
  for (const [id, x] of a) {
    const y = b.get(id);
    if (!y) {
      const why = blocks?.(x, undefined);
      out.push({ subject, id, change: 'removed', description: `${subject} ${id} removed`, stages: stagesOf(x), ...(why ? { blocks: why } : {}) });
    } else if (!same(x, y)) {
      const why = blocks?.(x, y);
      out.push({ subject, id, change: 'changed', description: `${subject} ${id} changed`, stages: stagesOf(y), ...(why ? { blocks: why } : {}) });
    }
  }
  for (const [id, y] of b) {
    if (!a.has(id)) out.push({ subject, id, change: 'added', description: `${subject} ${id} added`, stages: subject === 'stage' ? [] : stagesOf(y) });
  }
}

/** Every difference between two definitions that changes what journeys do (templates' wording aside). */
export function definitionChanges(before: JourneyDefinition, after: JourneyDefinition): DefinitionChange[] {
  const out: DefinitionChange[] = [];
  diffList(
    'stage',
    before.stages,
    after.stages,
    (s) => s.id,
    (s) => [s.id],
    out,
    (b, a) => (b && !a ? `stage ${b.id} is removed and no stage takes its journeys: the customers standing in it could not move to this version` : undefined),
  );
  diffList('transition', before.transitions, after.transitions, transitionKey, (t) => (t.from === '*' ? '*' : t.from), out);
  diffList('timer', before.timers, after.timers, (t) => t.id, (t) => t.whileIn, out);
  diffList('campaign', before.campaigns, after.campaigns, (c) => c.id, (c) => campaignStages(c, after.timers.length ? after.timers : before.timers), out);
  diffList(
    'attribute',
    before.attributes,
    after.attributes,
    (a) => a.id,
    () => '*',
    out,
    (b, a) => {
      if (!b || !a) return undefined;
      if (b.values && (!a.values || b.values.some((v) => !a.values!.includes(v)))) {
        const lost = a.values ? b.values.filter((v) => !a.values!.includes(v)) : [];
        return a.values
          ? `attribute ${b.id} no longer allows ${lost.join(', ')}: journeys holding ${lost.length === 1 ? 'that value' : 'those values'} could not move`
          : `attribute ${b.id} changed from a choice of ${b.values.join(', ')} to free text`;
      }
      if (!b.values && a.values) return `attribute ${b.id} changed from free text to a choice of ${a.values.join(', ')}: values journeys hold may not be among them`;
      if (b.searchAttribute !== a.searchAttribute) return `attribute ${b.id} moved from search attribute ${b.searchAttribute ?? '(none)'} to ${a.searchAttribute ?? '(none)'}: the list filters of running journeys would no longer match`;
      return undefined;
    },
  );
  // An id that is an attribute in one and a counter in the other changes the type journeys carry it as.
  for (const c of after.counters) {
    if (before.attributes.some((a) => a.id === c.id)) {
      out.push({ subject: 'counter', id: c.id, change: 'changed', description: `${c.id} changed from an attribute to a counter`, stages: '*', blocks: `${c.id} changed type from attribute to counter` });
    }
  }
  for (const a of after.attributes) {
    if (before.counters.some((c) => c.id === a.id)) {
      out.push({ subject: 'attribute', id: a.id, change: 'changed', description: `${a.id} changed from a counter to an attribute`, stages: '*', blocks: `${a.id} changed type from counter to attribute` });
    }
  }
  diffList('counter', before.counters, after.counters, (c) => c.id, () => '*', out);
  diffList('segment', before.segments, after.segments, (s) => s.id, () => '*', out);
  for (const key of ['initialStage', 'consent', 'frequencyCap', 'timing', 'activity', 'metrics', 'computedTraits', 'support'] as const) {
    if (!same(before[key], after[key])) out.push({ subject: 'settings', id: key, change: 'changed', description: `${key} changed`, stages: key === 'initialStage' ? [] : '*' });
  }
  return out;
}
