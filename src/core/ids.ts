/**
 * The journey's identifiers, deterministic so that everything derived from them is idempotent: the journey
 * id (the Temporal contract's workflow id), delivery keys (a message is sent at most once), experiment buckets.
 */

/** A customer's journey id: the Temporal contract uses it as the workflow id, and delivery keys start with it. */
export function journeyIdOf(userId: string): string {
  return `customer-${userId}`;
}

/** The idempotency key of one delivery: the same customer, campaign and occurrence is sent at most once. */
export function deliveryKey(userId: string, campaignId: string, occurrence: number): string {
  return `${journeyIdOf(userId)}/${campaignId}/${occurrence}`;
}

/** `customer-<userId>/<campaignId>/<occurrence>` (deliveryKey() above) taken apart; undefined when it is not one. */
export function parseDeliveryKey(key: string): { userId: string; campaignId: string; occurrence: number } | undefined {
  const match = /^customer-(.+)\/([^/]+)\/(\d{1,9})$/su.exec(key);
  // A lone surrogate (the u flag sees one as a code point of its own) or a control character: not a key we made.
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (!match || /[\ud800-\udfff\u0000-\u001f\u007f]/u.test(key)) return undefined;
  const userId = match[1]!;
  if (userId.trim() !== userId || userId.length > 200) return undefined;
  return { userId, campaignId: match[2]!, occurrence: Number(match[3]) };
}

/** A 32-bit hash of text: FNV-1a, then MurmurHash3's fmix32 (FNV alone leaves sequential ids such as "u1", "u2", ... unevenly spread). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Deterministic experiment bucket in [0, 1) for one customer and campaign. */
export function bucketOf(userId: string, campaignId: string): number {
  return hash32(`${campaignId}:${userId}`) / 0x1_0000_0000;
}
