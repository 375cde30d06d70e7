import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config/config.js';
import { connectDatabase, ensureIndexes } from '../db/models.js';
import { DefinitionStore } from '../definitions/definition-store.js';
import { loadDefinitionFile } from '../definitions/load-definition.js';
import { createOutboxMailer, createSendgridMailer } from '../delivery/mailer.js';
import { createLogger } from '../logging/logger.js';
import { syncBroadcastSchedules } from '../temporal/broadcast-schedules.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { retryUntilUp } from '../util/retry.js';
import { createJourneyWorker } from './create-worker.js';

async function main() {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  const loaded = await loadDefinitionFile(config.DEFINITION_FILE);
  const db = await retryUntilUp('MongoDB', () => connectDatabase(config.MONGODB_URI), (m) => logger.warn(m));
  await ensureIndexes(db.models);
  const definitions = new DefinitionStore(db.models, loaded);
  await definitions.publish();
  const mailer = config.SENDGRID_API_KEY
    ? createSendgridMailer({ apiKey: config.SENDGRID_API_KEY, ...(config.SENDGRID_BASE_URL ? { baseUrl: config.SENDGRID_BASE_URL } : {}) })
    : createOutboxMailer(db.models);

  const clientConnection = await retryUntilUp('Temporal', () => Connection.connect({ address: config.TEMPORAL_ADDRESS }), (m) => logger.warn(m));
  const added = await ensureSearchAttributes(clientConnection, config.TEMPORAL_NAMESPACE);
  if (added.length > 0) logger.info({ added }, 'registered search attributes');
  const client = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE });
  const schedules = await syncBroadcastSchedules(client, loaded.plan, config.TASK_QUEUE);
  logger.info(schedules, 'broadcast schedules in step with the definition');

  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createJourneyWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TASK_QUEUE,
    deps: { models: db.models, definitions, mailer, emailFrom: config.EMAIL_FROM, logger },
    client,
  });
  logger.info(
    { taskQueue: config.TASK_QUEUE, definition: `${loaded.definition.id}@${loaded.version}`, mail: mailer.provider },
    'worker running',
  );
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await connection.close();
  await clientConnection.close();
  await db.close();
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
