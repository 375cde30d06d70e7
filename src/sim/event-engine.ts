import type { JourneyCommand, JourneyInput, JourneyState, DeliveryOutcome, DeliveryRequest } from '../core/journey-state.js';
import type { ReadModelBatch } from '../core/journey-facts.js';
import { nextWakeUp, startJourney, step } from '../core/journey-reducer.js';
import { advance, initialState, nextActionAt, type BehaviourState, type ReceivedMessage } from './behaviour.js';
import { MemoryBackend } from './memory-backend.js';
import type { SimStore } from './memory-store.js';
import { drawCustomer, type DrawnCustomer } from './population.js';
import { hourOf } from './time-grid.js';
import { trackInputOf, type SimTrackInput } from './track-input.js';

/**
 * The simulator's default engine: the pure journey core and the pure behaviour model driven on a
 * discrete-event clock in this process, with the in-memory backend the workflow engine's activities use.
 * Each customer's journey is fed what the workflow would be fed, in the order it would get it: the customer's
 * calls at their action instant, a timer at the journey's next wake-up (nextWakeUp, as the workflow arms
 * it), delivery outcomes and segment evaluations after the pass that asked for them, broadcasts at their
 * fire times. The workflow engine (run-simulation.ts, `--engine workflow`) runs the real workflow instead;
 * test/workflows/simulator-engines.test.ts holds the two to the same stage histories and messages.
 */

export interface EventEngineRun {
  customers: number;
  days: number;
  seed: number;
  start: number;
  end: number;
  /** When each broadcast campaign's runs fire (broadcastFireTimes in run-simulation.ts). */
  broadcasts: Array<{ campaignId: string; fireTimes: number[] }>;
  /** Simulate only customers whose index modulo `of` is `index` (one thread's share; customers are independent). */
  part?: { index: number; of: number };
  onDay?: (day: number, signedUp: number) => void;
  signal?: AbortSignal;
}

interface Customer extends DrawnCustomer {
  behaviour: BehaviourState;
  messages: ReceivedMessage[];
  journey?: { state: JourneyState; inbox: JourneyInput[]; startup?: JourneyCommand[] };
  /** The instant this customer is on the clock for (lazy deletion: an older entry is skipped). */
  wakeAt?: number;
}

type Entry = { at: number; seq: number } & ({ kind: 'customer'; customer: Customer } | { kind: 'broadcast'; campaignId: string; run: number });

/** What a pass through the journey asked for, gathered as the workflow gathers it before carrying it out. */
interface PassWork {
  batch?: ReadModelBatch;
  deliveries: DeliveryRequest[];
  traits?: { traits: Extract<JourneyCommand, { type: 'syncComputedTraits' }>['traits']; at: number };
  evaluate: boolean;
}

const GUARD = 10_000;

export async function runEventEngine(backend: MemoryBackend, model: Parameters<typeof drawCustomer>[0], run: EventEngineRun): Promise<SimStore> {
  const { store } = backend;
  const plan = backend.planFor({ id: backend.definition.definition.id });
  const { start, end } = run;
  const byId = new Map<string, Customer>();
  const clock = new Heap();

  const schedule = (c: Customer) => {
    const action = nextActionAt(start, c.behaviour);
    const wake = c.journey ? nextWakeUp(c.journey.state)?.at : undefined;
    const at = Math.min(action ?? Infinity, wake ?? Infinity);
    if (at === c.wakeAt) return;
    c.wakeAt = at;
    if (at <= end) clock.push({ at, seq: 0, kind: 'customer', customer: c });
  };

  const part = run.part ?? { index: 0, of: 1 };
  for (let i = part.index; i < run.customers; i += part.of) {
    const drawn = drawCustomer(model, run.seed, i, start);
    const c: Customer = { ...drawn, behaviour: initialState(drawn.customer), messages: [] };
    byId.set(c.customer.userId, c);
    schedule(c);
  }
  const mine = part.of > 1 ? new Set(byId.keys()) : undefined;
  for (const b of run.broadcasts) for (const [k, at] of b.fireTimes.entries()) if (at <= end) clock.push({ at, seq: 0, kind: 'broadcast', campaignId: b.campaignId, run: k });

  // --- what the simulatedCustomer workflow and simTrack do ---------------------------------------------
  const track = (c: Customer, input: SimTrackInput, now: number) => {
    backend.identify(input.userId, input.at, input.profile, input.profileChange);
    if (input.profileChange && c.journey) c.journey.inbox.push({ type: 'profile', now, change: { traits: Object.keys(input.profileChange) } });
    for (const event of input.events) {
      // signal-with-start: the first event starts the journey
      if (!c.journey) {
        const started = startJourney(plan, c.customer.userId, now);
        c.journey = { state: started.state, inbox: [], startup: started.commands };
      }
      c.journey.inbox.push({ type: 'event', now, event });
      store.countEvent(event.event);
    }
  };
  const wakeBehaviour = (c: Customer, now: number) => {
    const first = c.behaviour.sent === 0;
    const result = advance(model, c.customer, start, c.behaviour, now, c.messages.splice(0));
    c.behaviour = result.state;
    const input = trackInputOf(c.customer, c.profile, first, result);
    if (input) track(c, input, now);
  };

  // --- what one pass of the customerJourney workflow's loop does ---------------------------------------
  const execute = (work: PassWork, commands: JourneyCommand[]) => {
    for (const command of commands) {
      switch (command.type) {
        case 'record':
          work.batch = { snapshot: command.batch.snapshot, facts: [...(work.batch?.facts ?? []), ...command.batch.facts] };
          break;
        case 'deliver':
          work.deliveries.push(command.request);
          break;
        case 'syncComputedTraits':
          work.traits = { traits: { ...work.traits?.traits, ...command.traits }, at: command.at };
          break;
        case 'evaluateSegments':
          work.evaluate = true;
          break;
        default:
          throw new Error(`unknown command ${JSON.stringify(command satisfies never)}`);
      }
    }
  };
  const deliver = async (request: DeliveryRequest, now: number): Promise<{ outcome: DeliveryOutcome; notice?: ReceivedMessage }> => {
    try {
      if (request.segments.length > 0) {
        const audience = backend.checkAudience({ userId: request.userId, definition: request.definition, segments: request.segments });
        if (!audience.inAudience) return { outcome: { status: 'skipped', reason: audience.reason ?? 'left the audience' } };
      }
      const { outcome, notice } = await backend.deliver(request, now);
      return { outcome, ...(notice ? { notice: { ...notice, hour: hourOf(start, now) } } : {}) };
    } catch (err) {
      return { outcome: { status: 'failed', reason: err instanceof Error ? err.message : String(err) } };
    }
  };
  const journeyPass = async (c: Customer, now: number) => {
    const j = c.journey!;
    const work: PassWork = { deliveries: [], evaluate: false };
    if (j.startup) execute(work, j.startup);
    j.startup = undefined;
    while (j.inbox.length > 0) {
      const result = step(plan, j.state, j.inbox.shift()!);
      j.state = result.state;
      execute(work, result.commands);
    }
    const next = nextWakeUp(j.state);
    if (next && next.at <= now) {
      const result = step(plan, j.state, { type: 'tick', now });
      j.state = result.state;
      execute(work, result.commands);
    }
    if (work.batch) backend.recordJourney(work.batch);
    for (const request of work.deliveries) {
      const { outcome, notice } = await deliver(request, now);
      j.inbox.push({ type: 'delivery', now, key: request.key, outcome });
      if (notice) c.messages.push(notice);
    }
    if (work.traits) backend.syncComputedTraits({ userId: c.customer.userId, ...work.traits });
    if (work.traits || work.evaluate) j.inbox.push({ type: 'segments', now, segments: backend.evaluateSegments({ userId: c.customer.userId, definition: j.state.definition }) });
  };

  /** Everything this customer's behaviour and journey do at `now`, until both wait for a later instant. */
  const settle = async (c: Customer, now: number) => {
    for (let i = 0; ; i++) {
      if (i >= GUARD) throw new Error(`customer ${c.customer.userId} did not settle at ${new Date(now).toISOString()}`);
      const action = nextActionAt(start, c.behaviour);
      if (c.messages.length > 0 || (action !== undefined && action <= now)) {
        wakeBehaviour(c, now);
        continue;
      }
      const j = c.journey;
      const wake = j ? nextWakeUp(j.state) : undefined;
      if (j && (j.startup || j.inbox.length > 0 || (wake && wake.at <= now))) {
        await journeyPass(c, now);
        continue;
      }
      break;
    }
    schedule(c);
  };

  const broadcast = async (campaignId: string, k: number, now: number) => {
    const broadcastId = `broadcast-${plan.id}-${campaignId}-run-${k}/event-engine`;
    const reached: Customer[] = [];
    let after: string | undefined;
    let withoutJourney = 0;
    for (;;) {
      const page = backend.broadcastAudience({ campaignId, broadcastId, definition: { id: plan.id }, ...(after ? { after } : {}) }, mine);
      for (const id of page.ids) {
        const c = byId.get(id);
        if (c?.journey) {
          c.journey.inbox.push({ type: 'broadcast', now, broadcast: { campaignId, broadcastId } });
          reached.push(c);
        } else withoutJourney += 1;
      }
      if (!page.next) break;
      after = page.next;
    }
    backend.countBroadcast(broadcastId, reached.length, withoutJourney);
    for (const c of reached) await settle(c, now);
  };

  let day = 0;
  for (;;) {
    const entry = clock.pop();
    const now = entry?.at ?? Infinity;
    while (day < run.days && start + (day + 1) * 86_400_000 <= Math.min(now, end + 60_000)) {
      day += 1;
      if (run.signal?.aborted) throw new Error('aborted');
      run.onDay?.(day, store.profiles.size);
      // Let a progress bar draw and Ctrl-C arrive.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!entry || now > end) break;
    if (entry.kind === 'broadcast') await broadcast(entry.campaignId, entry.run, now);
    else if (entry.customer.wakeAt === now) {
      entry.customer.wakeAt = undefined;
      await settle(entry.customer, now);
    }
  }
  if (day < run.days) run.onDay?.(run.days, store.profiles.size);
  return store;
}

/** A binary min-heap on (at, seq): the simulation's calendar. */
class Heap {
  private readonly items: Entry[] = [];
  private seq = 0;

  push(entry: Entry): void {
    entry.seq = this.seq++;
    const a = this.items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Entry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

