import { loadDefinitionFile } from '../src/definition-store/load-definition.js';
import { PROJECT_ROOT } from '../src/servers/local-servers.js';
import { loadBehaviourModel } from '../src/sim/behaviour-model.js';
import { customerHistories, historyDifferences } from '../src/sim/customer-histories.js';
import { formatDuration } from '../src/sim/report.js';
import { runSimulation, type SimulationEngine, type SimulationRun } from '../src/sim/run-simulation.js';
import { machine, ratio, say, writeResult } from './support.js';

export interface SimulatorBenchOptions {
  /** The sample both engines run (the workflow engine takes minutes for it). */
  customers: number;
  days: number;
  /** The default run measured on the fast engine alone. */
  fullCustomers: number;
  fullDays: number;
  seed: number;
}

/**
 * The simulator's speed: the same sample of customers and seed on the fast engine and on the workflow
 * engine (the baseline, the real workflow on the time-skipping server), with their histories checked to be
 * the same, then the default run (1,000 customers x 365 days) on the fast engine.
 */
export async function simulator(o: SimulatorBenchOptions): Promise<void> {
  const [definition, model] = await Promise.all([loadDefinitionFile(`${PROJECT_ROOT}/definitions/coachinglive.yaml`), loadBehaviourModel()]);
  const run = (engine: SimulationEngine, customers: number, days: number): Promise<SimulationRun> =>
    runSimulation({ engine, definition, definitionFile: 'definitions/coachinglive.yaml', model, modelName: 'default', customers, days, seed: o.seed });

  say(`sample: ${o.customers} customers x ${o.days} days, seed ${o.seed}, on both engines`);
  const workflow = await run('workflow', o.customers, o.days);
  const fast = await run('fast', o.customers, o.days);
  const differences = historyDifferences(customerHistories(workflow.store!), customerHistories(fast.store!));
  const sameReport = JSON.stringify(fast.report) === JSON.stringify(workflow.report);
  const f = fast.speed.customerYearsPerMinute;
  const w = workflow.speed.customerYearsPerMinute;
  say(`customer-years a minute: fast ${f.toFixed(0)}, workflow ${w.toFixed(1)}, ratio ${ratio(f, w)}x`);
  say(`same histories on both engines: ${differences.length === 0 ? 'yes' : `no, ${differences.length} customers differ`} (${o.customers} customers); same report: ${sameReport ? 'yes' : 'no'}`);
  for (const d of differences.slice(0, 5)) say(`  ${d}`);

  say(`default run: ${o.fullCustomers} customers x ${o.fullDays} days on the fast engine`);
  const full = await run('fast', o.fullCustomers, o.fullDays);
  say(`default run wall time: ${formatDuration(full.speed.wallMs)} (${full.speed.customerYearsPerMinute.toFixed(0)} customer-years a minute)`);

  const file = writeResult('simulator', {
    machine: machine(),
    sample: { customers: o.customers, days: o.days, seed: o.seed },
    fast: fast.speed,
    workflow: workflow.speed,
    ratio: ratio(f, w),
    sameHistories: differences.length === 0,
    differences: differences.slice(0, 20),
    sameReport,
    full: { customers: o.fullCustomers, days: o.fullDays, speed: full.speed },
  });
  say(`written to ${file}`);
  if (differences.length > 0 || !sameReport) process.exitCode = 1;
}
