import { MockActivityEnvironment } from '@temporalio/testing';
import { createOutboxMailer } from '../src/delivery/mailer.js';
import { startTestDatabase } from '../test/support/database.js';
import { coachingLiveActivities, ratio, say, summarize, writeResult, type LatencySummary } from './support.js';

export interface SegmentsOptions {
  small: number;
  large: number;
  lookups: number;
  insertBatch: number;
}

/** A deterministic profile: a third have satisfaction 4+, a fifth NPS 9+, a tenth asked for the daily brief, 1 in 50 has no email. */
function profile(i: number) {
  return {
    _id: `seg-${i}`,
    ...(i % 50 === 0 ? {} : { email: `seg-${i}@example.com` }),
    firstName: `P${i}`,
    locale: i % 3 === 0 ? 'de-DE' : 'en-US',
    timezone: i % 2 === 0 ? 'Europe/Berlin' : 'America/New_York',
    traits: { satisfaction: i % 5, ...(i % 5 === 1 ? { nps: 9 + (i % 2) } : {}), ...(i % 10 === 0 ? { dailyBrief: true } : {}) },
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };
}

/** What the segment filters of definitions/coachinglive.yaml say of profile(i), to check every lookup's answer. */
function expectedSegments(i: number): string[] {
  const p = profile(i);
  const out: string[] = [];
  if (p.email) out.push('reachable_by_email');
  if (p.traits.satisfaction >= 4 || (p.traits.nps ?? 0) >= 9) out.push('satisfied');
  if (p.traits.dailyBrief) out.push('daily_brief_readers');
  return out;
}

/**
 * One customer's segment lookup (the evaluateSegments activity, every segment of the CoachingLive
 * definition, against FerretDB) with 1,000 and with 1,000,000 profiles in the collection: the cost per
 * lookup must not grow with the collection.
 */
export async function segments(opts: SegmentsOptions): Promise<Record<string, unknown>> {
  const db = await startTestDatabase('bench_segments');
  try {
    const { activities, loaded } = await coachingLiveActivities(db.models, createOutboxMailer(db.models));
    const ref = { id: loaded.definition.id, version: loaded.version };
    const collection = db.models.Customer.collection;
    const env = new MockActivityEnvironment();

    let inserted = 0;
    const fill = async (upTo: number) => {
      const t0 = performance.now();
      const from = inserted;
      while (inserted < upTo) {
        const n = Math.min(opts.insertBatch, upTo - inserted);
        await collection.insertMany(Array.from({ length: n }, (_, k) => profile(inserted + k)) as never[], { ordered: false });
        inserted += n;
        if (inserted % 100_000 === 0) say(`  ${inserted} profiles`);
      }
      return ((inserted - from) / (performance.now() - t0)) * 1000;
    };

    const measure = async (population: number): Promise<LatencySummary & { wrong: number }> => {
      // Warm up, then look up customers spread over the whole collection (stride through it, deterministic).
      for (let k = 0; k < 20; k++) await env.run(activities.evaluateSegments, { userId: `seg-${k}`, definition: ref });
      const samples: number[] = [];
      let wrong = 0;
      for (let k = 0; k < opts.lookups; k++) {
        const i = Math.floor(((k * 7919) % opts.lookups) * (population / opts.lookups));
        const t0 = performance.now();
        const got = (await env.run(activities.evaluateSegments, { userId: `seg-${i}`, definition: ref })) as string[];
        samples.push(performance.now() - t0);
        if (JSON.stringify([...got].sort()) !== JSON.stringify(expectedSegments(i).sort())) wrong += 1;
      }
      return { ...summarize(samples), wrong };
    };

    const smallRate = await fill(opts.small);
    const small = await measure(opts.small);
    say(`  ${opts.small} profiles: lookup p50 ${small.p50} ms, p99 ${small.p99} ms (${small.wrong} wrong answers)`);
    const largeRate = await fill(opts.large);
    const large = await measure(opts.large);
    say(`  ${opts.large} profiles: lookup p50 ${large.p50} ms, p99 ${large.p99} ms (${large.wrong} wrong answers)`);

    const ratios = { p50: ratio(large.p50, small.p50), mean: ratio(large.mean, small.mean), p99: ratio(large.p99, small.p99) };
    say('');
    say(`segment lookups (evaluateSegments, ${loaded.plan.segments.length} segments per lookup, ${opts.lookups} lookups each)`);
    say(`  at ${opts.small}: p50 ${small.p50} ms, mean ${small.mean} ms; at ${opts.large}: p50 ${large.p50} ms, mean ${large.mean} ms`);
    say(`  large/small: p50 ${ratios.p50}x, mean ${ratios.mean}x, p99 ${ratios.p99}x (flat = the lookups use the _id index)`);
    say(`  inserts: ${Math.round(smallRate)} and ${Math.round(largeRate)} profiles/s`);
    const result = { options: opts, small, large, ratios, insertsPerSecond: { small: Math.round(smallRate), large: Math.round(largeRate) } };
    say(`  result: ${writeResult('segments', result)}`);
    if (small.wrong + large.wrong > 0) process.exitCode = 1;
    return result;
  } finally {
    await db.teardown();
  }
}
