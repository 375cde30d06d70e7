import { parseDefinition } from '../definition-store/load-definition.js';
import { runSimulation, type ShardMessage, type ShardRequest } from './run-simulation.js';

/**
 * A child process of a simulation run with --processes: runs its share of the customers and answers with
 * a summary the parent adds up. Stops (test servers and worker) when the parent goes away or says so.
 */
const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => abort.abort());
process.on('disconnect', () => abort.abort());

const send = (message: ShardMessage) => new Promise<void>((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));

process.once('message', (request: ShardRequest) => {
  void (async () => {
    try {
      const definition = parseDefinition(request.definitionRaw, request.definitionFile);
      const run = await runSimulation({
        engine: 'workflow',
        definition,
        definitionFile: request.definitionFile,
        model: request.model,
        modelName: request.modelName,
        customers: request.customers,
        days: request.days,
        seed: request.seed,
        start: request.start,
        broadcasts: request.broadcasts,
        shards: request.shards,
        part: request.part,
        signal: abort.signal,
        onProgress: (progress) => void send({ type: 'progress', progress }),
      });
      await send({ type: 'done', summary: run.summary, simulatingMs: run.speed.simulatingMs });
      process.exit(0);
    } catch (err) {
      await send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    }
  })();
});
