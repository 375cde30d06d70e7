import { loadavg } from 'node:os';
import { optionalTsToMs, tsToMs } from '@temporalio/common/lib/time.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { connectDatabase, type Models } from '../src/db/models.js';
import { createSendgridMailer } from '../src/delivery/mailer.js';
import { JOURNEY_CODE_VERSION, newRunInput, trackEventSignal, WORKFLOW_TYPES, type BroadcastInput, type CustomerJourneyInput, type TrackedEvent } from '../src/temporal/contract.js';
import type { customerJourney } from '../workflows/customer-journey.js';
import { runEntry, waitFor } from '../test/support/processes.js';
import { sample } from '../test/support/prometheus.js';
import { freePort } from '../src/servers/local-servers.js';
import { ADMIN_KEY, closedLoop, coachingLiveActivities, cpuMsPer, cpuSeconds, msPer, ratio, say, SENDGRID_KEY, settledCounter, stackCpu, startBenchStack, summarize, writeResult, type BenchStack, type LatencySummary } from './support.js';

export interface BroadcastOptions {
  /** Live journeys the broadcast reaches. */
  customers: number;
  /** The SendGrid account's plan rate (sends a second): the local server answers 429 beyond it, the workers are given it. */
  planRate: number;
  /** false: the workers are not told the plan rate (the A/B of the server-side rate limit: 429s come back). */
  workerRate: boolean;
  /** Marketing deliveries worked on at once (the worker's slots), and the bare activity's concurrency. */
  concurrency: number;
  /** Transactional sign-ups a second while measuring (idle, then during the broadcast). */
  probeRate: number;
  /** Transactional sign-ups measured on the idle stack. */
  idleProbes: number;
  /** signal-with-start calls in flight while the population is created. */
  startConcurrency: number;
  /** Journeys started but not yet through their first pass, at most, while the population is created. */
  maxUnsettled: number;
  /**
   * Transactional sends in a worker process of their own (WORKER_TASK_QUEUES=transactional beside a worker with
   * journeys,marketing), as docs/scaling.md deploys them; false: one worker polls every queue.
   */
  transactionalWorker: boolean;
  /** The journey code version the probes' sign-ups are pinned to (an A/B of a welcome's path); the current one if unset. */
  probeCodeVersion?: number | undefined;
  /**
   * Measure the broadcast for at most this long, then end it (its workflow terminated, the briefs it already caused
   * let arrive) and print the figures of what was measured: a broadcast to 100,000 takes longer than a session.
   */
  broadcastMinutes?: number | undefined;
}

const DEFINITION = 'coachinglive';
/** The transactional queue's share of the plan rate (SENDGRID_TRANSACTIONAL_SHARE), given to the worker. */
const TRANSACTIONAL_SHARE = 0.2;
const CAMPAIGN = 'daily_brief';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg()[0]!.toFixed(1);

/**
 * A time zone where it is about midday now: marketing goes out between 09:00 and 20:00 local time, so a
 * broadcast measured at any hour of the day goes out at once. Etc/GMT-N is UTC+N.
 */
function middayZone(): string {
  const offset = ((12 - new Date().getUTCHours() + 36) % 24) - 12;
  return offset === 0 ? 'UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

/** Profiles as a backend's identify leaves them: an address, and whether they asked for the daily brief (the campaign's segment). */
async function insertProfiles(models: Models, ids: readonly string[], dailyBrief: boolean): Promise<void> {
  for (let i = 0; i < ids.length; i += 1_000) {
    await models.Customer.insertMany(
      ids.slice(i, i + 1_000).map((id) => ({ _id: id, email: `${id}@example.com`, firstName: 'Bench', timezone: middayZone(), traits: { dailyBrief } })),
      { ordered: false },
    );
  }
}

/** The API's own signal-with-start of a customer event (the raw client, as bench ingestion's ceiling). */
function signalWithStart(stack: BenchStack, userId: string, event: string, messageId: string, codeVersion?: number) {
  const input: CustomerJourneyInput = newRunInput(userId, DEFINITION, codeVersion === undefined ? {} : { codeVersion });
  return stack.client.workflow.signalWithStart<typeof customerJourney, [TrackedEvent]>(WORKFLOW_TYPES.customerJourney, {
    workflowId: `customer-${userId}`,
    taskQueue: stack.taskQueue,
    args: [input],
    signal: trackEventSignal,
    signalArgs: [{ messageId, event }],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    staticSummary: `Lifecycle journey of customer ${userId}`,
  });
}

interface Probes {
  /** signal-with-start of "Signed Up" -> the transactional welcome received by the SendGrid server. */
  transactional: LatencySummary;
  /** Of that: signal-with-start -> the delivery scheduled (the journey's workflow task, on the journeys' queue). */
  journeyPart: LatencySummary;
  /** And the delivery scheduled -> SendGrid received (the transactional queue and the send). */
  deliveryPart: LatencySummary;
  /** Of that: the delivery scheduled -> a worker took it (the transactional queue: the server's matching and rate limit, the worker's slots). */
  queuePart: LatencySummary;
  retried: string[];
  /** GET /v1/customers/:id (a workflow query). */
  query: LatencySummary;
  /** POST /v1/customers/:id/pause-marketing (a workflow update, answered once applied). */
  action: LatencySummary;
  /** Support calls that did not answer 200 (or 422, refused by the validator), e.g. 503 after the API's upstream timeout. */
  failures: number;
  firstFailures: string[];
  loadAverage: string;
}

/**
 * Probe the stack until `until` resolves (or `count` sign-ups were sent): new customers sign up at `rate` a
 * second, and support staff query and act on live journeys at the same rate.
 */
async function probe(stack: BenchStack, opts: { tag: string; rate: number; codeVersion: number | undefined; count?: number; until?: Promise<unknown>; population: number; offset?: number; profiles: number }): Promise<Probes> {
  const signedUp = new Map<string, number>();
  const queries: number[] = [];
  const actions: number[] = [];
  const failures: string[] = [];
  let done = false;
  void opts.until?.then(() => (done = true));
  const inflight: Promise<unknown>[] = [];
  const gap = 1000 / opts.rate;
  const started = performance.now();
  for (let i = 0; !done && (opts.count === undefined || i < opts.count); i++) {
    const wait = started + i * gap - performance.now();
    if (wait > 0) await sleep(wait);
    if (i === opts.profiles) {
      // A broadcast slower than the profiles were written for: the sign-ups stop (each needs its profile), the
      // support probes go on, and what was measured stands.
      say(`    ${opts.tag}: ${i} sign-ups, one per profile written for them; the sign-ups stop here`);
    }
    const userId = `tx-${opts.tag}-${i}`;
    inflight.push(
      (async () => {
        if (i >= opts.profiles) return;
        signedUp.set(userId, Date.now());
        await signalWithStart(stack, userId, 'Signed Up', `${userId}-signup`, opts.codeVersion);
      })(),
    );
    // Support staff on live journeys of the population, each a different customer.
    const member = `bc-${(i * 7919 + (opts.tag === 'idle' ? 0 : 1)) % opts.population}`;
    inflight.push(
      (async () => {
        const t = performance.now();
        const res = await stack.call('GET', `/v1/customers/${member}`, { key: ADMIN_KEY });
        if (res.status === 200) queries.push(performance.now() - t);
        else failures.push(`query of ${member}: ${res.status} after ${Math.round(performance.now() - t)} ms`);
      })(),
    );
    const acted = `bc-${((opts.tag === 'idle' ? 0 : opts.offset ?? 0) + i) % opts.population}`;
    inflight.push(
      (async () => {
        const t = performance.now();
        const res = await stack.call('POST', `/v1/customers/${acted}/pause-marketing`, { key: ADMIN_KEY, body: { reason: 'bench' } });
        // 422 ("paused already"): a small population came round; still a round trip through the workflow's validator.
        if (res.status === 200 || res.status === 422) actions.push(performance.now() - t);
        else failures.push(`pause of ${acted}: ${res.status} after ${Math.round(performance.now() - t)} ms`);
      })(),
    );
  }
  await Promise.all(inflight);
  const welcomes = () => stack.servers.sendgrid.messages.filter((m) => m.customArgs.campaign_id === 'welcome' && signedUp.has(m.customArgs.user_id ?? ''));
  await waitFor(`${signedUp.size} welcomes (${opts.tag})`, async () => welcomes().length >= signedUp.size, 600_000, 250);
  // Where the time went: each welcome's journey history says when its delivery was scheduled.
  const journeyPart: number[] = [];
  const deliveryPart: number[] = [];
  const queuePart: number[] = [];
  /** Welcomes whose delivery took more than one attempt, with the failure before the last. */
  const retried: string[] = [];
  for (const m of welcomes()) {
    const userId = m.customArgs.user_id!;
    const events = (await stack.client.workflow.getHandle(`customer-${userId}`).fetchHistory()).events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverMessage');
    if (!scheduled) continue;
    const at = tsToMs(scheduled.eventTime);
    const startedEvent = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId ?? ''));
    const attempt = startedEvent?.activityTaskStartedEventAttributes?.attempt ?? 1;
    if (attempt > 1) retried.push(`${userId}: attempt ${attempt} after ${startedEvent?.activityTaskStartedEventAttributes?.lastFailure?.message ?? '?'}`);
    journeyPart.push(at - signedUp.get(userId)!);
    deliveryPart.push(m.receivedAt - at);
    const startedAt = optionalTsToMs(startedEvent?.eventTime);
    if (startedAt !== undefined && attempt === 1) queuePart.push(startedAt - at);
  }
  return {
    transactional: summarize(welcomes().map((m) => m.receivedAt - signedUp.get(m.customArgs.user_id!)!)),
    journeyPart: summarize(journeyPart),
    retried,
    deliveryPart: summarize(deliveryPart),
    queuePart: summarize(queuePart),
    query: summarize(queries),
    action: summarize(actions),
    failures: failures.length,
    firstFailures: failures.slice(0, 5),
    loadAverage: load(),
  };
}

/** The worker's fan-out window as its /metrics reports it (src/metrics/broadcast-metrics.ts), for the progress lines. */
async function fanOutWindow(metricsUrl: string): Promise<string> {
  try {
    // A progress line does not wait on a busy worker: it says so after 5 s and the next line asks again.
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) })).text();
    const value = (name: string) => sample(text, name);
    return `window ${value('lifecycle_broadcast_window_limit') ?? '?'} (${value('lifecycle_broadcast_window_in_flight') ?? '?'} waited on), halved ${value('lifecycle_broadcast_window_cuts') ?? '?'} times`;
  } catch {
    return 'window: the worker\'s /metrics did not answer within 5 s';
  }
}

/**
 * A broadcast to `customers` live journeys at the provider's plan rate, against the bare deliverMessage activity
 * at the same concurrency; and what it does to a transactional message for a new customer and to support
 * actions, against the same on the idle stack.
 */
export async function broadcast(opts: BroadcastOptions): Promise<Record<string, unknown>> {
  const metricsPort = await freePort();
  const stack = await startBenchStack('broadcast', {
    WORKER_METRICS_PORT: String(metricsPort),
    ...(opts.workerRate ? { SENDGRID_RATE_PER_SECOND: String(opts.planRate) } : {}),
    SENDGRID_TRANSACTIONAL_SHARE: String(TRANSACTIONAL_SHARE),
    WORKER_MARKETING_ACTIVITIES: String(opts.concurrency),
    ...(opts.transactionalWorker ? { WORKER_TASK_QUEUES: 'journeys,marketing' } : {}),
  });
  const transactionalWorker = opts.transactionalWorker ? runEntry('src/worker/main.ts', { ...stack.env, WORKER_TASK_QUEUES: 'transactional' }) : undefined;
  const { sendgrid } = stack.servers;
  sendgrid.setPlanRate(opts.planRate);
  const db = await connectDatabase(stack.env.MONGODB_URI!);
  try {
    // The population: profiles written directly, journeys started by signal-with-start at full rate, at most
    // maxUnsettled of them not yet through their first pass (a deeper backlog stalls the dev server's matching).
    const t0 = performance.now();
    const ids = Array.from({ length: opts.customers }, (_, i) => `bc-${i}`);
    await insertProfiles(db.models, ids, true);
    // One walker reads how far the journeys have settled, four times a second; the start lanes only read its figure
    // (a walk per lane, 32 of them, kept FerretDB busy answering the benchmark: 2-3 s a lookup).
    const settledAtLeast = settledCounter(db.models, (k) => `bc-${k}`);
    let settled = 0;
    let populating = true;
    const walker = (async () => {
      while (populating && settled < opts.customers) {
        settled = await settledAtLeast(opts.customers);
        await sleep(250);
      }
    })();
    const started = await closedLoop(opts.customers, opts.startConcurrency, async (i) => {
      while (i - settled >= opts.maxUnsettled) await sleep(50);
      await signalWithStart(stack, ids[i]!, 'Workout Logged', `${ids[i]}-1`);
    });
    if (started.errors > 0) {
      populating = false;
      throw new Error(`${started.errors} starts failed: ${started.firstErrors.join('; ')}`);
    }
    await walker;
    const populationS = (performance.now() - t0) / 1000;
    say(`  ${opts.customers} live journeys in ${populationS.toFixed(0)} s (${(opts.customers / populationS).toFixed(0)}/s), load ${load()}`);

    // The idle stack: transactional sign-ups and support actions with nothing else going on.
    // Sign-ups' profiles are written first, in one go: one insert at a time beside the stack's own writes met SQLITE_BUSY in FerretDB.
    await insertProfiles(db.models, Array.from({ length: opts.idleProbes }, (_, i) => `tx-idle-${i}`), false);
    const idle = await probe(stack, { tag: 'idle', rate: opts.probeRate, codeVersion: opts.probeCodeVersion, count: opts.idleProbes, population: opts.customers, profiles: opts.idleProbes });
    say(`  idle: transactional p50 ${idle.transactional.p50} ms p99 ${idle.transactional.p99} ms; query p99 ${idle.query.p99} ms; support action p99 ${idle.action.p99} ms; load ${idle.loadAverage}`);

    // The broadcast, with the same probes running until every message it causes reached SendGrid.
    // Enough for a broadcast at 4 briefs a second (two loaded cores carry 7-25) or at a third of the marketing share, whichever is slower.
    const duringProfiles = Math.ceil(opts.probeRate * (opts.customers / Math.min(4, (opts.planRate * (1 - TRANSACTIONAL_SHARE)) / 3) + 300));
    await insertProfiles(db.models, Array.from({ length: duringProfiles }, (_, i) => `tx-broadcast-${i}`), false);
    sendgrid.reset();
    const cpuBefore = stackCpu(stack);
    const transactionalCpuBefore = cpuSeconds(transactionalWorker?.process.pid);
    const broadcastStarted = Date.now();
    const run = await stack.client.workflow.start(WORKFLOW_TYPES.broadcastCampaign, {
      workflowId: `bench-broadcast-${broadcastStarted}`,
      taskQueue: stack.taskQueue,
      args: [{ campaignId: CAMPAIGN, definition: { id: DEFINITION } } satisfies BroadcastInput],
    });
    const briefs = () => sendgrid.messages.filter((m) => m.customArgs.campaign_id === CAMPAIGN);
    /** Every brief in, as the bench waits for one: none for 3 s. */
    const briefsSettled = (timeoutMs: number) =>
      waitFor(`the broadcast's briefs`, async () => {
        const n = briefs().length;
        await sleep(3_000);
        return briefs().length === n && n > 0;
      }, timeoutMs, 0);
    const reached = (async () => {
      const { signalled } = (await run.result()) as { signalled: number };
      // Every journey reached sends one brief (the paused ones skip it: those the support probes paused).
      await briefsSettled(3_600_000);
      return signalled;
    })();
    let stopTimer: NodeJS.Timeout | undefined;
    const stopped = new Promise<'stopped'>((resolve) => {
      if (opts.broadcastMinutes !== undefined) stopTimer = setTimeout(() => resolve('stopped'), opts.broadcastMinutes * 60_000);
    });
    // The broadcast measured to its last brief, or for broadcastMinutes.
    const measured = Promise.race([reached.then(() => 'done' as const), stopped]);
    const progress = setInterval(() => {
      void fanOutWindow(`http://127.0.0.1:${metricsPort}/metrics`).then((window) =>
        say(`    ${Math.round((Date.now() - broadcastStarted) / 1000)} s: ${briefs().length} briefs, ${sendgrid.rateLimited} answered 429, load ${load()}; ${window}`),
      );
    }, 10_000);
    const during = await probe(stack, { tag: 'broadcast', rate: opts.probeRate, codeVersion: opts.probeCodeVersion, until: measured, population: opts.customers, offset: opts.idleProbes, profiles: duringProfiles });
    let signalled: number | undefined;
    if ((await measured) === 'stopped') {
      // Ended here: the journeys it already reached send their briefs, which count; the run's rate is theirs.
      reached.catch(() => undefined);
      await run.terminate(`bench: measured for ${opts.broadcastMinutes} minutes`);
      await briefsSettled(600_000);
      say(`  broadcast stopped after ${opts.broadcastMinutes} minutes, as asked (--broadcast-minutes): ${briefs().length} of ${opts.customers} briefs`);
    } else {
      clearTimeout(stopTimer);
      signalled = await reached;
    }
    clearInterval(progress);
    const sent = briefs();
    // Each process's CPU over the broadcast (the probes' sign-ups and support calls beside it included), per brief.
    const cpuPerBrief = cpuMsPer(cpuBefore, stackCpu(stack), sent.length);
    const transactionalWorkerCpuPerBrief = transactionalWorker ? msPer(transactionalCpuBefore, cpuSeconds(transactionalWorker.process.pid), sent.length) : undefined;
    const lastAt = Math.max(...sent.map((m) => m.receivedAt));
    const broadcastRate = (sent.length / (lastAt - broadcastStarted)) * 1000;
    const rateLimited = sendgrid.rateLimited;
    const broadcastLoad = load();
    say(`  broadcast: ${signalled ?? 'not all'} journeys signalled, ${sent.length} briefs in ${((lastAt - broadcastStarted) / 1000).toFixed(1)} s, load ${broadcastLoad}`);

    // The bare activity: deliverMessage called directly at the same concurrency, the plan's limit off (our code's ceiling).
    sendgrid.setPlanRate(undefined);
    const bareCount = Math.min(opts.customers, 2_000);
    const bareIds = Array.from({ length: bareCount }, (_, i) => `bare-${i}`);
    await insertProfiles(db.models, bareIds, true);
    const { activities, loaded } = await coachingLiveActivities(db.models, createSendgridMailer({ apiKey: SENDGRID_KEY, baseUrl: sendgrid.url }));
    const bare = await closedLoop(bareCount, opts.concurrency, async (i) => {
      const userId = bareIds[i]!;
      await new MockActivityEnvironment().run(activities.deliverMessage, {
        key: `customer-${userId}/${CAMPAIGN}/bare`,
        userId,
        campaignId: CAMPAIGN,
        occurrence: 1,
        kind: 'marketing' as const,
        template: CAMPAIGN,
        segments: [],
        definition: { id: loaded.definition.id, version: loaded.version },
        summary: 'send Daily brief',
        journey: { stage: 'prospect', plan: null, counters: {} },
      });
    });
    if (bare.errors > 0) throw new Error(`${bare.errors} bare deliveries failed: ${bare.firstErrors.join('; ')}`);
    const bareRate = (bareCount / bare.wallMs) * 1000;
    const bareLoad = load();

    const ratios = {
      broadcastVsBare: ratio(broadcastRate, bareRate),
      broadcastVsPlan: ratio(broadcastRate, opts.planRate * (1 - TRANSACTIONAL_SHARE)),
      transactionalP99: ratio(during.transactional.p99, idle.transactional.p99),
      journeyPartP99: ratio(during.journeyPart.p99, idle.journeyPart.p99),
      deliveryPartP99: ratio(during.deliveryPart.p99, idle.deliveryPart.p99),
      queuePartP99: ratio(during.queuePart.p99, idle.queuePart.p99),
      queryP99: ratio(during.query.p99, idle.query.p99),
      actionP99: ratio(during.action.p99, idle.action.p99),
    };
    say('');
    say(
      `broadcast (${opts.customers} live journeys${signalled === undefined ? `, stopped after ${opts.broadcastMinutes} minutes with ${sent.length} briefs` : ''}, plan rate ${opts.planRate}/s, ${opts.workerRate ? `of which marketing ${opts.planRate * (1 - TRANSACTIONAL_SHARE)}/s` : 'not told to the workers'}, ${opts.concurrency} marketing slots, sign-ups on code version ${opts.probeCodeVersion ?? JOURNEY_CODE_VERSION})`,
    );
    say(
      `  CPU per brief over the broadcast (the probes beside it included): worker ${cpuPerBrief.worker} ms, Temporal ${cpuPerBrief.temporal} ms, FerretDB ${cpuPerBrief.ferretdb} ms, API ${cpuPerBrief.api} ms` +
        (transactionalWorkerCpuPerBrief === undefined ? '' : `, transactional worker ${transactionalWorkerCpuPerBrief} ms`),
    );
    say(`  broadcast ${broadcastRate.toFixed(1)} messages/s (load ${broadcastLoad}); bare deliverMessage at concurrency ${opts.concurrency}, no plan limit: ${bareRate.toFixed(1)} messages/s (load ${bareLoad})`);
    say(`broadcast / bare deliverMessage: ${ratios.broadcastVsBare.toFixed(2)}x`);
    say(`broadcast / marketing share of the plan rate: ${ratios.broadcastVsPlan.toFixed(2)}x`);
    say(`429 answers from SendGrid during the broadcast: ${rateLimited}`);
    say(`  transactional (signal-with-start -> SendGrid) idle p50 ${idle.transactional.p50} / p99 ${idle.transactional.p99} ms (n ${idle.transactional.n}); during p50 ${during.transactional.p50} / p99 ${during.transactional.p99} ms (n ${during.transactional.n})`);
    say(`transactional p99 during broadcast / idle: ${ratios.transactionalP99.toFixed(2)}x`);
    say(`  of which the journey's workflow task (event -> delivery scheduled): p99 ${during.journeyPart.p99} / ${idle.journeyPart.p99} ms (${ratios.journeyPartP99.toFixed(2)}x)`);
    say(`  and the transactional queue and send (scheduled -> SendGrid): p99 ${during.deliveryPart.p99} / ${idle.deliveryPart.p99} ms (${ratios.deliveryPartP99.toFixed(2)}x)`);
    say(`    the queue alone (scheduled -> a worker took it): p50 ${during.queuePart.p50} / ${idle.queuePart.p50} ms, p99 ${during.queuePart.p99} / ${idle.queuePart.p99} ms (${ratios.queuePartP99.toFixed(2)}x)`);
    say(`  welcomes sent on a second attempt: idle ${idle.retried.length}, during ${during.retried.length} ${[...idle.retried, ...during.retried].slice(0, 3).join('; ')}`);
    say(`support query p99 during broadcast / idle: ${ratios.queryP99.toFixed(2)}x (${during.query.p99} / ${idle.query.p99} ms)`);
    say(`support action p99 during broadcast / idle: ${ratios.actionP99.toFixed(2)}x (${during.action.p99} / ${idle.action.p99} ms)`);
    say(`  support calls failed: idle ${idle.failures}, during ${during.failures} ${during.firstFailures.join('; ')}`);
    const result = {
      options: opts,
      population: { seconds: Math.round(populationS), perSecond: Math.round(opts.customers / populationS) },
      broadcast: { signalled: signalled ?? null, stoppedAfterMinutes: signalled === undefined ? opts.broadcastMinutes : null, messages: sent.length, messagesPerSecond: Math.round(broadcastRate * 10) / 10, rateLimited, loadAverage: broadcastLoad, cpuMsPerBrief: { ...cpuPerBrief, transactionalWorker: transactionalWorkerCpuPerBrief ?? null } },
      bare: { messages: bareCount, messagesPerSecond: Math.round(bareRate * 10) / 10, loadAverage: bareLoad },
      idle,
      during,
      ratios,
    };
    say(`  result: ${writeResult('broadcast', result)}`);
    return result;
  } finally {
    await db.close();
    await transactionalWorker?.stop();
    await stack.stop();
  }
}
