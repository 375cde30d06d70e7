/**
 * A stand-in journey for tests of the API's SendGrid event path: it keeps every emailEvent signal it gets,
 * in order, and answers them to a query. Bundled as workflow code (run it under workflow id customer-<id>).
 */
import { condition, defineQuery, setHandler } from '@temporalio/workflow';
import { emailEventSignal, type EmailEvent } from '../../src/temporal/contract.js';

export const receivedEmailEventsQuery = defineQuery<EmailEvent[]>('receivedEmailEvents');

export async function emailEventRecorder(): Promise<void> {
  const received: EmailEvent[] = [];
  setHandler(emailEventSignal, (event) => {
    received.push(event);
  });
  setHandler(receivedEmailEventsQuery, () => received);
  await condition(() => false);
}
