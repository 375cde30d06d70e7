import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { JourneyDefinition } from '../core/journey-definition.js';
import { CHANNEL_IDS } from '../core/channel-ids.js';
import { preferencesOf, type PreferencePatch, type PreferenceSource, type Preferences } from '../core/preferences.js';
import type { Models } from '../db/models.js';
import { HttpError, UpstreamUnavailable, viaMongo } from '../http/errors.js';
import { changePreferencesSignal, workflowIdFor } from '../temporal/contract.js';

/** A customer's preferences as the API and the preference page show them: every topic and channel, on or off. */
export interface PreferenceView {
  userId: string;
  /** false: no marketing at all. */
  marketing: boolean;
  topics: Record<string, boolean>;
  channels: Record<string, boolean>;
  /** When they last changed; null: never. */
  updatedAt: string | null;
  /** The profile's locale, for the preference page's language. */
  locale: string | null;
}

export interface PreferenceServiceDeps {
  models: Models;
  client: Client;
  /** The live journey definition: the topics a customer can choose from. */
  definition: () => Promise<JourneyDefinition>;
  upstreamTimeoutMs: number;
  logger: Logger;
}

/** What a change did: the preferences after it, and whether the journey (if one runs) was told. */
export interface PreferenceUpdate {
  view: PreferenceView;
  journey: 'signalled' | 'not started';
}

/**
 * The customer's preferences, kept on the profile (the delivery rules read them there at send time, so a
 * change applies to the very next message) and told to the journey for its timeline.
 */
export class PreferenceService {
  constructor(private readonly deps: PreferenceServiceDeps) {}

  /** The channels a customer can turn marketing off on. */
  channels(): string[] {
    return [...CHANNEL_IDS];
  }

  async topics(): Promise<string[]> {
    return ((await this.deps.definition()).topics ?? []).map((t) => t.id);
  }

  /** The preferences, or undefined when there is no such customer. */
  async get(userId: string): Promise<PreferenceView | undefined> {
    const profile = await viaMongo(() => this.deps.models.Customer.findById(userId, { preferences: 1, preferencesUpdatedAt: 1, locale: 1 }).lean());
    if (!profile) return undefined;
    return this.view(await this.topics(), userId, preferencesOf(profile.preferences), profile.preferencesUpdatedAt ?? null, profile.locale ?? null);
  }

  /**
   * Refuses a patch naming a topic the live definition does not declare or a channel there is not, with
   * every problem (HttpError 400), before anything is written.
   */
  async check(patch: PreferencePatch): Promise<void> {
    const topics = new Set(await this.topics());
    const channels = new Set(this.channels());
    const issues = [
      ...Object.keys(patch.topics ?? {})
        .filter((id) => !topics.has(id))
        .map((id) => ({ path: `topics.${id}`, message: topics.size ? `unknown topic "${id}" (topics: ${[...topics].join(', ')})` : `unknown topic "${id}": the journey definition declares no topics`, code: 'custom' })),
      ...Object.keys(patch.channels ?? {})
        .filter((id) => !channels.has(id))
        .map((id) => ({ path: `channels.${id}`, message: `unknown channel "${id}" (channels: ${[...channels].join(', ')})`, code: 'custom' })),
    ];
    if (issues.length > 0) throw new HttpError(400, 'invalid_request', 'the request is invalid', issues);
  }

  /**
   * Apply a change and tell the journey. `create`: a backend may set preferences before identify wrote the
   * profile; a link in an email never recreates an erased customer. Undefined when there is no such
   * customer and `create` is off. Temporal being down surfaces as UpstreamUnavailable after the write: a
   * retry writes nothing new and tells the journey then.
   */
  async change(userId: string, patch: PreferencePatch, source: PreferenceSource, opts: { create: boolean; at?: Date }): Promise<PreferenceUpdate | undefined> {
    const at = opts.at ?? new Date();
    const set: Record<string, unknown> = { preferencesUpdatedAt: at };
    if (patch.marketing !== undefined) set['preferences.marketing'] = patch.marketing;
    for (const [id, on] of Object.entries(patch.topics ?? {})) set[`preferences.topics.${id}`] = on;
    for (const [id, on] of Object.entries(patch.channels ?? {})) set[`preferences.channels.${id}`] = on;
    const profile = await viaMongo(() =>
      this.deps.models.Customer.findOneAndUpdate(
        { _id: userId },
        { $set: set, ...(opts.create ? { $setOnInsert: { traits: {} } } : {}) },
        // No projection: FerretDB does not implement findAndModify's `fields`.
        { upsert: opts.create, returnDocument: 'after', strict: false },
      ).lean(),
    );
    if (!profile) return undefined;
    const preferences = preferencesOf(profile.preferences);
    const journey = await this.tell(userId, preferences, source, at.getTime());
    return { view: this.view(await this.topics(), userId, preferences, profile.preferencesUpdatedAt ?? at, profile.locale ?? null), journey };
  }

  private async tell(userId: string, preferences: Preferences, source: PreferenceSource, at: number): Promise<'signalled' | 'not started'> {
    try {
      await this.deps.client.connection.withDeadline(Date.now() + this.deps.upstreamTimeoutMs, () =>
        this.deps.client.workflow.getHandle(workflowIdFor(userId)).signal(changePreferencesSignal, { source, at, preferences }),
      );
      return 'signalled';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'not started';
      throw new UpstreamUnavailable('temporal', err);
    }
  }

  private view(topics: string[], userId: string, stored: Preferences, updatedAt: Date | null, locale: string | null): PreferenceView {
    return {
      userId,
      marketing: stored.marketing !== false,
      topics: Object.fromEntries(topics.map((id) => [id, stored.topics[id] !== false])),
      channels: Object.fromEntries(this.channels().map((id) => [id, stored.channels[id] !== false])),
      updatedAt: updatedAt ? updatedAt.toISOString() : null,
      locale,
    };
  }
}
