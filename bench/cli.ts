import { Command, InvalidArgumentError, Option } from 'commander';
import { broadcast } from './broadcast.js';
import { busy } from './busy.js';
import { clusterBench } from './cluster.js';
import { history } from './history.js';
import { ingestion } from './ingestion.js';
import { latency } from './latency.js';
import { population } from './population.js';
import { REPLAY_COMPARISONS, replay, type ReplayComparison } from './replay.js';
import { segments } from './segments.js';
import { simulator } from './simulator.js';

/**
 * `npm run bench -- <benchmark> [options]`: each benchmark starts the servers it needs, prints its figures
 * with a ratio against a baseline measured in the same run, and writes bench/results/<name>.json.
 */
const int = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number, 1 or more');
  return n;
};

/** `KEY=VALUE,KEY=VALUE` as environment variables. */
const envPairs = (value: string): Record<string, string> => {
  const pairs = value.split(',').map((pair) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair.trim()));
  if (pairs.length === 0 || pairs.some((m) => m === null)) throw new InvalidArgumentError('KEY=VALUE pairs separated by commas, KEY in capitals');
  return Object.fromEntries(pairs.map((m) => [m![1]!, m![2]!]));
};

const program = new Command('bench').description('Performance benchmarks of the lifecycle orchestrator (see docs/benchmarks.md)');

program
  .command('ingestion')
  .description('events/s and latency: raw signalWithStart (the ceiling) vs POST /v1/track vs POST /v1/batch')
  .option('--events <n>', 'events per phase', int, 3000)
  .option('--customers <n>', 'customers the events are spread over', int, 1000)
  .option('--concurrency <n>', 'requests in flight', int, 32)
  .option('--batch-size <n>', 'events per /v1/batch call', int, 50)
  .option('--rounds <n>', 'rounds of the three phases (median reported)', int, 3)
  .action(async (o) => {
    await ingestion({ events: o.events, customers: o.customers, concurrency: o.concurrency, batchSize: o.batchSize, rounds: o.rounds });
  });

program
  .command('latency')
  .description('event to message: 202 -> SendGrid received, against the bare deliverMessage activity at the same rate')
  .option('--customers <n>', 'customers signing up (one welcome each)', int, 300)
  .option('--rate <n>', 'events per second (default: half the sustainable /v1/track rate, measured first)', int)
  .option('--concurrency <n>', 'requests in flight when probing the sustainable rate', int, 32)
  .action(async (o) => {
    await latency({ customers: o.customers, concurrency: o.concurrency, ...(o.rate ? { rate: o.rate } : {}) });
  });

program
  .command('replay')
  .description("a journey woken out of the worker's cache: CPU per replay of the saved histories with one setting of the worker's workflow thread against another (WORKER_PROMISE_HOOK, WORKER_WATCHDOG)")
  .addOption(new Option('--compare <what>', 'promise-hook: cached / sdk; watchdog: thread / per-call; sdk: both of ours / the SDK\'s thread').choices(Object.keys(REPLAY_COMPARISONS)).default('promise-hook'))
  .option('--replays <n>', 'replays per round and setting', int, 300)
  .option('--rounds <n>', 'rounds, each running both settings (the median is reported)', int, 7)
  .option('--histories <names>', 'saved histories to replay (names under test/replay/histories), comma-separated; default lean-sign-up', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .action(async (o) => {
    await replay({ compare: o.compare as ReplayComparison, replays: o.replays, rounds: o.rounds, histories: o.histories });
  });

program
  .command('history')
  .description('the busiest customer for years on the time-skipping server: events and bytes per run, nothing lost or doubled')
  .option('--days <n>', 'simulated days', int, 1095)
  .option('--workouts-per-day <n>', 'workouts logged a day', int, 4)
  .option('--duplicate-every <n>', 'resend every n-th event (must be applied once)', int, 50)
  .action(async (o) => {
    await history({ days: o.days, workoutsPerDay: o.workoutsPerDay, duplicateEvery: o.duplicateEvery });
  });

program
  .command('segments')
  .description("one customer's segment lookup with a small and a large profile collection (the cost must not grow)")
  .option('--small <n>', 'profiles in the small collection', int, 1000)
  .option('--large <n>', 'profiles in the large collection', int, 1_000_000)
  .option('--lookups <n>', 'lookups measured at each size', int, 500)
  .option('--insert-batch <n>', 'profiles per insertMany', int, 5000)
  .action(async (o) => {
    await segments({ small: o.small, large: o.large, lookups: o.lookups, insertBatch: o.insertBatch });
  });

program
  .command('population')
  .description('live journeys with pending timers on one machine: start rate, worker memory, database size, a query while they live')
  .option('--customers <n>', 'live journeys', int, 100_000)
  .option('--batch-size <n>', 'customers per /v1/batch call', int, 100)
  .option('--concurrency <n>', 'batch calls in flight', int, 2)
  .option('--checkpoints <n>', 'measurements along the way', int, 10)
  .option('--queries <n>', 'customer queries per checkpoint', int, 20)
  .option('--max-unsettled <n>', 'journeys started but not yet through their first pass, at most', int, 500)
  .option('--baseline-version <n>', 'first a population of the same size pinned to this journey code version, then the current one (both started by signal-with-start), compared', int)
  .option('--raw-starts <n>', 'new journeys started by raw signal-with-start first, the ceiling the settle rate is compared with', int, 2000)
  .option('--baseline-worker-env <KEY=VALUE,...>', "with --baseline-version: the baseline's worker runs with these variables too (a worker setting as it was before a change, e.g. WORKER_WORKFLOW_STACK_FRAMES=10)", envPairs)
  .action(async (o) => {
    await population({
      rawStarts: o.rawStarts,
      ...(o.baselineVersion ? { baselineVersion: o.baselineVersion } : {}),
      ...(o.baselineWorkerEnv ? { baselineWorkerEnv: o.baselineWorkerEnv } : {}),
      customers: o.customers,
      batchSize: o.batchSize,
      concurrency: o.concurrency,
      checkpoints: o.checkpoints,
      queriesPerCheckpoint: o.queries,
      maxUnsettled: o.maxUnsettled,
    });
  });

program
  .command('broadcast')
  .description('a broadcast to live journeys at the provider plan rate vs the bare deliverMessage activity; transactional p99 and support actions during it vs idle; 429s')
  .option('--customers <n>', 'live journeys the broadcast reaches', int, 100_000)
  .option('--plan-rate <n>', "the SendGrid account's sends a second (429 beyond it)", int, 20)
  .option('--no-worker-rate', 'do not give the workers the plan rate (SENDGRID_RATE_PER_SECOND): the A/B of the server-side rate limit')
  .option('--concurrency <n>', 'marketing delivery slots, and the bare activity\'s concurrency', int, 16)
  .option('--probe-rate <n>', 'transactional sign-ups (and support queries and actions) a second while measuring', int, 1)
  .option('--idle-probes <n>', "transactional sign-ups measured on the idle stack (their p99 is the ratio's baseline; of 60 it was their slowest but one)", int, 200)
  .option('--start-concurrency <n>', 'signal-with-start calls in flight while creating the population', int, 32)
  .option('--max-unsettled <n>', 'journeys started but not yet settled, at most, while creating the population', int, 500)
  .option('--probe-code-version <n>', "journey code version of the probes' sign-ups (an A/B of a welcome's path; default: the current one)", int)
  .option('--transactional-worker', 'transactional sends in a worker process of their own (WORKER_TASK_QUEUES=transactional), as docs/scaling.md deploys them')
  .option('--broadcast-minutes <n>', 'measure the broadcast this long at most, then end it and print what was measured (100,000 take hours on two cores)', int)
  .action(async (o) => {
    await broadcast({
      broadcastMinutes: o.broadcastMinutes,
      transactionalWorker: Boolean(o.transactionalWorker),
      probeCodeVersion: o.probeCodeVersion,
      customers: o.customers,
      planRate: o.planRate,
      workerRate: o.workerRate,
      concurrency: o.concurrency,
      probeRate: o.probeRate,
      idleProbes: o.idleProbes,
      startConcurrency: o.startConcurrency,
      maxUnsettled: o.maxUnsettled,
    });
  });

program
  .command('busy')
  .description('one customer at 5 events/s for 10 minutes (none lost, none doubled, latency to handled), then an overload burst (429, never 5xx)')
  .option('--rate <n>', 'events per second', int, 5)
  .option('--seconds <n>', 'duration of the steady phase', int, 600)
  .option('--duplicate-every <n>', 'resend every n-th event', int, 50)
  .option('--burst-rate <n>', 'events per second in the overload phase', int, 200)
  .option('--burst-seconds <n>', 'duration of the overload phase', int, 5)
  .action(async (o) => {
    await busy({ rate: o.rate, seconds: o.seconds, duplicateEvery: o.duplicateEvery, burstRate: o.burstRate, burstSeconds: o.burstSeconds });
  });

program
  .command('simulator')
  .description('customer-years a minute of the fast engine against the workflow engine on the same sample (same histories checked), then the default 1,000 x 365 run')
  .option('--customers <n>', 'customers in the sample both engines run', int, 50)
  .option('--days <n>', 'days of the sample', int, 365)
  .option('--full-customers <n>', 'customers of the run timed on the fast engine alone', int, 1000)
  .option('--full-days <n>', 'days of that run', int, 365)
  .option('--seed <n>', 'seed', int, 1)
  .action(async (o) => {
    await simulator({ customers: o.customers, days: o.days, fullCustomers: o.fullCustomers, fullDays: o.fullDays, seed: o.seed });
  });

program
  .command('cluster')
  .description('the cluster (npm run start:cluster) against the dev server in the same run: ingestion and new-journey settle rates, one worker against two, CPU per journey by process')
  .option('--customers <n>', 'new journeys per phase', int, 300)
  .option('--concurrency <n>', 'requests in flight', int, 16)
  .action(async (o) => {
    await clusterBench({ customers: o.customers, concurrency: o.concurrency });
  });

await program.parseAsync(process.argv);
process.exit(0);
