/** Why the customer entered a stage. */
export type StageCause =
  | { kind: 'start' }
  | { kind: 'event'; event: string; messageId: string }
  | { kind: 'timer'; timer: string; summary: string };

export type MessageStatus = 'pending' | 'sent' | 'skipped' | 'failed' | 'cancelled' | 'holdout';

/**
 * What a journey tells the read model in MongoDB, for analytics and KPIs. Each fact has a deterministic
 * id (`<userId>/<seq>`, seq counted by the journey), so a retried write lands once.
 */
export type JourneyFact =
  | { kind: 'stage'; id: string; userId: string; at: number; stage: string; from: string | null; cause: StageCause }
  | {
      kind: 'message';
      id: string;
      userId: string;
      at: number;
      key: string;
      campaignId: string;
      /** The experiment variant, 'holdout' for the holdout group, null when the campaign runs no experiment. */
      variant: string | null;
      messageKind: 'transactional' | 'marketing';
      status: Exclude<MessageStatus, 'pending'>;
      reason?: string;
    }
  | {
      /** The first event of each kind SendGrid reported for one message (so counts are of messages, not events). */
      kind: 'email';
      id: string;
      userId: string;
      at: number;
      key: string;
      campaignId: string;
      variant: string | null;
      event: 'delivered' | 'bounced' | 'dropped' | 'spamreport' | 'unsubscribed' | 'opened' | 'clicked';
    }
  | { kind: 'assignment'; id: string; userId: string; at: number; campaignId: string; variant: string }
  /** A payment counted by the definition's payment counter: `payments` is the count with this one (1 = the first). */
  | { kind: 'payment'; id: string; userId: string; at: number; payments: number }
  | {
      kind: 'conversion';
      id: string;
      userId: string;
      at: number;
      campaignId: string;
      variant: string | null;
      goalEvent: string;
      /** The message the conversion is attributed to (the last one of the campaign within the goal window). */
      messageKey: string;
    };

/** The customer's current journey, one document per customer, replaced as the journey moves on. */
export interface JourneySnapshot {
  userId: string;
  /** Grows with every change; a write with a lower seq than the stored one is stale and ignored. */
  seq: number;
  definitionVersion: string;
  stage: string;
  stageEnteredAt: number;
  plan: string | null;
  segments: string[];
  counters: Record<string, number>;
  /** Payments so far (first subscription and each renewal): activation is payments >= 1, repeat is >= 2. */
  payments: number;
  everLoyal: boolean;
  reactivations: number;
  lastActivityAt: number | null;
  startedAt: number;
}

export interface ReadModelBatch {
  snapshot: JourneySnapshot;
  facts: JourneyFact[];
}
