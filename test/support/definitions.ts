import { join } from 'node:path';
import type { Models } from '../../src/db/models.js';
import { DefinitionStore } from '../../src/definition-store/definition-store.js';
import { loadDefinitionFile, parseDefinition, type LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { PROJECT_ROOT } from '../../src/servers/local-servers.js';

export const COACHINGLIVE = join(PROJECT_ROOT, 'definitions/coachinglive.yaml');

export async function coachingLive(): Promise<LoadedDefinition> {
  return loadDefinitionFile(COACHINGLIVE);
}

export async function definitionStore(models: Models, loaded?: LoadedDefinition | unknown): Promise<DefinitionStore> {
  const definition = loaded === undefined ? await coachingLive() : isLoaded(loaded) ? loaded : parseDefinition(loaded);
  const store = new DefinitionStore(models, definition);
  await store.publish();
  // A test's worker serves the definition it was given: make it live, as a publish would.
  await models.DefinitionLive.updateOne(
    { _id: definition.definition.id },
    { $set: { version: definition.version, publicationId: `${definition.definition.id}@${definition.version}:test`, since: new Date() } },
    { upsert: true },
  );
  return store;
}

function isLoaded(value: unknown): value is LoadedDefinition {
  return typeof value === 'object' && value !== null && 'plan' in value && 'version' in value;
}
