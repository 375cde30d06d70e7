import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { createJourneyActivities } from '../activities/journey-activities.js';
import type { Models } from '../src/db/models.js';
import { DefinitionStore } from '../src/definition-store/definition-store.js';
import { loadDefinitionFile, type LoadedDefinition } from '../src/definition-store/load-definition.js';
import type { Mailer } from '../src/delivery/mailer.js';
import { COACHINGLIVE } from '../test/support/definitions.js';
import { freePort, PROJECT_ROOT } from '../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../test/support/processes.js';
import { testDataConverter } from '../test/support/codec.js';
import { apiCaller, startLocalServers, type LocalServers } from '../test/support/stack.js';

/** Where each benchmark writes its JSON result (bench/results/<name>.json, not committed). */
export const RESULTS_DIR = join(PROJECT_ROOT, 'bench/results');

export const WRITE_KEY = 'bench-writer-key-0123456789';
export const ADMIN_KEY = 'bench-admin-key-01234567890';
export const SENDGRID_KEY = 'SG.bench-key';

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** The middle value (the upper one of an even count): the figure a bench reports over noisy rounds. */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
    mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
  };
}

export const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/**
 * Run `total` jobs with at most `concurrency` in flight; returns each job's latency in ms and the wall
 * time. A job that throws is counted and its error kept (first few), never retried.
 */
export async function closedLoop(
  total: number,
  concurrency: number,
  job: (i: number) => Promise<void>,
): Promise<{ latencies: number[]; wallMs: number; errors: number; firstErrors: string[] }> {
  const latencies: number[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const t0 = performance.now();
      try {
        await job(i);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors += 1;
        if (firstErrors.length < 5) firstErrors.push(String((err as Error).message ?? err));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { latencies, wallMs: performance.now() - started, errors, firstErrors };
}

export function machine() {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ benchmark: name, at: new Date().toISOString(), machine: machine(), ...result }, null, 2)}\n`);
  return file;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/**
 * POST JSON over a keep-alive connection pool with node:http: a lighter load generator than fetch, whose
 * per-request CPU on these two cores would otherwise be charged to the API's figures.
 */
export function postJson(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; text: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export const say = (line: string) => process.stdout.write(`${line}\n`);

export interface BenchStack {
  servers: LocalServers;
  base: string;
  client: Client;
  worker: AppProcess;
  api: AppProcess;
  taskQueue: string;
  call: ReturnType<typeof apiCaller>;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The real stack as `npm start` runs it (Temporal dev server on SQLite, FerretDB, worker, API), with SendGrid pointed at the local server. */
export async function startBenchStack(name: string, extraEnv: Record<string, string> = {}): Promise<BenchStack> {
  const servers = await startLocalServers(`lifecycle-bench-${name}-`, SENDGRID_KEY);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const taskQueue = `bench-${name}`;
  const env = {
    TEMPORAL_ADDRESS: servers.temporal.address,
    MONGODB_URI: servers.ferret.uri(`bench_${name}`),
    TASK_QUEUE: taskQueue,
    API_PORT: String(port),
    API_KEYS: `${WRITE_KEY}=events:write,${ADMIN_KEY}=events:write|customers:read|customers:write`,
    SENDGRID_API_KEY: SENDGRID_KEY,
    SENDGRID_BASE_URL: servers.sendgrid.url,
    LOG_LEVEL: 'warn',
    // The engine's ceiling is what is measured: the API's rate limits would cut the load short (bench busy turns them on).
    RATE_LIMIT_PER_KEY: '0',
    CUSTOMER_EVENTS_PER_SECOND: '0',
    ...extraEnv,
  };
  const worker = runEntry('src/worker/main.ts', env);
  const api = runEntry('src/api/main.ts', env);
  const call = apiCaller(() => base);
  await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 120_000).catch((err) => {
    throw new Error(`${(err as Error).message}\nAPI: ${api.output()}\nworker: ${worker.output()}`);
  });
  // The same payload encryption as the worker and API (runEntry gives them the test key), so the raw phase pays for it too.
  const client = new Client({ connection: await Connection.connect({ address: servers.temporal.address }), dataConverter: testDataConverter() });
  const stack: BenchStack = {
    servers,
    base,
    client,
    worker,
    api,
    taskQueue,
    call,
    env,
    async stop() {
      await client.connection.close();
      // The worker the stack has now (a bench may have started another in its place).
      await Promise.all([api.stop(), stack.worker.stop()]);
      await servers.stop();
    },
  };
  return stack;
}

/** CPU time (user + system) a process has used so far, in seconds, read from /proc (Linux); 0 when gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU of each process of a bench stack that a journey costs: seconds so far (stackCpu), or ms per unit (cpuMsPer). */
export interface StackCpu {
  temporal: number;
  worker: number;
  ferretdb: number;
  api: number;
}

/** CPU seconds each process of the stack has used so far. */
export function stackCpu(stack: BenchStack): StackCpu {
  return {
    temporal: cpuSeconds(stack.servers.temporal.process.pid),
    worker: cpuSeconds(stack.worker.process.pid),
    ferretdb: cpuSeconds(stack.servers.ferret.process.pid),
    api: cpuSeconds(stack.api.process.pid),
  };
}

/** CPU (ms, one decimal) used between two cpuSeconds readings, per unit of work (a journey, a brief). */
export function msPer(secondsBefore: number, secondsAfter: number, units: number): number {
  return Math.round(((secondsAfter - secondsBefore) * 1000 * 10) / Math.max(units, 1)) / 10;
}

/** CPU (ms, one decimal) each process used between two stackCpu readings, per unit of work. */
export function cpuMsPer(before: StackCpu, after: StackCpu, units: number): StackCpu {
  const per = (k: keyof StackCpu) => msPer(before[k], after[k], units);
  return { temporal: per('temporal'), worker: per('worker'), ferretdb: per('ferretdb'), api: per('api') };
}

/**
 * Wait until the stack has digested what the last phase sent: the worker, the Temporal server and the API
 * together use less than `belowCores` of CPU over two consecutive seconds. Phases measured one after the
 * other would otherwise compete with the previous phase's backlog (workflow tasks still being worked off).
 */
export async function settle(stack: BenchStack, belowCores = 0.15, timeoutMs = 180_000): Promise<number> {
  const pids = [stack.worker.process.pid, stack.api.process.pid, stack.servers.temporal.process.pid];
  const total = (): number => pids.reduce<number>((a, pid) => a + cpuSeconds(pid), 0);
  const started = Date.now();
  let quiet = 0;
  while (Date.now() - started < timeoutMs && quiet < 2) {
    const before = total();
    await new Promise((r) => setTimeout(r, 1_000));
    quiet = total() - before < belowCores ? quiet + 1 : 0;
  }
  return Date.now() - started;
}

/** The machine's load average over 1, 5 and 15 minutes (/proc/loadavg): printed beside figures from a shared machine. */
export function loadAverage(): number[] {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

/** Resident memory of a process in MiB, read from /proc (Linux). */
export async function rssMiB(pid: number | undefined): Promise<number | null> {
  if (!pid) return null;
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : null;
  } catch {
    return null;
  }
}

/** The real journey activities over `models`, serving the CoachingLive definition (published), for benchmarks that call them directly. */
export async function coachingLiveActivities(models: Models, mailer: Mailer): Promise<{ activities: ReturnType<typeof createJourneyActivities>; loaded: LoadedDefinition }> {
  const loaded = await loadDefinitionFile(COACHINGLIVE);
  const definitions = new DefinitionStore(models, loaded);
  await definitions.publish();
  const activities = createJourneyActivities({
    models,
    definitions,
    mailer,
    emailFrom: 'CoachingLive <hello@coachinglive.example>',
    logger: pino({ level: 'silent' }),
  });
  return { activities, loaded };
}

/**
 * How many journeys of the customers `idOf(0)`, `idOf(1)`, … have settled (their first pass in the read model),
 * at least: walked in order by _id, since journeys settle about in the order they start, so the first one not yet
 * settled bounds the count from below. Never count the collection: FerretDB 1.x answers count and
 * estimatedDocumentCount by reading every document (11-12 s at 50,000 journeys), which polled a few times a
 * second made a benchmark FerretDB's heaviest client.
 */
export function settledCounter(models: Models, idOf: (k: number) => string): (wanted: number) => Promise<number> {
  let settled = 0;
  return async (wanted) => {
    // Each caller walks every id it passes (several loops may ask at once).
    let k = settled;
    while (k < wanted && (await models.JourneyRecord.exists({ _id: idOf(k) }))) k++;
    settled = Math.max(settled, k);
    return settled;
  };
}
