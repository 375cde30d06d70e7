import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { IdentityActivities } from '../activities/identity-activities.js';
import type { TrackedEvent } from '../src/core/journey-state.js';
import { keepAnonymousCallSignal, linkAnonymousSignal, type AnonymousHistoryInput, type AnonymousLink } from '../src/temporal/contract.js';

const { lookupAnonymousLink, handOverAnonymousHistory } = proxyActivities<IdentityActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** A visitor never identified: their history is kept this long after their last call, then the run ends. */
const KEPT_WHILE_QUIET = '90 days';
/** Once joined, calls still in flight (sent before the API saw the link) are forwarded for this long. */
const FORWARD_AFTER_JOIN = '10 minutes';
/** Events per hand-over signal, so a long history stays far below Temporal's payload limit. */
const HAND_OVER_CHUNK = 200;

const when = (e: TrackedEvent) => {
  const t = e.timestamp === undefined ? NaN : Date.parse(e.timestamp);
  return Number.isFinite(t) ? t : 0;
};

/**
 * The calls of one anonymous visitor (workflow anonymous-<anonymousId>), kept until identify or alias links
 * them to a customer; then handed to the customer's journey by signal-with-start, in timestamp order. Each
 * hand-over is an activity retried until the journey has it; the journey applies each event once by
 * messageId, so a repeated hand-over (a crash between signal and completion) changes nothing.
 */
export async function anonymousHistory(input: AnonymousHistoryInput): Promise<void> {
  const kept: TrackedEvent[] = [...(input.kept ?? [])];
  const seen = new Set(kept.map((e) => e.messageId));
  let link: AnonymousLink | undefined = input.link;
  setHandler(keepAnonymousCallSignal, (event) => {
    if (seen.has(event.messageId)) return;
    seen.add(event.messageId);
    kept.push(event);
  });
  setHandler(linkAnonymousSignal, (l) => {
    link ??= l; // the first link wins, as in the API's link table
  });
  // A run started after the visitor was linked (a call that raced the link): the link is in MongoDB.
  if (!link) link = (await lookupAnonymousLink({ anonymousId: input.anonymousId })) ?? link;

  for (;;) {
    if (link && kept.length > 0) {
      const { userId, via } = link;
      const events = kept.splice(0).sort((a, b) => when(a) - when(b));
      for (let i = 0; i < events.length; i += HAND_OVER_CHUNK) {
        await handOverAnonymousHistory({
          anonymousId: input.anonymousId,
          definitionId: input.definitionId,
          userId,
          join: { anonymousId: input.anonymousId, via, events: events.slice(i, i + HAND_OVER_CHUNK) },
        });
      }
      continue;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof anonymousHistory>({ ...input, kept, ...(link ? { link } : {}) });
    }
    // Wake for a new call or the link; a quiet spell ends the run (unlinked: the visitor's history goes with it).
    const calls = kept.length;
    const linked = link !== undefined;
    const woke = await condition(() => kept.length > calls || (!linked && link !== undefined), linked ? FORWARD_AFTER_JOIN : KEPT_WHILE_QUIET);
    if (!woke) return;
  }
}
