import { IANAZone } from 'luxon';
import type { SimCustomer } from './behaviour.js';
import type { BehaviourModel } from './behaviour-model.js';
import { Rng, seedOf } from './random.js';

/** The profile a synthetic customer's identify call writes. */
export interface SimProfile {
  email: string;
  firstName: string;
  locale: string;
  timezone: string;
  marketingConsent: boolean;
  traits: { dailyBrief: boolean; satisfaction: number };
}

export interface DrawnCustomer {
  customer: SimCustomer;
  profile: SimProfile;
}

const FIRST_NAMES = ['Ada', 'Ben', 'Chloe', 'Dev', 'Elif', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemi', 'Luca', 'Mia', 'Noah', 'Olga', 'Priya'];

export function userIdOf(index: number): string {
  return `sim-${String(index + 1).padStart(6, '0')}`;
}

/**
 * Customer `index` of the population drawn with `seed`: the same seed and index always give the same
 * customer, whatever the population size, since every customer has a stream of their own.
 */
export function drawCustomer(model: BehaviourModel, seed: number, index: number, start: number): DrawnCustomer {
  const customerSeed = seedOf(seed, 'customer', index);
  const rng = new Rng(seedOf(customerSeed, 'profile'));
  const { population } = model;
  const home = population.timezones[rng.weighted(population.timezones.map((t) => t.weight))]!;
  const engagement = population.engagement[rng.weighted(population.engagement.map((e) => e.share))]!.multiplier;
  const offsetHours = Math.round(IANAZone.create(home.zone).offset(start) / 60);
  const activeFromUtc = (((population.activeHours.from - offsetHours) % 24) + 24) % 24;
  const activeHours = population.activeHours.to - population.activeHours.from;
  const signUpDay = model.signUp.overDays > 1 ? rng.int(0, model.signUp.overDays - 1) : 0;
  // The first active hour on the sign-up day, counted from the simulation's 00:00 UTC.
  const signUpHour = signUpDay * 24 + ((activeFromUtc + rng.int(0, activeHours - 1)) % 24);
  const satisfied = rng.chance(population.satisfied);
  const userId = userIdOf(index);
  return {
    customer: { userId, seed: customerSeed, engagement, activeFromUtc, activeHours, signUpHour },
    profile: {
      email: `${userId}@sim.coachinglive.example`,
      firstName: FIRST_NAMES[rng.int(0, FIRST_NAMES.length - 1)]!,
      locale: home.locale,
      timezone: home.zone,
      marketingConsent: rng.chance(population.marketingConsent),
      traits: { dailyBrief: rng.chance(population.dailyBrief), satisfaction: satisfied ? rng.int(4, 5) : rng.int(2, 3) },
    },
  };
}
