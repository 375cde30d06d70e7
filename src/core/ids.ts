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

/** Deterministic experiment bucket in [0, 1) for one customer and campaign (FNV-1a, 32 bits). */
export function bucketOf(userId: string, campaignId: string): number {
  let hash = 0x811c9dc5;
  const text = `${campaignId}:${userId}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  // Final avalanche (MurmurHash3 fmix32): FNV alone leaves sequential ids ("u1", "u2", ...) unevenly spread.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 0x1_0000_0000;
}
