import { parentPort, workerData } from 'node:worker_threads';
import { parseDefinition } from '../definition-store/load-definition.js';
import type { BehaviourModel } from './behaviour-model.js';
import { runEventEngine, type EventEngineRun } from './event-engine.js';
import { MemoryBackend } from './memory-backend.js';
import { SimStore, type SimStoreDump } from './memory-store.js';

/** What the event engine's thread is asked to run (its share of the customers), and what it answers. */
export interface EventThreadRequest {
  definitionRaw: unknown;
  definitionFile: string;
  model: BehaviourModel;
  run: Omit<EventEngineRun, 'onDay' | 'signal'>;
}
export type EventThreadMessage = { type: 'day'; day: number; signedUp: number } | { type: 'done'; store: SimStoreDump } | { type: 'failed'; error: string };

const request = workerData as EventThreadRequest;
const post = (message: EventThreadMessage) => parentPort!.postMessage(message);
try {
  const backend = new MemoryBackend(new SimStore(), parseDefinition(request.definitionRaw, request.definitionFile));
  const store = await runEventEngine(backend, request.model, { ...request.run, onDay: (day, signedUp) => post({ type: 'day', day, signedUp }) });
  post({ type: 'done', store: store.dump() });
} catch (err) {
  post({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
