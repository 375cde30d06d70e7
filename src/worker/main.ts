import { NativeConnection, Runtime } from '@temporalio/worker';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { journeyDataConverter } from '../codec/data-converter.js';
import { channelDepsFromConfig } from '../channels/channel-config.js';
import { ConfigError, loadConfig, payloadEncryption } from '../config/config.js';
import { connectDatabase, ensureIndexes } from '../db/models.js';
import { DefinitionStore } from '../definition-store/definition-store.js';
import { loadDefinitionFile } from '../definition-store/load-definition.js';
import { activityLogFields } from '../logging/activity-context.js';
import { createLogger } from '../logging/logger.js';
import { pinoRuntimeLogger } from '../logging/runtime-logger.js';
import { createBroadcastMetrics } from '../metrics/broadcast-metrics.js';
import { createDeliveryMetrics } from '../metrics/delivery-metrics.js';
import { syncBroadcastSchedules } from '../temporal/broadcast-schedules.js';
import { createTemporalClient } from '../temporal/client.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { retryUntilUp } from '../util/retry.js';
import { createJourneyWorker, deliveryQueueTuning } from './create-worker.js';
import { freeLoopbackPort, startWorkerMetricsServer, type WorkerMetricsServer } from './metrics-server.js';

async function main() {
  const config = loadConfig();
  const encryption = payloadEncryption(config);
  const dataConverter = journeyDataConverter(encryption);
  // Lines our activities log carry the workflow, run, activity and customer they belong to.
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker', context: activityLogFields });
  // Before any NativeConnection: the SDK's logs (worker lifecycle, activities, workflow `log`, Core) go
  // through pino, and Core's Prometheus exporter listens on a loopback port our /metrics reads from.
  const temporalMetricsPort = config.WORKER_METRICS_PORT > 0 ? await freeLoopbackPort() : undefined;
  Runtime.install({
    logger: pinoRuntimeLogger(logger),
    // Signals are ours (below): a Ctrl-C while the worker is still starting stops it at once.
    shutdownSignals: [],
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(temporalMetricsPort
        ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${temporalMetricsPort}`, countersTotalSuffix: true, useSecondsForDurations: true } } }
        : {}),
    },
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const deliveryMetrics = createDeliveryMetrics(registry);
  const broadcastMetrics = createBroadcastMetrics(registry);
  let metricsServer: WorkerMetricsServer | undefined;
  if (config.WORKER_METRICS_PORT > 0) {
    metricsServer = await startWorkerMetricsServer({
      host: config.WORKER_METRICS_HOST,
      port: config.WORKER_METRICS_PORT,
      registry,
      temporalMetricsUrl: `http://127.0.0.1:${temporalMetricsPort}/metrics`,
    });
  }
  const loaded = await loadDefinitionFile(config.DEFINITION_FILE);
  const db = await retryUntilUp('MongoDB', () => connectDatabase(config.MONGODB_URI), (m) => logger.warn(m));
  await ensureIndexes(db.models);
  const definitions = new DefinitionStore(db.models, loaded);
  const seed = await definitions.publish();
  // Broadcasts follow the live version, which a publish through the API may have moved past the file's.
  const live = await definitions.get({ id: loaded.definition.id });
  if (seed.live !== loaded.version) logger.info({ file: loaded.version, live: live.version }, 'DEFINITION_FILE was seeded before; the live version is the one last published');
  const channels = channelDepsFromConfig(config, db.models, logger);

  const client = await retryUntilUp(
    'Temporal',
    () => createTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE, dataConverter }),
    (m) => logger.warn(m),
  );
  const added = await ensureSearchAttributes(client.connection, config.TEMPORAL_NAMESPACE, live.plan);
  if (added.length > 0) logger.info({ added }, 'registered search attributes');
  const schedules = await syncBroadcastSchedules(client, live.plan, config.TASK_QUEUE);
  logger.info(schedules, 'broadcast schedules in step with the definition');

  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createJourneyWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TASK_QUEUE,
    deps: { ...channels.deps, definitions },
    client,
    deliveryMetrics,
    broadcastMetrics,
    dataConverter,
    workflowStackFrames: config.WORKER_WORKFLOW_STACK_FRAMES,
    watchdog: config.WORKER_WATCHDOG,
    promiseHook: config.WORKER_PROMISE_HOOK,
    tuning: {
      maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
      maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
      maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    },
    polls: {
      journeys: config.WORKER_TASK_QUEUES.includes('journeys'),
      transactional: config.WORKER_TASK_QUEUES.includes('transactional'),
      marketing: config.WORKER_TASK_QUEUES.includes('marketing'),
    },
    delivery: deliveryQueueTuning(config),
    broadcastMaxBacklog: config.BROADCAST_MAX_BACKLOG,
    broadcastMaxJourneyBacklog: config.BROADCAST_MAX_JOURNEY_BACKLOG,
    broadcastInFlight: { max: config.BROADCAST_MAX_IN_FLIGHT, targetMs: config.BROADCAST_TARGET_LATENCY_MS },
  });
  if (encryption === 'off') logger.warn('payload encryption is off (PAYLOAD_ENCRYPTION=off): workflow payloads are stored in plain text');
  logger.info(
    {
      taskQueue: config.TASK_QUEUE,
      polls: config.WORKER_TASK_QUEUES.join(','),
      sendRate: config.SENDGRID_RATE_PER_SECOND ?? 'no limit (SENDGRID_RATE_PER_SECOND)',
      definition: `${live.definition.id}@${live.version} (live; new journeys start on it)`,
      ...channels.summary,
      metrics: metricsServer?.url ?? 'off (WORKER_METRICS_PORT=0)',
      payloadEncryption: encryption === 'off' ? 'off (PAYLOAD_ENCRYPTION=off)' : `AES-256-GCM, key ${encryption.primaryId}`,
    },
    'worker running',
  );
  // Ctrl-C reaches the whole process group, and a launcher (npm start) then sends SIGTERM too: shut down once.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    worker.shutdown();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await worker.run();
  await connection.close();
  await client.connection.close();
  await db.close();
  await metricsServer?.close();
  logger.info('worker stopped');
}

main().catch((err) => {
  if (err instanceof ConfigError || err?.name === 'DefinitionError') {
    console.error(`worker: ${err.message}`);
  } else {
    console.error('worker failed:', err);
  }
  process.exit(1);
});
