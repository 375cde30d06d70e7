import type { SimStore } from './memory-store.js';

/** One customer's journey as a run left it: what the two engines must agree on. */
export interface CustomerHistory {
  /** Stage changes in order: "from -> to (cause) at minute". */
  stages: string[];
  /** Every message step (sent, skipped, cancelled, holdout) by delivery key: campaign, variant, status and, when sent, the customer's local time. */
  messages: string[];
  conversions: string[];
}

const minute = (at: number) => new Date(Math.floor(at / 60_000) * 60_000).toISOString().slice(0, 16);
/** A local time to the minute, with its offset ("2040-01-05T09:00+01:00"). */
const localMinute = (iso: string) => iso.slice(0, 16) + iso.slice(iso.search(/[+-]\d\d:\d\d$|Z$/));

/**
 * Per customer, the stage history, the messages and the conversions the read model and the outbox hold after
 * a run. Times are to the minute: the workflow engine's clock runs a few milliseconds to seconds behind the
 * instant a step was due (time flows on the test server while work is in flight), the event engine's not at
 * all; customers act at hh:mm:30 and deadlines fall on whole minutes (time-grid.ts), so a minute holds both.
 */
export function customerHistories(store: SimStore): Map<string, CustomerHistory> {
  const out = new Map<string, CustomerHistory>();
  const of = (userId: string) => {
    let h = out.get(userId);
    if (!h) out.set(userId, (h = { stages: [], messages: [], conversions: [] }));
    return h;
  };
  const seq = (id: string) => Number(id.slice(id.lastIndexOf('/') + 1));
  const facts = [...store.facts.values()].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : seq(a.id) - seq(b.id)));
  for (const f of facts) {
    switch (f.kind) {
      case 'stage': {
        const cause = f.cause.kind === 'event' ? `event ${f.cause.event}` : f.cause.kind === 'timer' ? `timer ${f.cause.timer}` : 'start';
        of(f.userId).stages.push(`${f.from ?? '-'} -> ${f.stage} (${cause}) at ${minute(f.at)}`);
        break;
      }
      case 'message': {
        const sent = f.status === 'sent' ? store.deliveries.get(f.key) : undefined;
        const when = sent ? ` at ${sent.localTime ? localMinute(sent.localTime) : minute(sent.at)}` : '';
        of(f.userId).messages.push(`${f.key} ${f.campaignId}/${f.variant ?? '-'} ${f.status}${when}`);
        break;
      }
      case 'conversion':
        of(f.userId).conversions.push(`${f.campaignId}/${f.variant ?? '-'} ${f.goalEvent} at ${minute(f.at)}`);
        break;
      default:
        break;
    }
  }
  // Two deliveries of one pass finish in either order on the workflow engine: messages go by key, not by fact order.
  for (const h of out.values()) {
    h.messages.sort();
    h.conversions.sort();
  }
  return out;
}

/** The customers whose histories differ between two runs, each with the first difference. */
export function historyDifferences(a: Map<string, CustomerHistory>, b: Map<string, CustomerHistory>): string[] {
  const differences: string[] = [];
  for (const userId of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(userId);
    const y = b.get(userId);
    if (!x || !y) {
      differences.push(`${userId}: only in ${x ? 'the first' : 'the second'} run`);
      continue;
    }
    for (const part of ['stages', 'messages', 'conversions'] as const) {
      const n = Math.max(x[part].length, y[part].length);
      const i = Array.from({ length: n }, (_, k) => k).find((k) => x[part][k] !== y[part][k]);
      if (i !== undefined) {
        differences.push(`${userId} ${part}[${i}]: ${x[part][i] ?? '(none)'} | ${y[part][i] ?? '(none)'}`);
        break;
      }
    }
  }
  return differences;
}
