import { condition, continueAsNew, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { BehaviourModel } from '../behaviour-model.js';
import { advance, initialState, nextActionAt, type BehaviourState, type ReceivedMessage, type SimCustomer } from '../behaviour.js';
import type { SimProfile } from '../population.js';
import type { SimActivities } from '../sim-activities.js';
import { hourOf } from '../time-grid.js';
import { trackInputOf } from '../track-input.js';
import { receiveMessageSignal } from './sim-messages.js';

const { simTrack } = proxyLocalActivities<SimActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});

export interface SimulatedCustomerInput {
  customer: SimCustomer;
  profile: SimProfile;
  model: BehaviourModel;
  /** The simulation's first instant (00:00 UTC) and the instant it ends. */
  start: number;
  end: number;
  carried?: { state: BehaviourState; inbox: ReceivedMessage[] };
}

export interface SimulatedCustomerResult {
  userId: string;
  phase: BehaviourState['phase'];
  events: number;
}

const WAKES_PER_RUN = 1_000;

/**
 * One synthetic customer until the simulation ends: sleeps (durably) until their next planned action or
 * until a message reaches them, lets the pure behaviour model decide, and sends what it did to their
 * journey through a local activity (identify, then signal-with-start per event, as the API would).
 */
export async function simulatedCustomer(input: SimulatedCustomerInput): Promise<SimulatedCustomerResult> {
  const { customer, model, start, end } = input;
  let state = input.carried?.state ?? initialState(customer);
  const inbox: ReceivedMessage[] = [...(input.carried?.inbox ?? [])];
  setHandler(receiveMessageSignal, (notice) => {
    inbox.push({ ...notice, hour: hourOf(start, Date.now()) });
  });

  for (let wakes = 0; ; wakes++) {
    const next = nextActionAt(start, state);
    const until = Math.min(next ?? end, end);
    if (inbox.length === 0 && Date.now() < until) await condition(() => inbox.length > 0, until - Date.now());
    const now = Math.min(Date.now(), end);
    const result = advance(model, customer, start, state, now, inbox.splice(0));
    const first = state.sent === 0;
    state = result.state;
    const track = trackInputOf(customer, input.profile, first, result);
    if (track) await simTrack(track);
    if (Date.now() >= end) return { userId: customer.userId, phase: state.phase, events: state.sent };
    if (wakes >= WAKES_PER_RUN && inbox.length === 0) {
      await continueAsNew<typeof simulatedCustomer>({ ...input, carried: { state, inbox: [] } });
    }
  }
}
