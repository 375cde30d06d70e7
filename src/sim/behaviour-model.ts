import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';

/**
 * How synthetic customers behave: probabilities and rates, validated once when the file is loaded. The
 * default is definitions/coachinglive-behaviour.yaml; `--model FILE` overrides any part of it (objects merge,
 * lists and numbers replace). Every number is documented in docs/simulator.md.
 */
const Probability = z.number().min(0).max(1);
const Rate = z.number().min(0);
const Hour = z.number().int().min(0).max(23);

/** A step a customer takes on their own, with this probability, after a wait of `meanDays` on average. */
const Chance = z.strictObject({ probability: Probability, meanDays: z.number().positive() });

export const BehaviourModel = z.strictObject({
  population: z.strictObject({
    /** Where customers live; the locale goes on the profile (templates fall back to the language, then `en`). */
    timezones: z.array(z.strictObject({ zone: z.string().min(1), locale: z.string().min(2), weight: z.number().positive() })).min(1),
    marketingConsent: Probability,
    /** Local hours customers act in: [from, to). */
    activeHours: z.strictObject({ from: Hour, to: z.number().int().min(1).max(24) }).refine((h) => h.to > h.from, 'to must be after from'),
    /** Groups of customers by how much they work out: `multiplier` scales every workout rate. */
    engagement: z.array(z.strictObject({ share: z.number().positive(), multiplier: Rate })).min(1),
    /** Share who asked for the daily brief (profile trait dailyBrief). */
    dailyBrief: Probability,
    /** Share who say they are happy (profile trait satisfaction 4-5; the others 2-3). */
    satisfied: Probability,
  }),
  /** Customers sign up spread over the first `overDays` days (0: all on the first day). */
  signUp: z.strictObject({ overDays: z.number().int().min(0) }),
  prospect: z.strictObject({
    startTrial: Chance,
    subscribeWithoutTrial: Chance,
  }),
  trial: z.strictObject({
    /** The product's trial; after it a customer who did not subscribe stops (the journey decides the stage). */
    lengthDays: z.number().positive(),
    workoutsPerWeek: Rate,
    goQuietPerWeek: Probability,
    comeBackPerWeek: Probability,
    paywallViewsPerWeek: Rate,
    /** After a paywall view: starts a checkout (an hour later), and completes it (another hour later). */
    checkout: z.strictObject({ afterPaywall: Probability, completes: Probability }),
    /** Share of trial customers who subscribe on their own, on a day drawn uniformly over the trial. */
    subscribe: Probability,
    /** Share of new subscriptions on the Full plan (the others Light). */
    fullPlan: Probability,
  }),
  subscriber: z.strictObject({
    workoutsPerWeek: Rate,
    goQuietPerWeek: Probability,
    comeBackPerWeek: Probability,
    /** Drawn at each billing date for the month ahead, by whether the customer is working out or quiet. */
    cancelPerMonth: Probability,
    cancelPerMonthWhileQuiet: Probability,
    paymentFailurePerRenewal: Probability,
    /** After a failed payment: recovers (within the journey's 14 days) with this probability. */
    paymentRecovers: Probability,
    meanDaysToRecover: z.number().positive(),
    /** Light to Full, per month on Light. */
    upgradePerMonth: Probability,
    addonPerMonth: Probability,
    levelAdvancedPerWorkout: Probability,
  }),
  churned: z.strictObject({ resubscribePerMonth: Probability }),
  /** Each marketing message received makes the customer unsubscribe with this probability. */
  unsubscribePerMarketingMessage: Probability,
  /**
   * Responding to a message: with probability byGoal[the campaign's goal event] x the campaign's multiplier x
   * its variant's, the customer does the goal 1 to maxDelayHours hours later (inside the goal window).
   */
  responses: z.strictObject({
    maxDelayHours: z.number().int().min(1),
    byGoal: z.record(z.string(), Probability),
    campaigns: z.record(z.string(), z.strictObject({ multiplier: Rate.optional(), variants: z.record(z.string(), Rate).optional() })),
  }),
});
export type BehaviourModel = z.infer<typeof BehaviourModel>;

export const DEFAULT_MODEL_FILE = new URL('../../definitions/coachinglive-behaviour.yaml', import.meta.url);

export class BehaviourModelError extends Error {}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `override` over `base`: objects merge key by key, anything else (lists, numbers) replaces. */
export function mergeModel(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = mergeModel(base[key], value);
  return merged;
}

export function parseBehaviourModel(raw: unknown, source: string): BehaviourModel {
  const parsed = BehaviourModel.safeParse(raw);
  if (!parsed.success) {
    throw new BehaviourModelError(
      `behaviour model ${source} is invalid:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`,
    );
  }
  return parsed.data;
}

async function readYaml(path: string | URL): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return YAML.parse(text) as unknown;
  } catch (err) {
    throw new BehaviourModelError(`behaviour model ${String(path)} is not valid YAML/JSON: ${(err as Error).message}`);
  }
}

/** The default model as authored, for callers that merge a team's own over it. */
export function readDefaultBehaviourModel(): Promise<unknown> {
  return readYaml(DEFAULT_MODEL_FILE);
}

/** The default model, or `file` merged over it. */
export async function loadBehaviourModel(file?: string): Promise<BehaviourModel> {
  const base = await readYaml(DEFAULT_MODEL_FILE);
  if (!file) return parseBehaviourModel(base, 'definitions/coachinglive-behaviour.yaml');
  return parseBehaviourModel(mergeModel(base, await readYaml(file)), `${file} (over the default)`);
}
