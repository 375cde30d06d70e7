import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { WorkflowBundle } from '@temporalio/worker';
import type { LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { loadBehaviourModel, type BehaviourModel } from '../../src/sim/behaviour-model.js';
import { bundleSimulationWorkflows, runSimulation, type SimulationRun } from '../../src/sim/run-simulation.js';
import { coachingLive } from '../support/definitions.js';

/**
 * The simulator end to end on the time-skipping server: synthetic customers through the real journey
 * workflow, twice with the same seed.
 */
describe('simulator (time-skipping server)', () => {
  let definition: LoadedDefinition;
  let model: BehaviourModel;
  let bundle: WorkflowBundle;
  before(async () => {
    [definition, model, bundle] = await Promise.all([coachingLive(), loadBehaviourModel(), bundleSimulationWorkflows()]);
  });

  const simulate = (seed: number): Promise<SimulationRun> =>
    runSimulation({ engine: 'workflow', definition, definitionFile: 'definitions/coachinglive.yaml', model, modelName: 'default', customers: 16, days: 75, seed, shards: 2, bundle });

  test('the same seed gives the same report; every customer is counted once and every trial got its onboarding', async () => {
    const first = await simulate(7);
    const second = await simulate(7);
    assert.deepEqual(second.report, first.report);

    const { report } = first;
    const store = first.store!;
    assert.equal(report.kpis.customers, 16);
    assert.equal(Object.values(report.kpis.customersPerStage).reduce((a, b) => a + b, 0), 16);
    assert.equal(report.funnel.find((s) => s.stage === 'prospect')?.reached, 16);
    assert.equal(report.events['Signed Up'], 16);
    const welcome = report.kpis.campaigns.find((c) => c.campaignId === 'welcome')!.variants[0]!;
    assert.equal(welcome.sent, 16, 'every customer has an email, and the welcome is transactional');

    const facts = [...store.facts.values()];
    const trialists = new Set(facts.filter((f) => f.kind === 'stage' && f.stage === 'trial').map((f) => f.userId));
    const onboarded = new Set(facts.filter((f) => f.kind === 'message' && f.campaignId === 'onboarding').map((f) => f.userId));
    assert.ok(trialists.size > 0, 'some customers started a trial');
    assert.deepEqual([...onboarded].sort(), [...trialists].sort(), 'onboarding reached exactly the customers who started a trial');
    assert.equal(report.events['Trial Started'], trialists.size, 'each trial started once');
  });
});
