import { Schema, type Connection, type Model } from 'mongoose';

/**
 * Sign-outs every API instance honours: a signed session token is valid on its own, so signing out records
 * the sign-in's id here until the token would have expired anyway, and each request with a session asks.
 */
export interface SessionRevocations {
  revoke(sessionId: string, until: Date): Promise<void>;
  isRevoked(sessionId: string): Promise<boolean>;
}

interface RevokedSessionDoc {
  _id: string;
  until: Date;
}

const revokedSessionSchema = new Schema<RevokedSessionDoc>({ _id: String, until: { type: Date, required: true } }, { versionKey: false });

/** In MongoDB, shared by every API instance. FerretDB 1.x has no TTL index: a sign-out clears the expired ones. */
export class RevokedSessions implements SessionRevocations {
  private readonly model: Model<RevokedSessionDoc>;

  constructor(connection: Connection) {
    this.model = (connection.models.RevokedSession as Model<RevokedSessionDoc> | undefined) ?? connection.model<RevokedSessionDoc>('RevokedSession', revokedSessionSchema, 'revoked_sessions');
  }

  async revoke(sessionId: string, until: Date): Promise<void> {
    await this.model.updateOne({ _id: sessionId }, { $setOnInsert: { until } }, { upsert: true });
    await this.model.deleteMany({ until: { $lt: new Date() } });
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.model.exists({ _id: sessionId })) !== null;
  }
}
