const UNIT_MS: Record<string, number> = {
  ms: 1,
  millisecond: 1,
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
};

const HUMAN = /^(-)?\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)$/i;
const ISO = /^(-)?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parse a duration written by a person ("30 days", "-3 days", "1 hour") or in ISO 8601 ("P30D", "-PT1H").
 * Months and years are refused on purpose: their length depends on the calendar, so journeys say days.
 * Returns milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  const human = HUMAN.exec(trimmed);
  if (human) {
    const unit = human[3]!.toLowerCase().replace(/s$/, '');
    const ms = Number(human[2]) * UNIT_MS[unit === 'm' ? 'ms' : unit]!;
    return human[1] ? -ms : ms;
  }
  const iso = ISO.exec(trimmed);
  if (iso && trimmed !== 'P' && trimmed !== '-P' && !trimmed.endsWith('T')) {
    const [, sign, w, d, h, m, s] = iso;
    const ms =
      Number(w ?? 0) * UNIT_MS.week! +
      Number(d ?? 0) * UNIT_MS.day! +
      Number(h ?? 0) * UNIT_MS.hour! +
      Number(m ?? 0) * UNIT_MS.minute! +
      Number(s ?? 0) * UNIT_MS.second!;
    return sign ? -ms : ms;
  }
  return undefined;
}

/** Render milliseconds the way a marketer reads them in a timeline: "3 days", "1 hour 30 minutes". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0 seconds';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const parts: string[] = [];
  for (const [unit, size] of [['day', UNIT_MS.day!], ['hour', UNIT_MS.hour!], ['minute', UNIT_MS.minute!], ['second', UNIT_MS.second!]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
      rest -= n * size;
    }
  }
  if (parts.length === 0) parts.push(`${rest} ms`);
  return sign + parts.slice(0, 2).join(' ');
}
