import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { msToTs } from '@temporalio/common/lib/time.js';
import { loadConfig } from '../config/config.js';
import { loadDefinitionFile } from '../definition-store/load-definition.js';
import { createTemporalClient } from '../temporal/client.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { BIN, PROJECT_ROOT, freePort, stopChild, waitForOutput } from './local-servers.js';

/**
 * The production shape on one machine, for `npm run start:cluster`, the cluster test layer and the cluster
 * benchmark: PostgreSQL (Debian's package, a project-local data directory, run as a non-root user); the
 * Temporal server on it (PostgreSQL persistence and advanced visibility) as four processes, one per
 * service; the Temporal Web UI server; FerretDB on PostgreSQL; our workers and APIs; HAProxy in front of
 * the APIs. scripts/install-cluster.sh installs the parts; docker-compose.yml is the same shape
 * (test/unit/cluster-shape.test.ts holds them together through the constants below).
 */
export const CLUSTER_VERSIONS = {
  temporalServer: '1.32.1',
  temporalUiServer: '2.49.1',
  postgresqlMajor: '15',
  ferretdb: '1.24.2',
  haproxyMajorMinor: '2.6',
} as const;

/** Fixed when the persistence store is created: changing it later needs a new cluster (docs/scaling.md). */
export const NUM_HISTORY_SHARDS = 4;
export const TEMPORAL_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];
export const DB = { user: 'temporal', password: 'temporal', temporal: 'temporal', visibility: 'temporal_visibility', ferretdb: 'ferretdb' } as const;
/** Temporal's dynamic config, the same file docker-compose.yml mounts into every Temporal service. */
export const DYNAMIC_CONFIG_FILE = join(PROJECT_ROOT, 'deploy/temporal/dynamicconfig.yaml');

const CLUSTER_BIN = join(PROJECT_ROOT, '.local/cluster/bin');
export const CLUSTER_BINARIES = {
  temporalServer: process.env.TEMPORAL_SERVER_BIN ?? join(CLUSTER_BIN, 'temporal-server'),
  temporalSqlTool: process.env.TEMPORAL_SQL_TOOL_BIN ?? join(CLUSTER_BIN, 'temporal-sql-tool'),
  temporalUiServer: process.env.TEMPORAL_UI_SERVER_BIN ?? join(CLUSTER_BIN, 'temporal-ui-server'),
  temporalSchema: join(PROJECT_ROOT, `.local/cluster/schema-${CLUSTER_VERSIONS.temporalServer}/postgresql/v12`),
  postgresBin: process.env.POSTGRESQL_BIN_DIR ?? `/usr/lib/postgresql/${CLUSTER_VERSIONS.postgresqlMajor}/bin`,
  haproxy: process.env.HAPROXY_BIN ?? 'haproxy',
};

/** Every port the cluster listens on. */
export interface ClusterPorts {
  front: number;
  api: number[];
  workerMetrics: number[];
  ui: number;
  postgres: number;
  ferretdb: number;
  temporal: Record<TemporalService, { grpc: number; membership: number }>;
  temporalHttp: number;
}

/** The ports `npm run start:cluster` uses; CLUSTER_PORT_BASE=n moves them all to n + offset. */
export const DEFAULT_CLUSTER_PORTS: ClusterPorts = {
  front: 3000,
  api: [3001, 3002],
  workerMetrics: [9464, 9465],
  ui: 8233,
  postgres: 5432,
  ferretdb: 27017,
  temporal: {
    frontend: { grpc: 7233, membership: 6933 },
    history: { grpc: 7234, membership: 6934 },
    matching: { grpc: 7235, membership: 6935 },
    worker: { grpc: 7239, membership: 6939 },
  },
  temporalHttp: 7243,
};

/**
 * Temporal stores each host's membership port in cluster_membership.rpc_port, a SMALLINT on PostgreSQL:
 * a membership port above 32767 stops the service at start ("value is out of range for type smallint").
 * The dev server (no membership table) never met this. So membership ports stay at or below 32767 wherever
 * the other ports go.
 */
export const MAX_MEMBERSHIP_PORT = 32_767;

export function portsFromBase(base: number): ClusterPorts {
  let low = base;
  while (low + 23 > MAX_MEMBERSHIP_PORT) low -= 10_000;
  if (low < 1_024) throw new RangeError(`no membership ports at or below ${MAX_MEMBERSHIP_PORT} for base ${base}`);
  return {
    front: base,
    api: [base + 1, base + 2],
    workerMetrics: [base + 3, base + 4],
    ui: base + 5,
    postgres: base + 6,
    ferretdb: base + 7,
    temporal: {
      frontend: { grpc: base + 10, membership: low + 20 },
      history: { grpc: base + 11, membership: low + 21 },
      matching: { grpc: base + 12, membership: low + 22 },
      worker: { grpc: base + 13, membership: low + 23 },
    },
    temporalHttp: base + 14,
  };
}

/** A free port at or below MAX_MEMBERSHIP_PORT (the OS's ephemeral ports, which freePort gives, start above it). */
async function freeLowPort(taken: Set<number>): Promise<number> {
  const { createServer } = await import('node:net');
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * (MAX_MEMBERSHIP_PORT - 20_000));
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((done) => {
      const server = createServer();
      server.once('error', () => done(false));
      server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port between 20000 and ${MAX_MEMBERSHIP_PORT}`);
}

export async function freeClusterPorts(): Promise<ClusterPorts> {
  const next = () => freePort();
  const taken = new Set<number>();
  const pair = async () => ({ grpc: await next(), membership: await freeLowPort(taken) });
  return {
    front: await next(),
    api: [await next(), await next()],
    workerMetrics: [await next(), await next()],
    ui: await next(),
    postgres: await next(),
    ferretdb: await next(),
    temporal: { frontend: await pair(), history: await pair(), matching: await pair(), worker: await pair() },
    temporalHttp: await next(),
  };
}

export interface ClusterOptions {
  /** Everything the cluster keeps: PostgreSQL's data directory, generated configs, logs, processes.json. */
  dataDir: string;
  ports: ClusterPorts;
  /** Environment of our workers and APIs (API_KEYS, PAYLOAD_KEYS, SENDGRID_…); ports and addresses are set here. */
  appEnv: Record<string, string | undefined>;
  /** How many workers (2 unless told); always two APIs, as deploy/haproxy/haproxy.cfg has. */
  workers?: number;
  namespace?: string;
  /** Pass every process's output through (start:cluster does); else it goes to <dataDir>/logs only. */
  inherit?: boolean;
  /** Told about each step while it comes up. */
  say?: (line: string) => void;
  /** Called when a process exits that nobody asked to stop. */
  onUnexpectedExit?: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface ClusterProcessInfo {
  name: string;
  pid: number | undefined;
  port: number | undefined;
}

/** One process of the cluster, restartable: the tests kill and restart them one at a time. */
export class ManagedProcess {
  child: ChildProcess | undefined;
  private stopping = false;
  private log: WriteStream | undefined;

  constructor(
    readonly name: string,
    readonly port: number | undefined,
    private readonly launch: () => ChildProcess,
    private readonly ready: (child: ChildProcess) => Promise<void>,
    private readonly opts: { logFile: string; inherit: boolean; onExit: (p: ManagedProcess, code: number | null, signal: NodeJS.Signals | null) => void; stopSignal?: NodeJS.Signals },
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.log ??= createWriteStream(this.opts.logFile, { flags: 'a' });
    const child = this.launch();
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.pipe(this.log, { end: false });
      if (this.opts.inherit) stream?.pipe(process.stderr, { end: false });
    }
    child.once('exit', (code, signal) => {
      if (!this.stopping) this.opts.onExit(this, code, signal);
    });
    await this.ready(child);
  }

  /** Stop on purpose (SIGTERM, or the process's own clean-stop signal; SIGKILL after the grace period). */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || !this.running) return;
    if (this.opts.stopSignal && this.opts.stopSignal !== 'SIGTERM') {
      await new Promise<void>((done) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.kill(this.opts.stopSignal);
      });
    } else {
      await stopChild(child, graceMs);
    }
  }

  /** SIGKILL, as a crash would: nothing gets to clean up. */
  async kill(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || !this.running) return;
    await new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGKILL');
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  closeLog(): void {
    this.log?.end();
    this.log = undefined;
  }
}

async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Whether a GET of `url` answers 2xx. A request is given 5 s (one that hangs must not take the whole wait), and an
 * answer that is not 2xx throws with its status, so that a wait that runs out says what it last got.
 */
async function answersOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return true;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what}: the process exited (${child.signalCode ?? child.exitCode}); see its log`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} is not installed at ${path}: run \`bash scripts/install-cluster.sh\` (npm install runs it)`);
}

/** PostgreSQL refuses to run as root: as root, run it (and own its files) as the `postgres` user Debian's package makes. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root, PostgreSQL needs a non-root user to run as: the `postgres` user of Debian\'s postgresql package is missing');
  }
}

function chownTree(path: string, owner: { uid: number; gid: number }): void {
  chownSync(path, owner.uid, owner.gid);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), owner);
}

function yamlScalar(value: unknown): string {
  return JSON.stringify(value);
}

/** The Temporal server's static config: PostgreSQL persistence and visibility, one port pair per service. */
export function temporalServerConfig(opts: { ports: ClusterPorts; dynamicConfigFile: string; logLevel?: string }): string {
  const { ports } = opts;
  const store = (db: string, maxConns: number) => `      sql:
        pluginName: "postgres12"
        databaseName: ${yamlScalar(db)}
        connectAddr: "127.0.0.1:${ports.postgres}"
        connectProtocol: "tcp"
        user: ${yamlScalar(DB.user)}
        password: ${yamlScalar(DB.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
  const service = (name: TemporalService) => `  ${name}:
    rpc:
      grpcPort: ${ports.temporal[name].grpc}
      membershipPort: ${ports.temporal[name].membership}
      bindOnIP: "127.0.0.1"${name === 'frontend' ? `\n      httpPort: ${ports.temporalHttp}` : ''}`;
  return `# Written by src/servers/cluster.ts at every start; edit that, not this.
log:
  stdout: true
  level: ${yamlScalar(opts.logLevel ?? 'warn')}

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: ${NUM_HISTORY_SHARDS}
  datastores:
    postgres-default:
${store(DB.temporal, 10)}
    postgres-visibility:
${store(DB.visibility, 4)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
${TEMPORAL_SERVICES.map(service).join('\n')}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${ports.temporal.frontend.grpc}"
      httpAddress: "127.0.0.1:${ports.temporalHttp}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: ${yamlScalar(opts.dynamicConfigFile)}
  pollInterval: "10s"
`;
}

export function uiServerConfig(opts: { ports: ClusterPorts; namespace: string; frontOrigin: string }): string {
  return `# Written by src/servers/cluster.ts at every start.
temporalGrpcAddress: "127.0.0.1:${opts.ports.temporal.frontend.grpc}"
host: "127.0.0.1"
port: ${opts.ports.ui}
enableUi: true
defaultNamespace: ${yamlScalar(opts.namespace)}
refreshInterval: 1m
cors:
  allowOrigins:
    - ${yamlScalar(opts.frontOrigin)}
codec:
  endpoint: ${yamlScalar(`${opts.frontOrigin}/codec`)}
  includeCredentials: true
`;
}

/** HAProxy's config and its 503 answer: the same files docker-compose.yml mounts. */
export const HAPROXY_DIR = join(PROJECT_ROOT, 'deploy/haproxy');

export interface Cluster {
  dataDir: string;
  ports: ClusterPorts;
  namespace: string;
  frontUrl: string;
  uiUrl: string;
  temporalAddress: string;
  mongoUri: string;
  processes: Map<string, ManagedProcess>;
  process(name: string): ManagedProcess;
  /** Rewrites processes.json (the tests call it after restarting a process; restarts do it themselves). */
  writeProcessFile(): void;
  stop(): Promise<void>;
}

/** Bring the cluster up: PostgreSQL, schema, Temporal's four services, namespace and search attributes, UI, FerretDB, apps, HAProxy. */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const say = opts.say ?? (() => {});
  const { ports } = opts;
  const namespace = opts.namespace ?? 'default';
  const dataDir = opts.dataDir;
  const pgData = join(dataDir, 'postgresql');
  const logs = join(dataDir, 'logs');
  const configDir = join(dataDir, 'config');
  mkdirSync(logs, { recursive: true });
  mkdirSync(configDir, { recursive: true });
  for (const [path, what] of [
    [CLUSTER_BINARIES.temporalServer, 'temporal-server'],
    [CLUSTER_BINARIES.temporalSqlTool, 'temporal-sql-tool'],
    [CLUSTER_BINARIES.temporalUiServer, 'the Temporal UI server'],
    [CLUSTER_BINARIES.temporalSchema, "Temporal's PostgreSQL schema"],
    [join(CLUSTER_BINARIES.postgresBin, 'postgres'), `PostgreSQL ${CLUSTER_VERSIONS.postgresqlMajor}`],
    [BIN.ferretdb, 'FerretDB'],
  ] as const)
    requireFile(path, what);

  const processes = new Map<string, ManagedProcess>();
  let stopping = false;
  const processFile = join(dataDir, 'processes.json');
  const writeProcessFile = () => {
    const list: ClusterProcessInfo[] = [...processes.values()].map((p) => ({ name: p.name, pid: p.pid, port: p.port }));
    writeFileSync(processFile, `${JSON.stringify({ startedAt: new Date().toISOString(), processes: list }, null, 2)}\n`);
  };
  let started = false;
  let crashedWhileStarting: string | undefined;
  const onExit = (p: ManagedProcess, code: number | null, signal: NodeJS.Signals | null) => {
    if (stopping) return;
    if (!started) crashedWhileStarting ??= `${p.name} exited (${signal ?? code}) while the cluster was starting; see ${join(logs, `${p.name}.log`)}`;
    opts.onUnexpectedExit?.(p.name, code, signal);
  };
  const add = async (
    name: string,
    port: number | undefined,
    launch: () => ChildProcess,
    ready: (child: ChildProcess) => Promise<void>,
    stopSignal?: NodeJS.Signals,
  ): Promise<ManagedProcess> => {
    const managed = new ManagedProcess(name, port, launch, ready, { logFile: join(logs, `${name}.log`), inherit: opts.inherit === true, onExit, ...(stopSignal ? { stopSignal } : {}) });
    processes.set(name, managed);
    await managed.start();
    if (crashedWhileStarting) throw new Error(crashedWhileStarting);
    writeProcessFile();
    return managed;
  };
  const stop = async () => {
    stopping = true;
    const order = [...processes.values()].reverse();
    // Front, apps and UI first (together), then Temporal's services, then FerretDB, then PostgreSQL last.
    const apps = order.filter((p) => /^(haproxy|api|worker-|ui)/.test(p.name));
    await Promise.all(apps.map((p) => p.stop()));
    await Promise.all(order.filter((p) => p.name.startsWith('temporal-')).map((p) => p.stop()));
    for (const p of order) if (!apps.includes(p) && !p.name.startsWith('temporal-')) await p.stop();
    for (const p of order) p.closeLog();
  };

  try {
    // PostgreSQL
    const owner = postgresUser();
    const pgBin = (tool: string) => join(CLUSTER_BINARIES.postgresBin, tool);
    const asPostgres = owner ? { uid: owner.uid, gid: owner.gid } : {};
    if (owner) chmodSync(dataDir, 0o755);
    if (!existsSync(join(pgData, 'PG_VERSION'))) {
      say(`PostgreSQL: first run, initdb in ${pgData}`);
      rmSync(pgData, { recursive: true, force: true });
      mkdirSync(pgData, { recursive: true, mode: 0o700 });
      const pwFile = join(dataDir, '.pgpass-init');
      writeFileSync(pwFile, `${DB.password}\n`, { mode: 0o600 });
      if (owner) {
        chownTree(pgData, owner);
        chownSync(pwFile, owner.uid, owner.gid);
      }
      try {
        execFileSync(pgBin('initdb'), ['-D', pgData, '-U', DB.user, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'], { ...asPostgres, stdio: 'pipe' });
      } finally {
        rmSync(pwFile, { force: true });
      }
    }
    const pgUrl = (db: string) => `postgres://${DB.user}:${DB.password}@127.0.0.1:${ports.postgres}/${db}`;
    await add(
      'postgresql',
      ports.postgres,
      () =>
        spawn(pgBin('postgres'), ['-D', pgData, '-p', String(ports.postgres), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'], {
          ...asPostgres,
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      (child) =>
        waitUntil(
          'PostgreSQL',
          async () => {
            try {
              execFileSync(pgBin('pg_isready'), ['-h', '127.0.0.1', '-p', String(ports.postgres), '-U', DB.user, '-d', 'postgres'], { stdio: 'ignore' });
              return true;
            } catch {
              return false;
            }
          },
          60_000,
          child,
        ),
      // SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, nothing is lost.
      'SIGINT',
    );
    say(`PostgreSQL ${CLUSTER_VERSIONS.postgresqlMajor} on 127.0.0.1:${ports.postgres} (data in ${pgData})`);

    // Schema: create the databases, set up version 0.0 where new, then apply every versioned step above the current one.
    const sqlTool = (db: string, ...args: string[]) =>
      execFileSync(CLUSTER_BINARIES.temporalSqlTool, ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(ports.postgres), '-u', DB.user, '--db', db, ...args], {
        env: { ...process.env, SQL_PASSWORD: DB.password },
        stdio: 'pipe',
        encoding: 'utf8',
      });
    for (const [db, dir] of [
      [DB.temporal, 'temporal'],
      [DB.visibility, 'visibility'],
    ] as const) {
      sqlTool(db, 'create');
      sqlTool(db, 'setup-schema', '-v', '0.0');
      sqlTool(db, 'update-schema', '-d', join(CLUSTER_BINARIES.temporalSchema, dir, 'versioned'));
    }
    try {
      execFileSync(pgBin('createdb'), ['-h', '127.0.0.1', '-p', String(ports.postgres), '-U', DB.user, DB.ferretdb], { env: { ...process.env, PGPASSWORD: DB.password }, stdio: 'pipe' });
    } catch (err) {
      if (!/already exists/.test(String((err as { stderr?: Buffer }).stderr ?? ''))) throw err;
    }
    say(`Temporal schema: ${DB.temporal} and ${DB.visibility} up to date (temporal-sql-tool, schema/postgresql/v12 of ${CLUSTER_VERSIONS.temporalServer})`);

    // Temporal, one process per service.
    const dynamicConfigFile = DYNAMIC_CONFIG_FILE;
    const temporalConfig = join(configDir, 'temporal.yaml');
    writeFileSync(temporalConfig, temporalServerConfig({ ports, dynamicConfigFile }));
    const temporalAddress = `127.0.0.1:${ports.temporal.frontend.grpc}`;
    for (const service of ['history', 'matching', 'frontend', 'worker'] as const) {
      await add(
        `temporal-${service}`,
        ports.temporal[service].grpc,
        () => spawn(CLUSTER_BINARIES.temporalServer, ['--config-file', temporalConfig, '--allow-no-auth', 'start', '--service', service], { stdio: ['ignore', 'pipe', 'pipe'] }),
        (child) => waitUntil(`Temporal ${service}`, () => portOpen(ports.temporal[service].grpc), 90_000, child),
      );
    }
    const { plan } = await loadDefinitionFile(resolve(PROJECT_ROOT, loadConfig({ ...process.env, ...opts.appEnv }).DEFINITION_FILE));
    const client = await createTemporalClient({ address: temporalAddress, namespace });
    const connection = client.connection;
    try {
      await waitUntil(
        'Temporal cluster health',
        async () => {
          await connection.workflowService.getSystemInfo({});
          return true;
        },
        90_000,
      );
      try {
        await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('7 days') });
        say(`Temporal namespace ${namespace}: created (retention 7 days)`);
      } catch (err) {
        if ((err as { code?: number }).code !== 6 /* ALREADY_EXISTS */) throw err;
      }
      // A new namespace reaches every frontend's and history's cache within the refresh interval (10 s).
      await waitUntil(
        `namespace ${namespace}`,
        async () => {
          await connection.workflowService.countWorkflowExecutions({ namespace });
          return true;
        },
        60_000,
      );
      const added = await ensureSearchAttributes(connection, namespace, plan);
      if (added.length > 0) say(`registered search attributes: ${added.join(', ')}`);
    } finally {
      await connection.close();
    }
    say(`Temporal ${CLUSTER_VERSIONS.temporalServer}: frontend ${temporalAddress}, history, matching, worker: 4 processes, ${NUM_HISTORY_SHARDS} history shards`);

    const frontOrigin = `http://localhost:${ports.front}`;
    const uiConfigDir = join(configDir, 'ui');
    mkdirSync(uiConfigDir, { recursive: true });
    writeFileSync(join(uiConfigDir, 'cluster.yaml'), uiServerConfig({ ports, namespace, frontOrigin }));
    await add(
      'ui',
      ports.ui,
      () => spawn(CLUSTER_BINARIES.temporalUiServer, ['--root', configDir, '--config', 'ui', '--env', 'cluster', 'start'], { stdio: ['ignore', 'pipe', 'pipe'] }),
      (child) => waitUntil('Temporal Web UI', () => portOpen(ports.ui), 60_000, child),
    );

    await add(
      'ferretdb',
      ports.ferretdb,
      () =>
        spawn(BIN.ferretdb, ['--listen-addr', `127.0.0.1:${ports.ferretdb}`, '--postgresql-url', pgUrl(DB.ferretdb), '--log-level', 'error'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      (child) => waitUntil('FerretDB', () => portOpen(ports.ferretdb), 30_000, child),
    );
    const mongoUri = `mongodb://127.0.0.1:${ports.ferretdb}/lifecycle`;

    const appEnv = {
      ...process.env,
      ...opts.appEnv,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
      MONGODB_URI: mongoUri,
      TEMPORAL_UI_URL: `http://localhost:${ports.ui}`,
    } as Record<string, string>;
    const entry = (path: string, env: Record<string, string>) =>
      spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, path)], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const logsInfo = ['info', 'debug', 'trace', undefined].includes(appEnv.LOG_LEVEL);
    const workers = opts.workers ?? 2;
    for (let i = 0; i < workers; i++) {
      const metricsPort = ports.workerMetrics[i] ?? 0;
      await add(
        `worker-${i + 1}`,
        metricsPort || undefined,
        () => entry('src/worker/main.ts', { ...appEnv, WORKER_METRICS_PORT: String(metricsPort) }),
        // Its "worker running" line, logged once it polls (at LOG_LEVEL info or below; otherwise not awaited).
        (child) => (logsInfo ? waitForOutput(`worker ${i + 1}`, child, /"worker running"/, 120_000).then(() => undefined) : Promise.resolve()),
      );
    }
    for (let i = 0; i < ports.api.length; i++) {
      const port = ports.api[i]!;
      await add(
        `api-${i + 1}`,
        port,
        () => entry('src/api/main.ts', { ...appEnv, API_PORT: String(port), API_HOST: '127.0.0.1' }),
        (child) => waitUntil(`API ${i + 1}`, () => answersOk(`http://127.0.0.1:${port}/healthz`), 60_000, child),
      );
    }

    const haproxyCfg = join(HAPROXY_DIR, 'haproxy.cfg');
    const haproxyEnv = { ...process.env, HAPROXY_DIR, FRONT_BIND: `127.0.0.1:${ports.front}`, API_1: `127.0.0.1:${ports.api[0]}`, API_2: `127.0.0.1:${ports.api[1]}` };
    execFileSync(CLUSTER_BINARIES.haproxy, ['-c', '-q', '-f', haproxyCfg], { env: haproxyEnv, stdio: 'pipe' });
    await add(
      'haproxy',
      ports.front,
      // -db: stay in the foreground; -W: master-worker, so SIGUSR2 reloads and SIGTERM stops all.
      () => spawn(CLUSTER_BINARIES.haproxy, ['-db', '-W', '-f', haproxyCfg], { env: haproxyEnv, stdio: ['ignore', 'pipe', 'pipe'] }),
      (child) => waitUntil('the front address (HAProxy)', () => answersOk(`http://127.0.0.1:${ports.front}/readyz`), 60_000, child),
    );

    if (crashedWhileStarting) throw new Error(crashedWhileStarting);
    started = true;
    return {
      dataDir,
      ports,
      namespace,
      frontUrl: `http://127.0.0.1:${ports.front}`,
      uiUrl: `http://localhost:${ports.ui}`,
      temporalAddress,
      mongoUri,
      processes,
      process(name: string) {
        const p = processes.get(name);
        if (!p) throw new Error(`no cluster process named ${name}`);
        return p;
      },
      writeProcessFile,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
