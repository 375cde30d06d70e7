import mongoose, { Schema, type Connection } from 'mongoose';
import type { JourneyFact } from '../core/journey-facts.js';
import type { FeedbackType } from '../core/channel-feedback.js';
import type { ChannelId } from '../core/channel-ids.js';
import type { DeliveryProvider, EmailEventType } from '../core/journey-state.js';

/**
 * The customer profile: what identify calls write and what activities read at send time.
 * `_id` is the customer's userId. Personal data lives here, not in workflow histories.
 */
export interface CustomerDoc {
  _id: string;
  email?: string;
  name?: string;
  firstName?: string;
  lastName?: string;
  locale?: string;
  timezone?: string;
  /** false when the customer has not consented to marketing messages. */
  marketingConsent?: boolean;
  unsubscribedAt?: Date;
  /**
   * The customer's own choices for marketing (src/core/preferences.ts): per topic and per channel, and all
   * marketing; what is not named is on. `preferencesUpdatedAt` is when they last changed.
   */
  preferences?: { marketing?: boolean; topics?: Record<string, boolean>; channels?: Record<string, boolean> };
  preferencesUpdatedAt?: Date;
  /**
   * When the customer replied STOP to our text messages (or Twilio said the number did): no SMS of any kind
   * goes to them, as carriers require, until they reply START. Not a preference a backend can turn back on.
   */
  smsStoppedAt?: Date;
  traits: Record<string, unknown>;
  /** Computed by the journey (definition `computedTraits`), as of `computedAt`; segments filter on `computed.<id>`. */
  computed?: Record<string, unknown>;
  computedAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

export type DeliveryStatus = 'sending' | 'sent' | 'failed' | 'skipped';

/** One claimed delivery; `_id` is the deterministic delivery key, so a claim is a unique insert. */
export interface DeliveryDoc {
  _id: string;
  userId: string;
  campaignId: string;
  occurrence: number;
  kind: 'transactional' | 'marketing';
  template: string;
  definitionVersion: string;
  status: DeliveryStatus;
  provider?: DeliveryProvider;
  /** The channel it went on (a retry keeps to the one an earlier attempt chose among the campaign's fallbacks). */
  channel?: ChannelId;
  /** For a webhook message: the endpoint's name (WEBHOOK_ENDPOINTS). */
  endpoint?: string;
  providerMessageId?: string;
  locale?: string;
  attempts: number;
  error?: string;
  createdAt: Date;
  updatedAt: Date;
  sentAt?: Date;
  /**
   * When the latest attempt went to the provider. Set while `sending` means that attempt's outcome is
   * unknown (cut off before it came back): a retry looks at SendGrid before sending again.
   */
  sendingAt?: Date;
  /** Sent by an attempt that was cut off, and found at SendGrid by the retry (so not sent again): where. */
  recoveredVia?: 'activity-feed' | 'event-webhook' | 'message-list';
  /** For a text message: a digest of its body, to know it among the number's messages at Twilio after a cut-off attempt. */
  contentDigest?: string;
  /** The latest SendGrid event for this message (Event Webhook), by the time SendGrid reported it. */
  lastEvent?: EmailEventType | FeedbackType;
  lastEventAt?: Date;
  /** Every kind of SendGrid event seen for this message. */
  events?: Array<EmailEventType | FeedbackType>;
}

/** Messages "sent" without a SendGrid key: the local outbox, readable through the API. */
export interface OutboxDoc {
  _id: string;
  userId: string;
  campaignId: string;
  to: string;
  from: string;
  subject: string;
  html: string;
  text?: string;
  locale: string;
  customArgs: Record<string, string>;
  /** The message's own headers, as they would go to SendGrid (List-Unsubscribe, List-Unsubscribe-Post). */
  headers?: Record<string, string>;
  createdAt: Date;
}

export interface DefinitionDoc {
  _id: string;
  definitionId: string;
  version: string;
  /** The definition as authored, as JSON text: segment filters hold `$` operators, which MongoDB refuses as field names. */
  json: string;
  createdAt: Date;
}

/** One publication of a definition version: who made it live, when, why, and which version it replaced. */
export interface DefinitionPublicationDoc {
  _id: string;
  definitionId: string;
  version: string;
  /** The version that was live before (null for the first). */
  from: string | null;
  kind: 'seed' | 'publish' | 'rollback';
  /** The API key id that published, or `DEFINITION_FILE` for a version seeded from the file at start. */
  by: string;
  note: string;
  at: Date;
}

/** The version new journeys start on and running ones move to at their next continue-as-new (`_id` = definition id). */
export interface DefinitionLiveDoc {
  _id: string;
  version: string;
  publicationId: string;
  since: Date;
}

/**
 * The read model: each customer's current journey (a JourneySnapshot, `_id` = userId), replaced when a
 * snapshot with a higher `seq` arrives. Times are stored as Dates.
 */
export interface JourneyDoc {
  _id: string;
  seq: number;
  definitionVersion: string;
  stage: string;
  stageEnteredAt: Date;
  plan: string | null;
  segments: string[];
  counters: Record<string, number>;
  payments: number;
  everLoyal: boolean;
  reactivations: number;
  lastActivityAt: Date | null;
  startedAt: Date;
}

/**
 * One SendGrid Event Webhook event (`_id` = its `sg_event_id`), stored so a batch SendGrid sends again is
 * applied once and what happened to each event can be told. Ids and types only: no address, URL, IP, user
 * agent or bounce text. `received` until the journey has it; `signalled` once it has; `orphaned` when the
 * message's journey no longer runs; `recorded` for the kinds the journey is not told (processed, deferred).
 */
export interface EmailEventDoc {
  _id: string;
  userId: string;
  deliveryKey: string;
  type: EmailEventType;
  /** When SendGrid says it happened. */
  at: Date;
  localHour?: number;
  machine?: boolean;
  status: 'received' | 'signalled' | 'orphaned' | 'recorded';
  receivedAt: Date;
  signalledAt?: Date;
}

/** A provider's report about a message on a channel other than email (src/channels/feedback.ts), kept once by `_id` = `<channel>:<provider's event id>`. */
export interface ChannelEventDoc {
  _id: string;
  channel: ChannelId;
  userId: string;
  deliveryKey: string;
  type: FeedbackType;
  at: Date;
  localHour?: number;
  /** received: stored, not yet told to the journey; recorded: nothing the journey needs; signalled; orphaned: no journey to tell. */
  status: 'received' | 'signalled' | 'orphaned' | 'recorded';
  receivedAt: Date;
  signalledAt?: Date;
}

/**
 * One message in a customer's in-app inbox (src/channels/inapp.ts writes it, src/inbox/ reads it for the
 * app). `_id` is the delivery key, so a resend after a crash is the same entry. Its state (unread, seen,
 * clicked, dismissed, expired) follows from the times set once each (src/core/inbox-states.ts), so two
 * taps at once cannot leave it in a state neither meant. Expiry is worked out on read (`expiresAt`) and
 * marked by a sweep: FerretDB 1.x has no TTL index.
 */
export interface InboxEntryDoc {
  _id: string;
  userId: string;
  campaignId: string;
  kind: 'transactional' | 'marketing';
  locale: string;
  title: string;
  body: string;
  url?: string;
  createdAt: Date;
  expiresAt: Date;
  seenAt?: Date;
  clickedAt?: Date;
  dismissedAt?: Date;
  expiredAt?: Date;
}

/**
 * A browser's web push subscription (the PushSubscription JSON its app registered through the API), `_id` =
 * a hash of the endpoint, so registering the same endpoint again is the same record. The push service
 * forgets a subscription with 404/410; the push channel then deletes it here.
 */
export interface PushSubscriptionDoc {
  _id: string;
  userId: string;
  endpoint: string;
  /** The browser's P-256 public key (uncompressed point) and auth secret, base64url (RFC 8291). */
  keys: { p256dh: string; auth: string };
  /** When the browser says the subscription ends (ms since the epoch), if it says. */
  expirationTime?: number;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * What became of one push message at one subscription (`_id` = `<delivery key>|<subscription id>`): a retry
 * of a message that reached some of a customer's devices sends only to the others. `sending` while the
 * attempt's answer is not known (a worker killed meanwhile leaves it so).
 */
export interface PushSendDoc {
  _id: string;
  userId: string;
  deliveryKey: string;
  subscriptionId: string;
  status: 'sending' | 'sent' | 'gone' | 'failed';
  attempts: number;
  /** The push service's message URI (its 201 answer's Location). */
  location?: string;
  error?: string;
  at: Date;
}

type FactFields<F> = F extends { id: string; at: number } ? Omit<F, 'id' | 'at'> & { _id: string; at: Date } : never;
/** One JourneyFact, written once: `_id` is the fact's deterministic id, `at` a Date. */
export type JourneyFactDoc = FactFields<JourneyFact>;

const customerSchema = new Schema<CustomerDoc>(
  {
    _id: { type: String, required: true },
    email: String,
    name: String,
    firstName: String,
    lastName: String,
    locale: String,
    timezone: String,
    marketingConsent: Boolean,
    unsubscribedAt: Date,
    preferences: { type: Schema.Types.Mixed, default: undefined },
    preferencesUpdatedAt: Date,
    smsStoppedAt: Date,
    traits: { type: Schema.Types.Mixed, default: {} },
  },
  { collection: 'customers', timestamps: true, minimize: false, versionKey: false },
);

// An inbound text message (a STOP) finds its customers by number.
customerSchema.index({ 'traits.phone': 1 });

const deliverySchema = new Schema<DeliveryDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    campaignId: { type: String, required: true },
    occurrence: { type: Number, required: true },
    kind: { type: String, required: true },
    template: { type: String, required: true },
    definitionVersion: { type: String, required: true },
    status: { type: String, required: true },
    provider: String,
    channel: String,
    endpoint: String,
    providerMessageId: String,
    locale: String,
    attempts: { type: Number, default: 0 },
    error: String,
    sentAt: Date,
    sendingAt: Date,
    recoveredVia: String,
    contentDigest: String,
    lastEvent: String,
    lastEventAt: Date,
    events: { type: [String], default: undefined },
  },
  { collection: 'deliveries', timestamps: true, versionKey: false },
);
deliverySchema.index({ campaignId: 1, status: 1 });

const outboxSchema = new Schema<OutboxDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    campaignId: { type: String, required: true },
    to: { type: String, required: true },
    from: { type: String, required: true },
    subject: { type: String, required: true },
    html: { type: String, required: true },
    text: String,
    locale: String,
    customArgs: { type: Schema.Types.Mixed, default: {} },
    headers: { type: Schema.Types.Mixed, default: undefined },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'outbox', versionKey: false },
);
outboxSchema.index({ createdAt: -1 });

const definitionSchema = new Schema<DefinitionDoc>(
  {
    _id: { type: String, required: true },
    definitionId: { type: String, required: true, index: true },
    version: { type: String, required: true },
    json: { type: String, required: true },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'definitions', versionKey: false, minimize: false },
);

const definitionPublicationSchema = new Schema<DefinitionPublicationDoc>(
  {
    _id: { type: String, required: true },
    definitionId: { type: String, required: true },
    version: { type: String, required: true },
    from: { type: String, default: null },
    kind: { type: String, required: true },
    by: { type: String, required: true },
    note: { type: String, default: '' },
    at: { type: Date, required: true },
  },
  { collection: 'definition_publications', versionKey: false },
);
definitionPublicationSchema.index({ definitionId: 1, at: -1 });

const definitionLiveSchema = new Schema<DefinitionLiveDoc>(
  {
    _id: { type: String, required: true },
    version: { type: String, required: true },
    publicationId: { type: String, required: true },
    since: { type: Date, required: true },
  },
  { collection: 'definition_live', versionKey: false },
);

const journeySchema = new Schema<JourneyDoc>(
  {
    _id: { type: String, required: true },
    seq: { type: Number, required: true },
    definitionVersion: { type: String, required: true },
    stage: { type: String, required: true, index: true },
    stageEnteredAt: { type: Date, required: true },
    plan: { type: String, default: null, index: true },
    segments: { type: [String], default: [] },
    counters: { type: Schema.Types.Mixed, default: {} },
    payments: { type: Number, default: 0 },
    everLoyal: { type: Boolean, default: false },
    reactivations: { type: Number, default: 0 },
    lastActivityAt: { type: Date, default: null },
    startedAt: { type: Date, required: true },
  },
  { collection: 'journeys', versionKey: false, minimize: false },
);

const journeyFactSchema = new Schema(
  {
    _id: { type: String, required: true },
    kind: { type: String, required: true, index: true },
    userId: { type: String, required: true },
    at: { type: Date, required: true },
    // stage
    stage: String,
    from: String,
    cause: Schema.Types.Mixed,
    // message, assignment, conversion
    key: String,
    campaignId: String,
    variant: String,
    messageKind: String,
    status: String,
    reason: String,
    goalEvent: String,
    messageKey: String,
    // email (SendGrid event), or another channel's feedback (with its channel)
    event: String,
    channel: String,
    // payment
    payments: Number,
  },
  { collection: 'journey_facts', versionKey: false, minimize: false },
);
journeyFactSchema.index({ kind: 1, campaignId: 1, variant: 1 });
journeyFactSchema.index({ userId: 1, at: -1 });

const emailEventSchema = new Schema<EmailEventDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    deliveryKey: { type: String, required: true },
    type: { type: String, required: true },
    at: { type: Date, required: true },
    localHour: Number,
    machine: Boolean,
    status: { type: String, required: true },
    receivedAt: { type: Date, required: true },
    signalledAt: Date,
  },
  { collection: 'email_events', versionKey: false },
);

const channelEventSchema = new Schema<ChannelEventDoc>(
  {
    _id: { type: String, required: true },
    channel: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    deliveryKey: { type: String, required: true },
    type: { type: String, required: true },
    at: { type: Date, required: true },
    localHour: Number,
    status: { type: String, required: true },
    receivedAt: { type: Date, required: true },
    signalledAt: Date,
  },
  { collection: 'channel_events', versionKey: false },
);

const inboxEntrySchema = new Schema<InboxEntryDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    campaignId: { type: String, required: true },
    kind: { type: String, required: true },
    locale: { type: String, required: true },
    title: { type: String, required: true },
    body: { type: String, required: true },
    url: String,
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    seenAt: Date,
    clickedAt: Date,
    dismissedAt: Date,
    expiredAt: Date,
  },
  { collection: 'inbox', versionKey: false },
);
inboxEntrySchema.index({ userId: 1, createdAt: -1 });
inboxEntrySchema.index({ expiresAt: 1 });

const pushSubscriptionSchema = new Schema<PushSubscriptionDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    endpoint: { type: String, required: true },
    keys: { p256dh: { type: String, required: true }, auth: { type: String, required: true } },
    expirationTime: Number,
  },
  { collection: 'push_subscriptions', timestamps: true, versionKey: false },
);

const pushSendSchema = new Schema<PushSendDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true, index: true },
    deliveryKey: { type: String, required: true, index: true },
    subscriptionId: { type: String, required: true },
    status: { type: String, required: true },
    attempts: { type: Number, default: 0 },
    location: String,
    error: String,
    at: { type: Date, required: true },
  },
  { collection: 'push_sends', versionKey: false },
);

export function createModels(connection: Connection) {
  return {
    Customer: connection.model<CustomerDoc>('Customer', customerSchema),
    Delivery: connection.model<DeliveryDoc>('Delivery', deliverySchema),
    Outbox: connection.model<OutboxDoc>('Outbox', outboxSchema),
    Definition: connection.model<DefinitionDoc>('Definition', definitionSchema),
    DefinitionPublication: connection.model<DefinitionPublicationDoc>('DefinitionPublication', definitionPublicationSchema),
    DefinitionLive: connection.model<DefinitionLiveDoc>('DefinitionLive', definitionLiveSchema),
    JourneyRecord: connection.model<JourneyDoc>('JourneyRecord', journeySchema),
    JourneyFactRecord: connection.model<JourneyFactDoc>('JourneyFactRecord', journeyFactSchema),
    EmailEvent: connection.model<EmailEventDoc>('EmailEvent', emailEventSchema),
    ChannelEvent: connection.model<ChannelEventDoc>('ChannelEvent', channelEventSchema),
    InboxEntry: connection.model<InboxEntryDoc>('InboxEntry', inboxEntrySchema),
    PushSubscription: connection.model<PushSubscriptionDoc>('PushSubscription', pushSubscriptionSchema),
    PushSend: connection.model<PushSendDoc>('PushSend', pushSendSchema),
  };
}
export type Models = ReturnType<typeof createModels>;

export interface Database {
  connection: Connection;
  models: Models;
  close(): Promise<void>;
}

/**
 * Connect without command buffering: when MongoDB is down, calls fail fast (and the API answers 503)
 * instead of queueing in memory.
 */
export async function connectDatabase(uri: string, opts: { serverSelectionTimeoutMS?: number } = {}): Promise<Database> {
  const connection = mongoose.createConnection(uri, {
    bufferCommands: false,
    autoIndex: false,
    autoCreate: false,
    serverSelectionTimeoutMS: opts.serverSelectionTimeoutMS ?? 5_000,
  });
  await connection.asPromise();
  const models = createModels(connection);
  return { connection, models, close: () => connection.close() };
}

/** Create collections and indexes (idempotent); run by the worker and the API at start. */
export async function ensureIndexes(models: Models): Promise<void> {
  for (const model of Object.values(models)) {
    await model.createCollection().catch((err: { code?: number }) => {
      if (err.code !== 48) throw err; // NamespaceExists
    });
    await model.createIndexes();
  }
}

export type ServerFlavour = 'mongodb' | 'ferretdb';
const flavours = new WeakMap<Connection, Promise<ServerFlavour>>();

/**
 * Which server answers: FerretDB says so in buildInfo. Asked once per connection. Where the two differ in
 * what they can do well (FerretDB 1.x hands SQLite only filters that are exactly `{ _id }`), callers choose.
 */
export function serverFlavour(connection: Connection): Promise<ServerFlavour> {
  let flavour = flavours.get(connection);
  if (!flavour) {
    flavour = (async () => {
      const db = connection.db;
      if (!db) throw new Error('the database connection is not open');
      const info = await db.admin().command({ buildInfo: 1 });
      return 'ferretdbVersion' in info ? 'ferretdb' : 'mongodb';
    })();
    flavour.catch(() => flavours.delete(connection));
    flavours.set(connection, flavour);
  }
  return flavour;
}

/**
 * The filter of a compare-and-set update by primary key: `_id` and the guard read just before (MongoDB applies
 * it atomically); on FerretDB `_id` alone, since it scans for anything more and its update is a read then a
 * write anyway: callers there serialise their writes of one key in process (oneAtATimePerKey).
 */
export function compareAndSetFilter(flavour: ServerFlavour, id: string, guard: Record<string, unknown>): Record<string, unknown> {
  return flavour === 'ferretdb' ? { _id: id } : { _id: id, ...guard };
}
