import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../config/config.js';
import { CLUSTER_VERSIONS, DEFAULT_CLUSTER_PORTS, NUM_HISTORY_SHARDS, portsFromBase, startCluster, type Cluster } from '../servers/cluster.js';
import { PROJECT_ROOT } from '../servers/local-servers.js';
import { DEV_KEY_SCOPES, devApiKey, devPayloadKeys, tryItLines } from './dev-secrets.js';

/**
 * `npm run start:cluster`: the production shape on this machine (src/servers/cluster.ts), installing what it
 * lacks first (scripts/install-cluster.sh). Data in .data/cluster/ survives restarts; Ctrl-C stops it all.
 * CLUSTER_PORT_BASE=n moves every port to n + offset (to run beside `npm start`).
 */
const say = (line: string) => process.stdout.write(`[cluster] ${line}\n`);

async function main() {
  const env = { ...process.env };
  loadConfig(env); // fail fast on a bad setting
  const dataDir = join(env.LIFECYCLE_DATA_DIR ?? join(PROJECT_ROOT, '.data'), 'cluster');
  mkdirSync(dataDir, { recursive: true });
  const base = env.CLUSTER_PORT_BASE ? Number(env.CLUSTER_PORT_BASE) : undefined;
  if (base !== undefined && !(Number.isInteger(base) && base > 0 && base < 65_000)) throw new ConfigError([`CLUSTER_PORT_BASE must be a port number below 65000, not ${env.CLUSTER_PORT_BASE}`]);
  const ports = base !== undefined ? portsFromBase(base) : DEFAULT_CLUSTER_PORTS;

  say('installing what is missing (scripts/install-cluster.sh; the first run builds Temporal from the Go module proxy)…');
  execFileSync('bash', [join(PROJECT_ROOT, 'scripts/install-cluster.sh')], { stdio: 'inherit' });

  let devKeys = false;
  if (!env.PAYLOAD_KEYS && env.PAYLOAD_ENCRYPTION !== 'off') {
    env.PAYLOAD_KEYS = devPayloadKeys(dataDir);
    devKeys = true;
  }
  let printedKey: string | undefined;
  if (!env.API_KEYS) {
    printedKey = devApiKey(dataDir);
    env.API_KEYS = `${printedKey}=${DEV_KEY_SCOPES}`;
  }
  const config = loadConfig({ ...env, API_PORT: String(ports.front) });

  let cluster: Cluster | undefined;
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await cluster?.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    cluster = await startCluster({
      dataDir,
      ports,
      appEnv: env,
      namespace: env.TEMPORAL_NAMESPACE ?? 'default',
      say,
      onUnexpectedExit: (name, code, signal) => {
        // While starting, startCluster itself fails on it and stops what it started.
        if (stopping || !cluster) return;
        say(`${name} exited (${signal ?? code}); stopping the cluster (its log: ${join(dataDir, 'logs', `${name}.log`)})`);
        void stopAll(1);
      },
    });
  } catch (err) {
    process.stderr.write(`[cluster] ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    await stopAll(1);
    return;
  }
  const front = `http://localhost:${ports.front}`;
  const key = printedKey ?? '<one of your API_KEYS>';
  process.stdout.write(
    [
      '',
      '  Lifecycle orchestrator cluster is running',
      `  API (HAProxy)  ${front}   -> APIs on ${ports.api.map((p) => `:${p}`).join(', ')} (health-checked on /readyz)`,
      `  API reference  ${front}/docs`,
      `  Dashboard      ${front}/dashboard   (sign in with the API key)`,
      `  Metrics        ${front}/metrics (a key with metrics:read); workers: ${ports.workerMetrics.map((p) => `http://127.0.0.1:${p}/metrics`).join(', ')}`,
      `  Temporal UI    ${cluster.uiUrl}`,
      `  Temporal       ${cluster.temporalAddress} (${CLUSTER_VERSIONS.temporalServer}: frontend, history, matching, worker as 4 processes; ${NUM_HISTORY_SHARDS} history shards; PostgreSQL persistence and visibility)`,
      `  PostgreSQL     127.0.0.1:${ports.postgres} (${CLUSTER_VERSIONS.postgresqlMajor}, data in ${join(dataDir, 'postgresql')})`,
      `  MongoDB        ${cluster.mongoUri} (FerretDB on PostgreSQL)`,
      `  Payloads       ${config.PAYLOAD_ENCRYPTION === 'off' ? 'NOT encrypted (PAYLOAD_ENCRYPTION=off)' : `encrypted (AES-256-GCM, key ${config.PAYLOAD_KEYS?.primaryId}${devKeys ? `, development key in ${join(dataDir, 'dev-payload-keys')}` : ''})`}`,
      `  Codec          ${front}/codec   (sign in at ${front}/codec/sign-in, then tick "Include cross-origin credentials" in the UI's codec settings)`,
      `  Mail           ${config.SENDGRID_API_KEY ? 'SendGrid' : `local outbox (GET ${front}/v1/outbox)`}`,
      `  Processes      ${join(dataDir, 'processes.json')}   logs in ${join(dataDir, 'logs')}`,
      `  API key        ${key}${printedKey ? `   (development key, kept in ${join(dataDir, 'dev-api-key')})` : ''}`,
      ...tryItLines(front, key),
    ].join('\n'),
  );
}

void main().catch((err: unknown) => {
  process.stderr.write(`[cluster] ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(1);
});
