import { Schema, type Connection, type Model } from 'mongoose';
import type { Sealed, SealedJson } from './sealed-json.js';

interface LinkDoc {
  _id: string;
  userId: string;
  linkedAt: Date;
  /** The call that linked them: identify or alias. */
  via: string;
}
const linkSchema = new Schema<LinkDoc>(
  { _id: String, userId: { type: String, required: true, index: true }, linkedAt: { type: Date, required: true }, via: String },
  { collection: 'identity_links', versionKey: false },
);

/** A visitor's call before they were identified, waiting to join the customer's journey. */
interface AnonymousEventDoc {
  _id: string;
  anonymousId: string;
  messageId: string;
  /** When it happened (corrected timestamp, else when it was received): the join applies them in this order. */
  at: Date;
  call: Sealed;
}
const anonymousEventSchema = new Schema<AnonymousEventDoc>(
  { _id: String, anonymousId: { type: String, required: true, index: true }, messageId: { type: String, required: true }, at: { type: Date, required: true }, call: { type: Schema.Types.Mixed, required: true } },
  { collection: 'anonymous_events', versionKey: false },
);

/**
 * Which customer an anonymousId (or an alias's previousId) belongs to, and the calls made under it before
 * that was known. The first link wins: an id once joined to a customer is not moved to another.
 */
export class IdentityStore {
  readonly links: Model<LinkDoc>;
  readonly events: Model<AnonymousEventDoc>;
  constructor(connection: Connection, private readonly sealed: SealedJson) {
    this.links = (connection.models.IdentityLink as Model<LinkDoc> | undefined) ?? connection.model<LinkDoc>('IdentityLink', linkSchema);
    this.events = (connection.models.AnonymousEvent as Model<AnonymousEventDoc> | undefined) ?? connection.model<AnonymousEventDoc>('AnonymousEvent', anonymousEventSchema);
  }

  async ensureIndexes(): Promise<void> {
    const exists = (err: { code?: number }) => {
      if (err.code !== 48) throw err; // NamespaceExists
    };
    await this.links.createCollection().catch(exists);
    await this.links.createIndexes();
    await this.events.createCollection().catch(exists);
    await this.events.createIndexes();
  }

  async userFor(anonymousId: string): Promise<string | undefined> {
    return (await this.links.findById(anonymousId).lean())?.userId;
  }

  /** Link the id to the customer; answers the customer it belongs to (another one when it was linked before). */
  async link(anonymousId: string, userId: string, via: string): Promise<string> {
    await this.links.updateOne({ _id: anonymousId }, { $setOnInsert: { userId, linkedAt: new Date(), via } }, { upsert: true });
    return (await this.userFor(anonymousId)) ?? userId;
  }

  async keep<T extends { messageId: string }>(anonymousId: string, at: Date, call: T): Promise<void> {
    const sealed = await this.sealed.seal(call);
    await this.events.updateOne(
      { _id: `${anonymousId}\n${call.messageId}` },
      { $setOnInsert: { anonymousId, messageId: call.messageId, at, call: sealed } },
      { upsert: true },
    );
  }

  /** The calls kept for these ids, oldest first. */
  async waiting<T>(anonymousId: string): Promise<Array<{ id: string; call: T }>> {
    const docs = await this.events.find({ anonymousId }).sort({ at: 1, _id: 1 }).lean();
    return Promise.all(docs.map(async (d) => ({ id: d._id, call: await this.sealed.open<T>(d.call) })));
  }

  async applied(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.events.deleteMany({ _id: { $in: ids } });
  }

  async anonymousIdsOf(userId: string): Promise<string[]> {
    return (await this.links.find({ userId }).lean()).map((l) => l._id);
  }

  async erase(userId: string): Promise<{ anonymousIds: string[]; identityLinks: number; anonymousEvents: number }> {
    const anonymousIds = await this.anonymousIdsOf(userId);
    const [events, links] = await Promise.all([
      anonymousIds.length ? this.events.deleteMany({ anonymousId: { $in: anonymousIds } }) : Promise.resolve({ deletedCount: 0 }),
      this.links.deleteMany({ userId }),
    ]);
    return { anonymousIds, identityLinks: links.deletedCount, anonymousEvents: events.deletedCount };
  }
}
