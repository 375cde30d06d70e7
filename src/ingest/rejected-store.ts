import { createHash } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import type { SealedJson, Sealed } from './sealed-json.js';

/** An item the API could not apply, kept so that nothing a client counts as delivered is lost unseen. */
export interface RejectedDoc {
  _id: string;
  receivedAt: Date;
  /** The key that sent it (its id, as in the audit: the first 8 hex of its SHA-256). */
  keyId: string;
  route: string;
  type: string;
  /** Short and bounded (a metric label): `<field>:<problem>`, or `anonymous`. */
  reason: string;
  issues: Array<{ path: string; message: string; code: string }>;
  /** Ids only, for erasure and for finding it again; the body itself is sealed. */
  userId?: string;
  anonymousId?: string;
  messageId?: string;
  body: Sealed;
  replayedAt?: Date;
  replayedBy?: string;
}

const rejectedSchema = new Schema<RejectedDoc>(
  {
    _id: String,
    receivedAt: { type: Date, required: true, index: true },
    keyId: { type: String, required: true },
    route: { type: String, required: true },
    type: { type: String, required: true },
    reason: { type: String, required: true },
    issues: { type: Schema.Types.Mixed, default: [] },
    userId: { type: String, index: true },
    anonymousId: { type: String, index: true },
    messageId: String,
    body: { type: Schema.Types.Mixed, required: true },
    replayedAt: Date,
    replayedBy: String,
  },
  { collection: 'rejected_calls', versionKey: false },
);

export interface RejectedItem {
  id: string;
  receivedAt: string;
  keyId: string;
  route: string;
  type: string;
  reason: string;
  issues: RejectedDoc['issues'];
  userId: string | null;
  anonymousId: string | null;
  messageId: string | null;
  replayedAt: string | null;
}

export interface RejectedStoreOptions {
  sealed: SealedJson;
  retentionDays: number;
  now?: () => Date;
}

/** How often at most the store deletes items past retention (on a write or a read, no timer). */
const PRUNE_EVERY_MS = 60_000;

/**
 * The rejected store: refused batch items with their original body (encrypted as journeys' payloads are),
 * the reason, the key and the time; listed newest first, replayed once, kept `retentionDays`, erased with
 * the customer. A retried batch refuses the same item again: it is kept once (its id is derived from the
 * key and the body).
 */
export class RejectedStore {
  readonly model: Model<RejectedDoc>;
  private lastPrune = 0;
  constructor(connection: Connection, private readonly opts: RejectedStoreOptions) {
    this.model = (connection.models.RejectedCall as Model<RejectedDoc> | undefined) ?? connection.model<RejectedDoc>('RejectedCall', rejectedSchema);
  }

  private now() {
    return this.opts.now?.() ?? new Date();
  }

  async ensureIndexes(): Promise<void> {
    await this.model.createCollection().catch((err: { code?: number }) => {
      if (err.code !== 48) throw err;
    });
    await this.model.createIndexes();
  }

  static idOf(keyId: string, fingerprint: string): string {
    return createHash('sha256').update(`${keyId}\n${fingerprint}`).digest('base64url').slice(0, 24);
  }

  async record(item: Omit<RejectedDoc, '_id' | 'receivedAt' | 'body'> & { body: unknown; fingerprint: string }): Promise<string> {
    const { body, fingerprint, ...rest } = item;
    const id = RejectedStore.idOf(item.keyId, fingerprint);
    const sealed = await this.opts.sealed.seal(body);
    await this.model.updateOne({ _id: id }, { $setOnInsert: { ...rest, body: sealed, receivedAt: this.now() } }, { upsert: true });
    await this.prune();
    return id;
  }

  private async prune(): Promise<void> {
    const now = this.now().getTime();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    await this.model.deleteMany({ receivedAt: { $lt: new Date(now - this.opts.retentionDays * 86_400_000) } });
  }

  /** Newest first; `before` is the cursor of the previous page (receivedAt and id of its last item). */
  async list(query: { limit: number; before?: { at: Date; id: string }; reason?: string; userId?: string; anonymousId?: string }): Promise<{ items: RejectedItem[]; next?: { at: Date; id: string } }> {
    await this.prune();
    const filter: Record<string, unknown> = {};
    if (query.reason) filter.reason = query.reason;
    if (query.userId) filter.userId = query.userId;
    if (query.anonymousId) filter.anonymousId = query.anonymousId;
    if (query.before) filter.$or = [{ receivedAt: { $lt: query.before.at } }, { receivedAt: query.before.at, _id: { $lt: query.before.id } }];
    const docs = await this.model.find(filter).sort({ receivedAt: -1, _id: -1 }).limit(query.limit + 1).lean();
    const page = docs.slice(0, query.limit);
    const last = page[page.length - 1];
    return { items: page.map(toItem), ...(docs.length > query.limit && last ? { next: { at: new Date(last.receivedAt), id: last._id } } : {}) };
  }

  async get(id: string): Promise<(RejectedItem & { body: unknown }) | undefined> {
    const doc = await this.model.findById(id).lean();
    if (!doc) return undefined;
    return { ...toItem(doc), body: await this.opts.sealed.open(doc.body) };
  }

  /** Claim an item for replay: only one caller wins; undefined when it was replayed (or is being) already. */
  async claim(id: string, by: string): Promise<boolean> {
    const res = await this.model.updateOne({ _id: id, replayedAt: { $exists: false } }, { $set: { replayedAt: this.now(), replayedBy: by } });
    return res.modifiedCount === 1;
  }

  /** A replay that could not be applied (refused again, or an outage): the item may be replayed later. */
  async release(id: string): Promise<void> {
    await this.model.updateOne({ _id: id }, { $unset: { replayedAt: '', replayedBy: '' } });
  }

  /** Refusals of the last `hours` hours, and the most frequent reasons (for the dashboard). */
  async summary(hours = 24, top = 5): Promise<{ since: string; count: number; topReasons: Array<{ reason: string; count: number }> }> {
    const since = new Date(this.now().getTime() - hours * 3_600_000);
    const docs = await this.model.find({ receivedAt: { $gte: since } }, { reason: 1 }).lean();
    const byReason = new Map<string, number>();
    for (const d of docs) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1);
    const topReasons = [...byReason].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)).slice(0, top);
    return { since: since.toISOString(), count: docs.length, topReasons };
  }

  async erase(ids: { userId: string; anonymousIds: string[] }): Promise<number> {
    const res = await this.model.deleteMany({ $or: [{ userId: ids.userId }, ...(ids.anonymousIds.length ? [{ anonymousId: { $in: ids.anonymousIds } }] : [])] });
    return res.deletedCount;
  }
}

function toItem(doc: RejectedDoc): RejectedItem {
  return {
    id: doc._id,
    receivedAt: new Date(doc.receivedAt).toISOString(),
    keyId: doc.keyId,
    route: doc.route,
    type: doc.type,
    reason: doc.reason,
    issues: doc.issues ?? [],
    userId: doc.userId ?? null,
    anonymousId: doc.anonymousId ?? null,
    messageId: doc.messageId ?? null,
    replayedAt: doc.replayedAt ? new Date(doc.replayedAt).toISOString() : null,
  };
}
