import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { JourneyActivities } from '../activities/journey-activities.js';
import type { OpenedJourney, OpeningActivities } from '../activities/opening-activities.js';
import type { ReadModelActivities } from '../activities/read-model-activities.js';
import type { JourneyPlan } from '../src/core/journey-definition.js';
import { tagPlan } from '../src/core/definition-tags.js';
import { withoutChannelChoices } from '../src/core/channel-routing.js';
import type { ReadModelBatch } from '../src/core/journey-facts.js';
import type { ComputedValue, DeliveryOutcome, DeliveryRequest, JourneyCommand, JourneyInput, JourneyState } from '../src/core/journey-state.js';
import { currentDetails, journeyView, searchAttributesOf, type JourneyView } from '../src/core/journey-view.js';
import { nextWakeUp, startJourney, step, withoutEngagementExits } from '../src/core/journey-reducer.js';
import { mergeRecords, mergeTraits, openingPass, openingSegments, type TraitsWrite } from '../src/core/opening-pass.js';
import { refuseSupportAction, supportUpdatesToCarry, type SupportUpdateTaken } from '../src/core/support-rules.js';
import { planFits, resumeJourney } from '../src/core/resume-journey.js';
import { unreachable } from '../src/core/unreachable.js';
import { deliveryTaskQueue, newRunInput, runHas, type CustomerJourneyInput, type SupportRequest } from '../src/temporal/contract.js';
import { searchAttributeUpdates } from '../src/temporal/search-attribute-keys.js';
import { coreActionOf, prepareSupportRequest, refuseSupportRequest } from './support-actions.js';
import { WakeUpTimer } from './wake-up-timer.js';

const planOptions = { startToCloseTimeout: '10 seconds', retry: { initialInterval: '1 second', maximumInterval: '30 seconds' } } as const;
const { loadJourneyPlan } = proxyLocalActivities<JourneyActivities>(planOptions);
/** Code version 11: a new journey's plan and its opening pass's profile work and record, in one local activity. */
const { openJourney } = proxyLocalActivities<OpeningActivities>({ ...planOptions, startToCloseTimeout: '15 seconds' });

const { recordJourney } = proxyActivities<ReadModelActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { evaluateSegments, checkAudience, syncComputedTraits } = proxyActivities<JourneyActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Lean runs (code version 8) do their database round trips as local activities: a read-model write, an
 * audience check or a pass's profile work (computed traits, then segments: `syncProfile`) is a few
 * milliseconds against MongoDB, and as a regular activity each cost three history events, a trip through
 * the server's matching and a workflow task for its result. As a local activity each is one marker, and its
 * result lands in the same workflow task. Deliveries stay regular activities: they wait on providers, retry
 * for minutes, and are what a task queue schedules.
 */
const leanOptions = { startToCloseTimeout: '15 seconds', retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' } } as const;
const leanReadModel = proxyLocalActivities<ReadModelActivities>(leanOptions);
const leanProfile = proxyLocalActivities<JourneyActivities>(leanOptions);

/** Retried until the provider takes it (429/5xx/outages); a 4xx fails at once and the journey goes on. */
// Call sites add only a summary: executeWithOptions merges it into these options.
const { deliverMessage } = proxyActivities<JourneyActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: ['DeliveryRejected'] },
});

/**
 * A run continues as new once its history holds this many events or bytes, well under our own ceiling of
 * 4,096 events and 4 MiB: the run first works off what is in flight, and signals keep arriving meanwhile.
 * (Counting inputs alone let the busiest customer's runs reach 4,112 events: `npm run bench -- history`.)
 */
const HISTORY_EVENTS_PER_RUN = 3_000;
const HISTORY_BYTES_PER_RUN = 3 * 1024 * 1024;

type ComputedTraits = Record<string, ComputedValue>;

/**
 * One run of a customer's journey: feeds the pure core what arrives (the inbox the workflow's handlers
 * fill, timer firings), carries out the commands it returns, keeps search attributes current, and
 * continues as new before the history grows large. A pass = the inputs that arrived, then the work they
 * asked for, sent out together.
 */
export class JourneyRunner {
  private readonly timer = new WakeUpTimer();
  private readonly inflight = new Set<Promise<void>>();
  private inputsThisRun = 0;
  private supportQueued = 0;
  private supportApplied = 0;
  /** Read-model writes of one pass go out as one activity: facts merged, newest snapshot. */
  private unrecorded: ReadModelBatch | undefined;
  /** Profile work of one pass goes out once: the newest computed traits (merged), then one segment evaluation. */
  private unsynced: TraitsWrite | undefined;
  private evaluationWanted = false;
  /** Computed-trait writes, one after the other, so an older one never lands last. */
  private traitsWritten: Promise<void> = Promise.resolve();
  /** The search attributes last upserted (upserted only when they change). */
  private upserted = '';
  /** Lean runs: profile work (traits, segments) in flight; the pass's record and search attributes wait for its answer. */
  private profileBusy = 0;
  /** Lean runs: a pass ended while profile work was in flight, so its record and search attributes are still to go out. */
  private passHeld = false;
  /** The last local activity asked for, settled or not (see local). */
  private localWork: Promise<void> = Promise.resolve();
  /** Support updates taken, by id: earlier runs' (carried over) and this run's, handed on at continue-as-new (code version 12). */
  private readonly supportTaken: SupportUpdateTaken[];
  /** The ids of those earlier runs took: Temporal knows only this run's. */
  private readonly supportTakenEarlier: ReadonlySet<string>;

  private constructor(
    private readonly input: CustomerJourneyInput,
    private readonly inbox: JourneyInput[],
    private plan: JourneyPlan,
    private state: JourneyState,
    private readonly startup: JourneyCommand[],
    private readonly sentAhead?: OpenedJourney,
  ) {
    this.supportTaken = runHas(input, 'supportUpdatesCarried') ? [...(input.supportUpdates ?? [])] : [];
    this.supportTakenEarlier = new Set(this.supportTaken.map((t) => t.id));
  }

  /** Load the plan and start the journey, or resume the state the previous run carried over. */
  static async begin(input: CustomerJourneyInput, inbox: JourneyInput[]): Promise<JourneyRunner> {
    // tagPlan: a plan recorded in this history before definitions carried union tags replays with them.
    // A run from before channel fallbacks (or engagement exits) sees the plan without them (and replays as it first ran).
    const planOf = (loaded: JourneyPlan) => {
      const tagged = runHas(input, 'channelFallback') ? tagPlan(loaded) : withoutChannelChoices(tagPlan(loaded));
      return runHas(input, 'engagementExit') ? tagged : withoutEngagementExits(tagged);
    };
    if (!input.carried && runHas(input, 'openingPass')) {
      // The plan, and the opening pass's profile work and record sent ahead, in one local activity (code version 11).
      // The pass is built from the time and inputs the marker recorded, not this clock and inbox (see OpenedJourney).
      const opened = await openJourney.executeWithOptions({ summary: 'load the plan, send the opening pass' }, [
        { ref: { id: input.definition.id, ...(input.definition.version ? { version: input.definition.version } : {}) }, userId: input.userId, now: Date.now(), inputs: inbox.slice() },
      ]);
      const plan = planOf(opened.plan);
      inbox.splice(0, opened.inputs.length);
      const pass = openingPass(plan, input.userId, opened.now, opened.inputs);
      return new JourneyRunner(input, inbox, plan, pass.state, pass.commands, opened);
    }
    let plan = planOf(await loadJourneyPlan({ id: input.definition.id, version: input.carried ? undefined : input.definition.version }));
    if (!input.carried) {
      const started = startJourney(plan, input.userId, Date.now());
      return new JourneyRunner(input, inbox, plan, started.state, started.commands);
    }
    if (!planFits(plan, input.carried)) {
      log.warn('current journey definition has no stage for this customer; keeping the version the journey runs', {
        stage: input.carried.stage,
        version: input.carried.definition.version,
      });
      plan = planOf(await loadJourneyPlan(input.carried.definition));
    }
    return new JourneyRunner(input, inbox, plan, resumeJourney(plan, input.carried, Date.now()), []);
  }

  view(): JourneyView {
    return journeyView(this.plan, this.state);
  }

  /** The support update's validator: throws why a request is refused, before it touches history. */
  validateSupport(request: SupportRequest): void {
    if (this.retriedFromEarlierRun()) return;
    const refusal = refuseSupportRequest(request, this.plan) ?? refuseSupportAction(this.plan, this.state, coreActionOf(request, this.plan));
    if (refusal) throw new Error(refusal);
  }

  /** A support action goes through the main loop like any input; answered once it was applied. */
  async support(request: SupportRequest): Promise<JourneyView> {
    if (this.retriedFromEarlierRun()) return this.view();
    const id = currentUpdateInfo()?.id;
    if (id !== undefined && runHas(this.input, 'supportUpdatesCarried')) this.supportTaken.push({ id, at: Date.now() });
    const preparation = prepareSupportRequest(request, this.state.userId);
    if (preparation) await preparation;
    const mine = ++this.supportQueued;
    this.inbox.push({ type: 'support', now: Date.now(), action: coreActionOf(request, this.plan), actor: request.actor, ...(request.reason ? { reason: request.reason } : {}) });
    await condition(() => this.supportApplied >= mine);
    return this.view();
  }

  /**
   * A retry (the same update id, named by its Idempotency-Key) of a support update an earlier run of this journey
   * took: answered with the journey as it is, not taken again. Temporal answers a retry within the run itself.
   */
  private retriedFromEarlierRun(): boolean {
    const id = currentUpdateInfo()?.id;
    return id !== undefined && this.supportTakenEarlier.has(id);
  }

  /** Wait, apply, carry out; until it is time to continue as new. */
  async run(): Promise<never> {
    this.execute(this.startup);
    if (this.sentAhead) this.takeSentAhead(this.sentAhead);
    // A journey started by signal-with-start has its first event waiting: with code version 2, the start
    // and that event are one pass (one read-model write, one profile update, one segment evaluation).
    if (this.coalesces) this.applyInbox();
    this.endPass();
    for (;;) {
      this.timer.arm(nextWakeUp(this.state));
      await condition(
        () => this.inbox.length > 0 || this.timer.fired || this.due() || (this.passHeld && this.profileBusy === 0) || (this.shouldContinueAsNew() && this.idle()),
      );
      this.applyInbox();
      if (this.timer.fired || this.due()) {
        this.timer.clearFired();
        this.apply({ type: 'tick', now: Date.now() });
      }
      this.endPass();
      if (this.shouldContinueAsNew() && this.inbox.length === 0 && this.idle()) {
        // Pending timers go with this run; the next one arms its own from the carried deadlines.
        const { userId, maxInputsPerRun } = this.input;
        await continueAsNew<(input: CustomerJourneyInput) => Promise<void>>(
          newRunInput(userId, this.plan.id, { carried: this.state, ...(maxInputsPerRun ? { maxInputsPerRun } : {}), ...this.supportUpdatesToCarry() }),
        );
      }
    }
  }

  /** Carry out what the core asked for. Every command type is handled here, or this does not compile. */
  private execute(commands: JourneyCommand[]): void {
    for (const command of commands) {
      switch (command.type) {
        case 'record':
          this.unrecorded = mergeRecords(this.unrecorded, command.batch);
          break;
        case 'deliver': {
          const { request } = command;
          this.track(this.deliverOrFail(request).then((outcome) => void this.inbox.push({ type: 'delivery', now: Date.now(), key: request.key, outcome })));
          break;
        }
        case 'syncComputedTraits':
          if (this.coalesces) this.unsynced = mergeTraits(this.unsynced, command.traits, command.at);
          else this.writeTraits(command.traits, command.at);
          break;
        case 'evaluateSegments':
          if (this.coalesces) this.evaluationWanted = true;
          else this.track(this.evaluateSegments());
          break;
        default:
          unreachable(command);
      }
    }
  }

  /**
   * The opening pass (its commands executed: deliveries started, its profile work and record gathered) takes
   * what openJourney sent ahead where it is what this pass would send: the profile work is done (its segments
   * are applied now, as its answer would have been), and the record is written. Anything else goes out as
   * usual (sending a part again changes nothing: each is idempotent).
   */
  private takeSentAhead({ now, inputs, profile, recorded }: OpenedJourney): void {
    this.inputsThisRun += inputs.length;
    if (profile && sameJson(this.unsynced, profile.traits) && (this.evaluationWanted || this.unsynced)) {
      this.unsynced = undefined;
      this.evaluationWanted = false;
      this.apply(openingSegments(now, profile.segments));
    }
    if (recorded && sameJson(this.unrecorded, recorded)) this.unrecorded = undefined;
  }

  private get coalesces(): boolean {
    return runHas(this.input, 'coalescedPasses');
  }

  private get lean(): boolean {
    return runHas(this.input, 'leanPasses');
  }

  private apply(input: JourneyInput): void {
    const result = step(this.plan, this.state, input);
    this.state = result.state;
    this.execute(result.commands);
  }

  private applyInbox(): void {
    while (this.inbox.length > 0) {
      const next = this.inbox.shift()!;
      this.inputsThisRun += 1;
      this.apply(next);
      if (next.type === 'support') this.supportApplied += 1;
    }
  }

  /**
   * Send out what the pass gathered, and show where the journey stands. A lean run sends its profile work
   * first and holds the record and the search attributes until that work has answered (the segments are
   * part of both), so a new journey writes its read model once and upserts once for its first pass.
   */
  private endPass(): void {
    if (!this.lean) {
      this.flushRecords();
      this.flushProfileWork();
      this.publish();
      return;
    }
    this.flushProfileWork();
    this.passHeld = this.profileBusy > 0;
    if (this.passHeld) return;
    this.flushRecords();
    this.publish();
  }

  private due(): boolean {
    const next = nextWakeUp(this.state);
    return next !== undefined && next.at <= Date.now();
  }

  /** The support updates the next run is told of (none when this run kept none: code version 11 and older, or none taken lately). */
  private supportUpdatesToCarry(): Pick<CustomerJourneyInput, 'supportUpdates'> {
    const carried = supportUpdatesToCarry(this.supportTaken, Date.now());
    return carried.length > 0 ? { supportUpdates: carried } : {};
  }

  private idle(): boolean {
    return this.inflight.size === 0 && allHandlersFinished();
  }

  private shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      this.inputsThisRun >= (this.input.maxInputsPerRun ?? 2_000) ||
      (runHas(this.input, 'historyBoundedRuns') && (info.historyLength >= HISTORY_EVENTS_PER_RUN || info.historySize >= HISTORY_BYTES_PER_RUN))
    );
  }

  /**
   * A local activity, after every one asked for before it has answered (code version 10): their answers then
   * come in the order they were asked for, live and on replay alike. Older runs start each at once.
   */
  private local<T>(work: () => Promise<T>): Promise<T> {
    if (!runHas(this.input, 'serialLocalActivities')) return work();
    const run = this.localWork.then(work);
    this.localWork = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private track(work: Promise<void>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private async deliver(request: DeliveryRequest): Promise<DeliveryOutcome> {
    if (request.segments.length > 0) {
      const check = () =>
        (this.lean ? leanProfile.checkAudience : checkAudience).executeWithOptions({ summary: `check audience of ${request.campaignId}` }, [
          { userId: request.userId, definition: request.definition, segments: request.segments },
        ]);
      const audience = await (this.lean ? this.local(check) : check());
      if (!audience.inAudience) return { status: 'skipped', reason: audience.reason ?? 'left the audience' };
    }
    // From code version 9 on the queue of its kind: a transactional message never waits behind a broadcast.
    const queue = runHas(this.input, 'deliveryQueues') ? { taskQueue: deliveryTaskQueue(workflowInfo().taskQueue, request.kind) } : {};
    try {
      return await deliverMessage.executeWithOptions({ summary: request.summary, ...queue }, [request]);
    } catch (err) {
      if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return { status: 'failed', reason: err.cause.message };
      throw err;
    }
  }

  private async deliverOrFail(request: DeliveryRequest): Promise<DeliveryOutcome> {
    try {
      return await this.deliver(request);
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.error('delivery failed', { key: request.key, error: String(err) });
      return { status: 'failed', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  private flushRecords(): void {
    if (!this.unrecorded) return;
    const batch = this.unrecorded;
    this.unrecorded = undefined;
    const write = () => (this.lean ? leanReadModel.recordJourney : recordJourney).executeWithOptions({ summary: `record ${batch.snapshot.stage} (${batch.facts.length} facts)` }, [batch]);
    this.track(
      (this.lean ? this.local(write) : write()).catch((err) => {
        if (isCancellation(err)) throw err;
        log.error('read model write failed', { error: String(err) });
      }),
    );
  }

  private evaluateSegments(): Promise<void> {
    return evaluateSegments.executeWithOptions({ summary: 'evaluate segments' }, [{ userId: this.state.userId, definition: this.state.definition }]).then(
      (segments) => void this.inbox.push({ type: 'segments', now: Date.now(), segments }),
      (err) => {
        if (isCancellation(err)) throw err;
        log.error('segment evaluation failed', { error: String(err) });
      },
    );
  }

  /** Write the computed traits after any earlier write; segments are evaluated after each. */
  private writeTraits(traits: ComputedTraits, at: number): void {
    this.traitsWritten = this.traitsWritten.then(() =>
      syncComputedTraits.executeWithOptions({ summary: 'update computed traits' }, [{ userId: this.state.userId, traits, at }]).then(
        () => this.evaluateSegments(),
        (err) => {
          if (isCancellation(err)) throw err;
          log.error('computed traits update failed', { error: String(err) });
        },
      ),
    );
    this.track(this.traitsWritten);
  }

  private flushProfileWork(): void {
    if (this.lean) return this.syncProfile();
    if (this.unsynced) this.writeTraits(this.unsynced.traits, this.unsynced.at);
    else if (this.evaluationWanted) this.track(this.evaluateSegments());
    this.unsynced = undefined;
    this.evaluationWanted = false;
  }

  /** A lean pass's profile work as one local activity: its computed traits (if it changed them), then its segments. */
  private syncProfile(): void {
    const traits = this.unsynced;
    if (!traits && !this.evaluationWanted) return;
    this.unsynced = undefined;
    this.evaluationWanted = false;
    const input = { userId: this.state.userId, definition: this.state.definition, ...(traits ? { traits: traits.traits, at: traits.at } : {}) };
    this.traitsWritten = this.traitsWritten.then(() =>
      this.local(() => leanProfile.syncProfile.executeWithOptions({ summary: traits ? 'update computed traits, evaluate segments' : 'evaluate segments' }, [input])).then(
        (segments) => void this.inbox.push({ type: 'segments', now: Date.now(), segments }),
        (err) => {
          if (isCancellation(err)) throw err;
          log.error('profile update failed', { error: String(err) });
        },
      ),
    );
    this.track(this.profileWork(this.traitsWritten));
  }

  /** Profile work in flight (see endPass); the count drops after its answer is in the inbox. */
  private profileWork(work: Promise<void>): Promise<void> {
    this.profileBusy += 1;
    return work.finally(() => void (this.profileBusy -= 1));
  }

  /** Search attributes (upserted only when they change) and the one-line details. */
  private publish(): void {
    const values = searchAttributesOf(this.plan, this.state);
    const key = JSON.stringify(values);
    if (key !== this.upserted) {
      upsertSearchAttributes(searchAttributeUpdates(values));
      this.upserted = key;
    }
    setCurrentDetails(currentDetails(this.plan, this.state));
  }
}

/** Whether two values are the same data (both went through, or came from, the JSON payload converter). */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
