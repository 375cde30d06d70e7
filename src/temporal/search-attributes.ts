import proto from '@temporalio/proto';
const { temporal } = proto;
import type { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../servers/local-servers.js';

const TYPES = {
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KeywordList: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
} as const;

/**
 * Register the journey's custom search attributes where they are missing (idempotent). The dev server's
 * --search-attribute flag is ignored for an existing database, so upgrades rely on this.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  let known: Set<string>;
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    known = new Set(Object.keys(existing.customAttributes ?? {}));
  } catch (err) {
    // The time-skipping test server registers attributes but cannot list them.
    if ((err as { code?: number }).code !== 12 /* UNIMPLEMENTED */) throw err;
    known = new Set();
  }
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
  if (missing.length > 0) {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, TYPES[type]])),
    });
  }
  return missing.map(([name]) => name);
}
