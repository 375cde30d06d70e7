import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase, type Database } from '../src/db/models.js';
import { CLUSTER_BINARIES, DB, freeClusterPorts, portsFromBase, startCluster, type Cluster } from '../src/servers/cluster.js';
import { TEST_PAYLOAD_KEYS } from '../test/support/codec.js';
import { waitFor } from '../test/support/processes.js';
import { startSendgridServer } from '../test/support/sendgrid-server.js';
import { ADMIN_KEY, SENDGRID_KEY, WRITE_KEY, closedLoop, cpuSeconds, postJson, ratio, rssMiB, say, startBenchStack, writeResult } from './support.js';

export interface ClusterBenchOptions {
  /** New customers per phase (each one event: a new journey). */
  customers: number;
  /** Requests in flight. */
  concurrency: number;
}

/** One run of the phase on one shape: how fast events were taken and journeys settled, and the CPU each process spent. */
interface PhaseResult {
  shape: string;
  customers: number;
  /** Events acknowledged (202) per second. */
  ingestionPerSecond: number;
  /** New journeys through their first pass (read model written) per second, from the first request. */
  settledPerSecond: number;
  /** CPU milliseconds per journey, by process (group), from the first request until all had settled. */
  cpuMsPerJourney: Record<string, number>;
  cpuMsPerJourneyTotal: number;
  rssMiB: Record<string, number | null>;
}

interface Target {
  shape: string;
  base: string;
  /** The processes whose CPU is counted, by the group it is reported under. */
  pids: () => Record<string, Array<number | undefined>>;
  database: Database;
}

async function phase(target: Target, prefix: string, opts: ClusterBenchOptions): Promise<PhaseResult> {
  const ids = Array.from({ length: opts.customers }, (_, i) => `${prefix}-${i}`);
  const groups = target.pids();
  const cpu = () => Object.fromEntries(Object.entries(groups).map(([g, pids]) => [g, pids.reduce<number>((a, p) => a + cpuSeconds(p), 0)]));
  const cpuBefore = cpu();
  const started = performance.now();
  const r = await closedLoop(ids.length, opts.concurrency, async (i) => {
    const res = await postJson(`${target.base}/v1/track`, { authorization: `Bearer ${WRITE_KEY}` }, { userId: ids[i], event: 'Workout Logged', messageId: `${ids[i]}-1` });
    if (res.status !== 202) throw new Error(`track answered ${res.status}: ${res.text.slice(0, 200)}`);
  });
  if (r.errors > 0) throw new Error(`${r.errors} of ${ids.length} events refused: ${r.firstErrors.join('; ')}`);
  let settled = 0;
  await waitFor(`${ids.length} journeys to settle on ${target.shape}`, async () => {
    while (settled < ids.length && (await target.database.models.JourneyRecord.exists({ _id: ids[settled] }))) settled++;
    return settled >= ids.length;
  }, 1_800_000, 250);
  const settleMs = performance.now() - started;
  const cpuAfter = cpu();
  const cpuMsPerJourney = Object.fromEntries(Object.keys(groups).map((g) => [g, Math.round(((cpuAfter[g]! - cpuBefore[g]!) * 1000 * 10) / ids.length) / 10]));
  const rss: Record<string, number | null> = {};
  for (const [g, pids] of Object.entries(groups)) {
    const values = await Promise.all(pids.map((p) => rssMiB(p)));
    rss[g] = values.every((v) => v === null) ? null : values.reduce<number>((a, v) => a + (v ?? 0), 0);
  }
  return {
    shape: target.shape,
    customers: ids.length,
    ingestionPerSecond: Math.round((ids.length / r.wallMs) * 1000 * 10) / 10,
    settledPerSecond: Math.round((ids.length / settleMs) * 1000 * 10) / 10,
    cpuMsPerJourney,
    cpuMsPerJourneyTotal: Math.round(Object.values(cpuMsPerJourney).reduce((a, b) => a + b, 0) * 10) / 10,
    rssMiB: rss,
  };
}

function postgresBytes(cluster: Cluster): Record<string, number> {
  const out = execFileSync(
    join(CLUSTER_BINARIES.postgresBin, 'psql'),
    ['-h', '127.0.0.1', '-p', String(cluster.ports.postgres), '-U', DB.user, '-d', 'postgres', '-At', '-c', `select datname, pg_database_size(datname) from pg_database where datname in ('${DB.temporal}', '${DB.visibility}', '${DB.ferretdb}')`],
    { env: { ...process.env, PGPASSWORD: DB.password }, encoding: 'utf8' },
  );
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('|')).map(([name, size]) => [name!, Number(size)]));
}

const printPhase = (p: PhaseResult) =>
  say(`  ${p.shape}: ingestion ${p.ingestionPerSecond}/s, settle ${p.settledPerSecond} journeys/s, CPU per journey ${p.cpuMsPerJourneyTotal} ms (${Object.entries(p.cpuMsPerJourney).map(([g, ms]) => `${g} ${ms}`).join(', ')})`);

/**
 * The same load on the dev server stack (`npm start`) and on the cluster (`npm run start:cluster`), in one
 * run: new journeys through POST /v1/track, measured until each has settled; on the cluster with two
 * workers and then with one. Ratios are cluster against dev server, and two workers against one.
 */
export async function clusterBench(opts: ClusterBenchOptions): Promise<Record<string, unknown>> {
  say(`cluster vs dev server: ${opts.customers} new journeys per phase, ${opts.concurrency} requests in flight`);

  // The dev server stack, as npm start runs it.
  const dev = await startBenchStack('cluster-dev');
  let devResult: PhaseResult;
  try {
    const database = await connectDatabase(dev.env.MONGODB_URI!);
    try {
      const target: Target = {
        shape: 'dev server (1 process, SQLite) + 1 worker + 1 API',
        base: dev.base,
        database,
        pids: () => ({ temporal: [dev.servers.temporal.process.pid], mongo: [dev.servers.ferret.process.pid], workers: [dev.worker.process.pid], apis: [dev.api.process.pid] }),
      };
      await phase(target, 'dev-warm', { ...opts, customers: Math.min(50, opts.customers) });
      devResult = await phase(target, 'dev', opts);
      printPhase(devResult);
    } finally {
      await database.close();
    }
  } finally {
    await dev.stop();
  }

  // The cluster.
  const dataDir = mkdtempSync(join(tmpdir(), 'lifecycle-bench-cluster-'));
  const sendgrid = await startSendgridServer({ apiKey: SENDGRID_KEY });
  const base = process.env.CLUSTER_PORT_BASE ? Number(process.env.CLUSTER_PORT_BASE) : undefined;
  let cluster: Cluster;
  try {
    cluster = await startCluster({
      dataDir,
      ports: base ? portsFromBase(base) : await freeClusterPorts(),
      appEnv: {
        TASK_QUEUE: 'bench-cluster',
        API_KEYS: `${WRITE_KEY}=events:write,${ADMIN_KEY}=events:write|customers:read|customers:write`,
        PAYLOAD_KEYS: TEST_PAYLOAD_KEYS,
        SENDGRID_API_KEY: SENDGRID_KEY,
        SENDGRID_BASE_URL: sendgrid.url,
        LOG_LEVEL: 'info',
        RATE_LIMIT_PER_KEY: '0',
        CUSTOMER_EVENTS_PER_SECOND: '0',
      },
    });
  } catch (err) {
    await sendgrid.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const results: PhaseResult[] = [];
  let storage: Record<string, number> | undefined;
  try {
    const database = await connectDatabase(cluster.mongoUri);
    try {
      const pid = (n: string) => cluster.processes.get(n)?.pid;
      const target = (workers: number): Target => ({
        shape: `cluster (frontend, history, matching, worker; PostgreSQL) + ${workers} worker${workers > 1 ? 's' : ''} + 2 APIs behind HAProxy`,
        base: cluster.frontUrl,
        database,
        pids: () => ({
          'temporal-frontend': [pid('temporal-frontend')],
          'temporal-history': [pid('temporal-history')],
          'temporal-matching': [pid('temporal-matching')],
          'temporal-worker': [pid('temporal-worker')],
          postgresql: postgresPids(pid('postgresql')),
          ferretdb: [pid('ferretdb')],
          workers: [pid('worker-1'), ...(workers > 1 ? [pid('worker-2')] : [])],
          apis: [pid('api-1'), pid('api-2')],
          haproxy: childPids(pid('haproxy')),
        }),
      });
      // Warm-up with both workers (the namespace and task-queue caches, the shards' first writes), then one worker,
      // then both again: the two-worker figure is measured last, so a warming cluster cannot flatter it.
      await phase(target(2), 'cluster-warm', { ...opts, customers: Math.min(100, opts.customers) });
      await cluster.process('worker-2').stop();
      const one = await phase(target(1), 'cluster-1w', opts);
      printPhase(one);
      await cluster.process('worker-2').start();
      const sizeBefore = postgresBytes(cluster);
      const two = await phase(target(2), 'cluster-2w', opts);
      const sizeAfter = postgresBytes(cluster);
      storage = Object.fromEntries(Object.keys(sizeAfter).map((db) => [db, Math.round((sizeAfter[db]! - (sizeBefore[db] ?? 0)) / opts.customers)]));
      printPhase(two);
      results.push(two, one);
    } finally {
      await database.close();
    }
  } finally {
    await cluster.stop();
    await sendgrid.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const [two, one] = results as [PhaseResult, PhaseResult];
  const figures = {
    ingestionClusterVsDev: ratio(two.ingestionPerSecond, devResult.ingestionPerSecond),
    settleClusterVsDev: ratio(two.settledPerSecond, devResult.settledPerSecond),
    settleTwoWorkersVsOne: ratio(two.settledPerSecond, one.settledPerSecond),
    ingestionTwoWorkersVsOne: ratio(two.ingestionPerSecond, one.ingestionPerSecond),
    cpuPerJourneyClusterVsDev: ratio(two.cpuMsPerJourneyTotal, devResult.cpuMsPerJourneyTotal),
  };
  say('');
  say(`ingestion rate, cluster against dev server: ${figures.ingestionClusterVsDev}x (${two.ingestionPerSecond}/s vs ${devResult.ingestionPerSecond}/s)`);
  say(`new-journey settle rate, cluster against dev server: ${figures.settleClusterVsDev}x (${two.settledPerSecond}/s vs ${devResult.settledPerSecond}/s)`);
  say(`settle rate, two workers against one: ${figures.settleTwoWorkersVsOne}x (${two.settledPerSecond}/s vs ${one.settledPerSecond}/s)`);
  say(`CPU per journey, cluster against dev server: ${figures.cpuPerJourneyClusterVsDev}x (${two.cpuMsPerJourneyTotal} ms vs ${devResult.cpuMsPerJourneyTotal} ms)`);
  say(`PostgreSQL bytes per journey: ${Object.entries(storage ?? {}).map(([db, b]) => `${db} ${b}`).join(', ')}`);
  const file = writeResult('cluster', { options: opts, dev: devResult, cluster: results, storageBytesPerJourney: storage, figures });
  say(`(written to ${file})`);
  return { dev: devResult, cluster: results, storage, figures };
}

/** PostgreSQL's work is done by its backends, children of the postmaster: count them all (as they are when the phase starts). */
function postgresPids(postmaster: number | undefined): Array<number | undefined> {
  return childPids(postmaster);
}

function childPids(pid: number | undefined): Array<number | undefined> {
  if (!pid) return [];
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
    return [pid, ...out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0)];
  } catch {
    return [pid];
  }
}
