import { createHash, createHmac, createPublicKey } from 'node:crypto';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js';
import { z } from 'zod';
import { DEFAULT_FAN_OUT_WINDOW } from '../../activities/fan-out-window.js';
import { PayloadKeys, PayloadKeysError } from '../codec/payload-keys.js';
import { DEFAULT_PUSH_SERVICES, pushServiceEntryProblem } from '../push/push-services.js';
import { TASK_QUEUE_DEFAULT } from '../temporal/contract.js';
import { DEFAULT_WORKFLOW_THREAD, PROMISE_HOOK_MODES, WATCHDOG_MODES } from '../worker/workflow-thread.js';
import { DEFAULT_WORKFLOW_STACK_FRAMES } from '../worker/workflow-stacks.js';

/**
 * `metrics:read` is for Prometheus: a key with only it can scrape GET /metrics and nothing else.
 * `codec:decode` lets the Temporal Web UI and CLI decrypt payloads through /codec (see docs/security.md).
 */
export const SCOPES = ['events:write', 'events:read', 'customers:read', 'customers:write', 'metrics:read', 'codec:decode', 'definitions:read', 'definitions:write'] as const;
export type Scope = (typeof SCOPES)[number];

const ApiKeys = z
  .string()
  .transform((text, ctx) => {
    const keys = new Map<string, Set<Scope>>();
    for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? '' : entry.slice(0, eq).trim();
      const scopes = eq < 0 ? [] : entry.slice(eq + 1).split('|').map((s) => s.trim()).filter(Boolean);
      if (key.length < 16) {
        ctx.addIssue({ code: 'custom', message: `entry "${entry.slice(0, 6)}…": write key=scope|scope with a key of at least 16 characters` });
        continue;
      }
      const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
      if (scopes.length === 0 || unknown.length > 0) {
        ctx.addIssue({ code: 'custom', message: `key "${key.slice(0, 4)}…": scopes must be some of ${SCOPES.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}` });
        continue;
      }
      keys.set(key, new Set(scopes as Scope[]));
    }
    return keys;
  });

const PayloadKeyList = z.string().transform((text, ctx) => {
  try {
    return PayloadKeys.parse(text);
  } catch (err) {
    if (!(err instanceof PayloadKeysError)) throw err;
    for (const message of err.problems) ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  }
});

/** A VAPID key as `npx web-push generate-vapid-keys` prints it: base64url, `bytes` long. */
const VapidKey = (bytes: number, what: string) =>
  z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]+$/, `${what}: base64url, as npx web-push generate-vapid-keys prints it`)
    .refine((text) => Buffer.from(text, 'base64url').length === bytes, `${what}: ${bytes} bytes (base64url), as npx web-push generate-vapid-keys prints it`);

const PushServices = z.string().transform((text, ctx) => {
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) {
    const problem = pushServiceEntryProblem(entry);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }
  return entries;
});

const Origins = z.string().transform((text, ctx) => {
  const origins: string[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    try {
      const url = new URL(entry);
      if (url.origin === 'null' || url.href.replace(/\/$/, '') !== url.origin) throw new Error('not an origin');
      origins.push(url.origin);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${entry}" is not an origin such as https://temporal.example.com` });
    }
  }
  return origins;
});

/**
 * SendGrid's Event Webhook verification key, as its settings page shows it: a P-256 public key, base64 DER
 * (SubjectPublicKeyInfo). A PEM block is accepted too. Kept as the bare base64 text.
 */
const SendgridWebhookPublicKey = z.string().transform((text, ctx) => {
  const base64 = text.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new Error('not base64');
    const key = createPublicKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not P-256');
    return base64;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be the Event Webhook verification key SendGrid shows (an ECDSA P-256 public key, base64 DER: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…)' });
    return z.NEVER;
  }
});

const PerSecond = z.coerce.number().min(0).max(1_000_000);
const Burst = z.coerce.number().int().min(1).max(1_000_000);

const Address = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'write host:port, for example 127.0.0.1:7233');

/** Plain http is for a receiver on this machine (tests, a local relay); anything else must be https. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const ENDPOINT_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** `name=value,…`, split at each entry's first `=`; names are ids as a definition writes them. */
function namedEntries(text: string, ctx: z.core.$RefinementCtx, example: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq).trim();
    const value = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (!ENDPOINT_NAME.test(name) || !value) {
      ctx.addIssue({ code: 'custom', message: `entry "${name.slice(0, 20)}…": write ${example}, with a name of lower-case letters, digits and _` });
    } else if (entries.has(name)) {
      ctx.addIssue({ code: 'custom', message: `"${name}" is named more than once` });
    } else {
      entries.set(name, value);
    }
  }
  return entries;
}

/** Webhook endpoints by the name campaigns use (`message: { channel: webhook, endpoint: push }`). */
const WebhookEndpoints = z.string().transform((text, ctx) => {
  const endpoints = namedEntries(text, ctx, 'name=https://host/path');
  for (const [name, value] of endpoints) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `endpoint "${name}": "${value}" is not a URL` });
      continue;
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
      ctx.addIssue({ code: 'custom', message: `endpoint "${name}": "${value}" must be https:// (plain http only to 127.0.0.1, localhost or [::1])` });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: `endpoint "${name}": put no credentials in the URL (messages are signed with WEBHOOK_SECRETS)` });
    } else {
      endpoints.set(name, url.href);
    }
  }
  return endpoints;
});

/** The signing secret of each endpoint; never echoed in an error. */
const WebhookSecrets = z.string().transform((text, ctx) => {
  const secrets = namedEntries(text, ctx, 'name=secret');
  for (const [name, secret] of secrets) {
    if (secret.length < 16) ctx.addIssue({ code: 'custom', message: `secret of "${name}": at least 16 characters (openssl rand -hex 32)` });
  }
  return secrets;
});

/** `secret,…`: each at least 32 characters; the first signs, all verify. Never echoed in an error. */
const LinkSecrets = z.string().transform((text, ctx) => {
  const secrets = text.split(',').map((e) => e.trim()).filter(Boolean);
  if (secrets.length === 0) ctx.addIssue({ code: 'custom', message: 'give at least one secret (openssl rand -base64 32)' });
  secrets.forEach((secret, i) => {
    if (secret.length < 32) ctx.addIssue({ code: 'custom', message: `secret ${i + 1}: at least 32 characters (openssl rand -base64 32)` });
  });
  return secrets;
});

const WORKER_TASK_QUEUE_ROLES = ['journeys', 'transactional', 'marketing'] as const;
export type WorkerTaskQueueRole = (typeof WORKER_TASK_QUEUE_ROLES)[number];
const WorkerTaskQueues = z
  .string()
  .transform((text) => [...new Set(text.split(',').map((part) => part.trim()).filter(Boolean))])
  .pipe(z.array(z.enum(WORKER_TASK_QUEUE_ROLES)).min(1, 'name at least one of journeys, transactional, marketing'));

/** Every setting, read from the environment once at start; a bad value stops the process with a clear message. */
export const ConfigSchema = z.object({
  TEMPORAL_ADDRESS: Address.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  TASK_QUEUE: z.string().min(1).default(TASK_QUEUE_DEFAULT),
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://').default('mongodb://127.0.0.1:27017/lifecycle'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().default('127.0.0.1'),
  API_KEYS: ApiKeys.optional(),
  /**
   * The HMAC key of browser sessions (dashboard and codec sign-in), the same on every API instance; derived
   * from API_KEYS when unset. Changing it signs every browser out.
   */
  SESSION_SECRET: z.string().min(32, 'at least 32 characters (openssl rand -base64 32)').optional(),
  SENDGRID_API_KEY: z.string().min(1).optional(),
  SENDGRID_BASE_URL: z.url().optional(),
  /**
   * Before resending a message whose earlier attempt was cut off after it went to SendGrid, ask SendGrid's
   * Email Activity Feed (a paid add-on) whether it took it. On by default when SendGrid is configured.
   */
  SENDGRID_ACTIVITY_LOOKUP: z.enum(['on', 'off']).default('on'),
  /**
   * How old such an attempt must be before it is resent when neither the feed nor the Event Webhook shows
   * it (both lag). Longer than the feed's and the webhook's lag, and than the send timeout (20 s).
   */
  SENDGRID_LOOKUP_SETTLE_MS: z.coerce.number().int().min(0).max(86_400_000).default(120_000),
  /** Turns POST /v1/webhooks/sendgrid on: requests must be signed with the matching private key (Signed Event Webhook). */
  SENDGRID_WEBHOOK_PUBLIC_KEY: SendgridWebhookPublicKey.optional(),
  EMAIL_FROM: z
    .string()
    .regex(/^(?:[^<>]+<)?[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>?$/, 'must be an email address, optionally with a name: Name <addr@example.com>')
    .default('CoachingLive <hello@coachinglive.example>'),
  DEFINITION_FILE: z.string().min(1).default('definitions/coachinglive.yaml'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long the API waits for Temporal or MongoDB before answering 503. */
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** The worker's Prometheus endpoint (GET /metrics, with the Temporal SDK's runtime metrics); 0 turns it off. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Worker tuning (docs/benchmarks.md): journeys kept in the worker's cache (memory is bounded by this, not
   * by the population; an evicted journey is replayed from history when it next wakes), and workflow tasks
   * and activities worked on at once. Unset = the Temporal SDK's defaults.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(1_000_000).optional(),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).max(10_000).optional(),
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).optional(),
  /**
   * Stack frames the journeys' V8 context captures for each promise (src/worker/workflow-stacks.ts): the Temporal
   * UI's Stack Trace tab and errors in workflow code show this many. The SDK maps each through a source map as
   * the promise is made, so it costs worker CPU on every activation; V8's default is 10.
   */
  WORKER_WORKFLOW_STACK_FRAMES: z.coerce.number().int().min(0).max(100).default(DEFAULT_WORKFLOW_STACK_FRAMES),
  /**
   * How workflow code is watched for deadlocks (src/worker/workflow-thread.ts). `thread`: one watchdog for each
   * workflow thread, for every request into workflow code. `new-work`: Node's watchdog per call, where Node
   * starts a thread for every call into workflow code, on new work only. `per-call`: the SDK's behaviour.
   */
  WORKER_WATCHDOG: z.enum(WATCHDOG_MODES).default(DEFAULT_WORKFLOW_THREAD.watchdog),
  /** Replaced by WORKER_WATCHDOG; refused with what to set instead. */
  WORKER_REPLAY_WATCHDOG: z.string().optional(),
  /**
   * `cached`: the SDK's promise hook, which runs for every promise of the workflow thread, finds the promise's
   * workflow with a reader compiled once per V8 context instead of compiling one per promise
   * (src/worker/workflow-thread.ts). `sdk`: the SDK's code as shipped.
   */
  WORKER_PROMISE_HOOK: z.enum(PROMISE_HOOK_MODES).default(DEFAULT_WORKFLOW_THREAD.promiseHook),
  /**
   * Which task queues this worker process polls, comma-separated: `journeys` (workflows, broadcasts and every
   * activity but deliveries), `transactional` and `marketing` (their deliveries). All three by default; a
   * worker per queue scales and isolates them (docs/scaling.md).
   */
  WORKER_TASK_QUEUES: WorkerTaskQueues.default(['journeys', 'transactional', 'marketing']),
  /** Deliveries worked on at once by this worker on each delivery queue; unset = the SDK's default (100). */
  WORKER_TRANSACTIONAL_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).optional(),
  WORKER_MARKETING_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).optional(),
  /**
   * The SendGrid account's send rate (its plan limit), kept across all workers by Temporal's server-side
   * rate limit of the delivery queues: SENDGRID_TRANSACTIONAL_SHARE of it for transactional messages, the
   * rest for marketing, so a broadcast never gets 429s and never starves a transactional message. Unset: no limit.
   */
  SENDGRID_RATE_PER_SECOND: z.coerce.number().positive().max(100_000).optional(),
  SENDGRID_TRANSACTIONAL_SHARE: z.coerce.number().gt(0).lt(1).default(0.2),
  /**
   * A broadcast signals its next journeys only while fewer than this many marketing deliveries wait on their
   * queue: the fan-out keeps pace with the send rate instead of flooding the journeys' own task queue.
   */
  BROADCAST_MAX_BACKLOG: z.coerce.number().int().min(1).max(100_000).default(50),
  /**
   * ... and only while fewer than this many workflow tasks wait on the journeys' queue: a journey the broadcast
   * wakes queues its workflow task before it schedules a delivery, and a new customer's welcome waits behind it.
   */
  BROADCAST_MAX_JOURNEY_BACKLOG: z.coerce.number().int().min(1).max(100_000).default(8),
  /**
   * A broadcast reaches each journey by an update answered once the journey took it in, and waits on at most
   * this many at once: fewer while answers come later than BROADCAST_TARGET_LATENCY_MS (the window halves), more
   * while they come sooner (it grows by one a round). So the fan-out goes as fast as the workers handle the journeys
   * it wakes, and a new customer's welcome waits behind a few of them, not thousands. 0: no window, signals as
   * fast as the two backlog bounds above allow (as before it; a worker whose journeys predate the update).
   */
  BROADCAST_MAX_IN_FLIGHT: z.coerce.number().int().min(0).max(10_000).default(DEFAULT_FAN_OUT_WINDOW.max),
  BROADCAST_TARGET_LATENCY_MS: z.coerce.number().int().min(10).max(60_000).default(DEFAULT_FAN_OUT_WINDOW.targetMs),
  /** `id:base64key,…` (32-byte AES-256 keys): the first encrypts Temporal payloads, all decrypt. */
  PAYLOAD_KEYS: PayloadKeyList.optional(),
  /** `off` runs without payload encryption; only ever on purpose, never because PAYLOAD_KEYS is missing. */
  PAYLOAD_ENCRYPTION: z.enum(['on', 'off']).default('on'),
  /** Browser origins allowed to call /codec (the Temporal Web UI); the origin of TEMPORAL_UI_URL by default. */
  CODEC_CORS_ORIGINS: Origins.optional(),
  /** Requests per second per API key (token bucket), and how many may come at once; 0 turns it off. */
  RATE_LIMIT_PER_KEY: PerSecond.default(200),
  RATE_LIMIT_BURST: Burst.default(400),
  /** Events (track, identify, batch items) per second per customer, and the burst; 0 turns it off. */
  CUSTOMER_EVENTS_PER_SECOND: PerSecond.default(20),
  CUSTOMER_EVENTS_BURST: Burst.default(40),
  /** `name=https://…,…`: where webhook messages go (push, SMS, in-app providers); each needs a secret. */
  WEBHOOK_ENDPOINTS: WebhookEndpoints.optional(),
  /** `name=secret,…`: the HMAC-SHA256 key each endpoint's messages are signed with. */
  WEBHOOK_SECRETS: WebhookSecrets.optional(),
  /** How long a webhook endpoint may take to answer before the delivery is retried. */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /**
   * Web push (VAPID, RFC 8292): the key pair the application server signs with (`npx web-push
   * generate-vapid-keys`; apps subscribe with the public one) and a contact (`mailto:` or `https:`). A
   * worker needs all three (without them push messages fail as unconfigured); the API only the public key.
   */
  VAPID_PUBLIC_KEY: VapidKey(65, 'the uncompressed P-256 public key').optional(),
  VAPID_PRIVATE_KEY: VapidKey(32, 'the P-256 private key').optional(),
  VAPID_SUBJECT: z.string().regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/[^\s]+)$/, 'a mailto: address or an https: URL the push services can reach you at').optional(),
  /** The push services subscriptions may point at (origins, `https://*.host` for subdomains, or `*`). */
  WEB_PUSH_SERVICES: PushServices.default([...DEFAULT_PUSH_SERVICES]),
  /** How long a push service keeps a message for a device that is offline (a message may set its own `ttl`). */
  PUSH_TTL_SECONDS: z.coerce.number().int().min(0).max(2_419_200).default(86_400),
  /** How long a push service may take to answer before the attempt is retried. */
  PUSH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /**
   * The HMAC keys of the unsubscribe and preference-page links in marketing emails, the same on every worker
   * and API instance (`secret,…`; the first signs, all verify). Derived from PAYLOAD_KEYS when unset.
   */
  LINK_SECRETS: LinkSecrets.optional(),
  /** How long an inbox token (POST /v1/customers/:userId/inbox-token) lets the customer's app read their in-app inbox. */
  INBOX_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3_600),
  /** Browser origins of the customer's web app allowed to call /v1/inbox (CORS); none by default (native apps need none). */
  INBOX_CORS_ORIGINS: Origins.optional(),
  /** The API's address as customers reach it: the unsubscribe and preference links in emails point there. */
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Twilio (the SMS channel): the account, its auth token (which also signs Twilio's callbacks), and one sender. */
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'a Twilio Account SID is AC followed by 32 hex digits').optional(),
  TWILIO_AUTH_TOKEN: z.string().min(16, 'the auth token as the Twilio console shows it').optional(),
  TWILIO_FROM: z.string().regex(/^\+[1-9]\d{6,14}$/, 'the sending number in E.164, for example +15005550006').optional(),
  TWILIO_MESSAGING_SERVICE_SID: z.string().regex(/^MG[0-9a-fA-F]{32}$/, 'a Messaging Service SID is MG followed by 32 hex digits').optional(),
  /** Another Twilio-compatible server instead of https://api.twilio.com (tests, a local relay). */
  TWILIO_API_BASE: z.url({ protocol: /^https?$/ }).optional(),
  /** The country of profile phone numbers written without +<country code> (ISO 3166 two letters: DE, US). */
  SMS_DEFAULT_COUNTRY: z
    .string()
    .refine((v): v is CountryCode => isSupportedCountry(v), 'a two-letter country code libphonenumber knows, for example DE or US')
    .optional(),
  /** When no text message goes, in the customer's time zone (HH:mm-HH:mm), unless the campaign names its own quiet hours. */
  SMS_QUIET_HOURS: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'from-to in local time, for example 21:00-08:00')
    .default('21:00-08:00')
    .transform((v) => ({ from: v.slice(0, 5), to: v.slice(6) })),
  /** The answer to HELP (carriers require one): who is sending, and how to stop. */
  SMS_HELP_TEXT: z
    .string()
    .min(1)
    .max(320)
    .default('CoachingLive: class reminders and offers by text. Msg & data rates may apply. Reply STOP to unsubscribe, START to subscribe again.'),
  /** How long refused batch items stay in the rejected store (GET /v1/rejected) before they are deleted. */
  REJECTED_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
}).superRefine((config, ctx) => {
  if (config.WORKER_REPLAY_WATCHDOG !== undefined) {
    const instead = config.WORKER_REPLAY_WATCHDOG === 'per-entry' ? 'WORKER_WATCHDOG=per-call' : config.WORKER_REPLAY_WATCHDOG === 'off' ? 'WORKER_WATCHDOG=new-work (or thread, the default)' : 'WORKER_WATCHDOG';
    ctx.addIssue({ code: 'custom', path: ['WORKER_REPLAY_WATCHDOG'], message: `WORKER_REPLAY_WATCHDOG is replaced by WORKER_WATCHDOG: set ${instead}` });
  }
  if (config.TWILIO_ACCOUNT_SID) {
    if (!config.TWILIO_AUTH_TOKEN) ctx.addIssue({ code: 'custom', path: ['TWILIO_AUTH_TOKEN'], message: 'TWILIO_ACCOUNT_SID is set: set its auth token too' });
    if (!config.TWILIO_FROM === !config.TWILIO_MESSAGING_SERVICE_SID) {
      ctx.addIssue({ code: 'custom', path: ['TWILIO_FROM'], message: 'set one sender: TWILIO_FROM (a number) or TWILIO_MESSAGING_SERVICE_SID, not both' });
    }
  } else if (config.TWILIO_FROM || config.TWILIO_MESSAGING_SERVICE_SID) {
    ctx.addIssue({ code: 'custom', path: ['TWILIO_ACCOUNT_SID'], message: 'a Twilio sender is set without TWILIO_ACCOUNT_SID' });
  }
  const endpoints = config.WEBHOOK_ENDPOINTS ?? new Map<string, string>();
  const secrets = config.WEBHOOK_SECRETS ?? new Map<string, string>();
  for (const name of endpoints.keys()) {
    if (!secrets.has(name)) ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRETS'], message: `endpoint "${name}" has no secret: add ${name}=<secret>` });
  }
  for (const name of secrets.keys()) {
    if (!endpoints.has(name)) ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRETS'], message: `"${name}" is not an endpoint in WEBHOOK_ENDPOINTS` });
  }
  // The API needs only the public key (apps ask for it); a worker that sends needs all three.
  const vapid = [config.VAPID_PUBLIC_KEY, config.VAPID_PRIVATE_KEY, config.VAPID_SUBJECT];
  if ((config.VAPID_PRIVATE_KEY !== undefined || config.VAPID_SUBJECT !== undefined) && !vapid.every((v) => v !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['VAPID_PRIVATE_KEY'], message: 'set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT together (an API instance may have VAPID_PUBLIC_KEY alone)' });
  }
});
export type Config = z.infer<typeof ConfigSchema>;

/** The configured webhook endpoints, each with its URL and secret (the schema checked they pair up). */
export function webhookEndpoints(config: Config): Array<{ id: string; url: string; secret: string }> {
  return [...(config.WEBHOOK_ENDPOINTS ?? new Map<string, string>())].map(([id, url]) => ({ id, url, secret: config.WEBHOOK_SECRETS!.get(id)! }));
}

/** The VAPID keys when all three are set (the schema checked they come together). */
export function vapidKeys(config: Config): { publicKey: string; privateKey: string; subject: string } | undefined {
  if (!config.VAPID_PUBLIC_KEY || !config.VAPID_PRIVATE_KEY || !config.VAPID_SUBJECT) return undefined;
  return { publicKey: config.VAPID_PUBLIC_KEY, privateKey: config.VAPID_PRIVATE_KEY, subject: config.VAPID_SUBJECT };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The payload keys a worker or API runs with: PAYLOAD_KEYS, or `off` when PAYLOAD_ENCRYPTION=off says so.
 * Missing keys stop the process (ConfigError): it never runs without encryption by accident.
 */
export function payloadEncryption(config: Config): PayloadKeys | 'off' {
  if (config.PAYLOAD_ENCRYPTION === 'off') {
    if (config.PAYLOAD_KEYS) throw new ConfigError(['PAYLOAD_ENCRYPTION=off and PAYLOAD_KEYS are both set: say which you mean']);
    return 'off';
  }
  if (!config.PAYLOAD_KEYS) {
    throw new ConfigError([
      'PAYLOAD_KEYS: set the keys Temporal payloads are encrypted with, for example PAYLOAD_KEYS="k1:$(openssl rand -base64 32)" (or PAYLOAD_ENCRYPTION=off to store them in plain text)',
    ]);
  }
  return config.PAYLOAD_KEYS;
}

/**
 * The keys unsubscribe and preference links are signed with: LINK_SECRETS, else one derived from each
 * payload key (in PAYLOAD_KEYS order, so the primary signs). A link stays valid while its key is listed.
 */
export function linkSecrets(config: Config): Buffer[] {
  if (config.LINK_SECRETS) return config.LINK_SECRETS.map((secret) => createHash('sha256').update('lifecycle links v1\0').update(secret).digest());
  const keys = config.PAYLOAD_ENCRYPTION === 'off' ? undefined : config.PAYLOAD_KEYS;
  if (!keys) {
    throw new ConfigError(['LINK_SECRETS: set the secret unsubscribe and preference links are signed with (openssl rand -base64 32); without PAYLOAD_KEYS there is nothing to derive it from']);
  }
  return keys.ids.map((id) => createHmac('sha256', keys.key(id)!).update('lifecycle links v1').digest());
}

/** Where customers reach the API (the links in emails): PUBLIC_URL, else this machine's API port. */
export function publicUrl(config: Config): string {
  return (config.PUBLIC_URL ?? `http://localhost:${config.API_PORT}`).replace(/\/+$/, '');
}

/** Where the Temporal Web UI runs: the origins allowed to call /codec from a browser. */
export function codecCorsOrigins(config: Config): string[] {
  return config.CODEC_CORS_ORIGINS ?? [new URL(config.TEMPORAL_UI_URL).origin];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}
