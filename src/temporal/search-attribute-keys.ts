import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributeUpdatePair } from '@temporalio/common';
import type { JourneyPlan } from '../core/journey-definition.js';
import type { JourneySearchAttributes } from '../core/journey-view.js';

/**
 * The journeys' custom search attributes, part of the Temporal contract (./contract.ts): what workers
 * register (./search-attributes.ts), what the workflow upserts and what visibility queries filter on. Workflow code
 * imports this file, so it imports only @temporalio/common and the core.
 */

/** The journey's stage: always set. */
export const LifecycleStageKey = defineSearchAttributeKey('LifecycleStage', SearchAttributeType.KEYWORD);
/** The segments the customer is in: always set (null while in none). */
export const SegmentsKey = defineSearchAttributeKey('Segments', SearchAttributeType.KEYWORD_LIST);

/** A custom search attribute of journeys: its name and type (what defineSearchAttributeKey makes). */
export interface JourneySearchAttributeKey {
  name: string;
  type: 'KEYWORD' | 'KEYWORD_LIST';
}

/**
 * Every custom search attribute a journey of this plan sets: the stage, the segments, and a Keyword for
 * each journey attribute the definition names one for (`searchAttribute: Plan`). What the workers register
 * at start and what the workflow upserts come from this one list.
 */
export function journeySearchAttributeKeys(plan: Pick<JourneyPlan, 'attributes'>): JourneySearchAttributeKey[] {
  const named = plan.attributes.flatMap((a) => (a.searchAttribute ? [defineSearchAttributeKey(a.searchAttribute, SearchAttributeType.KEYWORD)] : []));
  return [LifecycleStageKey, SegmentsKey, ...named];
}

/** The search attribute a journey attribute (such as `plan`) feeds, when the definition names one. */
export function searchAttributeOf(plan: Pick<JourneyPlan, 'attributes'>, attributeId: string): string | undefined {
  return plan.attributes.find((a) => a.id === attributeId)?.searchAttribute;
}

/** The upsert that makes visibility show these values. */
export function searchAttributeUpdates(values: JourneySearchAttributes): SearchAttributeUpdatePair[] {
  return [
    { key: LifecycleStageKey, value: values.LifecycleStage },
    { key: SegmentsKey, value: values.Segments.length > 0 ? values.Segments : null },
    ...Object.entries(values.keywords).map(([name, value]) => ({ key: defineSearchAttributeKey(name, SearchAttributeType.KEYWORD), value })),
  ];
}
