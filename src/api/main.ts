import { journeyDataConverter } from '../codec/data-converter.js';
import { EncryptionCodec } from '../codec/encryption-codec.js';
import { codecCorsOrigins, ConfigError, linkSecrets, loadConfig, payloadEncryption, publicUrl } from '../config/config.js';
import { FeedbackSink } from '../channels/feedback.js';
import { SmsInbound } from '../channels/sms-inbound.js';
import { Inbox } from '../inbox/inbox-store.js';
import { InboxTokens } from '../inbox/inbox-tokens.js';
import { LinkSigner } from '../preferences/preference-links.js';
import { PreferenceService } from '../preferences/preference-service.js';
import { PushSubscriptions } from '../push/push-subscriptions.js';
import { connectDatabase, ensureIndexes } from '../db/models.js';
import { loadDefinitionFile } from '../definition-store/load-definition.js';
import { DefinitionStore } from '../definition-store/definition-store.js';
import { readDefaultBehaviourModel } from '../sim/behaviour-model.js';
import { KpiReport, kpiPlanOf } from '../kpis/kpi-report.js';
import { createLogger } from '../logging/logger.js';
import { requestLogFields } from '../logging/request-context.js';
import { createApiMetrics } from '../metrics/api-metrics.js';
import { deliveryRecordCounter } from '../metrics/delivery-records.js';
import { syncBroadcastSchedules } from '../temporal/broadcast-schedules.js';
import { searchAttributeOf } from '../temporal/search-attribute-keys.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { createTemporalClient } from '../temporal/client.js';
import { retryUntilUp } from '../util/retry.js';
import { RevokedSessions } from '../dashboard/revoked-sessions.js';
import { createApp } from './app.js';
import { answerClientError, viaMongo } from '../http/errors.js';
import { CustomerService } from './customer-service.js';
import { createRateLimits } from './rate-limit.js';
import { SendgridEvents } from './sendgrid-events.js';
import { IdentityStore } from '../ingest/identity-store.js';
import { AnonymousHistories } from './anonymous-histories.js';
import { RejectedStore } from '../ingest/rejected-store.js';
import { SealedJson } from '../ingest/sealed-json.js';

/** How often the API marks unread in-app messages past their expiry (a read marks its customer's at once). */
const INBOX_SWEEP_MS = 5 * 60_000;

async function main() {
  const config = loadConfig();
  if (!config.API_KEYS || config.API_KEYS.size === 0) {
    throw new ConfigError(['API_KEYS: set at least one key, for example API_KEYS="<key>=events:write|customers:read|customers:write"']);
  }
  const encryption = payloadEncryption(config);
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'api', context: requestLogFields });
  const loaded = await loadDefinitionFile(config.DEFINITION_FILE);
  // Temporal may come up after the API (lazy connection): until it does, event calls answer 503.
  const db = await retryUntilUp('MongoDB', () => connectDatabase(config.MONGODB_URI, { serverSelectionTimeoutMS: config.UPSTREAM_TIMEOUT_MS }), (m) => logger.warn(m));
  await ensureIndexes(db.models).catch((err) => logger.warn({ err: (err as Error).message }, 'could not ensure indexes'));
  const definitions = new DefinitionStore(db.models, loaded);
  // The worker seeds too; whichever comes first stores DEFINITION_FILE's version (idempotent).
  await definitions.publish().catch((err) => logger.warn({ err: (err as Error).message }, 'could not seed the definition from DEFINITION_FILE'));
  if (encryption === 'off') logger.warn('payload encryption is off (PAYLOAD_ENCRYPTION=off): workflow payloads are stored in plain text');
  const client = await createTemporalClient({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: journeyDataConverter(encryption),
    lazy: true,
  });
  const customers = new CustomerService({
    client,
    models: db.models,
    taskQueue: config.TASK_QUEUE,
    definition: { id: loaded.definition.id },
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    planSearchAttribute: searchAttributeOf(loaded.plan, 'plan'),
  });
  // Refused batch items: personal data, sealed with the payload codec.
  const sealed = new SealedJson(encryption === 'off' ? undefined : new EncryptionCodec(encryption));
  const segment = {
    identities: new IdentityStore(db.connection),
    rejected: new RejectedStore(db.connection, { sealed, retentionDays: config.REJECTED_RETENTION_DAYS }),
    anonymous: new AnonymousHistories({ client, taskQueue: config.TASK_QUEUE, definitionId: loaded.definition.id, upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS }),
  };
  await Promise.all([segment.identities.ensureIndexes(), segment.rejected.ensureIndexes()]).catch((err) => logger.warn({ err: (err as Error).message }, 'could not ensure indexes'));
  const metrics = createApiMetrics({ deliveryRecords: deliveryRecordCounter(db.models) });
  const reports = new KpiReport({ models: db.models, plan: kpiPlanOf(loaded.definition) });
  const rateLimits = createRateLimits({
    perKey: { ratePerSecond: config.RATE_LIMIT_PER_KEY, burst: config.RATE_LIMIT_BURST },
    perCustomer: { ratePerSecond: config.CUSTOMER_EVENTS_PER_SECOND, burst: config.CUSTOMER_EVENTS_BURST },
  });
  // The live version's topics: a publish through the API changes them without a restart.
  const liveDefinition = async () => (await viaMongo(() => definitions.get({ id: loaded.definition.id }))).definition;
  const preferences = new PreferenceService({ models: db.models, client, definition: liveDefinition, upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS, logger });
  const signer = new LinkSigner(linkSecrets(config));
  const defaultTimezone = loaded.definition.timing?.defaultTimezone;
  const feedback = new FeedbackSink({ client, models: db.models, logger, upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS, ...(defaultTimezone ? { defaultTimezone } : {}) });
  const inbox = new Inbox({ models: db.models, feedback, logger });
  // Unread in-app messages past their expiry are marked (and their journeys told) on read and by this sweep.
  const sweep = setInterval(() => void inbox.expire({ limit: 1_000 }).catch((err) => logger.warn({ err: (err as Error).message }, 'inbox expiry sweep failed; the next one tries again')), INBOX_SWEEP_MS);
  sweep.unref();
  const app = createApp({
    customers,
    preferences: { preferences, signer, definition: liveDefinition, logger },
    inbox: { inbox, tokens: new InboxTokens(signer, config.INBOX_TOKEN_TTL_SECONDS), corsOrigins: config.INBOX_CORS_ORIGINS ?? [] },
    push: {
      subscriptions: new PushSubscriptions(db.models),
      services: config.WEB_PUSH_SERVICES,
      ...(config.VAPID_PUBLIC_KEY ? { vapidPublicKey: config.VAPID_PUBLIC_KEY } : {}),
    },
    apiKeys: config.API_KEYS,
    ...(config.SESSION_SECRET ? { sessionSecret: config.SESSION_SECRET } : {}),
    sessionRevocations: new RevokedSessions(db.connection),
    logger,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    namespace: config.TEMPORAL_NAMESPACE,
    reports,
    metrics,
    rateLimits,
    segment,
    codec: { ...(encryption === 'off' ? {} : { codec: new EncryptionCodec(encryption) }), corsOrigins: codecCorsOrigins(config) },
    definitions: {
      store: definitions,
      models: db.models,
      defaultModel: await readDefaultBehaviourModel(),
      onPublished: async (live) => {
        // A search attribute the new version names is registered before any journey on it sets it.
        await ensureSearchAttributes(client.connection, config.TEMPORAL_NAMESPACE, live.plan);
        const schedules = await syncBroadcastSchedules(client, live.plan, config.TASK_QUEUE);
        logger.info({ version: live.version, ...schedules }, 'published; broadcast schedules in step with it');
      },
    },
    // Twilio's callbacks for the SMS channel: delivery receipts to the journey, STOP / START / HELP to preferences.
    twilio: {
      publicUrl: publicUrl(config),
      ...(config.TWILIO_AUTH_TOKEN
        ? {
            authToken: config.TWILIO_AUTH_TOKEN,
            feedback,
            inbound: new SmsInbound({
              models: db.models,
              preferences,
              logger,
              helpText: config.SMS_HELP_TEXT,
              ...(config.SMS_DEFAULT_COUNTRY ? { defaultCountry: config.SMS_DEFAULT_COUNTRY } : {}),
            }),
          }
        : {}),
    },
    sendgridWebhook: config.SENDGRID_WEBHOOK_PUBLIC_KEY
      ? {
          publicKey: config.SENDGRID_WEBHOOK_PUBLIC_KEY,
          events: new SendgridEvents({
            client,
            models: db.models,
            logger,
            upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
            ...(loaded.definition.timing?.defaultTimezone ? { defaultTimezone: loaded.definition.timing.defaultTimezone } : {}),
          }),
        }
      : {},
  });
  const server = app.listen(config.API_PORT, config.API_HOST, () => {
    const url = `http://${config.API_HOST}:${config.API_PORT}`;
    logger.info(
      {
        url,
        reference: `${url}/docs`,
        openapi: `${url}/openapi.json`,
        metrics: `${url}/metrics`,
        codec: `${url}/codec (for ${codecCorsOrigins(config).join(', ')})`,
        inbox: `${url}/v1/inbox (tokens for ${config.INBOX_TOKEN_TTL_SECONDS} s; CORS ${config.INBOX_CORS_ORIGINS?.join(', ') || 'none'})`,
        payloadEncryption: encryption === 'off' ? 'off' : `AES-256-GCM, key ${encryption.primaryId}`,
      },
      'API listening',
    );
  });
  server.on('clientError', answerClientError);
  const stop = () => {
    logger.info('API stopping');
    clearInterval(sweep);
    server.close(async () => {
      await client.connection.close().catch(() => undefined);
      await db.close().catch(() => undefined);
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  if (err instanceof ConfigError || err?.name === 'DefinitionError') console.error(`api: ${err.message}`);
  else console.error('api failed:', err);
  process.exit(1);
});
