import { ApplicationFailure } from '@temporalio/common';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { DeliveryOutcome, DeliveryRequest } from '../core/journey-state.js';

/**
 * What became of one attempt to deliver a message:
 * sent (handed to the provider now), duplicate (already sent earlier: nothing sent again), skipped (no
 * email, no consent), deferred (handed back to the journey for a later send time), rejected (the provider
 * refused it for good), retried (provider or outage error, or the outcome of an attempt that was cut off
 * is not known yet: Temporal retries), waiting_for_profile (no
 * profile or email yet, retried shortly), error (anything else).
 */
export type DeliveryOutcomeLabel = 'sent' | 'duplicate' | 'skipped' | 'deferred' | 'rejected' | 'retried' | 'waiting_for_profile' | 'error';

export function outcomeOfResult(outcome: DeliveryOutcome): DeliveryOutcomeLabel {
  if (outcome.status === 'sent') return outcome.duplicate ? 'duplicate' : 'sent';
  if (outcome.status === 'failed') return 'rejected';
  return outcome.status;
}

export function outcomeOfError(err: unknown): DeliveryOutcomeLabel {
  if (!(err instanceof ApplicationFailure)) return 'error';
  switch (err.type) {
    case 'DeliveryRejected':
      return 'rejected';
    case 'DeliveryDeferred':
    case 'DeliveryOutcomeUnknown':
      return 'retried';
    case 'ProfileNotReady':
      return 'waiting_for_profile';
    default:
      return 'error';
  }
}

export type DeliveryMetrics = ReturnType<typeof createDeliveryMetrics>;

export function createDeliveryMetrics(registry: Registry) {
  const deliveries = new Counter({
    name: 'lifecycle_deliveries_total',
    help: 'Delivery attempts by outcome (sent, duplicate, skipped, deferred, rejected, retried, waiting_for_profile, error) and kind (transactional, marketing).',
    labelNames: ['outcome', 'kind'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'lifecycle_delivery_duration_seconds',
    help: 'Time one delivery attempt took (claim, render, send, record), by outcome.',
    labelNames: ['outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    observe(kind: string, outcome: DeliveryOutcomeLabel, seconds: number) {
      deliveries.inc({ outcome, kind });
      duration.observe({ outcome }, seconds);
    },
  };
}

/** The deliverMessage activity, counted: same arguments, same result, same failures. */
export function instrumentDelivery(
  deliver: (request: DeliveryRequest) => Promise<DeliveryOutcome>,
  metrics: DeliveryMetrics,
): (request: DeliveryRequest) => Promise<DeliveryOutcome> {
  return async function deliverMessage(request) {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const outcome = await deliver(request);
      metrics.observe(request.kind, outcomeOfResult(outcome), seconds());
      return outcome;
    } catch (err) {
      metrics.observe(request.kind, outcomeOfError(err), seconds());
      throw err;
    }
  };
}
