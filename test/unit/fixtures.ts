/** Shared helpers for the unit tests of the pure core (no Temporal). */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { JourneyInput, JourneyState, TrackedEvent } from '../../src/core/journey-state.js';
import { DefinitionError, parseDefinition } from '../../src/definition-store/load-definition.js';

export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A fixed start for every journey in the tests. */
export const T0 = Date.UTC(2026, 0, 1);

/** The small trial journey (sign-up, trial, subscription, churn) the generic core rules are pinned against. */
export const TRIAL_BASICS_PATH = fileURLToPath(new URL('../fixtures/trial-basics.yaml', import.meta.url));
/** The shipped CoachingLive journey. */
export const COACHINGLIVE_PATH = fileURLToPath(new URL('../../definitions/coachinglive.yaml', import.meta.url));

/** The smallest valid definition; spread it and override what a test needs. */
export function minimalDefinition(overrides: Partial<JourneyDefinitionInput> = {}): JourneyDefinitionInput {
  return {
    id: 'mini',
    name: 'Mini journey',
    initialStage: 'lead',
    stages: [{ id: 'lead' }, { id: 'customer' }],
    transitions: [{ from: ['lead'], on: { event: 'Bought' }, to: 'customer' }],
    campaigns: [{ id: 'hello', name: 'Hello', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 'hello' } }],
    templates: [{ id: 'hello', locales: { en: { subject: 'Hi {{ profile.firstName }}', html: '<p>Hello</p>' } } }],
    ...overrides,
  };
}

export function planOf(raw: JourneyDefinitionInput) {
  return parseDefinition(raw, 'test').plan;
}

/** Every violation the loader finds in `raw` (which it must refuse). */
export function violations(raw: unknown): Array<{ path: string; message: string }> {
  const refusal = ((): unknown => {
    try {
      return parseDefinition(raw, 'test');
    } catch (err) {
      return err;
    }
  })();
  assert.ok(refusal instanceof DefinitionError, `expected the definition to be refused, got ${String(refusal)}`);
  return refusal.violations;
}

let seq = 0;
/** An event input; `timestamp` (ms) becomes the event's ISO timestamp when given. */
export function ev(event: string, now: number, opts: { properties?: Record<string, unknown>; timestamp?: number; messageId?: string } = {}): JourneyInput {
  const tracked: TrackedEvent = {
    messageId: opts.messageId ?? `msg-${++seq}`,
    event,
    ...(opts.timestamp !== undefined ? { timestamp: new Date(opts.timestamp).toISOString() } : {}),
    ...(opts.properties ? { properties: opts.properties } : {}),
  };
  return { type: 'event', now, event: tracked };
}

export function tick(now: number): JourneyInput {
  return { type: 'tick', now };
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value as Record<string, unknown>)) deepFreeze(inner);
  }
  return value;
}

export function deliveredKeys(commands: Array<{ type: string; request?: { key: string } }>): string[] {
  return commands.flatMap((c) => (c.type === 'deliver' && c.request ? [c.request.key] : []));
}

export function stagesOf(state: JourneyState): string[] {
  return state.stageHistory.map((h) => h.stage);
}

/** Why this environment is refused by the configuration schema (fails the test when it is accepted). */
export function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}
