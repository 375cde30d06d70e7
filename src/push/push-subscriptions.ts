import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Models, PushSubscriptionDoc } from '../db/models.js';
import { viaMongo } from '../http/errors.js';

const base64url = (bytes: number, what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, `${what} is base64url`)
    .refine((text) => Buffer.from(text, 'base64url').length === bytes, `${what} is ${bytes} bytes`);

/**
 * The browser's PushSubscription as `JSON.stringify(subscription)` gives it (the Push API): the push
 * service's endpoint and the keys the message is encrypted to (RFC 8291).
 */
export const PushSubscriptionBody = z.strictObject({
  endpoint: z.string().max(2_048),
  expirationTime: z.number().int().nonnegative().nullable().optional(),
  keys: z.strictObject({
    p256dh: base64url(65, 'keys.p256dh (the P-256 public key, uncompressed)').refine((text) => Buffer.from(text, 'base64url')[0] === 0x04, 'keys.p256dh is an uncompressed point (starts with 0x04)'),
    auth: base64url(16, 'keys.auth (the auth secret)'),
  }),
});
export type PushSubscriptionBody = z.infer<typeof PushSubscriptionBody>;

/** A subscription's id: a hash of its endpoint, so one endpoint is one record whoever registers it. */
export function pushSubscriptionId(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('base64url').slice(0, 22);
}

/** A subscription as the API shows it: never its keys. */
export interface PushSubscriptionView {
  id: string;
  endpoint: string;
  expirationTime: number | null;
  createdAt: string;
  updatedAt: string;
}

export function viewOf(doc: PushSubscriptionDoc): PushSubscriptionView {
  return {
    id: doc._id,
    endpoint: doc.endpoint,
    expirationTime: doc.expirationTime ?? null,
    createdAt: new Date(doc.createdAt).toISOString(),
    updatedAt: new Date(doc.updatedAt).toISOString(),
  };
}

/** The customers' push subscriptions in MongoDB (`push_subscriptions`), as the API and the push channel use them. */
export class PushSubscriptions {
  constructor(private readonly models: Models) {}

  /**
   * Register (or renew) a browser's subscription for a customer. The same endpoint again updates its keys
   * and owner (a shared device now signed in as someone else) and answers `created: false`.
   */
  async register(userId: string, body: PushSubscriptionBody): Promise<{ created: boolean; subscription: PushSubscriptionView }> {
    const { PushSubscription } = this.models;
    const id = pushSubscriptionId(body.endpoint);
    const set = { userId, endpoint: body.endpoint, keys: body.keys };
    const update = typeof body.expirationTime === 'number' ? { $set: { ...set, expirationTime: body.expirationTime } } : { $set: set, $unset: { expirationTime: 1 } };
    const before = await viaMongo(() => PushSubscription.findOneAndUpdate({ _id: id }, update, { upsert: true, returnDocument: 'before' }).lean<PushSubscriptionDoc>());
    const stored = await viaMongo(() => PushSubscription.findById(id).lean<PushSubscriptionDoc>());
    if (!stored) throw new Error(`push subscription ${id} vanished right after it was written`);
    return { created: before === null, subscription: viewOf(stored) };
  }

  async list(userId: string): Promise<PushSubscriptionDoc[]> {
    return viaMongo(() => this.models.PushSubscription.find({ userId }).sort({ createdAt: 1 }).lean<PushSubscriptionDoc[]>());
  }

  /** Remove one of the customer's subscriptions by id; false when the customer has none by that id. */
  async remove(userId: string, id: string): Promise<boolean> {
    const result = await viaMongo(() => this.models.PushSubscription.deleteOne({ _id: id, userId }));
    return result.deletedCount > 0;
  }
}
