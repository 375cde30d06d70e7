import type { Models } from '../db/models.js';
import type { DeliveryRecordCount } from './api-metrics.js';

/** Deliveries in MongoDB grouped by status and kind: what every worker has recorded, for one scrape. */
export function deliveryRecordCounter(models: Models, maxTimeMS = 2_000): () => Promise<DeliveryRecordCount[]> {
  return async () => {
    const groups = await models.Delivery.aggregate<{ _id: { status?: string | null; kind?: string | null }; n: number }>([
      { $group: { _id: { status: '$status', kind: '$kind' }, n: { $sum: 1 } } },
    ]).option({ maxTimeMS });
    return groups.map((g) => ({ status: g._id.status ?? 'unknown', kind: g._id.kind ?? 'unknown', count: g.n }));
  };
}
