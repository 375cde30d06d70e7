import { PREVIOUS_STAGE, type Condition, type JourneyDefinition } from './journey-definition.js';
import { unreachable } from './unreachable.js';
import { PLAIN_TEXT_CHANNELS } from './channel-ids.js';
import { candidatesOf } from './channel-routing.js';

export interface Violation {
  path: string;
  message: string;
}

/** The profile paths a segment filter names (keys that are not operators, also inside $and, $or, $nor, $not). */
function filterPaths(filter: unknown): string[] {
  if (filter === null || typeof filter !== 'object') return [];
  if (Array.isArray(filter)) return filter.flatMap(filterPaths);
  return Object.entries(filter as Record<string, unknown>).flatMap(([key, value]) =>
    key.startsWith('$') ? (['$and', '$or', '$nor', '$not'].includes(key) ? filterPaths(value) : []) : [key],
  );
}

function duplicates(ids: string[]): string[] {
  return [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
}

/**
 * Graph checks a schema cannot make: every reference points at something declared, ids are unique,
 * every stage can be reached from the initial stage. Returns every violation, not just the first.
 */
export function validateDefinitionGraph(def: JourneyDefinition): Violation[] {
  const out: Violation[] = [];
  const stages = new Set(def.stages.map((s) => s.id));
  const timers = new Set(def.timers.map((t) => t.id));
  const segments = new Set(def.segments.map((s) => s.id));
  const templates = new Map(def.templates.map((t) => [t.id, t]));

  for (const [kind, ids] of [
    ['stages', def.stages.map((s) => s.id)],
    ['timers', def.timers.map((t) => t.id)],
    ['segments', def.segments.map((s) => s.id)],
    ['campaigns', def.campaigns.map((c) => c.id)],
    ['templates', def.templates.map((t) => t.id)],
    ['attributes', def.attributes.map((a) => a.id)],
    ['computedTraits', (def.computedTraits ?? []).map((t) => t.id)],
    ['topics', (def.topics ?? []).map((t) => t.id)],
  ] as const) {
    for (const id of duplicates([...ids])) out.push({ path: kind, message: `"${id}" is declared more than once` });
  }

  const stageRef = (path: string, id: string) => {
    if (!stages.has(id)) out.push({ path, message: `unknown stage "${id}"` });
  };
  const timerRef = (path: string, id: string) => {
    if (!timers.has(id)) out.push({ path, message: `unknown timer "${id}"` });
  };

  stageRef('initialStage', def.initialStage);
  const counters = new Set(def.counters.map((c) => c.id));
  const attributes = new Set(def.attributes.map((a) => a.id));
  const counterRef = (path: string, id: string) => {
    if (!counters.has(id)) out.push({ path, message: `unknown counter "${id}"` });
  };
  const templateRef = (path: string, id: string) => {
    if (!templates.has(id)) out.push({ path, message: `unknown template "${id}"` });
  };
  const conditionRefs = (path: string, condition: Condition | undefined) => {
    for (const id of Object.keys(condition?.counters ?? {})) counterRef(`${path}.counters.${id}`, id);
    for (const id of Object.keys(condition?.attributes ?? {})) {
      if (!attributes.has(id)) out.push({ path: `${path}.attributes.${id}`, message: `unknown attribute "${id}"` });
    }
  };
  def.timers.forEach((t, i) => {
    t.whileIn.forEach((s, j) => stageRef(`timers[${i}].whileIn[${j}]`, s));
    t.keepThrough.forEach((s, j) => stageRef(`timers[${i}].keepThrough[${j}]`, s));
  });
  if (def.support.trialTimer) timerRef('support.trialTimer', def.support.trialTimer);
  if (def.metrics.paymentCounter) counterRef('metrics.paymentCounter', def.metrics.paymentCounter);
  if (def.metrics.loyalStage) stageRef('metrics.loyalStage', def.metrics.loyalStage);
  if (def.metrics.reactivation) {
    stageRef('metrics.reactivation.from', def.metrics.reactivation.from);
    stageRef('metrics.reactivation.to', def.metrics.reactivation.to);
  }
  def.attributes.forEach((a, i) => a.clearOnStages.forEach((s, j) => stageRef(`attributes[${i}].clearOnStages[${j}]`, s)));

  const traits = new Set((def.computedTraits ?? []).map((t) => t.id));
  (def.computedTraits ?? []).forEach((t, i) => {
    switch (t.kind) {
      case 'inStage':
        t.inStage.stages.forEach((s, j) => stageRef(`computedTraits[${i}].inStage.stages[${j}]`, s));
        break;
      case 'eventCount':
        if (t.eventCount.gte !== undefined && t.eventCount.lte !== undefined && t.eventCount.gte > t.eventCount.lte) {
          out.push({ path: `computedTraits[${i}].eventCount`, message: `gte ${t.eventCount.gte} is above lte ${t.eventCount.lte}: never true` });
        }
        break;
      case 'activeWithin':
      case 'emailEngagedWithin':
      case 'mostFrequent':
        break;
      default:
        unreachable(t);
    }
  });
  // A segment on computed.<id> needs the trait: a typo would silently match no one (or everyone, with $ne).
  def.segments.forEach((segment, i) => {
    for (const path of filterPaths(segment.filter)) {
      const id = path.startsWith('computed.') ? path.slice('computed.'.length).split('.')[0]! : undefined;
      if (id !== undefined && !traits.has(id)) out.push({ path: `segments[${i}].filter`, message: `"${path}": no computed trait "${id}" is declared` });
    }
  });

  def.transitions.forEach((t, i) => {
    if (t.from !== '*') t.from.forEach((s, j) => stageRef(`transitions[${i}].from[${j}]`, s));
    if (t.to !== PREVIOUS_STAGE) stageRef(`transitions[${i}].to`, t.to);
    conditionRefs(`transitions[${i}].when`, t.when);
    const on = t.on;
    switch (on.kind) {
      case 'timer': {
        timerRef(`transitions[${i}].on.timer`, on.timer);
        const timer = def.timers.find((x) => x.id === on.timer);
        if (timer && t.from !== '*' && !t.from.some((s) => timer.whileIn.includes(s) || timer.keepThrough.includes(s))) {
          out.push({ path: `transitions[${i}]`, message: `timer "${timer.id}" is never armed in any of the "from" stages, so this transition can never happen` });
        }
        break;
      }
      case 'event':
      case 'activity':
        break;
      default:
        unreachable(on);
    }
  });

  const topics = new Set((def.topics ?? []).map((t) => t.id));
  (def.topics ?? []).forEach((t, i) => {
    if (!t.label[def.defaultLocale]) out.push({ path: `topics[${i}].label`, message: `topic "${t.id}" has no "${def.defaultLocale}" label (the default locale)` });
  });
  def.campaigns.forEach((c, i) => {
    const at = `campaigns[${i}]`;
    if (c.topic !== undefined && c.kind === 'transactional') {
      out.push({ path: `${at}.topic`, message: `campaign "${c.id}" is transactional and has no topic: preferences never hold back a transactional message` });
    } else if (c.topic !== undefined && !topics.has(c.topic)) {
      const declared = topics.size > 0 ? `declared topics: ${[...topics].join(', ')}` : 'the definition declares no `topics`';
      out.push({ path: `${at}.topic`, message: `campaign "${c.id}" names unknown topic "${c.topic}" (${declared})` });
    } else if (c.topic === undefined && c.kind === 'marketing' && topics.size > 0) {
      out.push({ path: `${at}.topic`, message: `marketing campaign "${c.id}" names no topic; the definition declares topics (${[...topics].join(', ')}), so each marketing campaign says which it belongs to` });
    }
    c.trigger.forEach((t, j) => {
      switch (t.kind) {
        case 'stageEntry':
          return stageRef(`${at}.trigger[${j}].stageEntry`, t.stageEntry);
        case 'timer':
          return timerRef(`${at}.trigger[${j}].timer`, t.timer);
        case 'counter':
          return counterRef(`${at}.trigger[${j}].counter`, t.counter);
        case 'event':
        case 'broadcast':
          return;
        default:
          return unreachable(t);
      }
    });
    conditionRefs(`${at}.conditions`, c.conditions);
    c.steps?.forEach((st, j) => {
      if (st.template) templateRef(`${at}.steps[${j}].template`, st.template);
    });
    c.experiment?.variants.forEach((v, j) => {
      if (v.template) templateRef(`${at}.experiment.variants[${j}].template`, v.template);
    });
    if (c.experiment && new Set(c.experiment.variants.map((v) => v.id)).size !== c.experiment.variants.length) {
      out.push({ path: `${at}.experiment.variants`, message: 'variant ids must be unique' });
    }
    c.audience.stages?.forEach((s, j) => stageRef(`${at}.audience.stages[${j}]`, s));
    c.audience.segments?.forEach((s, j) => {
      if (!segments.has(s)) out.push({ path: `${at}.audience.segments[${j}]`, message: `unknown segment "${s}"` });
    });
    templateRef(`${at}.message.template`, c.message.template);
    const campaignTemplates = [c.message.template, ...(c.steps ?? []).map((st) => st.template), ...(c.experiment?.variants ?? []).map((v) => v.template)];
    const seen = new Set<string>();
    candidatesOf(c.message).forEach((m, j) => {
      const path = j === 0 ? `${at}.message` : `${at}.message.fallback[${j - 1}]`;
      if (seen.has(m.channel)) out.push({ path, message: `channel ${m.channel} is named twice (a fallback is another channel)` });
      seen.add(m.channel);
      if (j > 0 && m.template) templateRef(`${path}.template`, m.template);
      if (!PLAIN_TEXT_CHANNELS.includes(m.channel)) return;
      // The message's body is the template's plain text: every template the campaign may send on it needs it.
      const where = m.channel === 'webhook' ? `to webhook endpoint "${m.endpoint}"` : `by ${m.channel}`;
      for (const id of new Set(j > 0 && m.template ? [m.template] : campaignTemplates)) {
        const missing = Object.entries(templates.get(id ?? '')?.locales ?? {}).filter(([, content]) => content.text === undefined).map(([locale]) => locale);
        if (missing.length > 0) {
          out.push({ path, message: `template "${id}" is sent ${where} and needs \`text\` (the message body) in every locale; missing in ${missing.join(', ')}` });
        }
      }
    });
  });

  def.templates.forEach((t, i) => {
    if (!t.locales[def.defaultLocale]) {
      out.push({ path: `templates[${i}].locales`, message: `template "${t.id}" has no "${def.defaultLocale}" version (the default locale)` });
    }
  });

  // Reachability: from the initial stage along transitions; "@previous" returns somewhere already reached.
  const reached = new Set([def.initialStage]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of def.transitions) {
      if (t.to === PREVIOUS_STAGE || reached.has(t.to)) continue;
      if (t.from === '*' || t.from.some((s) => reached.has(s))) {
        reached.add(t.to);
        grew = true;
      }
    }
  }
  def.stages.forEach((s, i) => {
    if (!reached.has(s.id)) out.push({ path: `stages[${i}]`, message: `stage "${s.id}" cannot be reached from "${def.initialStage}"` });
  });
  return out;
}
