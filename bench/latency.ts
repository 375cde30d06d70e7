import { MockActivityEnvironment } from '@temporalio/testing';
import { connectDatabase } from '../src/db/models.js';
import { createSendgridMailer } from '../src/delivery/mailer.js';
import { waitFor } from '../test/support/processes.js';
import { closedLoop, coachingLiveActivities, loadAverage, postJson, ratio, say, SENDGRID_KEY, settle, startBenchStack, summarize, WRITE_KEY, writeResult } from './support.js';

export interface LatencyOptions {
  customers: number;
  /** Events per second; by default half the sustainable /v1/track rate measured first. */
  rate?: number;
  concurrency: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * From an event's 202 to the SendGrid-compatible server receiving the message it causes (the transactional
 * welcome on "Signed Up"), at half the sustainable ingestion rate; against the bare activity path (the
 * deliverMessage activity called directly, same database and SendGrid server) at the same rate.
 */
export async function latency(opts: LatencyOptions): Promise<Record<string, unknown>> {
  const stack = await startBenchStack('latency');
  const db = await connectDatabase(stack.env.MONGODB_URI!);
  try {
    const post = async (path: string, body: unknown) => {
      const res = await postJson(`${stack.base}${path}`, { authorization: `Bearer ${WRITE_KEY}` }, body);
      if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${res.text.slice(0, 200)}`);
    };

    // Profiles first (the welcome needs an address), written as a backend would: identify.
    const profiles = await closedLoop(opts.customers * 3, opts.concurrency, async (i) => {
      const userId = [`probe-`, `e2m-`, `bare-`][Math.floor(i / opts.customers)]! + String(i % opts.customers);
      await post('/v1/identify', { userId, traits: { email: `${userId}@example.com`, firstName: 'Bench', timezone: 'UTC' } });
    });
    if (profiles.errors > 0) throw new Error(`${profiles.errors} identify calls failed: ${profiles.firstErrors.join('; ')}`);
    await settle(stack, 0.15, 600_000);
    const welcomesTo = (prefix: string) => stack.servers.sendgrid.messages.filter((m) => m.customArgs.user_id?.startsWith(prefix));

    let rate = opts.rate;
    if (rate === undefined) {
      // The sustainable rate is the one the whole path keeps up with: as many sign-ups as the measured run, all at
      // once, from the first request to the last welcome received. The API acknowledges events faster than that
      // (a 202 is only the signal-with-start), and at half of the acknowledged rate the journeys queued behind
      // each other: that was the 7.9 s p50 of docs/benchmarks.md.
      const probeStartedAt = Date.now();
      const probe = await closedLoop(opts.customers, opts.concurrency, async (i) => {
        await post('/v1/track', { userId: `probe-${i}`, event: 'Signed Up', messageId: `probe-${i}-signup` });
      });
      if (probe.errors > 0) throw new Error(`${probe.errors} probe sign-ups failed: ${probe.firstErrors.join('; ')}`);
      const acked = (opts.customers / probe.wallMs) * 1000;
      await waitFor(`${opts.customers} probe welcomes`, async () => welcomesTo('probe-').length >= opts.customers, 600_000, 100);
      const lastWelcome = Math.max(...welcomesTo('probe-').map((m) => m.receivedAt));
      const sustainable = (opts.customers / (lastWelcome - probeStartedAt)) * 1000;
      rate = Math.max(1, Math.floor(sustainable / 2));
      say(`  sign-ups acknowledged (202) at ~${acked.toFixed(0)}/s; worked off end to end (last welcome received) at ~${sustainable.toFixed(0)}/s: the sustainable rate`);
      say(`  measuring at ${rate} events/s (half the sustainable rate; half the acknowledged rate would be ${Math.floor(acked / 2)}/s)`);
    }
    const gap = 1000 / rate;
    // The stack has worked off the probe (settle: CPU quiet), so the measured sign-ups queue behind nothing of it.
    await settle(stack, 0.15, 600_000);
    stack.servers.sendgrid.reset();
    const loadStart = loadAverage();

    // End to end: open loop, one "Signed Up" every `gap` ms.
    const ackedAt = new Map<string, number>();
    const started = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < opts.customers; i++) {
      const due = started + i * gap;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const userId = `e2m-${i}`;
      inflight.push(
        post('/v1/track', { userId, event: 'Signed Up', messageId: `e2m-${i}-signup` }).then(() => {
          ackedAt.set(userId, Date.now());
        }),
      );
    }
    await Promise.all(inflight);
    await waitFor(`${opts.customers} welcomes`, async () => stack.servers.sendgrid.messages.filter((m) => m.customArgs.user_id?.startsWith('e2m-')).length >= opts.customers, 300_000, 250);
    const endToEnd = stack.servers.sendgrid.messages
      .filter((m) => m.customArgs.user_id?.startsWith('e2m-'))
      .map((m) => m.receivedAt - ackedAt.get(m.customArgs.user_id!)!);

    // The bare activity path: deliverMessage itself, with real MongoDB (claim, render, record) and SendGrid.
    const { activities, loaded } = await coachingLiveActivities(db.models, createSendgridMailer({ apiKey: SENDGRID_KEY, baseUrl: stack.servers.sendgrid.url }));
    const called = new Map<string, number>();
    const bareStart = performance.now();
    const bare: Promise<unknown>[] = [];
    for (let i = 0; i < opts.customers; i++) {
      const due = bareStart + i * gap;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const userId = `bare-${i}`;
      called.set(userId, Date.now());
      bare.push(
        new MockActivityEnvironment().run(activities.deliverMessage, {
          key: `customer-${userId}/welcome/1`,
          userId,
          campaignId: 'welcome',
          occurrence: 1,
          kind: 'transactional' as const,
          template: 'welcome',
          segments: [],
          definition: { id: loaded.definition.id, version: loaded.version },
          summary: 'send Welcome',
          journey: { stage: 'prospect', plan: null, counters: {} },
        }),
      );
    }
    await Promise.all(bare);
    const bareLatencies = stack.servers.sendgrid.messages
      .filter((m) => m.customArgs.user_id?.startsWith('bare-'))
      .map((m) => m.receivedAt - called.get(m.customArgs.user_id!)!);

    const loadEnd = loadAverage();
    const e2e = summarize(endToEnd);
    const act = summarize(bareLatencies);
    const ratios = { p50: ratio(e2e.p50, act.p50), p99: ratio(e2e.p99, act.p99) };
    say('');
    say(`event to message (${opts.customers} customers at ${rate} events/s, the transactional welcome on "Signed Up")`);
    say(`  202 -> SendGrid received     p50 ${e2e.p50} ms  p90 ${e2e.p90} ms  p99 ${e2e.p99} ms  max ${e2e.max} ms`);
    say(`  bare deliverMessage activity p50 ${act.p50} ms  p90 ${act.p90} ms  p99 ${act.p99} ms  max ${act.max} ms`);
    say(`  journey/bare p50 ${ratios.p50}x, p99 ${ratios.p99}x; load average ${loadStart.join(' ')} -> ${loadEnd.join(' ')}`);
    say(`p50 event to message: ${Math.round(e2e.p50)} ms`);
    const result = { options: { ...opts, rate }, endToEnd: e2e, bareActivity: act, ratios, loadAverage: { start: loadStart, end: loadEnd } };
    say(`  result: ${writeResult('latency', result)}`);
    return result;
  } finally {
    await db.close();
    await stack.stop();
  }
}
