import type { ChannelId } from '../core/channel-ids.js';
import type { JourneyDefinition, Timing } from '../core/journey-definition.js';
import type { DeliveryProvider, DeliveryRequest } from '../core/journey-state.js';
import type { CustomerDoc, DeliveryDoc } from '../db/models.js';

/**
 * The channel seam. A channel is one module in this folder that implements `ChannelSpec` and is listed once
 * in ./registry.ts; the delivery activity (activities/journey-activities.ts `deliverMessage`) does the rest
 * for every channel alike: it claims the delivery key, asks the channel for the customer's address, asks
 * the consent hook (./consent.ts) whether this message may go, applies the campaign's timing, has the
 * channel render and send, and records what the channel made of the provider's answer.
 *
 * Provider feedback (delivery receipts, bounces, opens, replies such as STOP) reaches the journey as
 * `ChannelFeedback` through ./feedback.ts.
 */

/** The customer's profile as the seam reads it (MongoDB `customers`), with whatever else a channel keeps there. */
export type ChannelProfile = CustomerDoc & Record<string, unknown>;

/** Where the customer is reached on this channel, or why not. */
export type Reach<A> =
  | { kind: 'reachable'; address: A }
  | {
      kind: 'unreachable';
      /** Told on the message: "no email address on the profile", "no push subscription", "replied STOP". */
      reason: string;
      /** The address may still come with an identify on its way: the activity waits a few attempts before skipping. */
      mayArrive: boolean;
    };

/** What one send came to, as the channel reads its provider's answer. */
export type SendAnswer =
  | { kind: 'sent'; provider: DeliveryProvider; providerMessageId?: string }
  | {
      kind: 'retry';
      reason: string;
      status?: number;
      /** When the provider said (429 Retry-After, rate-limit reset). */
      afterMs?: number;
      /**
       * 'not-sent': the provider answered with an error, or was never reached, so it does not have the
       * message. 'unknown': it may have it (a timeout, a dropped connection): a retry looks first where the
       * channel can (`recoverCutOff`).
       */
      reached: 'not-sent' | 'unknown';
    }
  /** The message itself is refused (a bad address, a 4xx that retrying cannot change): failed for good. */
  | { kind: 'failed'; reason: string; status?: number }
  /**
   * Nothing went out because the address turned out not to exist when the provider was asked (every push
   * subscription gone): as if `address` had said so, the seam tries the campaign's next channel, else skips.
   */
  | { kind: 'unreachable'; reason: string };

/** A provider's error that a later attempt may get past, as the seam's answer (its Retry-After kept). */
export function retryAnswer(err: { message: string; outcome: 'not-sent' | 'unknown'; status?: number | undefined; retryAfterMs?: number | undefined }): SendAnswer {
  return {
    kind: 'retry',
    reason: err.message,
    reached: err.outcome,
    ...(err.status !== undefined ? { status: err.status } : {}),
    ...(err.retryAfterMs !== undefined ? { afterMs: err.retryAfterMs } : {}),
  };
}

/** What a retry learns about an attempt that was cut off after it went to the provider. */
export type Recovery =
  | { kind: 'sent'; providerMessageId?: string; via: NonNullable<DeliveryDoc['recoveredVia']> }
  | { kind: 'wait'; ms: number; reason: string }
  | { kind: 'resend'; reason: string };

/** What the seam hands a channel for one message. */
export interface SendContext<A> {
  request: DeliveryRequest;
  profile: ChannelProfile;
  address: A;
  /** The definition version the request names, with its templates. */
  definition: JourneyDefinition;
  now: Date;
}

/** A rendered message: its locale (recorded on the delivery) and the channel's own form of it. */
export interface Rendered<M> {
  locale: string;
  message: M;
}

/**
 * What a channel module writes. `A` is the channel's address (an email address, a phone number, push
 * subscriptions), `M` its rendered message.
 */
export interface ChannelSpec<A, M> {
  readonly id: ChannelId;
  /**
   * The provider and endpoint recorded on the delivery before the send (and told in a duplicate's outcome):
   * what a retry and an operator see while the outcome is not known.
   */
  target(request: DeliveryRequest): { provider: DeliveryProvider; endpoint?: string };
  /** The customer's address on this channel from the profile (or the channel's own store), or why there is none. */
  address(profile: ChannelProfile, request: DeliveryRequest): Reach<A> | Promise<Reach<A>>;
  /** Render the request's template for this customer in this channel's form (src/delivery/render-message.ts renders Liquid). */
  render(ctx: SendContext<A>): Promise<Rendered<M>>;
  /**
   * Send once, idempotently under `ctx.request.key` where the provider allows (an Idempotency-Key, the key
   * as the message id), and read the provider's answer. Throw only for what is not the provider's answer
   * (a bug): that is retried as it is.
   */
  send(message: M, ctx: SendContext<A>): Promise<SendAnswer>;
  /**
   * Before a resend of a message whose last attempt went to the provider and never came back: look whether
   * the provider has it. Without it, such a message is sent again (which the key makes harmless where the
   * provider deduplicates by it).
   */
  recoverCutOff?(delivery: Pick<DeliveryDoc, '_id' | 'provider' | 'sendingAt' | 'events'> & { sendingAt: Date }): Promise<Recovery>;
  /**
   * When in the customer's day a message on this channel may go, if the channel has rules of its own (SMS:
   * quiet hours always, whatever the campaign asks). Without it, the request's timing (the campaign's) applies.
   */
  timing?(request: DeliveryRequest, definition: JourneyDefinition): Timing | undefined;
}

/** A registered channel, as the seam holds it (the address and message types stay inside the channel). */
export type Channel = ChannelSpec<unknown, unknown>;

/**
 * Register a channel's implementation. The seam only ever hands a channel what that same channel made
 * (its address to its render, its render to its send), so its types need not be visible outside it.
 */
export function defineChannel<A, M>(spec: ChannelSpec<A, M>): Channel {
  return spec as unknown as Channel;
}
