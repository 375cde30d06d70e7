import { z } from 'zod';

/** `metrics:read` is for Prometheus: a key with only it can scrape GET /metrics and nothing else. */
export const SCOPES = ['events:write', 'customers:read', 'customers:write', 'metrics:read'] as const;
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
});
export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}
