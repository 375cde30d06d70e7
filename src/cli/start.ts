import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../config/config.js';
import { loadDefinitionFile } from '../definition-store/load-definition.js';
import { freePort, PROJECT_ROOT, startFerretDb, stopChild, startTemporalDevServer, type RunningServer } from '../servers/local-servers.js';
import { startUiProxy } from '../servers/ui-proxy.js';
import { createTemporalClient } from '../temporal/client.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { DEV_KEY_SCOPES, devApiKey, devPayloadKeys, devVapidKeys, tryItLines } from './dev-secrets.js';

/**
 * `npm start`: the whole stack on embedded defaults. Starts FerretDB and the Temporal dev server unless
 * MONGODB_URI / TEMPORAL_ADDRESS point elsewhere, then the worker and the API; Ctrl-C stops it all.
 */
const say = (line: string) => process.stdout.write(`[start] ${line}\n`);

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function main() {
  const env = { ...process.env };
  // Fail fast on a bad setting or definition, before anything starts (the worker and API run from PROJECT_ROOT).
  const { plan } = await loadDefinitionFile(resolve(PROJECT_ROOT, loadConfig(env).DEFINITION_FILE));
  const dataDir = env.LIFECYCLE_DATA_DIR ?? join(PROJECT_ROOT, '.data');
  mkdirSync(dataDir, { recursive: true });
  const servers: RunningServer[] = [];
  const children: ChildProcess[] = [];
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await Promise.all(children.map((child) => stopChild(child, 15_000)));
    for (const server of servers.reverse()) await server.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    if (!env.MONGODB_URI) {
      const ferret = await startFerretDb({ dataDir: join(dataDir, 'ferretdb'), port: Number(env.FERRETDB_PORT ?? 27017) });
      servers.push(ferret);
      env.MONGODB_URI = ferret.uri('lifecycle');
      say(`FerretDB (MongoDB wire protocol, SQLite in ${join(dataDir, 'ferretdb')}) on ${ferret.address}`);
    } else {
      say(`using MongoDB at ${env.MONGODB_URI.replace(/\/\/[^@/]*@/, '//***@')}`);
    }

    let devKeys = false;
    if (!env.PAYLOAD_KEYS && env.PAYLOAD_ENCRYPTION !== 'off') {
      env.PAYLOAD_KEYS = devPayloadKeys(dataDir);
      devKeys = true;
    }
    // Web push works out of the box on the developer's machine (docs/channels.md#web-push-channel).
    if (!env.VAPID_PUBLIC_KEY && !env.VAPID_PRIVATE_KEY && !env.VAPID_SUBJECT) Object.assign(env, devVapidKeys(dataDir));
    const apiConfig = loadConfig(env);
    let codecEndpoint = `http://localhost:${apiConfig.API_PORT}/codec`;

    let uiUrl = env.TEMPORAL_UI_URL;
    if (!env.TEMPORAL_ADDRESS) {
      // The UI behind a proxy that also serves our codec, on one origin: the UI then sends the codec the
      // sign-in cookie by itself and opens on the decoded story (src/servers/ui-proxy.ts says why).
      const uiPort = Number(env.TEMPORAL_UI_PORT ?? 8233);
      codecEndpoint = `http://localhost:${uiPort}/codec`;
      const temporal = await startTemporalDevServer({
        dbFile: join(dataDir, 'temporal.db'),
        uiCodecEndpoint: codecEndpoint,
        port: Number(env.TEMPORAL_PORT ?? 7233),
        uiPort: await freePort(),
        namespace: env.TEMPORAL_NAMESPACE ?? 'default',
      });
      servers.push(temporal);
      const inner = new URL(temporal.uiUrl);
      const proxy = await startUiProxy({
        host: '127.0.0.1',
        port: uiPort,
        ui: { host: inner.hostname, port: Number(inner.port) },
        api: { host: apiConfig.API_HOST === '0.0.0.0' ? '127.0.0.1' : apiConfig.API_HOST, port: apiConfig.API_PORT },
      });
      servers.push({ name: 'Temporal UI with the codec', address: proxy.url, process: temporal.process, stop: () => proxy.close() });
      env.TEMPORAL_ADDRESS = temporal.address;
      uiUrl ??= proxy.url;
      env.TEMPORAL_UI_URL = uiUrl;
      say(`Temporal dev server on ${temporal.address} (history in ${join(dataDir, 'temporal.db')}); its Web UI with our codec on ${proxy.url}`);
      if (temporal.partitions > 1) {
        say(
          `  this store keeps ${temporal.partitions} task-queue partitions (it was created with them): a transactional message can wait up to 2 s behind the delivery queue's rate limit; docs/deployment.md says how to move it to one`,
        );
      }
    } else {
      say(`using Temporal at ${env.TEMPORAL_ADDRESS}`);
    }
    const namespace = env.TEMPORAL_NAMESPACE ?? 'default';
    const client = await createTemporalClient({ address: env.TEMPORAL_ADDRESS, namespace });
    const added = await ensureSearchAttributes(client.connection, namespace, plan);
    await client.connection.close();
    if (added.length > 0) say(`registered search attributes: ${added.join(', ')}`);

    let printedKey: string | undefined;
    if (!env.API_KEYS) {
      printedKey = devApiKey(dataDir);
      env.API_KEYS = `${printedKey}=${DEV_KEY_SCOPES}`;
    }
    const config = loadConfig(env);

    for (const [name, entry] of [
      ['worker', 'src/worker/main.ts'],
      ['api', 'src/api/main.ts'],
    ] as const) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, entry)], { env, stdio: 'inherit', cwd: PROJECT_ROOT });
      child.once('exit', (code, signal) => {
        if (!stopping) {
          say(`${name} exited (${signal ?? code}); stopping the stack`);
          void stopAll(1);
        }
      });
      children.push(child);
    }
    const apiUrl = `http://localhost:${config.API_PORT}`;
    await waitForHttp(`http://${config.API_HOST === '0.0.0.0' ? '127.0.0.1' : config.API_HOST}:${config.API_PORT}/healthz`, 60_000);
    const key = printedKey ?? '<one of your API_KEYS>';
    process.stdout.write(
      [
        '',
        '  Lifecycle orchestrator is running',
        `  API           ${apiUrl}`,
        `  API reference ${apiUrl}/docs   (OpenAPI 3.1: ${apiUrl}/openapi.json)`,
        `  Dashboard     ${apiUrl}/dashboard   (sign in with the API key)`,
        `  Metrics       ${apiUrl}/metrics (a key with metrics:read)`,
        `                ${config.WORKER_METRICS_PORT > 0 ? `worker: http://${config.WORKER_METRICS_HOST === '0.0.0.0' ? '127.0.0.1' : config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}/metrics (with the Temporal SDK's)` : 'worker: off (WORKER_METRICS_PORT=0)'}`,
        `  Temporal UI   ${uiUrl ?? '(external Temporal)'}`,
        `  Payloads      ${config.PAYLOAD_ENCRYPTION === 'off' ? 'NOT encrypted (PAYLOAD_ENCRYPTION=off)' : `encrypted (AES-256-GCM, key ${config.PAYLOAD_KEYS?.primaryId}${devKeys ? ', development key in .data/dev-payload-keys' : ''})`}`,
        `  Codec         ${codecEndpoint}   (the Web UI decrypts through it for a browser signed in to the dashboard, or at ${codecEndpoint}/sign-in)`,
        `  Mail          ${config.SENDGRID_API_KEY ? 'SendGrid' : `local outbox (GET ${apiUrl}/v1/outbox)`}`,
        `  API key       ${key}${printedKey ? '   (development key, kept in .data/dev-api-key)' : ''}`,
        ...tryItLines(apiUrl, key),
      ].join('\n'),
    );
  } catch (err) {
    process.stderr.write(`[start] ${err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err)}\n`);
    await stopAll(1);
  }
}

void main();
