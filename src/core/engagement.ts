import type { Engagement } from './journey-state.js';

/**
 * The customer's engagement with their email: opens and clicks, and the hour of their own day they usually
 * engage in, learned for send-time optimisation. Pure.
 */
export const ENGAGEMENT = {
  /** Engagements needed before an hour is learned; until then the campaign's window applies. */
  minSamples: 3,
  /** When the samples reach this, every hour's count is halved: newer habits outweigh old ones. */
  maxSamples: 64,
};

export interface LearnedHour {
  /** 0-23, local to the customer; absent while fewer than ENGAGEMENT.minSamples engagements are known. */
  hour?: number;
  samples: number;
}

function emptyEngagement(): Engagement {
  return { opens: 0, clicks: 0, lastAt: 0, hours: Array.from({ length: 24 }, () => 0), hourAt: Array.from({ length: 24 }, () => 0) };
}

/**
 * Count one open or click at `at`. `firstOfMessage`: the first open (or click) of that message, which
 * counts towards opens (clicks); `sample`: the message's first engagement of any kind, which counts towards
 * the hour (reading one email five times is one habit, not five).
 */
export function recordEngagement(
  current: Engagement | undefined,
  kind: 'open' | 'click',
  at: number,
  opts: { firstOfMessage: boolean; sample: boolean; localHour?: number },
): Engagement {
  const e: Engagement = current ? { ...current, hours: [...current.hours], hourAt: [...current.hourAt] } : emptyEngagement();
  if (opts.firstOfMessage) {
    if (kind === 'open') e.opens += 1;
    else e.clicks += 1;
  }
  e.lastAt = Math.max(e.lastAt, at);
  const hour = opts.localHour;
  if (opts.sample && typeof hour === 'number' && Number.isInteger(hour) && hour >= 0 && hour <= 23) {
    e.hours[hour] = (e.hours[hour] ?? 0) + 1;
    e.hourAt[hour] = Math.max(e.hourAt[hour] ?? 0, at);
    if (samplesOf(e) >= ENGAGEMENT.maxSamples) e.hours = e.hours.map((n) => Math.floor(n / 2));
  }
  return e;
}

function samplesOf(e: Engagement): number {
  return e.hours.reduce((sum, n) => sum + n, 0);
}

/**
 * The hour the customer usually engages in: the most frequent one once enough is known, ties going to the
 * hour engaged in most recently. Undefined when nothing is known at all.
 */
export function learnedHourOf(e: Engagement | undefined): LearnedHour | undefined {
  if (!e) return undefined;
  const samples = samplesOf(e);
  if (samples === 0) return undefined;
  if (samples < ENGAGEMENT.minSamples) return { samples };
  let best = 0;
  for (let h = 1; h < 24; h++) {
    const n = e.hours[h] ?? 0;
    const top = e.hours[best] ?? 0;
    if (n > top || (n === top && (e.hourAt[h] ?? 0) > (e.hourAt[best] ?? 0))) best = h;
  }
  return { hour: best, samples };
}
