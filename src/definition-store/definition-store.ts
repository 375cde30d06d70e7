import type { DefinitionRef, JourneyPlan } from '../core/journey-definition.js';
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
      { $setOnInsert: { definitionId: definition.id, version, json: JSON.stringify(this.current.raw) } },
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
    // Stored as authored, so it parses exactly as it did when it was published.
    const parsed = parseDefinition(JSON.parse(doc.json) as unknown, `stored definition ${ref.id}@${ref.version}`);
    // A later release may add fields with defaults (which change the hash of the parsed form) to the schema:
    // the stored definition still means what it meant, and journeys pinned to it must keep working, so it
    // keeps the identity it was published under. (Throwing here stranded every in-flight delivery.)
    const loaded: LoadedDefinition =
      parsed.version === ref.version ? parsed : { ...parsed, version: ref.version, plan: { ...parsed.plan, version: ref.version } };
    this.byVersion.set(ref.version, loaded);
    return loaded;
  }

  async plan(ref: DefinitionRef): Promise<JourneyPlan> {
    return (await this.get(ref)).plan;
  }
}

