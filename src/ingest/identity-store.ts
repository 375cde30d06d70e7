import { Schema, type Connection, type Model } from 'mongoose';

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

/**
 * Which customer an anonymousId (or an alias's previousId) belongs to: read by the API to route a visitor's
 * later calls to the customer, and by a visitor's anonymousHistory workflow when it starts. The first link
 * wins: an id once joined to a customer is not moved to another.
 */
export class IdentityStore {
  readonly links: Model<LinkDoc>;
  constructor(connection: Connection) {
    this.links = (connection.models.IdentityLink as Model<LinkDoc> | undefined) ?? connection.model<LinkDoc>('IdentityLink', linkSchema);
  }

  async ensureIndexes(): Promise<void> {
    await this.links.createCollection().catch((err: { code?: number }) => {
      if (err.code !== 48) throw err; // NamespaceExists
    });
    await this.links.createIndexes();
  }

  async linkOf(anonymousId: string): Promise<{ userId: string; via: string } | undefined> {
    const doc = await this.links.findById(anonymousId).lean();
    return doc ? { userId: doc.userId, via: doc.via } : undefined;
  }

  async userFor(anonymousId: string): Promise<string | undefined> {
    return (await this.linkOf(anonymousId))?.userId;
  }

  /** Link the id to the customer; answers the customer it belongs to (another one when it was linked before). */
  async link(anonymousId: string, userId: string, via: string): Promise<string> {
    await this.links.updateOne({ _id: anonymousId }, { $setOnInsert: { userId, linkedAt: new Date(), via } }, { upsert: true });
    return (await this.userFor(anonymousId)) ?? userId;
  }

  async anonymousIdsOf(userId: string): Promise<string[]> {
    return (await this.links.find({ userId }).lean()).map((l) => l._id);
  }

  async erase(userId: string): Promise<number> {
    return (await this.links.deleteMany({ userId })).deletedCount;
  }
}
