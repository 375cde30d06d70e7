import { createHash } from 'node:crypto';
import type { Models } from '../db/models.js';
import type { BehaviourModel } from '../sim/behaviour-model.js';
import { compareReports, type ComparisonRow, type SimulationReport } from '../sim/report.js';
import { definitionChanges, type DefinitionChange } from './definition-changes.js';
import type { LoadedDefinition } from './load-definition.js';

export interface GateSimulation {
  customers: number;
  days: number;
  seed: number;
  model: BehaviourModel;
  modelName: string;
}

export interface SideBySide {
  customers: number;
  days: number;
  seed: number;
  model: string;
  live: SimulationReport;
  candidate: SimulationReport;
  /** Every KPI of either run: stage counts and rates, per campaign and variant sends, conversions, rate and lift. */
  comparison: ComparisonRow[];
}

export interface GateResult {
  definitionId: string;
  live: string | null;
  candidate: string;
  /** The journeys in the read model now (each customer's current journey). */
  liveJourneys: number;
  changes: Array<DefinitionChange & { journeys: number }>;
  /** Why the candidate may not be published; empty when it may. */
  refusals: string[];
  simulation: SideBySide | null;
  /** What a commit must send back: it binds the commit to this live version and this candidate. Null when refused or unchanged. */
  confirmToken: string | null;
}

/** The simulator, loaded on first use: an API that never simulates does not load the Temporal worker. */
const simulator = () => import('../sim/run-simulation.js');

let bundle: Promise<unknown> | undefined;
/** Built once per process: the workflow bundle is the slow part of a small simulation. */
async function simulationBundle() {
  const { bundleSimulationWorkflows } = await simulator();
  bundle ??= bundleSimulationWorkflows().catch((err: unknown) => {
    bundle = undefined;
    throw err;
  });
  return bundle as ReturnType<typeof bundleSimulationWorkflows>;
}

export function confirmTokenOf(live: string | null, candidate: string): string {
  return createHash('sha256').update(`${live ?? '-'}->${candidate}`).digest('hex').slice(0, 16);
}

/** Customers standing in each stage now, from the journeys read model. */
export async function journeysByStage(models: Models): Promise<Map<string, number>> {
  const groups = await models.JourneyRecord.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$stage', n: { $sum: 1 } } }]);
  return new Map(groups.map((g) => [g._id, g.n]));
}

/** The candidate and the live version on the same synthetic customers (same seed, same model). */
export async function simulateSideBySide(live: LoadedDefinition, candidate: LoadedDefinition, sim: GateSimulation): Promise<SideBySide> {
  const { runSimulation } = await simulator();
  const common = { model: sim.model, modelName: sim.modelName, customers: sim.customers, days: sim.days, seed: sim.seed, shards: 1, bundle: await simulationBundle() };
  const a = await runSimulation({ ...common, definition: live, definitionFile: `live ${live.version}` });
  const b = await runSimulation({ ...common, definition: candidate, definitionFile: `candidate ${candidate.version}` });
  return { customers: sim.customers, days: sim.days, seed: sim.seed, model: sim.modelName, live: a.report, candidate: b.report, comparison: compareReports(a.report, b.report) };
}

/**
 * What publishing `candidate` over `live` would do: the changes with the live journeys each reaches, the
 * reasons it may not be published, and (when `sim` is given and it may) the KPIs side by side.
 */
export async function runPublishGate(input: { models: Models; live: LoadedDefinition | null; candidate: LoadedDefinition; sim?: GateSimulation }): Promise<GateResult> {
  const { live, candidate } = input;
  const refusals: string[] = [];
  if (live && live.definition.id !== candidate.definition.id) {
    refusals.push(`the candidate is journey "${candidate.definition.id}", the live journey is "${live.definition.id}"`);
  }
  const byStage = await journeysByStage(input.models);
  const total = [...byStage.values()].reduce((a, b) => a + b, 0);
  const changes = (live ? definitionChanges(live.definition, candidate.definition) : []).map((c) => ({
    ...c,
    journeys: c.stages === '*' ? total : c.stages.reduce((n, s) => n + (byStage.get(s) ?? 0), 0),
  }));
  for (const c of changes) {
    // A removed stage nobody stands in strands nobody.
    if (c.blocks && !(c.subject === 'stage' && c.journeys === 0)) refusals.push(`${c.blocks} (${c.journeys} live ${c.journeys === 1 ? 'journey' : 'journeys'})`);
  }
  const unchanged = live?.version === candidate.version;
  const simulation = input.sim && live && refusals.length === 0 && !unchanged ? await simulateSideBySide(live, candidate, input.sim) : null;
  return {
    definitionId: candidate.definition.id,
    live: live?.version ?? null,
    candidate: candidate.version,
    liveJourneys: total,
    changes,
    refusals,
    simulation,
    confirmToken: refusals.length === 0 && !unchanged ? confirmTokenOf(live?.version ?? null, candidate.version) : null,
  };
}
