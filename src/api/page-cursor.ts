import { createHmac, timingSafeEqual } from 'node:crypto';

const MAC_BYTES = 16;

/**
 * The `cursor` of GET /v1/customers: Temporal's visibility page token, sealed with a MAC over the token and
 * the filters of the query it pages through. Temporal does not refuse a page token it did not issue (the
 * dev server waits until the deadline), so only cursors this API handed out reach it; anything else, and a
 * cursor of another query, is a 400. The MAC key is derived from API_KEYS, so every API instance with the
 * same keys accepts the others' cursors, also across restarts.
 */
export function pageCursors(apiKeys: Iterable<string>) {
  const key = createHmac('sha256', 'lifecycle page cursor').update([...apiKeys].sort().join('\n')).digest();
  const mac = (token: Buffer, filters: Record<string, unknown>) =>
    createHmac('sha256', key)
      .update(JSON.stringify([filters.stage ?? null, filters.plan ?? null, filters.segment ?? null]))
      .update(token)
      .digest()
      .subarray(0, MAC_BYTES);
  return {
    /** The cursor for Temporal's next page token (base64url, as CustomerService returns it). */
    seal(token: string, filters: Record<string, unknown>): string {
      const raw = Buffer.from(token, 'base64url');
      return Buffer.concat([mac(raw, filters), raw]).toString('base64url');
    },
    /** Temporal's page token (base64url) inside a cursor this API issued for these filters; undefined otherwise. */
    open(cursor: string, filters: Record<string, unknown>): string | undefined {
      const sealed = Buffer.from(cursor, 'base64url');
      if (sealed.length <= MAC_BYTES) return undefined;
      const raw = sealed.subarray(MAC_BYTES);
      return timingSafeEqual(sealed.subarray(0, MAC_BYTES), mac(raw, filters)) ? raw.toString('base64url') : undefined;
    },
  };
}
