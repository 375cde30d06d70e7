import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadDefinitionFile } from '../definition-store/load-definition.js';
import { PROJECT_ROOT } from '../servers/local-servers.js';
import { loadBehaviourModel } from './behaviour-model.js';
import { compareReports, formatComparison, formatReport, formatSpeed } from './report.js';
import { bundleSimulationWorkflows, DEFAULT_SHARDS, DEFAULT_START, DEFAULT_THREADS, runSimulation, SIMULATION_ENGINES, type SimulationEngine, type SimulationProgress, type SimulationRun } from './run-simulation.js';

const wholeNumber = (name: string, min: number) => (text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number from ${min}`);
  return n;
};

const program = new Command()
  .name('npm run simulate --')
  .description(
    'Run synthetic CoachingLive customers through the journey (its pure core on an in-process event clock, or with --engine workflow ' +
      'the real workflow on the Temporal time-skipping test server), and print the KPIs, per-campaign sends and conversions, and ' +
      'experiments with their confidence. The same seed gives the same report.',
  )
  .addOption(new Option('--engine <engine>', 'fast: the journey core on an event clock in this process; workflow: the real workflow on the time-skipping server').choices(SIMULATION_ENGINES).default('fast'))
  .option('--customers <n>', 'synthetic customers', wholeNumber('--customers', 1), 1000)
  .option('--days <n>', 'simulated days', wholeNumber('--days', 1), 365)
  .option('--definition <file>', 'journey definition (YAML or JSON)', 'definitions/coachinglive.yaml')
  .option('--compare <file>', 'a second definition, run with the same customers and seed, shown side by side')
  .option('--seed <n>', 'seed of the synthetic population and its behaviour', wholeNumber('--seed', 0), 1)
  .option('--model <file>', 'behaviour model overriding definitions/coachinglive-behaviour.yaml (any part of it)')
  .option('--start <date>', 'first simulated day (UTC, YYYY-MM-DD)', new Date(DEFAULT_START).toISOString().slice(0, 10))
  .option('--threads <n>', 'with the fast engine: worker threads, each with a share of the customers (same result)', wholeNumber('--threads', 1), DEFAULT_THREADS)
  .option('--shards <n>', 'with --engine workflow: test servers side by side, each with a share of the customers (same result, faster)', wholeNumber('--shards', 1), DEFAULT_SHARDS)
  .option('--processes <n>', 'with --engine workflow: worker processes side by side, each with its share of the shards (same result)', wholeNumber('--processes', 1), 1)
  .option('--no-broadcasts', 'leave out broadcast campaigns')
  .option('--json', 'print the report as JSON')
  .option('--no-progress', 'no progress bar');

interface Options {
  engine: SimulationEngine;
  customers: number;
  days: number;
  definition: string;
  compare?: string;
  seed: number;
  model?: string;
  start: string;
  broadcasts: boolean;
  threads: number;
  shards: number;
  processes: number;
  json?: boolean;
  progress: boolean;
}

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<Options>();
  const start = Date.parse(`${o.start}T00:00:00Z`);
  if (!Number.isFinite(start)) throw new InvalidArgumentError('--start must be a date, YYYY-MM-DD');
  const files = [o.definition, ...(o.compare ? [o.compare] : [])];
  const [model, ...definitions] = await Promise.all([loadBehaviourModel(o.model), ...files.map((f) => loadDefinitionFile(resolve(f)))]);
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\nStopping the simulation (the test servers and workers are being shut down)...\n');
    // Calls still in flight fail as their connections close: expected now, not worth a stack trace.
    process.on('uncaughtException', () => undefined);
    process.on('unhandledRejection', () => undefined);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const bundle = o.engine === 'workflow' ? await bundleSimulationWorkflows() : undefined;
  const runs: SimulationRun[] = [];
  for (const [i, definition] of definitions.entries()) {
    const label = definitions.length > 1 ? `${'AB'[i]}: ${definition.definition.id}` : definition.definition.id;
    const bar = o.progress
      ? new cliProgress.SingleBar(
          { format: `${label} |{bar}| day {value}/{total} | {signedUp}/{customers} customers signed up | {rate} customer-years/min`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    const began = performance.now();
    bar?.start(o.days, 0, { signedUp: 0, customers: o.customers, rate: '–' });
    let lastLine = 0;
    const onProgress = (p: SimulationProgress) => {
      const minutes = (performance.now() - began) / 60_000;
      const rate = ((o.customers * p.day) / 365 / minutes).toFixed(1);
      bar?.update(p.day, { signedUp: p.signedUp, customers: p.customers, rate });
      // Without a terminal (CI, a log file) the bar does not draw: a line every tenth of the run instead.
      if (bar && !process.stderr.isTTY && (p.day - lastLine >= Math.max(1, Math.floor(o.days / 10)) || p.done)) {
        lastLine = p.day;
        process.stderr.write(`${label}: day ${p.day}/${p.days}, ${p.signedUp}/${p.customers} customers signed up, ${rate} customer-years/min\n`);
      }
    };
    try {
      runs.push(
        await runSimulation({
          engine: o.engine,
          definition,
          definitionFile: files[i]!,
          model,
          modelName: o.model ?? 'definitions/coachinglive-behaviour.yaml',
          customers: o.customers,
          days: o.days,
          seed: o.seed,
          start,
          broadcasts: o.broadcasts,
          threads: o.threads,
          shards: o.shards,
          processes: o.processes,
          ...(bundle ? { bundle } : {}),
          onProgress,
          signal: abort.signal,
        }),
      );
    } catch (err) {
      if (interrupted) process.exit(130);
      throw err;
    } finally {
      bar?.stop();
    }
    if (interrupted) process.exit(130);
  }

  const [a, b] = runs;
  if (o.json) {
    const out = b
      ? { a: { ...a!.report, speed: a!.speed }, b: { ...b.report, speed: b.speed }, comparison: compareReports(a!.report, b.report) }
      : { ...a!.report, speed: a!.speed };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else if (b) {
    process.stdout.write(`${formatComparison(a!.report, b.report, compareReports(a!.report, b.report))}\n\nSpeed A: ${formatSpeed(a!.speed)}\nSpeed B: ${formatSpeed(b.speed)}\n`);
  } else {
    process.stdout.write(`${formatReport(a!.report, a!.speed)}\n`);
  }
  process.exit(0);
}

process.chdir(PROJECT_ROOT);
main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof InvalidArgumentError ? 2 : 1);
});
