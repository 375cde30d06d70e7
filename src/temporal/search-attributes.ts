import proto from '@temporalio/proto';
import type { ConnectionLike } from '@temporalio/client';
import type { JourneyPlan } from '../core/journey-definition.js';
import { journeySearchAttributeKeys } from './search-attribute-keys.js';

const { IndexedValueType } = proto.temporal.api.enums.v1;
const INDEXED_TYPE = { KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST } as const;

/**
 * Register the journey's custom search attributes (./search-attribute-keys.ts, from the definition) where they are
 * missing (idempotent). The dev server's --search-attribute flag is ignored for an existing database, so
 * upgrades rely on this.
 */
export async function ensureSearchAttributes(connection: ConnectionLike, namespace: string, plan: Pick<JourneyPlan, 'attributes'>): Promise<string[]> {
  let known: Set<string>;
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    known = new Set(Object.keys(existing.customAttributes ?? {}));
  } catch (err) {
    // The time-skipping test server registers attributes but cannot list them.
    if ((err as { code?: number }).code !== 12 /* UNIMPLEMENTED */) throw err;
    known = new Set();
  }
  const missing = journeySearchAttributeKeys(plan).filter((key) => !known.has(key.name));
  if (missing.length > 0) {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPE[key.type]])),
    });
  }
  return missing.map((key) => key.name);
}
