import { z } from 'zod';
import { PayloadKeys, PayloadKeysError } from '../codec/payload-keys.js';

/**
 * `metrics:read` is for Prometheus: a key with only it can scrape GET /metrics and nothing else.
 * `codec:decode` lets the Temporal Web UI and CLI decrypt payloads through /codec (see docs/security.md).
 */
export const SCOPES = ['events:write', 'customers:read', 'customers:write', 'metrics:read', 'codec:decode'] as const;
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

const PerSecond = z.coerce.number().min(0).max(1_000_000);
const Burst = z.coerce.number().int().min(1).max(1_000_000);

const Address = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'write host:port, for example 127.0.0.1:7233');

/** Every setting, read from the environment once at start; a bad value stops the process with a clear message. */
export const ConfigSchema = z.object({
  TEMPORAL_ADDRESS: Address.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  TASK_QUEUE: z.string().min(1).default('lifecycle'),
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://').default('mongodb://127.0.0.1:27017/lifecycle'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().default('127.0.0.1'),
  API_KEYS: ApiKeys.optional(),
  SENDGRID_API_KEY: z.string().min(1).optional(),
  SENDGRID_BASE_URL: z.url().optional(),
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
});
export type Config = z.infer<typeof ConfigSchema>;

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
