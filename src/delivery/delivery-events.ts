import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import type { DeliveryDoc, Models } from '../db/models.js';
import { UpstreamUnavailable, viaMongo } from '../http/errors.js';
import { workflowIdFor } from '../temporal/contract.js';

/**
 * What SendGrid's events (src/api/sendgrid-events.ts) and other channels' feedback (src/channels/feedback.ts)
 * do alike once an event is stored: mark it on the delivery record and tell the customer's journey.
 */

/** The delivery record lists every kind reported, and the latest by the provider's time (reports come out of order). */
export async function markDeliveryEvent(models: Models, event: { deliveryKey: string; type: NonNullable<DeliveryDoc['lastEvent']>; at: Date }): Promise<void> {
  const { Delivery } = models;
  const current = await viaMongo(() => Delivery.findById(event.deliveryKey, { lastEventAt: 1 }).lean());
  if (!current) return;
  const newer = !current.lastEventAt || new Date(current.lastEventAt).getTime() <= new Date(event.at).getTime();
  await viaMongo(() =>
    Delivery.updateOne({ _id: event.deliveryKey }, { $addToSet: { events: event.type }, ...(newer ? { $set: { lastEvent: event.type, lastEventAt: event.at } } : {}) }),
  );
}

/**
 * Signal the customer's journey within `timeoutMs`: 'orphaned' when it no longer runs; a Temporal outage
 * throws UpstreamUnavailable (the provider's retry brings the event again).
 */
export async function signalJourney<T>(client: Client, timeoutMs: number, userId: string, signal: SignalDefinition<[T]>, arg: T): Promise<'signalled' | 'orphaned'> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflow.getHandle(workflowIdFor(userId)).signal(signal, arg));
    return 'signalled';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'orphaned';
    throw new UpstreamUnavailable('temporal', err);
  }
}
