import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { loadBehaviourModel, type BehaviourModel } from '../../src/sim/behaviour-model.js';
import { customerHistories, historyDifferences } from '../../src/sim/customer-histories.js';
import { runSimulation, type SimulationRun } from '../../src/sim/run-simulation.js';
import { coachingLive } from '../support/definitions.js';

/**
 * The fast engine in milliseconds per customer-year: the same seed gives the same run, however the customers
 * are split over threads. (Its equivalence with the real workflow: test/workflows/simulator-engines.test.ts.)
 */
describe('simulator fast engine', () => {
  let definition: LoadedDefinition;
  let model: BehaviourModel;
  before(async () => {
    [definition, model] = await Promise.all([coachingLive(), loadBehaviourModel()]);
  });
  const simulate = (threads: number, seed = 3): Promise<SimulationRun> =>
    runSimulation({ definition, definitionFile: 'definitions/coachinglive.yaml', model, modelName: 'default', customers: 40, days: 120, seed, threads });

  test('the same seed gives the same histories and report, in one thread or split over two', async () => {
    const one = await simulate(1);
    const again = await simulate(1);
    const two = await simulate(2);
    assert.equal(one.speed.engine, 'fast');
    const histories = customerHistories(one.store!);
    assert.equal(histories.size, 40);
    assert.deepEqual(historyDifferences(histories, customerHistories(again.store!)), []);
    assert.deepEqual(historyDifferences(histories, customerHistories(two.store!)), []);
    assert.deepEqual(two.report, one.report);
    assert.equal(one.report.events['Signed Up'], 40);
    const welcome = one.report.kpis.campaigns.find((c) => c.campaignId === 'welcome')!.variants[0]!;
    assert.equal(welcome.sent, 40, 'every customer got the transactional welcome');
  });

  test('a different history is found and named', async () => {
    const a = customerHistories((await simulate(1)).store!);
    const b = customerHistories((await simulate(1, 4)).store!);
    const differences = historyDifferences(a, b);
    assert.ok(differences.length > 0, 'another seed: other customers');
    const copy = new Map([...a].map(([id, h]) => [id, structuredClone(h)]));
    const [userId, history] = [...copy].find(([, h]) => h.messages.length > 1)!;
    history.messages[1] = `${history.messages[1]} at another minute`;
    assert.deepEqual(historyDifferences(a, copy), [`${userId} messages[1]: ${a.get(userId)!.messages[1]} | ${history.messages[1]}`]);
  });
});
