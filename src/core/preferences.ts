/**
 * The customer's own say over marketing: per topic (the definition's `topics`) and per channel, kept on the
 * profile (`preferences`) and told to the journey on each change. Pure: the delivery rules, the API and the
 * journey core all read it. Anything not mentioned is on; consent (`marketingConsent`, `unsubscribed`) is
 * a separate, earlier rule. Transactional messages are never held back by any of it.
 */

/** Where a change came from, as the journey's timeline tells it. */
export const PREFERENCE_SOURCES = ['api', 'one-click', 'preference-page', 'sms-stop', 'support'] as const;
export type PreferenceSource = (typeof PREFERENCE_SOURCES)[number];

export interface Preferences {
  /** false: no marketing at all (the one-click unsubscribe of a message without a topic). Absent: on. */
  marketing?: boolean;
  /** Topic id -> on/off; a topic not named is on. */
  topics: Record<string, boolean>;
  /** Channel id (email, webhook, ...) -> on/off for marketing; a channel not named is on. */
  channels: Record<string, boolean>;
}

/** A change as the API applies it: only what it names changes. */
export interface PreferencePatch {
  marketing?: boolean;
  topics?: Record<string, boolean>;
  channels?: Record<string, boolean>;
}

/**
 * What the journey is told (signal changePreferences): the preferences as they are now, and where the change
 * came from. Carrying the whole state rather than the difference makes a repeated signal (a retry after an
 * outage) harmless: the journey records only what differs from what it last knew.
 */
export interface PreferenceChange {
  source: PreferenceSource;
  /** When the customer (or backend) made it, ms since the epoch. */
  at: number;
  preferences: Preferences;
}

/** One switch that moved, for the timeline. */
export type PreferenceDelta = { on: boolean } & ({ kind: 'marketing' } | { kind: 'topic'; id: string } | { kind: 'channel'; id: string });

export function emptyPreferences(): Preferences {
  return { topics: {}, channels: {} };
}

/** The stored value as preferences (a profile written before there were any has none). */
export function preferencesOf(stored: unknown): Preferences {
  const value = (stored ?? {}) as { marketing?: unknown; topics?: unknown; channels?: unknown };
  const switches = (record: unknown): Record<string, boolean> =>
    Object.fromEntries(Object.entries((record ?? {}) as Record<string, unknown>).filter((e): e is [string, boolean] => typeof e[1] === 'boolean'));
  return {
    ...(typeof value.marketing === 'boolean' ? { marketing: value.marketing } : {}),
    topics: switches(value.topics),
    channels: switches(value.channels),
  };
}

export function applyPatch(current: Preferences, patch: PreferencePatch): Preferences {
  return {
    ...(patch.marketing !== undefined ? { marketing: patch.marketing } : current.marketing !== undefined ? { marketing: current.marketing } : {}),
    topics: { ...current.topics, ...patch.topics },
    channels: { ...current.channels, ...patch.channels },
  };
}

const isOn = (value: boolean | undefined) => value !== false;

/** Every switch whose effective value differs (an absent switch counts as on), in a stable order. */
export function preferenceDeltas(before: Preferences | undefined, after: Preferences): PreferenceDelta[] {
  const old = before ?? emptyPreferences();
  const out: PreferenceDelta[] = [];
  if (isOn(old.marketing) !== isOn(after.marketing)) out.push({ kind: 'marketing', on: isOn(after.marketing) });
  for (const kind of ['topic', 'channel'] as const) {
    const field = kind === 'topic' ? 'topics' : 'channels';
    const ids = [...new Set([...Object.keys(old[field]), ...Object.keys(after[field])])].sort();
    for (const id of ids) {
      if (isOn(old[field][id]) !== isOn(after[field][id])) out.push({ kind, id, on: isOn(after[field][id]) });
    }
  }
  return out;
}

export function describeDelta(delta: PreferenceDelta): string {
  const state = delta.on ? 'on' : 'off';
  switch (delta.kind) {
    case 'marketing':
      return `all marketing ${state}`;
    case 'topic':
      return `topic ${delta.id} ${state}`;
    case 'channel':
      return `channel ${delta.id} ${state}`;
  }
}

export function describeSource(source: PreferenceSource): string {
  switch (source) {
    case 'api':
      return 'the API';
    case 'one-click':
      return 'one-click unsubscribe';
    case 'preference-page':
      return 'the preference page';
    case 'sms-stop':
      return 'an SMS reply (STOP or START)';
    case 'support':
      return 'support';
  }
}

/** What the rule needs to know of a message. */
export interface PreferenceSubject {
  kind: 'transactional' | 'marketing';
  /** The campaign's topic, when the definition gives it one. */
  topic?: string;
  channel: string;
}

/**
 * Why the customer's preferences hold this message back, or undefined when they do not. Transactional
 * messages always go (a receipt is not marketing, whatever the customer turned off).
 */
export function preferenceBlock(message: PreferenceSubject, stored: Preferences | undefined | null): string | undefined {
  if (message.kind === 'transactional' || !stored) return undefined;
  if (stored.marketing === false) return 'the customer turned all marketing off';
  if (message.topic !== undefined && stored.topics[message.topic] === false) return `the customer turned topic ${message.topic} off`;
  if (stored.channels[message.channel] === false) return `the customer turned marketing by ${message.channel} off`;
  return undefined;
}

/** How many preference changes a journey keeps for its timeline (the oldest go first). */
export const PREFERENCE_CHANGES_KEPT = 50;

/**
 * The journey hears of a change: it keeps the preferences as they are now and, when a switch moved compared
 * with what it last knew, records the change with its source (a repeated signal records nothing).
 * Returns whether something was recorded.
 */
export function applyPreferenceChange(
  state: { preferences?: Preferences; preferenceChanges?: Array<{ at: number; source: PreferenceSource; changes: PreferenceDelta[] }> },
  change: PreferenceChange,
  now: number,
): boolean {
  const deltas = preferenceDeltas(state.preferences, change.preferences);
  state.preferences = { ...change.preferences, topics: { ...change.preferences.topics }, channels: { ...change.preferences.channels } };
  if (deltas.length === 0) return false;
  const at = Number.isFinite(change.at) ? Math.min(change.at, now) : now;
  state.preferenceChanges = [...(state.preferenceChanges ?? []), { at, source: change.source, changes: deltas }].slice(-PREFERENCE_CHANGES_KEPT);
  return true;
}
