import type { Logger } from 'pino';
import type { FeedbackSink } from '../channels/feedback.js';
import { expiresUnread, inboxFeedbackOf, inboxStateOf, isExpired, stampsOf, type InboxAction, type InboxState, type InboxTimes } from '../core/inbox-states.js';
import type { InboxEntryDoc, Models } from '../db/models.js';
import { viaMongo } from '../http/errors.js';

/** One message as the customer's app sees it. `id` is opaque (the delivery key, base64url): put it in a path as it is. */
export interface InboxMessageView {
  id: string;
  campaignId: string;
  title: string;
  body: string;
  url?: string;
  locale: string;
  state: InboxState;
  createdAt: string;
  expiresAt: string;
  seenAt?: string;
  clickedAt?: string;
  dismissedAt?: string;
}

export interface InboxPage {
  messages: InboxMessageView[];
  /** Unread messages that have not expired (a badge count), over all pages. */
  unread: number;
  nextCursor: string | null;
}

export const messageIdOf = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
const keyOf = (messageId: string) => (/^[A-Za-z0-9_-]{1,400}$/.test(messageId) ? Buffer.from(messageId, 'base64url').toString('utf8') : undefined);

function timesOf(e: InboxEntryDoc): InboxTimes {
  const ms = (d: Date | undefined) => (d ? new Date(d).getTime() : undefined);
  const t: InboxTimes = { expiresAt: new Date(e.expiresAt).getTime() };
  for (const stamp of ['seenAt', 'clickedAt', 'dismissedAt', 'expiredAt'] as const) {
    const at = ms(e[stamp]);
    if (at !== undefined) t[stamp] = at;
  }
  return t;
}

function viewOf(e: InboxEntryDoc): InboxMessageView {
  const iso = (d: Date | undefined) => (d ? { value: new Date(d).toISOString() } : undefined);
  const seen = iso(e.seenAt);
  const clicked = iso(e.clickedAt);
  const dismissed = iso(e.dismissedAt);
  return {
    id: messageIdOf(e._id),
    campaignId: e.campaignId,
    title: e.title,
    body: e.body,
    ...(e.url ? { url: e.url } : {}),
    locale: e.locale,
    state: inboxStateOf(timesOf(e)),
    createdAt: new Date(e.createdAt).toISOString(),
    expiresAt: new Date(e.expiresAt).toISOString(),
    ...(seen ? { seenAt: seen.value } : {}),
    ...(clicked ? { clickedAt: clicked.value } : {}),
    ...(dismissed ? { dismissedAt: dismissed.value } : {}),
  };
}

/** A page boundary: the last message's creation time and key (newest first, ties by key). */
function sealCursor(e: InboxEntryDoc): string {
  return Buffer.from(JSON.stringify({ c: new Date(e.createdAt).getTime(), k: e._id })).toString('base64url');
}
function openCursor(cursor: string): { c: number; k: string } | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { c?: unknown; k?: unknown };
    return typeof parsed.c === 'number' && Number.isFinite(parsed.c) && typeof parsed.k === 'string' ? { c: parsed.c, k: parsed.k } : undefined;
  } catch {
    return undefined;
  }
}

export interface InboxDeps {
  models: Models;
  /** How each step reaches the customer's journey (channel feedback, once each). */
  feedback: FeedbackSink;
  logger: Logger;
}

export class InvalidCursor extends Error {}

/**
 * The customer's side of the in-app inbox: the app lists its messages and reports what the customer did
 * with each. Each report sets its time once and tells the journey once (FeedbackSink, by `<key>/<step>`);
 * a report is applied to MongoDB before the journey hears of it, and every report (a repeat too) hands the
 * journey every step it may have missed, so a Temporal outage loses nothing: the app's retry delivers it.
 * MongoDB or Temporal down: UpstreamUnavailable (503 at the API).
 */
export class Inbox {
  constructor(private readonly deps: InboxDeps) {}

  /** The customer's messages that have not expired, newest first; dismissed ones only when asked. */
  async list(userId: string, query: { limit: number; cursor?: string; dismissed?: boolean }, now: number = Date.now()): Promise<InboxPage> {
    const { InboxEntry } = this.deps.models;
    const after = query.cursor === undefined ? undefined : openCursor(query.cursor);
    if (query.cursor !== undefined && !after) throw new InvalidCursor('cursor is not the nextCursor of an earlier page');
    await this.expire({ userId }, now);
    const live = { userId, expiresAt: { $gt: new Date(now) } };
    const filter = {
      ...live,
      ...(query.dismissed ? {} : { dismissedAt: { $exists: false } }),
      ...(after ? { $or: [{ createdAt: { $lt: new Date(after.c) } }, { createdAt: new Date(after.c), _id: { $lt: after.k } }] } : {}),
    };
    const [found, unread] = await viaMongo(() =>
      Promise.all([
        InboxEntry.find(filter).sort({ createdAt: -1, _id: -1 }).limit(query.limit + 1).lean<InboxEntryDoc[]>(),
        InboxEntry.countDocuments({ ...live, seenAt: { $exists: false }, clickedAt: { $exists: false }, dismissedAt: { $exists: false } }),
      ]),
    );
    const page = found.slice(0, query.limit);
    return { messages: page.map(viewOf), unread, nextCursor: found.length > query.limit ? sealCursor(page[page.length - 1]!) : null };
  }

  /**
   * The customer saw, clicked or dismissed one of their messages (at `at`, no later than now). Undefined
   * for a message that is not theirs, not there or expired (the API answers 404 for each alike).
   */
  async report(userId: string, messageId: string, action: InboxAction, at: number, now: number = Date.now()): Promise<InboxMessageView | undefined> {
    const { InboxEntry } = this.deps.models;
    const key = keyOf(messageId);
    if (key === undefined) return undefined;
    let entry = await viaMongo(() => InboxEntry.findById(key).lean<InboxEntryDoc>());
    if (!entry || entry.userId !== userId || isExpired(timesOf(entry), now)) return undefined;
    const when = Math.max(Math.min(at, now), new Date(entry.createdAt).getTime());
    const stamps = stampsOf(timesOf(entry), action, when);
    for (const [stamp, value] of Object.entries(stamps)) {
      // Each time is set once: two reports at once leave the first.
      await viaMongo(() => InboxEntry.updateOne({ _id: key, [stamp]: { $exists: false } }, { $set: { [stamp]: new Date(value) } }));
    }
    if (Object.keys(stamps).length > 0) entry = (await viaMongo(() => InboxEntry.findById(key).lean<InboxEntryDoc>())) ?? entry;
    await this.tellJourney(entry);
    return viewOf(entry);
  }

  /**
   * Mark unread messages past their expiry as expired and tell their journeys (a read does it for its
   * customer; the API's sweep for everyone, `limit` at a time). Answers how many it marked.
   */
  async expire(scope: { userId?: string; limit?: number }, now: number = Date.now()): Promise<number> {
    const { InboxEntry } = this.deps.models;
    const due = await viaMongo(() =>
      InboxEntry.find({
        ...(scope.userId !== undefined ? { userId: scope.userId } : {}),
        expiresAt: { $lte: new Date(now) },
        expiredAt: { $exists: false },
        seenAt: { $exists: false },
        clickedAt: { $exists: false },
        dismissedAt: { $exists: false },
      })
        .limit(scope.limit ?? 1_000)
        .lean<InboxEntryDoc[]>(),
    );
    let marked = 0;
    for (const entry of due) {
      if (!expiresUnread(timesOf(entry), now)) continue;
      const expiredAt = new Date(entry.expiresAt);
      const result = await viaMongo(() =>
        InboxEntry.updateOne(
          { _id: entry._id, expiredAt: { $exists: false }, seenAt: { $exists: false }, clickedAt: { $exists: false }, dismissedAt: { $exists: false } },
          { $set: { expiredAt } },
        ),
      );
      if (result.modifiedCount === 0) continue;
      marked += 1;
      await this.tellJourney({ ...entry, expiredAt });
    }
    if (marked > 0) this.deps.logger.info({ marked, ...(scope.userId !== undefined ? { userId: scope.userId } : {}) }, 'in-app messages expired unread');
    return marked;
  }

  private async tellJourney(entry: InboxEntryDoc): Promise<void> {
    for (const step of inboxFeedbackOf(entry._id, timesOf(entry))) {
      await this.deps.feedback.apply({ id: step.id, channel: 'inapp', type: step.type, deliveryKey: entry._id, at: step.at });
    }
  }
}
