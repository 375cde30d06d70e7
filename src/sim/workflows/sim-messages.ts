import { defineSignal } from '@temporalio/workflow';

/** A message the journey delivered, as the simulated customer receives it (ids and the goal, no content). */
export interface MessageNotice {
  key: string;
  campaignId: string;
  kind: 'marketing' | 'transactional';
  variant?: string;
  goal?: string;
  withinHours?: number;
}

/** Sent by the in-memory delivery to the customer's behaviour workflow. */
export const receiveMessageSignal = defineSignal<[MessageNotice]>('receiveMessage');

export function simulatedCustomerId(userId: string): string {
  return `simulated-${userId}`;
}
