import { condition, setHandler } from '@temporalio/workflow';
import type { JourneyInput } from '../src/core/journey-state.js';
import {
  acceptBroadcastUpdate,
  changePreferencesSignal,
  deliverBroadcastSignal,
  emailEventSignal,
  channelFeedbackSignal,
  getJourneyQuery,
  identifyCustomerSignal,
  joinAnonymousSignal,
  journeyStartingMessage,
  runHas,
  supportActionUpdate,
  trackEventSignal,
  type CustomerJourneyInput,
} from '../src/temporal/contract.js';
import { JourneyRunner } from './journey-runner.js';

/**
 * One customer's whole lifecycle: registers the handlers and hands every decision to the JourneyRunner
 * (./journey-runner.ts), which feeds the pure core and carries out what it returns. Signals are queued
 * from the very start, so the event a journey was started with (signal-with-start) waits for the plan.
 */
export async function customerJourney(input: CustomerJourneyInput): Promise<void> {
  const inbox: JourneyInput[] = [];
  setHandler(trackEventSignal, (event) => void inbox.push({ type: 'event', now: Date.now(), event }));
  setHandler(identifyCustomerSignal, (change) => void inbox.push({ type: 'profile', now: Date.now(), change }));
  setHandler(joinAnonymousSignal, (join) => {
    const now = Date.now();
    if (runHas(input, 'joinAsOneInput')) inbox.push({ type: 'join', now, join });
    else for (const event of join.events) inbox.push({ type: 'event', now, event });
  });
  setHandler(deliverBroadcastSignal, (broadcast) => void inbox.push({ type: 'broadcast', now: Date.now(), broadcast }));
  // Any run takes it (no history before it holds one, so none replays differently): answered once a pass took it from the inbox.
  setHandler(acceptBroadcastUpdate, async (broadcast) => {
    const taken: JourneyInput = { type: 'broadcast', now: Date.now(), broadcast };
    inbox.push(taken);
    await condition(() => !inbox.includes(taken));
  });
  setHandler(emailEventSignal, (event) => void inbox.push({ type: 'emailEvent', now: Date.now(), event }));
  setHandler(channelFeedbackSignal, (feedback) => void inbox.push({ type: 'channelFeedback', now: Date.now(), feedback }));
  // Before code version 5 a run ignores it: the delivery rules read the preferences from the profile anyway.
  setHandler(changePreferencesSignal, (change) => {
    if (runHas(input, 'preferenceChanges')) inbox.push({ type: 'preferences', now: Date.now(), change });
  });

  // Registered before the plan is loaded: a query that comes while it loads (a busy worker stretches a first
  // workflow task) is told why there is nothing to show yet, not that the journey has no such query.
  const started: { journey?: JourneyRunner } = {};
  setHandler(getJourneyQuery, () => {
    if (!started.journey) throw new Error(journeyStartingMessage(input.userId));
    return started.journey.view();
  });
  const journey = (started.journey = await JourneyRunner.begin(input, inbox));
  setHandler(supportActionUpdate, (request) => journey.support(request), { validator: (request) => journey.validateSupport(request) });
  await journey.run();
}
