import type { DefinitionRef, JourneyPlan } from '../core/journey-definition.js';
import type { DefinitionPublicationDoc, Models } from '../db/models.js';
import { parseDefinition, type LoadedDefinition } from './load-definition.js';

export type PublicationKind = DefinitionPublicationDoc['kind'];

/** Who made a version live and why; `by` is an API key id, or `DEFINITION_FILE` for the seed. */
export interface Publication {
  id: string;
  version: string;
  from: string | null;
  kind: PublicationKind;
  by: string;
  note: string;
  at: string;
}

export interface StoredVersion {
  version: string;
  storedAt: string;
  live: boolean;
  /** Every time this version was made live, newest first. */
  publications: Publication[];
}

/** Another publish moved the live version between reading it and committing: nothing was changed. */
export class LiveVersionMoved extends Error {
  constructor(
    readonly expected: string | null,
    readonly actual: string | null,
  ) {
    super(`the live version moved from ${expected ?? '(none)'} to ${actual ?? '(none)'} meanwhile; check again and publish once more`);
    this.name = 'LiveVersionMoved';
  }
}

const toPublication = (d: DefinitionPublicationDoc): Publication => ({
  id: d._id,
  version: d.version,
  from: d.from,
  kind: d.kind,
  by: d.by,
  note: d.note,
  at: d.at.toISOString(),
});

/**
 * Every version of the journey definition, kept in MongoDB by content hash, and the one that is live: new
 * journeys start on the live version and running ones move to it at their next continue-as-new (the
 * workflow asks through a local activity, so replay reads the answer from history, never from here).
 * `current` is the version DEFINITION_FILE holds; it seeds the live version the first time it is seen.
 */
export class DefinitionStore {
  private readonly byVersion = new Map<string, LoadedDefinition>();
  /** One read of the live pointer at a time: journeys starting together share it, none sees an older one. */
  private readonly liveReads = new Map<string, Promise<string | null>>();

  constructor(
    private readonly models: Models,
    readonly current: LoadedDefinition,
  ) {
    this.byVersion.set(current.version, current);
  }

  /** Keep a version (idempotent: the id is the content hash). */
  async save(loaded: LoadedDefinition): Promise<void> {
    try {
      await this.models.Definition.updateOne(
        { _id: `${loaded.definition.id}@${loaded.version}` },
        { $setOnInsert: { definitionId: loaded.definition.id, version: loaded.version, json: JSON.stringify(loaded.raw), createdAt: new Date() } },
        { upsert: true },
      );
    } catch (err) {
      // Two processes saving the same new version at once (workers starting together): both upserts insert,
      // one loses on the unique _id. The version is stored either way, with the same content (its hash).
      if ((err as { code?: number }).code !== 11000) throw err;
    }
    this.byVersion.set(loaded.version, loaded);
  }

  /**
   * Store DEFINITION_FILE's version and, the first time this version comes from the file, make it live (a
   * team that keeps journeys in git deploys a changed file as before). A file seen before changes nothing,
   * so a restart never undoes a version published since.
   */
  async publish(): Promise<{ live: string; seeded: boolean }> {
    const { definition, version } = this.current;
    await this.save(this.current);
    const id = `${definition.id}@${version}:seed`;
    if (await this.models.DefinitionPublication.exists({ _id: id })) return { live: (await this.liveVersion(definition.id)) ?? version, seeded: false };
    const from = await this.readLive(definition.id);
    try {
      await this.models.DefinitionPublication.create({ _id: id, definitionId: definition.id, version, from, kind: 'seed', by: 'DEFINITION_FILE', note: 'seeded from DEFINITION_FILE', at: new Date() });
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return { live: (await this.liveVersion(definition.id)) ?? version, seeded: false };
      throw err;
    }
    await this.models.DefinitionLive.updateOne({ _id: definition.id }, { $set: { version, publicationId: id, since: new Date() } }, { upsert: true });
    return { live: version, seeded: true };
  }

  /**
   * Make a stored version live, if the live version is still `expectedFrom` (a compare-and-set: two
   * publishes at once cannot both win, and neither silently undoes the other).
   */
  async makeLive(input: { loaded: LoadedDefinition; kind: Exclude<PublicationKind, 'seed'>; by: string; note: string; expectedFrom: string | null }): Promise<Publication> {
    const { loaded } = input;
    const definitionId = loaded.definition.id;
    await this.save(loaded);
    const at = new Date();
    const publicationId = `${definitionId}@${loaded.version}:${at.getTime().toString(36)}`;
    const pointer = { version: loaded.version, publicationId, since: at };
    if (input.expectedFrom === null) {
      try {
        await this.models.DefinitionLive.create({ _id: definitionId, ...pointer });
      } catch (err) {
        if ((err as { code?: number }).code === 11000) throw new LiveVersionMoved(null, await this.readLive(definitionId));
        throw err;
      }
    } else {
      const moved = await this.models.DefinitionLive.updateOne({ _id: definitionId, version: input.expectedFrom }, { $set: pointer });
      if (moved.matchedCount === 0) throw new LiveVersionMoved(input.expectedFrom, await this.readLive(definitionId));
    }
    const doc: DefinitionPublicationDoc = {
      _id: publicationId,
      definitionId,
      version: loaded.version,
      from: input.expectedFrom,
      kind: input.kind,
      by: input.by,
      note: input.note,
      at,
    };
    await this.models.DefinitionPublication.create(doc);
    return toPublication(doc);
  }

  private async readLive(definitionId: string): Promise<string | null> {
    return (await this.models.DefinitionLive.findById(definitionId).lean())?.version ?? null;
  }

  /** The live version of a journey (what a worker that never saw a publish serves: its own file's). */
  async liveVersion(definitionId: string): Promise<string | null> {
    let read = this.liveReads.get(definitionId);
    if (!read) {
      read = this.readLive(definitionId).finally(() => this.liveReads.delete(definitionId));
      this.liveReads.set(definitionId, read);
    }
    const version = await read;
    return version ?? (definitionId === this.current.definition.id ? this.current.version : null);
  }

  /** A version by ref; without a version, the live one. */
  async get(ref: DefinitionRef): Promise<LoadedDefinition> {
    const version = ref.version ?? (await this.liveVersion(ref.id));
    if (version === null) throw new Error(`journey "${ref.id}" has no live version (this worker serves "${this.current.definition.id}")`);
    const known = this.byVersion.get(version);
    if (known) return known;
    const doc = await this.models.Definition.findById(`${ref.id}@${version}`).lean();
    if (!doc) throw new Error(`journey definition ${ref.id}@${version} is unknown to this worker and to MongoDB`);
    // Stored as authored, so it parses exactly as it did when it was published.
    const parsed = parseDefinition(JSON.parse(doc.json) as unknown, `stored definition ${ref.id}@${version}`);
    // A later release may add fields with defaults (which change the hash of the parsed form) to the schema:
    // the stored definition still means what it meant, and journeys pinned to it must keep working, so it
    // keeps the identity it was published under. (Throwing here stranded every in-flight delivery.)
    const loaded: LoadedDefinition = parsed.version === version ? parsed : { ...parsed, version, plan: { ...parsed.plan, version } };
    this.byVersion.set(version, loaded);
    return loaded;
  }

  /** A stored version, or undefined when there is none by that hash. */
  async find(definitionId: string, version: string): Promise<LoadedDefinition | undefined> {
    if (!(await this.models.Definition.exists({ _id: `${definitionId}@${version}` })) && !this.byVersion.has(version)) return undefined;
    return this.get({ id: definitionId, version });
  }

  async plan(ref: DefinitionRef): Promise<JourneyPlan> {
    return (await this.get(ref)).plan;
  }

  /** Every stored version of a journey with its publications, newest first. */
  async list(definitionId: string): Promise<StoredVersion[]> {
    const [docs, publications, live] = await Promise.all([
      this.models.Definition.find({ definitionId }, { json: 0 }).lean(),
      this.models.DefinitionPublication.find({ definitionId }).lean(),
      this.liveVersion(definitionId),
    ]);
    const byVersion = new Map<string, Publication[]>();
    for (const p of publications.sort((a, b) => b.at.getTime() - a.at.getTime())) {
      byVersion.set(p.version, [...(byVersion.get(p.version) ?? []), toPublication(p)]);
    }
    const newest = (v: StoredVersion) => v.publications[0]?.at ?? v.storedAt;
    return docs
      .map((d) => ({ version: d.version, storedAt: (d.createdAt ?? new Date(0)).toISOString(), live: d.version === live, publications: byVersion.get(d.version) ?? [] }))
      .sort((a, b) => newest(b).localeCompare(newest(a)));
  }
}
