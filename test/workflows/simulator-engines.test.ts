import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadBehaviourModel } from '../../src/sim/behaviour-model.js';
import { customerHistories, historyDifferences } from '../../src/sim/customer-histories.js';
import { runSimulation, type SimulationEngine } from '../../src/sim/run-simulation.js';
import { coachingLive } from '../support/definitions.js';

/**
 * The fast engine is honest: the same customers and seed through the real journey workflow on the
 * time-skipping server and through the pure core on the in-process event clock give every customer the same
 * stage history (stage, cause, minute), the same messages (campaign, variant, status, local send time to the
 * minute) and the same conversions, over a whole year. SIM_EQUIVALENCE_CUSTOMERS / _DAYS change the size.
 */
const CUSTOMERS = Number(process.env.SIM_EQUIVALENCE_CUSTOMERS ?? 100);
const DAYS = Number(process.env.SIM_EQUIVALENCE_DAYS ?? 365);

describe('simulator engines (time-skipping server)', () => {
  test(`${CUSTOMERS} customers over ${DAYS} days: the fast engine and the workflow give the same histories and report`, { timeout: 60 * 60_000 }, async () => {
    const [definition, model] = await Promise.all([coachingLive(), loadBehaviourModel()]);
    const run = (engine: SimulationEngine) =>
      runSimulation({ engine, definition, definitionFile: 'definitions/coachinglive.yaml', model, modelName: 'default', customers: CUSTOMERS, days: DAYS, seed: 11 });
    const fast = await run('fast');
    const workflow = await run('workflow');

    const a = customerHistories(workflow.store!);
    const b = customerHistories(fast.store!);
    assert.equal(a.size, CUSTOMERS, 'every customer has a journey');
    const messages = [...a.values()].reduce((n, h) => n + h.messages.length, 0);
    const stages = [...a.values()].reduce((n, h) => n + h.stages.length, 0);
    assert.ok(messages > CUSTOMERS * 5 && stages > CUSTOMERS * 2, `a year has substance (${stages} stage changes, ${messages} messages)`);
    const differences = historyDifferences(a, b);
    assert.deepEqual(differences, [], `workflow | fast:\n${differences.slice(0, 20).join('\n')}`);
    assert.deepEqual(fast.report, workflow.report);
  });
});
