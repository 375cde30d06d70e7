import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { emailEventMatters } from '../core/email-events.js';
import { parseDeliveryKey } from '../core/ids.js';
import { localHourOf } from '../timing/send-time.js';
import type { EmailEvent, EmailEventType } from '../core/journey-state.js';
import type { EmailEventDoc, Models } from '../db/models.js';
import { markDeliveryEvent, signalJourney } from '../delivery/delivery-events.js';
import { emailEventSignal } from '../temporal/contract.js';
import { viaMongo } from '../http/errors.js';

/**
 * One event of a SendGrid Event Webhook batch, as far as we read it. SendGrid adds fields over time (and
 * our `custom_args` arrive as top-level fields), so everything else is allowed and left alone: the
 * address, URL, IP, user agent and bounce text are never read.
 */
export const SendgridEvent = z.looseObject({
  /** Printable ASCII: SendGrid's ids are base64-like; anything else is not one of its events. */
  sg_event_id: z.string().regex(/^[\x21-\x7e]{1,200}$/),
  event: z.string(),
  /** Unix seconds. */
  timestamp: z.number().int().min(0).max(32_503_680_000),
  /** bounce: `bounce` (hard) or `blocked` (soft). */
  type: z.string().optional(),
  /** open: an open by a mail client's privacy proxy (Apple Mail Privacy Protection). */
  sg_machine_open: z.boolean().optional(),
  /** Our custom arg: the delivery key of the message (`customer-<userId>/<campaignId>/<occurrence>`). */
  delivery_key: z.string().max(600).optional(),
});
export type SendgridEvent = z.infer<typeof SendgridEvent>;

const PLAIN_TYPES: ReadonlySet<string> = new Set(['processed', 'delivered', 'deferred', 'dropped', 'spamreport', 'unsubscribe', 'group_unsubscribe', 'open', 'click']);

/** SendGrid's event name (and bounce type) as our EmailEventType; undefined for events we do not handle (group_resubscribe, account events). */
export function emailEventType(event: Pick<SendgridEvent, 'event' | 'type'>): EmailEventType | undefined {
  if (event.event === 'bounce') return event.type === 'blocked' ? 'blocked' : 'bounce';
  return PLAIN_TYPES.has(event.event) ? (event.event as EmailEventType) : undefined;
}

/** A batch event we can match to a message: what the journey is told, and whose journey it is. */
export interface MatchedEvent {
  event: EmailEvent;
  userId: string;
}

/**
 * Read one item of a batch: the EmailEvent it becomes (without localHour, which needs the profile), or
 * why it is ignored. Pure.
 */
export function readSendgridEvent(item: unknown): { matched: MatchedEvent } | { ignored: 'invalid' | 'unhandled' | 'no delivery key' | 'malformed delivery key' } {
  const parsed = SendgridEvent.safeParse(item);
  if (!parsed.success) return { ignored: 'invalid' };
  const raw = parsed.data;
  const type = emailEventType(raw);
  if (!type) return { ignored: 'unhandled' };
  if (raw.delivery_key === undefined) return { ignored: 'no delivery key' };
  const key = parseDeliveryKey(raw.delivery_key);
  if (!key) return { ignored: 'malformed delivery key' };
  return {
    matched: {
      userId: key.userId,
      event: {
        id: raw.sg_event_id,
        type,
        deliveryKey: raw.delivery_key,
        at: raw.timestamp * 1000,
        ...(type === 'open' && raw.sg_machine_open !== undefined ? { machine: raw.sg_machine_open } : {}),
      },
    },
  };
}

/** What a batch came to; `received` is the sum of the others. */
export interface EmailEventCounts {
  received: number;
  /** Newly applied: stored, on the delivery record, and (but processed and deferred) in the journey. */
  applied: number;
  /** Applied before (SendGrid sent the batch again), or twice in this batch. */
  duplicates: number;
  /** Not ours or not readable: no or an unknown delivery key, an event kind we do not handle, a malformed event. */
  ignored: number;
  /** For a message whose journey no longer runs: stored, not signalled. */
  orphaned: number;
}

/** Takes a verified batch; the HTTP route depends on this, so tests can hand it another. */
export interface EmailEventSink {
  apply(items: unknown[]): Promise<EmailEventCounts>;
}

export interface SendgridEventsDeps {
  client: Client;
  models: Models;
  logger: Logger;
  upstreamTimeoutMs: number;
  /** Customers whose events are applied at once (each customer's in order); 8 by default. */
  concurrency?: number;
  /**
   * The zone of customers whose profile has none (or an invalid one): the definition's `timing.defaultTimezone`,
   * as send-time decisions use it, so the hour learned is the hour messages are timed in. UTC when left out.
   */
  defaultTimezone?: string;
}

type Outcome = 'applied' | 'duplicates' | 'ignored' | 'orphaned';

/**
 * Applies SendGrid Event Webhook batches: each event once, keyed by `sg_event_id` in `email_events`,
 * marked on its delivery record, and told to the customer's journey as an `emailEvent` signal (ids and
 * types only). A MongoDB or Temporal outage throws UpstreamUnavailable (503, SendGrid sends the batch
 * again); an event stored but not yet signalled is signalled on that retry, so nothing is lost.
 */
export class SendgridEvents implements EmailEventSink {
  constructor(private readonly deps: SendgridEventsDeps) {}

  async apply(items: unknown[]): Promise<EmailEventCounts> {
    const counts: EmailEventCounts = { received: items.length, applied: 0, duplicates: 0, ignored: 0, orphaned: 0 };
    const seen = new Set<string>();
    const byCustomer = new Map<string, MatchedEvent[]>();
    for (const item of items) {
      const read = readSendgridEvent(item);
      if ('ignored' in read) {
        counts.ignored += 1;
        continue;
      }
      if (seen.has(read.matched.event.id)) {
        counts.duplicates += 1;
        continue;
      }
      seen.add(read.matched.event.id);
      const list = byCustomer.get(read.matched.userId) ?? [];
      list.push(read.matched);
      byCustomer.set(read.matched.userId, list);
    }

    // Each customer's events in the order they happened, customers side by side (a bounded few at once).
    const queues = [...byCustomer.values()].map((events) => [...events].sort((a, b) => a.event.at - b.event.at));
    let failure: unknown;
    const worker = async () => {
      for (let events = queues.shift(); events && failure === undefined; events = queues.shift()) {
        const zone = this.zoneOf(events[0]!.userId);
        for (const matched of events) {
          if (failure !== undefined) return;
          try {
            counts[await this.applyOne(matched, zone)] += 1;
          } catch (err) {
            failure ??= err;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.concurrency ?? 8, queues.length) }, worker));
    if (failure !== undefined) throw failure;
    this.deps.logger.info({ sendgridEvents: counts }, 'sendgrid events applied');
    return counts;
  }

  /** The hour in the customer's zone, else the definition's default zone, else UTC (as send-time decisions choose it). */
  private localHour(at: number, zone: string | null): number | undefined {
    return localHourOf(at, zone) ?? localHourOf(at, this.deps.defaultTimezone) ?? localHourOf(at, 'UTC');
  }

  /** The customer's profile time zone, read once per batch and only when an open or click needs it. */
  private zoneOf(userId: string): () => Promise<string | null> {
    let zone: Promise<string | null> | undefined;
    return () => (zone ??= viaMongo(() => this.deps.models.Customer.findById(userId, { timezone: 1 }).lean()).then((p) => p?.timezone ?? null));
  }

  private async applyOne({ event, userId }: MatchedEvent, zone: () => Promise<string | null>): Promise<Outcome> {
    const { EmailEvent, Delivery } = this.deps.models;
    const found = await viaMongo(() => EmailEvent.findById(event.id).lean<EmailEventDoc>());
    if (found && found.status !== 'received') return 'duplicates';
    let stored: EmailEventDoc;
    if (found) stored = found;
    else {
      // Only messages we sent: a key without its delivery record (another environment's, or an erased customer's) is not ours.
      const delivery = await viaMongo(() => Delivery.findById(event.deliveryKey, { userId: 1 }).lean());
      if (!delivery || delivery.userId !== userId) return 'ignored';
      const localHour = event.type === 'open' || event.type === 'click' ? this.localHour(event.at, await zone()) : undefined;
      const doc: EmailEventDoc = {
        _id: event.id,
        userId,
        deliveryKey: event.deliveryKey,
        type: event.type,
        at: new Date(event.at),
        ...(localHour !== undefined ? { localHour } : {}),
        ...(event.machine !== undefined ? { machine: event.machine } : {}),
        // What cannot change a journey (processed, deferred: SendGrid still trying; a privacy proxy's open) is
        // kept here and on the delivery record, but costs no signal in the customer's history.
        status: emailEventMatters(event) ? 'received' : 'recorded',
        receivedAt: new Date(),
      };
      try {
        await viaMongo(() => EmailEvent.create(doc));
        stored = doc;
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
        // Another request stored it meanwhile: that one applies it (or SendGrid's retry of it does).
        return 'duplicates';
      }
    }
    await markDeliveryEvent(this.deps.models, stored);
    if (stored.status === 'recorded') return 'applied';

    const signalled: EmailEvent = {
      id: stored._id,
      type: stored.type,
      deliveryKey: stored.deliveryKey,
      at: new Date(stored.at).getTime(),
      ...(stored.localHour !== undefined && stored.localHour !== null ? { localHour: stored.localHour } : {}),
      ...(stored.machine !== undefined && stored.machine !== null ? { machine: stored.machine } : {}),
    };
    const status = await signalJourney(this.deps.client, this.deps.upstreamTimeoutMs, userId, emailEventSignal, signalled);
    await viaMongo(() => EmailEvent.updateOne({ _id: stored._id }, { $set: { status, ...(status === 'signalled' ? { signalledAt: new Date() } : {}) } }));
    return status === 'signalled' ? 'applied' : 'orphaned';
  }
}
