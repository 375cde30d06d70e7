import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { JourneyActivities } from '../activities/journey-activities.js';
import type { ReadModelActivities } from '../activities/read-model-activities.js';
import type { JourneyPlan } from '../src/core/definition.js';
import { tagPlan } from '../src/core/definition-tags.js';
import type { ReadModelBatch } from '../src/core/journey-facts.js';
import type { DeliveryOutcome, DeliveryRequest, JourneyCommand, JourneyInput, JourneyState, SupportAction } from '../src/core/journey-state.js';
import { currentDetails, journeyView, searchAttributesOf } from '../src/core/journey-view.js';
import { nextWakeUp, refuseSupportAction, startJourney, step } from '../src/core/lifecycle.js';
import { planFits, resumeJourney } from '../src/core/resume-journey.js';
import {
  deliverBroadcastSignal,
  emailEventSignal,
  getJourneyQuery,
  identifyCustomerSignal,
  joinAnonymousSignal,
  newRunInput,
  supportActionUpdate,
  trackEventSignal,
  type CustomerJourneyInput,
  type SupportRequest,
} from '../src/temporal/contract.js';
import { searchAttributeUpdates } from '../src/temporal/search-attribute-keys.js';

const { loadJourneyPlan } = proxyLocalActivities<JourneyActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const { recordJourney } = proxyActivities<ReadModelActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { evaluateSegments, checkAudience, correctProfile, syncComputedTraits } = proxyActivities<JourneyActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Retried until the provider takes it (429/5xx/outages); a 4xx fails at once and the journey goes on. */
// Call sites add only a summary: executeWithOptions merges it into these options.
const { deliverMessage } = proxyActivities<JourneyActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: ['DeliveryRejected'] },
});

type ComputedTraits = Extract<JourneyCommand, { type: 'syncComputedTraits' }>['traits'];

const TIMER_CANCEL_GUARD_MS = 5_000;
/**
 * A run continues as new once its history holds this many events or bytes, well under our own ceiling of
 * 4,096 events and 4 MiB: the run first works off what is in flight, and signals keep arriving meanwhile.
 * (Counting inputs alone let the busiest customer's runs reach 4,112 events: `npm run bench -- history`.)
 */
const HISTORY_EVENTS_PER_RUN = 3_000;
const HISTORY_BYTES_PER_RUN = 3 * 1024 * 1024;

/**
 * One customer's whole lifecycle. A thin shell around the pure core: it queues signals, sleeps until the
 * next deadline, carries out the core's commands, keeps search attributes current and continues as new
 * before the history grows large.
 */
export async function customerJourney(input: CustomerJourneyInput): Promise<void> {
  const inbox: JourneyInput[] = [];
  setHandler(trackEventSignal, (event) => {
    inbox.push({ type: 'event', now: Date.now(), event });
  });
  setHandler(identifyCustomerSignal, (change) => {
    inbox.push({ type: 'profile', now: Date.now(), change });
  });
  setHandler(joinAnonymousSignal, (join) => {
    const now = Date.now();
    if ((input.codeVersion ?? 1) >= 3) inbox.push({ type: 'join', now, join });
    else for (const event of join.events) inbox.push({ type: 'event', now, event });
  });
  setHandler(deliverBroadcastSignal, (broadcast) => {
    inbox.push({ type: 'broadcast', now: Date.now(), broadcast });
  });
  setHandler(emailEventSignal, (event) => {
    inbox.push({ type: 'emailEvent', now: Date.now(), event });
  });

  // tagPlan: a plan recorded in this history before definitions carried union tags replays with them.
  let plan: JourneyPlan = tagPlan(await loadJourneyPlan({ id: input.definition.id, version: input.carried ? undefined : input.definition.version }));
  let state: JourneyState;
  const startup: JourneyCommand[] = [];
  if (input.carried) {
    if (!planFits(plan, input.carried)) {
      log.warn('current journey definition has no stage for this customer; keeping the version the journey runs', {
        stage: input.carried.stage,
        version: input.carried.definition.version,
      });
      plan = tagPlan(await loadJourneyPlan(input.carried.definition));
    }
    state = resumeJourney(plan, input.carried, Date.now());
  } else {
    const started = startJourney(plan, input.userId, Date.now());
    state = started.state;
    startup.push(...started.commands);
  }
  setHandler(getJourneyQuery, () => journeyView(plan, state));

  // Support actions go through the main loop like any input; the update answers once it was applied.
  let supportQueued = 0;
  let supportApplied = 0;
  const toAction = (request: SupportRequest): SupportAction => {
    switch (request.action) {
      case 'extendTrial':
        return { kind: 'extendTimer', timerId: plan.support.trialTimer ?? '', byMs: request.days * 86_400_000 };
      case 'pauseMarketing':
        return { kind: 'pauseMarketing' };
      case 'resumeMarketing':
        return { kind: 'resumeMarketing' };
      case 'correctProfile':
        return { kind: 'note', action: `profile corrected: ${[request.timezone && `timezone ${request.timezone}`, request.locale && `locale ${request.locale}`].filter(Boolean).join(', ')}` };
    }
  };
  setHandler(
    supportActionUpdate,
    async (request) => {
      if (request.action === 'correctProfile') {
        await correctProfile.executeWithOptions({ summary: 'correct profile (support)' }, [
          { userId: state.userId, ...(request.timezone ? { timezone: request.timezone } : {}), ...(request.locale ? { locale: request.locale } : {}) },
        ]);
      }
      const mine = ++supportQueued;
      inbox.push({ type: 'support', now: Date.now(), action: toAction(request), actor: request.actor, ...(request.reason ? { reason: request.reason } : {}) });
      await condition(() => supportApplied >= mine);
      return journeyView(plan, state);
    },
    {
      validator: (request) => {
        if (!request || typeof request.actor !== 'string' || request.actor.length === 0) throw new Error('say who acts (actor)');
        if (request.action === 'extendTrial' && !plan.support.trialTimer) throw new Error('this journey has no trial to extend');
        if (request.action === 'extendTrial' && (!Number.isInteger(request.days) || request.days < 1 || request.days > 90)) {
          throw new Error('extend a trial by 1 to 90 whole days');
        }
        if (request.action === 'correctProfile' && !request.timezone && !request.locale) throw new Error('say the timezone or the locale to correct');
        if (!['extendTrial', 'pauseMarketing', 'resumeMarketing', 'correctProfile'].includes(request.action)) throw new Error(`unknown action ${String(request.action)}`);
        const refusal = refuseSupportAction(plan, state, toAction(request));
        if (refusal) throw new Error(refusal);
      },
    },
  );

  const inflight = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    inflight.add(work);
    void work.finally(() => inflight.delete(work));
  };

  const deliver = async (request: DeliveryRequest): Promise<DeliveryOutcome> => {
    if (request.segments.length > 0) {
      const audience = await checkAudience.executeWithOptions(
        { summary: `check audience of ${request.campaignId}` },
        [{ userId: request.userId, definition: request.definition, segments: request.segments }],
      );
      if (!audience.inAudience) return { status: 'skipped', reason: audience.reason ?? 'left the audience' };
    }
    try {
      return await deliverMessage.executeWithOptions(
        { summary: request.summary },
        [request],
      );
    } catch (err) {
      if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
        return { status: 'failed', reason: err.cause.message };
      }
      throw err;
    }
  };
  const deliverOrFail = async (request: DeliveryRequest): Promise<DeliveryOutcome> => {
    try {
      return await deliver(request);
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.error('delivery failed', { key: request.key, error: String(err) });
      return { status: 'failed', reason: err instanceof Error ? err.message : String(err) };
    }
  };

  // Read-model writes of one pass through the loop go out as one activity: facts merged, newest snapshot.
  let unrecorded: ReadModelBatch | undefined;
  const flushRecords = () => {
    if (!unrecorded) return;
    const batch = unrecorded;
    unrecorded = undefined;
    track(
      recordJourney.executeWithOptions({ summary: `record ${batch.snapshot.stage} (${batch.facts.length} facts)` }, [batch]).catch((err) => {
        if (isCancellation(err)) throw err;
        log.error('read model write failed', { error: String(err) });
      }),
    );
  };

  const evaluate = () =>
    evaluateSegments.executeWithOptions({ summary: 'evaluate segments' }, [{ userId: state.userId, definition: state.definition }]).then(
      (segments) => {
        inbox.push({ type: 'segments', now: Date.now(), segments });
      },
      (err) => {
        if (isCancellation(err)) throw err;
        log.error('segment evaluation failed', { error: String(err) });
      },
    );

  let traitsWritten: Promise<void> = Promise.resolve();
  // Runs started by older code (their input says so) replay as they ran: see JOURNEY_CODE_VERSION.
  const codeVersion = input.codeVersion ?? 1;
  const coalesce = codeVersion >= 2;
  const execute = (commands: JourneyCommand[]) => {
    for (const command of commands) {
      if (command.type === 'record') {
        unrecorded = { snapshot: command.batch.snapshot, facts: [...(unrecorded?.facts ?? []), ...command.batch.facts] };
      } else if (command.type === 'deliver') {
        const { request } = command;
        track(
          deliverOrFail(request).then((outcome) => {
            inbox.push({ type: 'delivery', now: Date.now(), key: request.key, outcome });
          }),
        );
      } else if (command.type === 'syncComputedTraits') {
        if (coalesce) unsynced = { traits: { ...unsynced?.traits, ...command.traits }, at: command.at };
        else writeTraits(command.traits, command.at);
      } else if (coalesce) {
        evaluationWanted = true;
      } else {
        track(evaluate());
      }
    }
  };
  // One write after the other, so an older one never lands last; segments follow each write.
  const writeTraits = (traits: ComputedTraits, at: number) => {
    traitsWritten = traitsWritten.then(() =>
      syncComputedTraits.executeWithOptions({ summary: 'update computed traits' }, [{ userId: state.userId, traits, at }]).then(evaluate, (err) => {
        if (isCancellation(err)) throw err;
        log.error('computed traits update failed', { error: String(err) });
      }),
    );
    track(traitsWritten);
  };
  // Profile work of one pass goes out once: the newest computed traits (merged), then one segment evaluation.
  let unsynced: { traits: ComputedTraits; at: number } | undefined;
  let evaluationWanted = false;
  const flushProfileWork = () => {
    if (unsynced) writeTraits(unsynced.traits, unsynced.at);
    else if (evaluationWanted) track(evaluate());
    unsynced = undefined;
    evaluationWanted = false;
  };

  // Search attributes and the one-line details: upserted only when they change.
  let upserted = '';
  const publish = () => {
    const sa = searchAttributesOf(plan, state);
    const key = JSON.stringify(sa);
    if (key !== upserted) {
      upsertSearchAttributes(searchAttributeUpdates(sa));
      upserted = key;
    }
    setCurrentDetails(currentDetails(plan, state));
  };

  // One durable timer at a time, for the earliest deadline (or computed trait window); replaced only when it moves.
  let timer: { at: number; scope: CancellationScope; fired: boolean } | undefined;
  const armTimer = () => {
    const next = nextWakeUp(state);
    if (timer && (!next || next.at !== timer.at)) {
      // A timer due now or within moments may already have fired on the server while this task ran:
      // leave it to fire (a harmless wake-up) rather than cancel it. The time-skipping test server
      // refuses such a cancel outright (temporalio/sdk-java#3088); the real one would record a no-op.
      if (timer.at - Date.now() > TIMER_CANCEL_GUARD_MS) timer.scope.cancel();
      timer = undefined;
    }
    if (!next || timer || next.at <= Date.now()) return;
    const armed = { at: next.at, scope: new CancellationScope(), fired: false };
    timer = armed;
    armed.scope
      .run(() => sleep(next.at - Date.now(), { summary: next.summary }))
      .then(
        () => {
          armed.fired = true;
        },
        (err) => {
          if (!isCancellation(err)) throw err;
        },
      );
  };
  const due = () => {
    const next = nextWakeUp(state);
    return next !== undefined && next.at <= Date.now();
  };

  let inputsThisRun = 0;
  const applyInbox = () => {
    while (inbox.length > 0) {
      const next = inbox.shift()!;
      inputsThisRun += 1;
      const result = step(plan, state, next);
      state = result.state;
      execute(result.commands);
      if (next.type === 'support') supportApplied += 1;
    }
  };

  execute(startup);
  // A journey started by signal-with-start has its first event waiting: with `coalesce`, the start and that
  // event are one pass (one read-model write, one profile update, one segment evaluation).
  if (coalesce) applyInbox();
  flushRecords();
  flushProfileWork();
  publish();
  const maxInputs = input.maxInputsPerRun ?? 2_000;
  const boundHistory = codeVersion >= 2;
  const shouldContinueAsNew = () => {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      inputsThisRun >= maxInputs ||
      (boundHistory && (info.historyLength >= HISTORY_EVENTS_PER_RUN || info.historySize >= HISTORY_BYTES_PER_RUN))
    );
  };

  for (;;) {
    armTimer();
    await condition(
      () => inbox.length > 0 || timer?.fired === true || due() || (shouldContinueAsNew() && inflight.size === 0 && allHandlersFinished()),
    );
    applyInbox();
    if (timer?.fired || due()) {
      if (timer?.fired) timer = undefined;
      const result = step(plan, state, { type: 'tick', now: Date.now() });
      state = result.state;
      execute(result.commands);
    }
    flushRecords();
    flushProfileWork();
    publish();
    if (shouldContinueAsNew() && inbox.length === 0 && inflight.size === 0 && allHandlersFinished()) {
      // Pending timers go with this run; the next one arms its own from the carried deadlines.
      await continueAsNew<typeof customerJourney>(
        newRunInput(input.userId, plan.id, { carried: state, ...(input.maxInputsPerRun ? { maxInputsPerRun: input.maxInputsPerRun } : {}) }),
      );
    }
  }
}
