import type { DefinitionRef, JourneyPlan } from '../core/definition.js';
import type { Models } from '../db/models.js';
import { parseDefinition, type LoadedDefinition } from './load-definition.js';

/**
 * The definitions the workers serve: the current one (from the definition file) and every earlier version
 * a running journey may still use, kept in MongoDB so a deploy never strands a journey.
 */
export class DefinitionStore {
  private readonly byVersion = new Map<string, LoadedDefinition>();

  constructor(
    private readonly models: Models,
    readonly current: LoadedDefinition,
  ) {
    this.byVersion.set(current.version, current);
  }

  /** Record the current version in MongoDB (idempotent). */
  async publish(): Promise<void> {
    const { definition, version } = this.current;
    await this.models.Definition.updateOne(
      { _id: `${definition.id}@${version}` },
      { $setOnInsert: { definitionId: definition.id, version, json: JSON.stringify(definition) } },
      { upsert: true },
    );
  }

  async get(ref: DefinitionRef): Promise<LoadedDefinition> {
    if (ref.version === undefined) {
      if (ref.id !== this.current.definition.id) throw new Error(`this worker serves journey "${this.current.definition.id}", not "${ref.id}"`);
      return this.current;
    }
    const known = this.byVersion.get(ref.version);
    if (known) return known;
    const doc = await this.models.Definition.findById(`${ref.id}@${ref.version}`).lean();
    if (!doc) throw new Error(`journey definition ${ref.id}@${ref.version} is unknown to this worker and to MongoDB`);
    // Stored definitions were parsed already: durations are milliseconds. Re-parse from the stored raw form.
    const loaded = { ...parseStored(JSON.parse(doc.json) as Record<string, unknown>), version: ref.version };
    this.byVersion.set(ref.version, loaded);
    return loaded;
  }

  async plan(ref: DefinitionRef): Promise<JourneyPlan> {
    return (await this.get(ref)).plan;
  }
}

function parseStored(stored: Record<string, unknown>): LoadedDefinition {
  // The stored form has milliseconds where the authored form had duration text; turn exactly those fields
  // back into "N ms". Only the duration fields: event filters and segment filters may hold numbers under
  // the same names (a `where: { delay: 0 }`), and those must read back unchanged.
  type Obj = Record<string, unknown>;
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  const revive = (obj: unknown, key: string) => {
    if (isObj(obj) && typeof obj[key] === 'number') obj[key] = `${obj[key]} ms`;
  };
  const raw = structuredClone(stored);
  for (const timer of Array.isArray(raw.timers) ? raw.timers : []) revive(timer, 'after');
  for (const campaign of Array.isArray(raw.campaigns) ? raw.campaigns : []) {
    if (!isObj(campaign)) continue;
    revive(campaign, 'delay');
    revive(campaign.trigger, 'offset');
    revive(campaign.goal, 'within');
  }
  return parseDefinition(raw, 'stored definition');
}
